#!/usr/bin/env bash
# scripts/amqp-bounce.sh stop|start - take the local RabbitMQ away and bring it
# back (used by the AMQP restart test and the chaos runs).
set -eu
cd "$(dirname "$0")/.."
case "${1:-}" in
stop) scripts/brokers.sh kill amqp >/dev/null ;;
start) scripts/brokers.sh start amqp >/dev/null ;;
*) echo "usage: $0 stop|start" >&2; exit 64 ;;
esac
