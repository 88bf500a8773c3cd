/*
 * amqp_restart_drv.c - driver for amqp_restart.sh: publish N numbered
 * messages to "<ns>.raw.cpu" (paced, 1 ms apart) and flush, or consume
 * until 3 s of silence, report how many distinct numbers arrived and list
 * them one a line in <ns>.<pid>.seen; or delete the namespace's queues and
 * exchanges (the raw rabbitmq-c client, test code only).
 *
 *   amqp_restart_drv pub|con|clean <ns> <n>
 *
 * Exit 0 when every message was confirmed (pub) or received (con).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "error.h"
#include "transport.h"

bool sc_stop_requested(void)
{
	return false;
}

static int publish_all(struct transport *t, int n)
{
	struct sc_error err = {0};

	for (int i = 0; i < n; i++) {
		char buf[32];
		struct sc_msg m = {0};

		m.stream = SC_STREAM_RAW_CPU;
		m.key = "restart";
		m.len = (size_t)snprintf(buf, sizeof(buf), "%d", i);
		m.payload = buf;
		if (transport_publish(t, &m, &err)) {
			fprintf(stderr, "publish %d: %s\n", i, err.msg);
			return 1;
		}
		usleep(1000);
	}
	if (transport_flush(t, 60000, &err)) {
		fprintf(stderr, "flush: %s\n", err.msg);
		return 1;
	}
	printf("published and confirmed %d, reconnects %llu\n", n,
	       (unsigned long long)t->counters.retries);
	return 0;
}

static int consume_all(struct transport *t, const char *ns, int n)
{
	struct sc_error err = {0};
	struct sc_msg m;
	char *seen = calloc((size_t)n, 1), path[256];
	int got = 0, distinct = 0, rc;
	FILE *out;

	snprintf(path, sizeof(path), "%s.%d.seen", ns, (int)getpid());
	out = fopen(path, "w");
	if (!seen || !out)
		return 1;
	while ((rc = transport_poll(t, &m, 3000, &err)) > 0) {
		char buf[32];
		int i;

		snprintf(buf, sizeof(buf), "%.*s", (int)m.len, (const char *)m.payload);
		i = atoi(buf);
		got++;
		if (i >= 0 && i < n && !seen[i]++) {
			distinct++;
			fprintf(out, "%d\n", i);
		}
		if (transport_commit(t, &m, &err))
			fprintf(stderr, "commit: %s\n", err.msg);
		transport_msg_release(t, &m);
	}
	free(seen);
	fclose(out);
	if (rc < 0)
		fprintf(stderr, "poll: %s\n", err.msg);
	printf("consumed %d (%d distinct of %d), reconnects %llu\n", got, distinct, n,
	       (unsigned long long)t->counters.retries);
	return rc < 0 || distinct != n;
}

static int clean(const char *ns)
{
	static const char *const suffix[] = {".raw.cpu", ".deadletter.rejected"};
	amqp_connection_state_t st = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(st);
	char name[256];

	if (amqp_socket_open(s, "127.0.0.1", 5672) ||
	    amqp_login(st, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
			    .reply_type != AMQP_RESPONSE_NORMAL) {
		amqp_destroy_connection(st);
		return 1;
	}
	amqp_channel_open(st, 1);
	for (size_t i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "%s%s", ns, suffix[i]);
		amqp_queue_delete(st, 1, amqp_cstring_bytes(name), 0, 0);
	}
	amqp_exchange_delete(st, 1, amqp_cstring_bytes(ns), 0);
	snprintf(name, sizeof(name), "%s.dlx", ns);
	amqp_exchange_delete(st, 1, amqp_cstring_bytes(name), 0);
	amqp_connection_close(st, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(st);
	return 0;
}

int main(int argc, char **argv)
{
	struct transport_cfg c = {0};
	struct transport *t;
	struct sc_error err = {0};
	int n, rc;

	if (argc != 4 ||
	    (strcmp(argv[1], "pub") && strcmp(argv[1], "con") && strcmp(argv[1], "clean"))) {
		fprintf(stderr, "usage: %s pub|con|clean <ns> <n>\n", argv[0]);
		return 64;
	}
	if (strcmp(argv[1], "clean") == 0)
		return clean(argv[2]);
	n = atoi(argv[3]);
	c.ns = argv[2];
	c.role = "restart-test";
	c.client_id = argv[1];
	c.broker = getenv("AMQP_URI");
	if (strcmp(argv[1], "con") == 0)
		c.inputs = SC_STREAM_BIT(SC_STREAM_RAW_CPU);
	if (transport_open("amqp", &c, &t, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	rc = c.inputs ? consume_all(t, c.ns, n) : publish_all(t, n);
	transport_close(t);
	return rc;
}
