/*
 * test_transport_kafka.c - the kafka backend against the real broker at
 * 127.0.0.1:9092 (start it with: scripts/brokers.sh start kafka).
 *
 * Every test uses a fresh namespace, so its topics and groups are new and
 * created by the backend itself.  The test talks to the broker directly
 * (librdkafka) only to check what the backend did: partition counts and
 * where the data went.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "transport.h"
#include "test_opts.h"

#define BROKER "127.0.0.1:9092"
#define MAXMSG 400

static void require_broker(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9092)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	cr_assert_eq(rc, 0,
		     "no Kafka broker at " BROKER ": run scripts/brokers.sh start kafka first");
}

/* A namespace no earlier run used. */
static void fresh_ns(char *ns, size_t size, const char *tag)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(ns, size, "t%d-%lld%03ld-%s", (int)getpid(), (long long)ts.tv_sec,
		 ts.tv_nsec / 1000000, tag);
}

static struct transport_cfg cfg_for(const char *ns, unsigned int inputs, int partitions)
{
	struct transport_cfg c;

	memset(&c, 0, sizeof(c));
	c.broker = "kafka://" BROKER;
	c.ns = ns;
	c.role = "test";
	c.client_id = "kafka-test";
	c.inputs = inputs;
	if (partitions > 0)
		test_opt(&c, "partitions", partitions);
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

	cr_assert_eq(transport_publish(t, &m, &err), 0, "publish: %s", err.msg);
}

static void flush_ok(struct transport *t)
{
	struct sc_error err = {0};

	cr_assert_eq(transport_flush(t, 30000, &err), 0, "flush: %s", err.msg);
}

/* Payloads "<stream> <i>", keys "dev-<i % 8>". */
static void publish_range(struct transport *t, enum sc_stream s, int from, int to)
{
	char key[16], payload[64];

	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "dev-%d", i % 8);
		snprintf(payload, sizeof(payload), "%s %d", sc_stream_name(s), i);
		publish_ok(t, s, key, payload);
	}
}

struct seen {
	int count[SC_STREAM__COUNT][MAXMSG]; /* times payload i of a stream arrived */
	int total;
};

/* Poll once; record and (optionally) commit what came.  1 if a message came. */
static int take(struct transport *t, int timeout_ms, bool commit, struct seen *s)
{
	struct sc_error err = {0};
	char payload[64], want_key[16], name[32];
	struct sc_msg m;
	int rc = transport_poll(t, &m, timeout_ms, &err), i;

	cr_assert_geq(rc, 0, "poll: %s", err.msg);
	if (rc == 0)
		return 0;
	cr_assert_lt(m.len, sizeof(payload));
	memcpy(payload, m.payload, m.len);
	payload[m.len] = '\0';
	cr_assert_eq(sscanf(payload, "%31s %d", name, &i), 2, "payload '%s'", payload);
	cr_assert_str_eq(name, sc_stream_name(m.stream), "payload '%s' on stream %s", payload,
			 sc_stream_name(m.stream));
	cr_assert(i >= 0 && i < MAXMSG);
	snprintf(want_key, sizeof(want_key), "dev-%d", i % 8);
	cr_assert_not_null(m.key);
	cr_assert_str_eq(m.key, want_key);
	s->count[m.stream][i]++;
	s->total++;
	if (commit)
		cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
	transport_msg_release(t, &m);
	return 1;
}

static void drain(struct transport *t, int want, bool commit, struct seen *s)
{
	int64_t deadline = sc_mono_ns() + 60 * 1000000000LL;

	while (s->total < want && sc_mono_ns() < deadline)
		take(t, 200, commit, s);
	cr_assert_eq(s->total, want, "received %d of %d messages", s->total, want);
}

static void assert_each_once(const struct seen *s, enum sc_stream st, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(s->count[st][i], 1, "%s %d arrived %d times", sc_stream_name(st), i,
			     s->count[st][i]);
}

/* Partition count of a topic and how many of its partitions hold data. */
static void inspect_topic(const char *topic, int *partitions, int *with_data)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	const struct rd_kafka_metadata *md;
	int64_t lo, hi;

	rd_kafka_conf_set(conf, "bootstrap.servers", BROKER, errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(rk, "%s", errstr);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	cr_assert_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
	cr_assert_eq(md->topic_cnt, 1);
	cr_assert_eq(md->topics[0].err, 0, "%s: %s", topic, rd_kafka_err2str(md->topics[0].err));
	*partitions = md->topics[0].partition_cnt;
	*with_data = 0;
	for (int p = 0; p < *partitions; p++) {
		cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000), 0);
		*with_data += hi > lo;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

static const unsigned int raw_inputs =
	SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_RAW_SENSOR);

Test(transport_kafka, creates_topics_with_four_partitions_and_round_trips_every_message)
{
	static struct seen s;
	char ns[64], topic[128];
	struct transport_cfg pc, cc;
	struct transport *p, *c;
	int parts, with_data;

	require_broker();
	fresh_ns(ns, sizeof(ns), "rt");
	pc = cfg_for(ns, 0, 4);
	p = open_ok(&pc);
	publish_range(p, SC_STREAM_RAW_CPU, 0, 40);
	publish_range(p, SC_STREAM_RAW_SENSOR, 0, 40);
	flush_ok(p);
	cr_assert(transport_healthy(p));

	for (int st = SC_STREAM_RAW_CPU; st <= SC_STREAM_RAW_SENSOR; st++) {
		transport_stream_name(topic, sizeof(topic), ns, (enum sc_stream)st, '.');
		inspect_topic(topic, &parts, &with_data);
		cr_assert_eq(parts, 4, "%s has %d partitions", topic, parts);
		cr_assert_eq(with_data, 4, "%s: data in %d of 4 partitions", topic, with_data);
	}

	cc = cfg_for(ns, raw_inputs, 4);
	c = open_ok(&cc);
	drain(c, 80, true, &s);
	assert_each_once(&s, SC_STREAM_RAW_CPU, 40);
	assert_each_once(&s, SC_STREAM_RAW_SENSOR, 40);
	cr_assert(transport_healthy(c));
	transport_close(c);
	transport_close(p);
}

/* Reopen the group, publish a marker, return how many old messages came before it. */
static int seen_before_marker(const char *ns, struct transport *p)
{
	struct sc_error err = {0};
	struct transport_cfg cc = cfg_for(ns, raw_inputs, 1);
	struct transport *c = open_ok(&cc);
	int64_t deadline = sc_mono_ns() + 60 * 1000000000LL;
	int before = 0;
	bool marker = false;

	publish_ok(p, SC_STREAM_RAW_CPU, "dev-0", "marker");
	flush_ok(p);
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
		transport_msg_release(c, &m);
	}
	cr_assert(marker, "the marker never arrived");
	transport_close(c);
	return before;
}

Test(transport_kafka, committed_messages_are_not_redelivered_to_the_group)
{
	static struct seen s;
	char ns[64];
	struct transport_cfg pc, cc;
	struct transport *p, *c;

	require_broker();
	fresh_ns(ns, sizeof(ns), "cm");
	pc = cfg_for(ns, 0, 1); /* one partition: the marker comes after all old data */
	p = open_ok(&pc);
	publish_range(p, SC_STREAM_RAW_CPU, 0, 20);
	flush_ok(p);
	cc = cfg_for(ns, raw_inputs, 1);
	c = open_ok(&cc);
	drain(c, 20, true, &s);
	assert_each_once(&s, SC_STREAM_RAW_CPU, 20);
	transport_close(c);

	cr_assert_eq(seen_before_marker(ns, p), 0);
	transport_close(p);
}

Test(transport_kafka, uncommitted_messages_are_redelivered_to_the_group)
{
	static struct seen s1, s2;
	char ns[64];
	struct transport_cfg pc, cc;
	struct transport *p, *c;

	require_broker();
	fresh_ns(ns, sizeof(ns), "un");
	pc = cfg_for(ns, 0, 4);
	p = open_ok(&pc);
	publish_range(p, SC_STREAM_RAW_CPU, 0, 20);
	publish_range(p, SC_STREAM_RAW_SENSOR, 0, 20);
	flush_ok(p);
	cc = cfg_for(ns, raw_inputs, 4);
	c = open_ok(&cc);
	drain(c, 40, false, &s1);
	transport_close(c);

	c = open_ok(&cc);
	drain(c, 40, false, &s2);
	assert_each_once(&s2, SC_STREAM_RAW_CPU, 20);
	assert_each_once(&s2, SC_STREAM_RAW_SENSOR, 20);
	transport_close(c);
	transport_close(p);
}

Test(transport_kafka, two_consumers_in_one_group_split_four_partitions)
{
	static struct seen s1, s2;
	char ns[64];
	struct transport_cfg pc, cc, cc2;
	struct transport *p, *c1, *c2;
	int64_t deadline;
	int sent = 0;

	require_broker();
	fresh_ns(ns, sizeof(ns), "grp");
	pc = cfg_for(ns, 0, 4);
	p = open_ok(&pc);
	cc = cfg_for(ns, SC_STREAM_BIT(SC_STREAM_RAW_CPU), 4);
	c1 = open_ok(&cc);
	/* its own client id: the same one would be the same static member (fenced) */
	cc2 = cc;
	cc2.client_id = "kafka-test-2";
	c2 = open_ok(&cc2);
	/* keep publishing until both members have data: the split needs a rebalance */
	deadline = sc_mono_ns() + 60 * 1000000000LL;
	while ((s1.total == 0 || s2.total == 0) && sc_mono_ns() < deadline && sent + 8 <= MAXMSG) {
		publish_range(p, SC_STREAM_RAW_CPU, sent, sent + 8);
		sent += 8;
		flush_ok(p);
		while (take(c1, 100, true, &s1))
			;
		while (take(c2, 100, true, &s2))
			;
	}
	cr_assert_gt(s1.total, 0, "the first consumer got nothing");
	cr_assert_gt(s2.total, 0, "the second consumer got nothing");
	deadline = sc_mono_ns() + 60 * 1000000000LL;
	while (s1.total + s2.total < sent && sc_mono_ns() < deadline) {
		take(c1, 100, true, &s1);
		take(c2, 100, true, &s2);
	}
	for (int i = 0; i < sent; i++)
		cr_assert_geq(s1.count[SC_STREAM_RAW_CPU][i] + s2.count[SC_STREAM_RAW_CPU][i], 1,
			      "message %d never arrived", i);
	transport_close(c1);
	transport_close(c2);
	transport_close(p);
}

Test(transport_kafka, lag_counts_messages_not_yet_consumed)
{
	static struct seen s;
	char ns[64];
	struct transport_cfg pc, cc;
	struct transport *p, *c;

	require_broker();
	fresh_ns(ns, sizeof(ns), "lag");
	pc = cfg_for(ns, 0, 1);
	p = open_ok(&pc);
	publish_range(p, SC_STREAM_RAW_CPU, 0, 20);
	flush_ok(p);
	cc = cfg_for(ns, SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1);
	c = open_ok(&cc);
	drain(c, 5, true, &s);
	cr_assert_eq(transport_lag(c), 15);
	transport_close(c);
	transport_close(p);
}

Test(transport_kafka, a_process_transport_consumes_and_publishes)
{
	static struct seen in, out;
	char ns[64];
	struct transport_cfg pc, cc;
	struct transport *p, *proc, *c;

	require_broker();
	fresh_ns(ns, sizeof(ns), "proc");
	pc = cfg_for(ns, 0, 0); /* default partitions (3) */
	p = open_ok(&pc);
	publish_range(p, SC_STREAM_RAW_CPU, 0, 10);
	flush_ok(p);

	cc = cfg_for(ns, SC_STREAM_BIT(SC_STREAM_RAW_CPU), 0);
	cc.role = "process";
	proc = open_ok(&cc);
	drain(proc, 10, false, &in);
	publish_range(proc, SC_STREAM_PROC_CPU, 0, 10);
	flush_ok(proc);
	transport_close(proc);

	cc = cfg_for(ns, SC_STREAM_BIT(SC_STREAM_PROC_CPU), 0);
	cc.role = "sink";
	c = open_ok(&cc);
	drain(c, 10, false, &out);
	assert_each_once(&out, SC_STREAM_PROC_CPU, 10);
	transport_close(c);
	transport_close(p);
}

/*
 * The sensor simulator at --rate=0 runs its event clock ahead of the wall
 * clock; brokers refuse timestamps more than an hour ahead (Kafka 4.0's
 * log.message.timestamp.after.max.ms), so a future event time is sent as now.
 */
Test(transport_kafka, an_event_time_hours_ahead_is_delivered_with_a_timestamp_of_now)
{
	char ns[64], payload[] = "raw.cpu 0";
	struct sc_error err = {0};
	struct transport_cfg pc, cc;
	struct transport *p, *c;
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU,
			   .payload = payload,
			   .len = strlen(payload),
			   .key = "dev-0"};
	int64_t before = sc_now_ns(), deadline;
	int rc = 0;

	require_broker();
	fresh_ns(ns, sizeof(ns), "future");
	pc = cfg_for(ns, 0, 1);
	p = open_ok(&pc);
	m.timestamp_ns = before + 3 * 3600 * 1000000000LL;
	publish_ok(p, m.stream, m.key, payload);
	cr_assert_eq(transport_publish(p, &m, &err), 0, "publish: %s", err.msg);
	flush_ok(p);

	cc = cfg_for(ns, SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1);
	c = open_ok(&cc);
	for (int got = 0; got < 2;) {
		deadline = sc_mono_ns() + 30 * 1000000000LL;
		while ((rc = transport_poll(c, &m, 200, &err)) == 0 && sc_mono_ns() < deadline)
			;
		cr_assert_eq(rc, 1, "message %d of 2 did not come: %s", got + 1, err.msg);
		cr_assert_leq(m.timestamp_ns, sc_now_ns(), "timestamp in the future");
		transport_msg_release(c, &m);
		got++;
	}
	transport_close(c);
	transport_close(p);
}
