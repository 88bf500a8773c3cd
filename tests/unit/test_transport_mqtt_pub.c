/*
 * test_transport_mqtt_pub.c - the publish path of the mqtt backend (window,
 * hysteresis, flush) against the real Mosquitto at 127.0.0.1:1883 (start it
 * with `scripts/brokers.sh start mqtt`).  Each test uses a fresh namespace.
 */
#include "error.h"
#include "record.h"
#include "transport.h"
#include "test_opts.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define URI	 "mqtt://127.0.0.1:1883"
#define DRAIN_MS 15000

static char ns[64];
static const struct sc_kv short_session[] = {{"session.expiry", "120"}};

static void setup(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1883)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	static unsigned int n;
	struct timespec ts;

	cr_assert(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		cr_assert_fail("mosquitto is not reachable at 127.0.0.1:1883: "
			       "run `scripts/brokers.sh start mqtt`");
	}
	close(fd);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(ns, sizeof(ns), "sctpub_%ld_%ld_%u", (long)getpid(), (long)ts.tv_nsec, n++);
}

TestSuite(transport_mqtt_pub, .init = setup, .timeout = 60);

static struct transport *open_mqtt(const char *role, const char *id, unsigned int inputs, int qos,
				   int inflight, int prefetch)
{
	struct transport_cfg c = {0};
	struct sc_error err = {0};
	struct transport *t = NULL;
	static char ids[4][128];
	static int next;
	int rc;

	c.broker = URI;
	c.ns = ns;
	c.role = role;
	c.inputs = inputs;
	c.props = short_session;
	c.nprops = 1;
	if (qos >= 0)
		test_opt(&c, "qos", qos);
	if (inflight > 0)
		test_opt(&c, "inflight", inflight);
	if (prefetch > 0)
		test_opt(&c, "prefetch", prefetch);
	if (id) {
		char *cid = ids[next++ % 4];
		snprintf(cid, sizeof(ids[0]), "%s-%s", ns, id); /* client ids are broker-wide */
		c.client_id = cid;
	}
	rc = transport_open("mqtt", &c, &t, &err);
	cr_assert_eq(rc, 0, "open failed: %s", err.msg);
	cr_assert_not_null(t);
	return t;
}

static void publish_n(struct transport *t, enum sc_stream s, const char *tag, int n)
{
	struct sc_error err = {0};
	char payload[64];

	for (int i = 0; i < n; i++) {
		struct sc_msg m = {0};
		snprintf(payload, sizeof(payload), "%s-%d", tag, i);
		m.stream = s;
		m.key = "k";
		m.payload = payload;
		m.len = strlen(payload);
		cr_assert_eq(transport_publish(t, &m, &err), 0, "publish %d: %s", i, err.msg);
	}
}

/* Poll until n messages of "<tag>-i" arrived; each i in [0,n) exactly once. */
static void expect_all(struct transport *t, const char *tag, int n)
{
	struct sc_error err = {0};
	char *seen = calloc((size_t)n, 1);
	int64_t end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	size_t tl = strlen(tag);
	int got = 0;

	cr_assert_not_null(seen);
	while (got < n && sc_mono_ns() < end) {
		struct sc_msg m;
		char buf[64];
		int rc = transport_poll(t, &m, 100, &err), idx;

		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		snprintf(buf, sizeof(buf), "%.*s", (int)m.len, (const char *)m.payload);
		transport_msg_release(t, &m);
		cr_assert(strncmp(buf, tag, tl) == 0 && buf[tl] == '-',
			  "payload '%s' is not from '%s'", buf, tag);
		idx = atoi(buf + tl + 1);
		cr_assert(idx >= 0 && idx < n, "bad index in '%s'", buf);
		cr_assert_eq(seen[idx], 0, "duplicate '%s'", buf);
		seen[idx] = 1;
		got++;
	}
	cr_assert_eq(got, n, "%d of %d arrived", got, n);
	free(seen);
}

static void through_a_small_window(int qos)
{
	enum { N = 1500 };
	struct sc_error err = {0};
	struct transport *c =
		open_mqtt("sink", "c", SC_STREAM_BIT(SC_STREAM_PROC_CPU), qos, 0, 1000);
	struct transport *p = open_mqtt("generate", NULL, 0, qos, 3, 0);

	publish_n(p, SC_STREAM_PROC_CPU, "w", N);
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	cr_assert_eq(p->counters.published, N);
	expect_all(c, "w", N);
	transport_close(p);
	transport_close(c);
}

Test(transport_mqtt_pub, delivers_every_message_through_a_window_of_3_at_qos_1)
{
	through_a_small_window(1);
}

Test(transport_mqtt_pub, delivers_every_message_through_a_window_of_3_at_qos_2)
{
	through_a_small_window(2);
}

Test(transport_mqtt_pub, delivers_every_message_at_qos_0_with_a_small_inflight_setting)
{
	through_a_small_window(0);
}

/*
 * A QoS 2 message reaches subscribers only once the publisher answers the
 * broker's PUBREC with a PUBREL.  A generator that pauses between records
 * calls flush(0) before each pause and never fills its window of 100; the
 * message must still arrive, and be confirmed, while it keeps pausing so.
 */
Test(transport_mqtt_pub, delivers_at_qos_2_while_the_publisher_only_pauses)
{
	struct sc_error err = {0};
	struct transport *c = open_mqtt("sink", "c", SC_STREAM_BIT(SC_STREAM_PROC_CPU), 2, 0, 1000);
	struct transport *p = open_mqtt("generate", NULL, 0, 2, 100, 0);
	int64_t end = sc_mono_ns() + 5000 * (int64_t)1000000;
	int got = 0, rc;

	publish_n(p, SC_STREAM_PROC_CPU, "q2", 1);
	while (!got && sc_mono_ns() < end) {
		struct sc_msg m;

		rc = transport_flush(p, 0, &err);
		cr_assert(rc == 0 || rc == -SC_ETIMEDOUT, "flush(0): %s", err.msg);
		rc = transport_poll(c, &m, 10, &err);
		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 1) {
			cr_assert_eq(m.len, 4);
			cr_assert(memcmp(m.payload, "q2-0", 4) == 0);
			transport_msg_release(c, &m);
			got = 1;
		}
	}
	cr_assert(got, "the QoS 2 message did not arrive in 5 s of flush(0) and pauses");
	while (transport_flush(p, 0, &err) == -SC_ETIMEDOUT && sc_mono_ns() < end)
		usleep(10000);
	cr_assert_eq(transport_flush(p, 0, &err), 0, "still unconfirmed: %s", err.msg);
	transport_close(p);
	transport_close(c);
}

/*
 * The process role: one transport has input waiting (unpolled) and publishes
 * at QoS 1 on the same connection, so its PUBACKs come among the input's
 * PUBLISHes.  Publishing and flushing must still complete, and nothing
 * consumed along the way may be lost.
 */
Test(transport_mqtt_pub, publishes_and_flushes_while_its_own_input_is_waiting)
{
	enum { IN = 60, OUT = 400 };
	struct sc_error err = {0};
	struct transport *gen = open_mqtt("generate", NULL, 0, 1, 0, 0);
	struct transport *proc =
		open_mqtt("process", "proc", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 4, 2);
	struct transport *sink =
		open_mqtt("sink", "sink", SC_STREAM_BIT(SC_STREAM_PROC_CPU), 1, 0, 1000);

	publish_n(gen, SC_STREAM_RAW_CPU, "in", IN);
	cr_assert_eq(transport_flush(gen, 10000, &err), 0, "flush: %s", err.msg);
	usleep(300 * 1000); /* let proc's input arrive */
	publish_n(proc, SC_STREAM_PROC_CPU, "out", OUT);
	cr_assert_eq(transport_flush(proc, 10000, &err), 0, "flush: %s", err.msg);
	expect_all(sink, "out", OUT);
	expect_all(proc, "in", IN);
	transport_close(sink);
	transport_close(proc);
	transport_close(gen);
}
