#!/bin/sh
# rabbitmq-entrypoint.sh - the default user from RABBITMQ_DEFAULT_USER/PASS
# (as the official image), logs to the console, then rabbitmq-server (which
# Debian's wrapper runs as the rabbitmq user).
set -eu
conf=/etc/rabbitmq/rabbitmq.conf
{
	echo "loopback_users = none"
	echo "listeners.tcp.default = 5672"
	echo "management.tcp.port = 15672"
	echo "log.console = true"
	echo "log.file = false"
	[ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = $RABBITMQ_DEFAULT_USER"
	[ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = $RABBITMQ_DEFAULT_PASS"
	[ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_permissions.configure = .*" &&
		echo "default_permissions.read = .*" && echo "default_permissions.write = .*" &&
		echo "default_user_tags.administrator = true"
} >"$conf"
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
exec rabbitmq-server
