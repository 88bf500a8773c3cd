/*
 * test_transport_kafka_mock.c - the kafka backend against librdkafka's
 * in-process mock cluster (no broker needed).
 *
 * Each test makes its own mock cluster and hands its bootstrap list to the
 * backend as the broker.  The mock broker does not implement CreateTopics,
 * so the tests create the topics through the mock API first; the backend
 * sees them in the metadata and creates nothing.  Topics have one
 * partition, so "nothing is redelivered" is checked in order: a marker
 * published after reopening must be the first message seen.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "transport.h"

#define N		10
#define PRODUCE_API_KEY 0

struct mock {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	char brokers[256];
};

static void mock_start(struct mock *m, const char *ns)
{
	char errstr[256], topic[128];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(m->rk, "rd_kafka_new: %s", errstr);
	m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
	cr_assert_not_null(m->mc);
	snprintf(m->brokers, sizeof(m->brokers), "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
	for (int s = 0; s < SC_STREAM_EXTERNAL; s++) {
		transport_stream_name(topic, sizeof(topic), ns, (enum sc_stream)s, '.');
		cr_assert_eq(rd_kafka_mock_topic_create(m->mc, topic, 1, 1), 0);
	}
}

static void mock_stop(struct mock *m)
{
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
}

/*
 * The 2.0.2 mock group coordinator does not rebalance when a member leaves:
 * a new member's JoinGroup waits until the old member's session times out
 * (45 s by default).  A short session keeps the reopen tests quick.
 */
static const struct sc_kv consumer_props[] = {
	{"session.timeout.ms", "6000"},
	{"heartbeat.interval.ms", "500"},
};

static struct transport_cfg cfg_for(const struct mock *m, const char *ns, unsigned int inputs)
{
	struct transport_cfg c;

	memset(&c, 0, sizeof(c));
	c.broker = m->brokers;
	c.ns = ns;
	c.role = "test";
	c.client_id = "kafka-mock-test";
	c.inputs = inputs;
	if (inputs) {
		c.props = consumer_props;
		c.nprops = sizeof(consumer_props) / sizeof(consumer_props[0]);
	}
	return c;
}

static struct transport *open_ok(const struct transport_cfg *c)
{
	struct sc_error err = {0};
	struct transport *t = NULL;
	int rc = transport_open("kafka", c, &t, &err);

	cr_assert_eq(rc, 0, "open: %s", err.msg);
	return t;
}

static void publish_ok(struct transport *t, enum sc_stream s, const char *key, const char *payload)
{
	struct sc_error err = {0};
	struct sc_msg m = {.stream = s, .payload = payload, .len = strlen(payload), .key = key};
	int rc = transport_publish(t, &m, &err);

	cr_assert_eq(rc, 0, "publish: %s", err.msg);
}

struct got {
	int n;
	char payload[4 * N][64];
	char key[4 * N][32];
	enum sc_stream stream[4 * N];
};

/* Poll up to `want` messages (bounded: 30 s); commit each when asked. */
static void collect(struct transport *t, int want, bool commit, struct got *g)
{
	struct sc_error err = {0};
	int64_t deadline = sc_mono_ns() + 30 * 1000000000LL;

	g->n = 0;
	while (g->n < want && sc_mono_ns() < deadline) {
		struct sc_msg m;
		int rc = transport_poll(t, &m, 200, &err);

		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		cr_assert_lt(m.len, sizeof(g->payload[0]));
		memcpy(g->payload[g->n], m.payload, m.len);
		g->payload[g->n][m.len] = '\0';
		snprintf(g->key[g->n], sizeof(g->key[0]), "%s", m.key ? m.key : "(null)");
		g->stream[g->n] = m.stream;
		g->n++;
		if (commit)
			cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(t, &m);
	}
}

static void publish_batch(struct transport *t, const char *tag)
{
	char key[32], payload[64];

	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "dev-%d", i % 3);
		snprintf(payload, sizeof(payload), "%s cpu %d", tag, i);
		publish_ok(t, SC_STREAM_RAW_CPU, key, payload);
		snprintf(payload, sizeof(payload), "%s sensor %d", tag, i);
		publish_ok(t, SC_STREAM_RAW_SENSOR, key, payload);
	}
}

static void assert_batch(const struct got *g, const char *tag)
{
	char want[64], key[32];

	cr_assert_eq(g->n, 2 * N, "received %d of %d messages", g->n, 2 * N);
	/* one partition per topic: each stream arrives in publish order */
	for (int s = 0; s < 2; s++) {
		int i = 0;
		for (int j = 0; j < g->n; j++) {
			enum sc_stream st = s ? SC_STREAM_RAW_SENSOR : SC_STREAM_RAW_CPU;
			if (g->stream[j] != st)
				continue;
			snprintf(want, sizeof(want), "%s %s %d", tag, s ? "sensor" : "cpu", i);
			snprintf(key, sizeof(key), "dev-%d", i % 3);
			cr_assert_str_eq(g->payload[j], want);
			cr_assert_str_eq(g->key[j], key);
			i++;
		}
		cr_assert_eq(i, N, "stream %d: %d messages", s, i);
	}
}

static const unsigned int raw_inputs =
	SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_RAW_SENSOR);

Test(transport_kafka_mock, round_trips_two_streams_with_payload_key_and_stream_intact)
{
	struct sc_error err = {0};
	struct mock mk;
	struct got g;
	struct transport_cfg pc, cc;
	struct transport *p, *c;

	mock_start(&mk, "m1");
	pc = cfg_for(&mk, "m1", 0);
	p = open_ok(&pc);
	publish_batch(p, "a");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);

	cc = cfg_for(&mk, "m1", raw_inputs);
	c = open_ok(&cc);
	collect(c, 2 * N, true, &g);
	assert_batch(&g, "a");
	cr_assert_eq(transport_lag(c), 0);
	transport_close(c);
	transport_close(p);
	mock_stop(&mk);
}

Test(transport_kafka_mock, keeps_a_null_key_null_and_the_timestamp)
{
	struct sc_error err = {0};
	struct mock mk;
	struct transport_cfg pc, cc;
	struct transport *p, *c;
	struct sc_msg m = {.stream = SC_STREAM_DEADLETTER,
			   .payload = "x",
			   .len = 1,
			   .timestamp_ns = 1700000000123000000LL};
	int rc;

	mock_start(&mk, "m2");
	pc = cfg_for(&mk, "m2", 0);
	p = open_ok(&pc);
	cr_assert_eq(transport_publish(p, &m, &err), 0, "publish: %s", err.msg);
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	cc = cfg_for(&mk, "m2", SC_STREAM_BIT(SC_STREAM_DEADLETTER));
	c = open_ok(&cc);
	do
		rc = transport_poll(c, &m, 30000, &err);
	while (rc == 0);
	cr_assert_eq(rc, 1, "poll: %s", err.msg);
	cr_assert_null(m.key);
	cr_assert_eq(m.stream, SC_STREAM_DEADLETTER);
	cr_assert_eq(m.timestamp_ns, 1700000000123000000LL);
	cr_assert_eq(m.token, 0);
	transport_msg_release(c, &m);
	transport_close(c);
	transport_close(p);
	mock_stop(&mk);
}

/* publish() reads the clock only when an event time passes its last reading. */
Test(transport_kafka_mock, clamps_a_future_event_time_published_after_a_past_one)
{
	struct sc_error err = {0};
	struct mock mk;
	struct transport_cfg pc, cc;
	struct transport *p, *c;
	int64_t past = 1700000000123000000LL, future = sc_now_ns() + 3 * 3600 * 1000000000LL;
	struct sc_msg m = {.stream = SC_STREAM_DEADLETTER, .payload = "p", .len = 1};
	bool got_past = false, got_future = false;
	int rc;

	mock_start(&mk, "m11");
	pc = cfg_for(&mk, "m11", 0);
	p = open_ok(&pc);
	m.timestamp_ns = past;
	cr_assert_eq(transport_publish(p, &m, &err), 0, "publish: %s", err.msg);
	m.payload = "f";
	m.timestamp_ns = future;
	cr_assert_eq(transport_publish(p, &m, &err), 0, "publish: %s", err.msg);
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	cc = cfg_for(&mk, "m11", SC_STREAM_BIT(SC_STREAM_DEADLETTER));
	c = open_ok(&cc);
	while (!got_past || !got_future) {
		do
			rc = transport_poll(c, &m, 30000, &err);
		while (rc == 0);
		cr_assert_eq(rc, 1, "poll: %s", err.msg);
		cr_assert_eq(m.len, 1);
		if (((const char *)m.payload)[0] == 'p') {
			cr_assert_eq(m.timestamp_ns, past, "a past event time is kept");
			got_past = true;
		} else {
			cr_assert_leq(m.timestamp_ns, sc_now_ns(), "timestamp in the future");
			cr_assert_lt(m.timestamp_ns, future);
			got_future = true;
		}
		transport_msg_release(c, &m);
	}
	transport_close(c);
	transport_close(p);
	mock_stop(&mk);
}

/* Reopen the group, publish a marker, and return what came before it. */
static int seen_before_marker(const struct mock *mk, const char *ns, struct transport *p)
{
	struct sc_error err = {0};
	struct transport_cfg cc = cfg_for(mk, ns, raw_inputs);
	struct transport *c = open_ok(&cc);
	int64_t deadline = sc_mono_ns() + 30 * 1000000000LL;
	int before = 0;
	bool marker = false;

	publish_ok(p, SC_STREAM_RAW_CPU, "dev-0", "marker");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	while (!marker && sc_mono_ns() < deadline) {
		struct sc_msg m;
		int rc = transport_poll(c, &m, 200, &err);

		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		if (m.len == 6 && memcmp(m.payload, "marker", 6) == 0)
			marker = true;
		else if (m.stream == SC_STREAM_RAW_CPU)
			before++;
		cr_assert_eq(transport_commit(c, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(c, &m);
	}
	cr_assert(marker, "the marker never arrived");
	transport_close(c);
	return before;
}

Test(transport_kafka_mock, committed_messages_are_not_redelivered_to_the_group)
{
	struct sc_error err = {0};
	struct mock mk;
	struct got g;
	struct transport_cfg pc, cc;
	struct transport *p, *c;

	mock_start(&mk, "m3");
	pc = cfg_for(&mk, "m3", 0);
	p = open_ok(&pc);
	publish_batch(p, "b");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	cc = cfg_for(&mk, "m3", raw_inputs);
	c = open_ok(&cc);
	collect(c, 2 * N, true, &g);
	assert_batch(&g, "b");
	transport_close(c);

	cr_assert_eq(seen_before_marker(&mk, "m3", p), 0);
	transport_close(p);
	mock_stop(&mk);
}

Test(transport_kafka_mock, uncommitted_messages_are_redelivered_to_the_group)
{
	struct sc_error err = {0};
	struct mock mk;
	struct got g;
	struct transport_cfg pc, cc;
	struct transport *p, *c;

	mock_start(&mk, "m4");
	pc = cfg_for(&mk, "m4", 0);
	p = open_ok(&pc);
	publish_batch(p, "c");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	cc = cfg_for(&mk, "m4", raw_inputs);
	c = open_ok(&cc);
	collect(c, 2 * N, false, &g);
	assert_batch(&g, "c");
	transport_close(c);

	c = open_ok(&cc);
	collect(c, 2 * N, false, &g);
	assert_batch(&g, "c");
	transport_close(c);
	transport_close(p);
	mock_stop(&mk);
}

Test(transport_kafka_mock, rejects_an_unknown_property_naming_it)
{
	struct sc_error err = {0};
	struct mock mk;
	struct transport *t = (struct transport *)1;
	struct sc_kv props[] = {{"linger.ms", "1"}, {"foo.bar", "baz"}};
	struct transport_cfg c;
	int rc;

	mock_start(&mk, "m5");
	c = cfg_for(&mk, "m5", 0);
	c.props = props;
	c.nprops = 2;
	rc = transport_open("kafka", &c, &t, &err);
	cr_assert_eq(rc, -SC_EINVAL);
	cr_assert_null(t);
	cr_assert(strstr(err.msg, "kafka: -X foo.bar=baz: ") != NULL, "message: %s", err.msg);
	cr_assert(strstr(err.msg, "No such configuration property") != NULL, "message: %s",
		  err.msg);
	mock_stop(&mk);
}

Test(transport_kafka_mock, rejects_an_invalid_value_without_echoing_a_password)
{
	struct sc_error err = {0};
	struct transport *t = NULL;
	struct sc_kv props[] = {{"sasl.password", "hunter2"}, {"acks", "banana"}};
	struct transport_cfg c = {.broker = "127.0.0.1:1", .ns = "m6", .props = props, .nprops = 2};
	int rc = transport_open("kafka", &c, &t, &err);

	cr_assert_eq(rc, -SC_EINVAL);
	cr_assert(strstr(err.msg, "kafka: -X acks=banana: ") != NULL, "message: %s", err.msg);
	cr_assert(strstr(err.msg, "hunter2") == NULL);
}

Test(transport_kafka_mock, rejects_bad_broker_uris_clearly)
{
	static const struct {
		const char *uri, *says;
	} cases[] = {
		{"amqp://127.0.0.1:5672", "expected kafka://host:port"},
		{"kafka://127.0.0.1:notaport", "bad port"},
		{"kafka://a:9092,,b:9092", "empty host"},
		{"kafka://a:9092,", "empty host"},
		{"kafka://a:9092,user:secret@b:9092", "credentials go once, before the list"},
		{"kafkas://:secret@a:9092", "empty user"},
		{"kafka://a:9092/path", "expected kafka://host:port"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sc_error err = {0};
		struct transport *t = NULL;
		struct transport_cfg c = {.broker = cases[i].uri, .ns = "m7"};
		int rc = transport_open("kafka", &c, &t, &err);

		cr_assert_eq(rc, -SC_EINVAL, "%s: rc %d", cases[i].uri, rc);
		cr_assert(strncmp(err.msg, "kafka: ", 7) == 0, "message: %s", err.msg);
		cr_assert(strstr(err.msg, cases[i].says) != NULL, "%s: message: %s", cases[i].uri,
			  err.msg);
		cr_assert(strstr(err.msg, "secret") == NULL, "message: %s", err.msg);
	}
}

Test(transport_kafka_mock, flush_reports_messages_the_broker_refused)
{
	struct sc_error err = {0};
	struct mock mk;
	struct transport_cfg pc;
	struct transport *p;
	int rc;

	mock_start(&mk, "m8");
	pc = cfg_for(&mk, "m8", 0);
	p = open_ok(&pc);
	/* one good message first so the producer is fully set up */
	publish_ok(p, SC_STREAM_RAW_CPU, "k", "ok");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);

	rd_kafka_mock_push_request_errors(mk.mc, PRODUCE_API_KEY, 1,
					  RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
	for (int i = 0; i < 5; i++)
		publish_ok(p, SC_STREAM_RAW_CPU, "k", "refused");
	rc = transport_flush(p, 10000, &err);
	cr_assert_eq(rc, -SC_EIO, "flush: %d %s", rc, err.msg);
	cr_assert(strstr(err.msg, "kafka: 5 message(s) failed delivery: ") != NULL, "message: %s",
		  err.msg);
	cr_assert(strstr(err.msg, "raw.cpu") != NULL, "message: %s", err.msg);

	/* counted once: the next flush with nothing failed is clean */
	publish_ok(p, SC_STREAM_RAW_CPU, "k", "ok again");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	transport_close(p);
	mock_stop(&mk);
}

Test(transport_kafka_mock, refuses_a_message_above_message_max_bytes_at_publish)
{
	static char big[4096];
	struct sc_error err = {0};
	struct mock mk;
	struct sc_kv props[] = {{"message.max.bytes", "1000"}};
	struct transport_cfg pc;
	struct transport *p;
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = big, .len = sizeof(big)};

	mock_start(&mk, "m9");
	pc = cfg_for(&mk, "m9", 0);
	pc.props = props;
	pc.nprops = 1;
	p = open_ok(&pc);
	cr_assert_eq(transport_publish(p, &m, &err), -SC_ETOOBIG, "publish: %s", err.msg);
	cr_assert(strstr(err.msg, "m9.raw.cpu") != NULL, "message: %s", err.msg);
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);
	transport_close(p);
	mock_stop(&mk);
}

Test(transport_kafka_mock, consumer_may_also_publish_like_process_does)
{
	struct sc_error err = {0};
	struct mock mk;
	struct got g;
	struct transport_cfg pc, cc;
	struct transport *p, *proc, *c;

	mock_start(&mk, "m10");
	pc = cfg_for(&mk, "m10", 0);
	p = open_ok(&pc);
	publish_ok(p, SC_STREAM_RAW_CPU, "dev", "in");
	cr_assert_eq(transport_flush(p, 10000, &err), 0, "flush: %s", err.msg);

	cc = cfg_for(&mk, "m10", SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	proc = open_ok(&cc);
	collect(proc, 1, false, &g);
	cr_assert_eq(g.n, 1);
	publish_ok(proc, SC_STREAM_PROC_CPU, "dev", "out");
	cr_assert_eq(transport_flush(proc, 10000, &err), 0, "flush: %s", err.msg);
	transport_close(proc);

	cc = cfg_for(&mk, "m10", SC_STREAM_BIT(SC_STREAM_PROC_CPU));
	cc.group = "m10.reader";
	c = open_ok(&cc);
	collect(c, 1, false, &g);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.payload[0], "out");
	cr_assert_eq(g.stream[0], SC_STREAM_PROC_CPU);
	transport_close(c);
	transport_close(p);
	mock_stop(&mk);
}

Test(transport_kafka_mock, registry_lists_kafka_with_its_capabilities)
{
	struct sc_error err = {0};
	const struct transport_ops *o = transport_find("kafka", &err);

	cr_assert_not_null(o, "%s", err.msg);
	cr_assert_eq(transport_registry_check(&err), 0, "%s", err.msg);
	cr_assert_eq(o->caps, TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME | TRANSPORT_CAP_COMMIT |
				      TRANSPORT_CAP_CONFIRM | TRANSPORT_CAP_REPLAY |
				      TRANSPORT_CAP_GROUPS | TRANSPORT_CAP_LAG);
}
