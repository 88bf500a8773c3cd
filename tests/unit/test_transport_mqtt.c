/*
 * test_transport_mqtt.c - the mqtt backend against the real Mosquitto at
 * 127.0.0.1:1883 (start it with `scripts/brokers.sh start mqtt`).  Each test
 * uses a fresh namespace, so topics, groups and sessions never mix.
 */
#include "error.h"
#include "mqtt_internal.h"
#include <poll.h> /* struct mqtt_rx: the size of a received message's copy */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define URI	 "mqtt://127.0.0.1:1883"
#define DRAIN_MS 15000
#define EXTRA_MS 300

static char ns[64];

/*
 * malloc() of this test binary (it takes precedence over libc's): fails the
 * next allocation of exactly fail_size bytes, on whatever thread (the
 * consumer's copy of a received message is made inside poll()).
 */
#if defined(__SANITIZE_ADDRESS__)
#define MALLOC_OVERRIDE 0 /* AddressSanitizer owns malloc: the test is skipped */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MALLOC_OVERRIDE 0
#endif
#endif
#ifndef MALLOC_OVERRIDE
#define MALLOC_OVERRIDE 1
#endif
static size_t fail_size;

#if MALLOC_OVERRIDE
extern void *__libc_malloc(size_t n);

void *malloc(size_t n)
{
	if (n && __atomic_load_n(&fail_size, __ATOMIC_RELAXED) == n &&
	    __atomic_exchange_n(&fail_size, 0, __ATOMIC_RELAXED) == n)
		return NULL;
	return __libc_malloc(n);
}
#endif
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
	/* consumer journals go to a scratch directory, not the user's state dir */
	if (!getenv("STREAMCTL_STATE_DIR")) {
		static char state[64];
		snprintf(state, sizeof(state), "/tmp/sctest_state_%ld", (long)getuid());
		setenv("STREAMCTL_STATE_DIR", state, 1);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(ns, sizeof(ns), "sctest_%ld_%ld_%u", (long)getpid(), (long)ts.tv_nsec, n++);
}

TestSuite(transport_mqtt, .init = setup, .timeout = 60);

static struct transport_cfg base_cfg(const char *role)
{
	struct transport_cfg c = {0};

	c.broker = URI;
	c.ns = ns;
	c.role = role;
	c.props = short_session;
	c.nprops = 1;
	return c;
}

static struct transport *open_ok(const struct transport_cfg *c)
{
	struct sc_error err = {0};
	struct transport *t = NULL;
	int rc = transport_open("mqtt", c, &t, &err);

	cr_assert_eq(rc, 0, "open failed: %s", err.msg);
	cr_assert_not_null(t);
	return t;
}

static struct transport *producer(int qos)
{
	struct transport_cfg c = base_cfg("generate");

	if (qos >= 0)
		test_opt(&c, "qos", qos);
	return open_ok(&c);
}

static struct transport *consumer(const char *id, unsigned int inputs, int qos, int prefetch)
{
	struct transport_cfg c = base_cfg("sink");
	static char ids[8][128];
	static int next;
	char *cid = ids[next++ % 8];

	snprintf(cid, sizeof(ids[0]), "%s-%s", ns, id); /* client ids are broker-wide */
	c.client_id = cid;
	c.inputs = inputs;
	if (qos >= 0)
		test_opt(&c, "qos", qos);
	if (prefetch > 0)
		test_opt(&c, "prefetch", prefetch);
	return open_ok(&c);
}

static void publish(struct transport *t, enum sc_stream s, const char *key, const char *payload)
{
	struct sc_msg m = {0};
	struct sc_error err = {0};

	m.stream = s;
	m.key = key;
	m.payload = payload;
	m.len = strlen(payload);
	cr_assert_eq(transport_publish(t, &m, &err), 0, "publish: %s", err.msg);
}

static void flush_ok(struct transport *t)
{
	struct sc_error err = {0};

	cr_assert_eq(transport_flush(t, 10000, &err), 0, "flush: %s", err.msg);
}

/* A received message, copied. */
struct got {
	enum sc_stream stream;
	char key[64];
	char payload[64];
	bool has_key;
};

/*
 * Poll until `want` messages arrived (or DRAIN_MS passed), then a little
 * longer to catch extras.  Returns how many arrived (up to max).
 */
static size_t drain(struct transport *t, struct got *out, size_t max, size_t want)
{
	struct sc_error err = {0};
	struct sc_msg m;
	size_t n = 0;
	int64_t end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	int64_t extra_end = 0;

	for (;;) {
		int64_t now = sc_mono_ns();
		int rc;

		if (n >= want && !extra_end)
			extra_end = now + (int64_t)EXTRA_MS * 1000000;
		if (now > end || (extra_end && now > extra_end))
			break;
		rc = transport_poll(t, &m, 100, &err);
		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		cr_assert_eq(m.flags & SC_MSG_MALFORMED, 0, "malformed: %s", m.error);
		if (n < max) {
			out[n].stream = m.stream;
			out[n].has_key = m.key != NULL;
			snprintf(out[n].key, sizeof(out[n].key), "%s", m.key ? m.key : "");
			snprintf(out[n].payload, sizeof(out[n].payload), "%.*s", (int)m.len,
				 (const char *)m.payload);
		}
		n++;
		cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(t, &m);
	}
	return n;
}

/* What is there now (polls until one poll of 50 ms finds nothing). */
static size_t drain_some(struct transport *t, struct got *out, size_t max)
{
	struct sc_error err = {0};
	struct sc_msg m;
	size_t n = 0;
	int rc;

	while (n < max && (rc = transport_poll(t, &m, 50, &err)) > 0) {
		out[n].stream = m.stream;
		out[n].has_key = m.key != NULL;
		snprintf(out[n].key, sizeof(out[n].key), "%s", m.key ? m.key : "");
		snprintf(out[n].payload, sizeof(out[n].payload), "%.*s", (int)m.len,
			 (const char *)m.payload);
		n++;
		cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(t, &m);
	}
	cr_assert_geq(rc, 0, "poll: %s", err.msg);
	return n;
}

/* Every i in [0,n) of `stream` arrived exactly once with payload "<tag>-i" and key "k<i%5>". */
static void check_all(const struct got *g, size_t ng, enum sc_stream stream, const char *tag, int n)
{
	char *seen = calloc((size_t)n, 1);

	cr_assert_not_null(seen);
	for (size_t i = 0; i < ng; i++) {
		char want_key[16];
		int idx;
		size_t tl = strlen(tag);

		if (g[i].stream != stream)
			continue;
		cr_assert(strncmp(g[i].payload, tag, tl) == 0 && g[i].payload[tl] == '-',
			  "payload '%s' is not from '%s'", g[i].payload, tag);
		idx = atoi(g[i].payload + tl + 1);
		cr_assert(idx >= 0 && idx < n, "bad index in '%s'", g[i].payload);
		cr_assert_eq(seen[idx], 0, "duplicate '%s'", g[i].payload);
		seen[idx] = 1;
		snprintf(want_key, sizeof(want_key), "k%d", idx % 5);
		cr_assert_str_eq(g[i].key, want_key);
	}
	for (int i = 0; i < n; i++)
		cr_assert_eq(seen[i], 1, "%s-%d never arrived", tag, i);
	free(seen);
}

static void publish_n(struct transport *t, enum sc_stream s, const char *tag, int n)
{
	char payload[64], key[16];

	for (int i = 0; i < n; i++) {
		snprintf(payload, sizeof(payload), "%s-%d", tag, i);
		snprintf(key, sizeof(key), "k%d", i % 5);
		publish(t, s, key, payload);
	}
}

static void round_trip(int qos, int n)
{
	struct got *g = calloc((size_t)n + 16, sizeof(*g));
	struct transport *c = consumer("c-rt", SC_STREAM_BIT(SC_STREAM_PROC_CPU), qos, 0);
	struct transport *p = producer(qos);

	publish_n(p, SC_STREAM_PROC_CPU, "q", n);
	flush_ok(p);
	cr_assert_eq(drain(c, g, (size_t)n + 16, (size_t)n), (size_t)n);
	check_all(g, (size_t)n, SC_STREAM_PROC_CPU, "q", n);
	transport_close(p);
	transport_close(c);
	free(g);
}

Test(transport_mqtt, declares_commit_with_its_journal_and_not_with_journal_off)
{
	static const struct sc_kv off[] = {{"session.expiry", "120"}, {"journal", "off"}};
	struct transport *p = producer(1), *c;
	struct transport_cfg cc = base_cfg("sink");
	char id[128];

	cr_assert(transport_has(p, TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME |
					   TRANSPORT_CAP_COMMIT | TRANSPORT_CAP_CONFIRM |
					   TRANSPORT_CAP_GROUPS | TRANSPORT_CAP_LAG));
	cr_assert(transport_healthy(p));
	transport_close(p);

	snprintf(id, sizeof(id), "%s-c-off", ns);
	cc.client_id = id;
	cc.inputs = SC_STREAM_BIT(SC_STREAM_RAW_CPU);
	cc.props = off;
	cc.nprops = 2;
	c = open_ok(&cc);
	cr_assert(transport_has(c, TRANSPORT_CAP_CONSUME));
	cr_assert_not(transport_has(c, TRANSPORT_CAP_COMMIT),
		      "without a journal paho's acknowledgement on receipt is all there is");
	cr_assert(c->ops == &transport_mqtt && (transport_mqtt.caps & TRANSPORT_CAP_COMMIT),
		  "journal=off is this instance's, not the backend's (issue 19)");
	transport_close(c);
}

/* Capabilities are the instance's: at QoS 0 nothing is confirmed (issue 19). */
Test(transport_mqtt, confirms_nothing_at_qos_0)
{
	struct transport *p0 = producer(0), *p1 = producer(1);

	cr_assert_not(transport_has(p0, TRANSPORT_CAP_CONFIRM));
	cr_assert(transport_has(p0, TRANSPORT_CAP_PUBLISH));
	cr_assert(transport_has(p1, TRANSPORT_CAP_CONFIRM));
	transport_close(p0);
	transport_close(p1);
}

/*
 * Polled and not committed when the consumer went away: its journal gives
 * the messages back on the next open (as after a SIGKILL: paho had already
 * acknowledged them, the broker will not send them again).
 */
Test(transport_mqtt, gives_back_uncommitted_messages_from_its_journal_after_a_crash)
{
	enum { N = 40 };
	struct got g[N + 16];
	struct transport *c = consumer("c-jnl", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	struct transport *p = producer(1);
	struct sc_error err = {0};
	struct sc_msg m;
	int n = 0, redelivered = 0;
	int64_t end;

	publish_n(p, SC_STREAM_RAW_CPU, "j", N);
	flush_ok(p);
	transport_close(p);
	/* poll all N, commit only the first half */
	end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	while (n < N && sc_mono_ns() < end) {
		int rc = transport_poll(c, &m, 100, &err);
		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		if (n < N / 2)
			cr_assert_eq(transport_commit(c, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(c, &m);
		n++;
	}
	cr_assert_eq(n, N);
	cr_assert_eq(c->counters.committed, N / 2);
	transport_close(c);

	c = consumer("c-jnl", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	n = 0;
	while ((transport_poll(c, &m, 500, &err)) > 0) {
		cr_assert_lt(n, N + 16);
		snprintf(g[n].payload, sizeof(g[n].payload), "%.*s", (int)m.len,
			 (const char *)m.payload);
		snprintf(g[n].key, sizeof(g[n].key), "%s", m.key ? m.key : "");
		redelivered += (m.flags & SC_MSG_REDELIVERED) != 0;
		cr_assert_eq(m.stream, SC_STREAM_RAW_CPU);
		cr_assert_eq(transport_commit(c, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(c, &m);
		n++;
	}
	cr_assert_eq(n, N / 2, "%d messages came back, expected the %d not committed", n, N / 2);
	cr_assert_eq(redelivered, N / 2, "replayed messages are flagged as redelivered");
	for (int i = 0; i < n; i++) {
		char want[16], key[8];
		snprintf(want, sizeof(want), "j-%d", N / 2 + i);
		snprintf(key, sizeof(key), "k%d", (N / 2 + i) % 5);
		cr_assert_str_eq(g[i].payload, want);
		cr_assert_str_eq(g[i].key, key);
	}
	transport_close(c);
	/* all committed: the next start has nothing to replay */
	c = consumer("c-jnl", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	cr_assert_eq(transport_poll(c, &m, 300, &err), 0);
	transport_close(c);
}

/*
 * issue 19: no memory for a message paho has already acknowledged.  It
 * used to be dropped silently; it must make poll() fail and stay in the
 * journal, so that the next start hands it out.
 */
Test(transport_mqtt, keeps_an_acknowledged_message_it_had_no_memory_for_in_its_journal)
{
	static char big[3001];
	size_t rx_size = sizeof(struct mqtt_rx) + sizeof(big) - 1 + strlen("k1") + 1;
	struct transport *c, *p;
	struct sc_error err = {0};
	struct sc_msg m;
	int rc = 0, n = 0;
	int64_t end;

	/* paho reads the PUBLISH into one buffer of about the payload plus the
	 * topic ("<ns>/raw/cpu/k1") plus 5 bytes: keep its size away from ours */
	while (strlen(ns) + strlen("/raw/cpu/k1") + sizeof(big) - 1 + 16 > rx_size &&
	       strlen(ns) + strlen("/raw/cpu/k1") + sizeof(big) - 1 < rx_size + 16)
		strcat(ns, "x");
	c = consumer("c-nomem", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	p = producer(1);
	memset(big, 'n', sizeof(big) - 1);
	if (!MALLOC_OVERRIDE) {
		transport_close(p);
		transport_close(c);
		cr_skip_test("malloc cannot be made to fail under AddressSanitizer");
	}
	__atomic_store_n(&fail_size, rx_size, __ATOMIC_RELAXED);
	publish(p, SC_STREAM_RAW_CPU, "k1", big);
	flush_ok(p);
	transport_close(p);
	end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	while (rc == 0 && sc_mono_ns() < end) {
		rc = transport_poll(c, &m, 100, &err);
		if (rc > 0) {
			transport_msg_release(c, &m);
			n++;
			rc = 0;
		}
	}
	cr_assert_eq(__atomic_load_n(&fail_size, __ATOMIC_RELAXED), 0,
		     "the copy of the message was never allocated");
	cr_assert_eq(n, 0);
	cr_assert_eq(rc, -SC_ENOMEM, "poll gave %d (%s): the message was dropped silently", rc,
		     err.msg);
	cr_assert(strstr(err.msg, "journal"), "%s", err.msg);
	transport_close(c);

	c = consumer("c-nomem", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	cr_assert_eq(transport_poll(c, &m, 2000, &err), 1, "not replayed: %s", err.msg);
	cr_assert_eq(m.len, strlen(big));
	cr_assert(m.flags & SC_MSG_REDELIVERED);
	cr_assert_str_eq(m.key, "k1");
	cr_assert_eq(transport_commit(c, &m, &err), 0, "commit: %s", err.msg);
	transport_msg_release(c, &m);
	transport_close(c);
}

/* -X shared=false: a plain subscription, every consumer gets every message. */
Test(transport_mqtt, subscribes_plainly_with_shared_false)
{
	enum { N = 50 };
	static const struct sc_kv plain[] = {{"session.expiry", "120"}, {"shared", "false"}};
	struct got g1[N + 16], g2[N + 16];
	struct transport_cfg cc = base_cfg("sink");
	struct transport *c1, *c2, *p;
	char id1[128], id2[128];

	cc.inputs = SC_STREAM_BIT(SC_STREAM_RAW_SENSOR);
	cc.props = plain;
	cc.nprops = 2;
	snprintf(id1, sizeof(id1), "%s-plain-1", ns);
	snprintf(id2, sizeof(id2), "%s-plain-2", ns);
	cc.client_id = id1;
	c1 = open_ok(&cc);
	cc.client_id = id2;
	c2 = open_ok(&cc);
	p = producer(1);
	publish_n(p, SC_STREAM_RAW_SENSOR, "plain", N);
	flush_ok(p);
	cr_assert_eq(drain(c1, g1, N + 16, N), N);
	cr_assert_eq(drain(c2, g2, N + 16, N), N);
	check_all(g1, N, SC_STREAM_RAW_SENSOR, "plain", N);
	check_all(g2, N, SC_STREAM_RAW_SENSOR, "plain", N);
	transport_close(p);
	transport_close(c1);
	transport_close(c2);
}

Test(transport_mqtt, delivers_exactly_what_was_published_to_two_streams)
{
	enum { N = 300 };
	struct got *g = calloc(2 * N + 16, sizeof(*g));
	struct transport *c = consumer(
		"c-two", SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_RAW_SENSOR), -1,
		0);
	struct transport *p = producer(1);

	publish_n(p, SC_STREAM_RAW_CPU, "cpu", N);
	publish_n(p, SC_STREAM_RAW_SENSOR, "sensor", N);
	flush_ok(p);
	cr_assert_eq(p->counters.published, 2 * N);
	cr_assert_eq(drain(c, g, 2 * N + 16, 2 * N), 2 * N);
	check_all(g, 2 * N, SC_STREAM_RAW_CPU, "cpu", N);
	check_all(g, 2 * N, SC_STREAM_RAW_SENSOR, "sensor", N);
	transport_close(p);
	transport_close(c);
	free(g);
}

Test(transport_mqtt, keeps_messages_for_a_persistent_session_while_away)
{
	enum { N = 200 };
	struct got *g = calloc(N + 16, sizeof(*g));
	struct transport *c = consumer("c-persist", SC_STREAM_BIT(SC_STREAM_PROC_SENSOR), 1, 0);
	struct transport *p;

	transport_close(c);
	p = producer(1);
	publish_n(p, SC_STREAM_PROC_SENSOR, "away", N);
	flush_ok(p);
	transport_close(p);
	c = consumer("c-persist", SC_STREAM_BIT(SC_STREAM_PROC_SENSOR), 1, 0);
	cr_assert_eq(drain(c, g, N + 16, N), N);
	check_all(g, N, SC_STREAM_PROC_SENSOR, "away", N);
	transport_close(c);
	free(g);
}

Test(transport_mqtt, splits_a_shared_subscription_between_two_consumers)
{
	enum { N = 300 };
	struct got *g1 = calloc(N + 16, sizeof(*g1)), *g2 = calloc(N + 16, sizeof(*g2));
	struct got *all = calloc(2 * N + 32, sizeof(*all));
	struct transport *c1 = consumer("c-share-1", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	struct transport *c2 = consumer("c-share-2", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	struct transport *p = producer(1);
	size_t n1, n2;

	publish_n(p, SC_STREAM_RAW_CPU, "s", N);
	flush_ok(p);
	/* Poll both in turn, as two processors would. */
	n1 = n2 = 0;
	for (int64_t end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	     n1 + n2 < N && sc_mono_ns() < end;) {
		n1 += drain_some(c1, g1 + n1, N + 16 - n1);
		n2 += drain_some(c2, g2 + n2, N + 16 - n2);
	}
	n1 += drain(c1, g1 + n1, N + 16 - n1, 0);
	n2 += drain(c2, g2 + n2, N + 16 - n2, 0);
	cr_assert_gt(n1, 0, "the first consumer got nothing");
	cr_assert_gt(n2, 0, "the second consumer got nothing");
	cr_assert_eq(n1 + n2, N, "together %zu + %zu, expected %d", n1, n2, N);
	memcpy(all, g1, n1 * sizeof(*all));
	memcpy(all + n1, g2, n2 * sizeof(*all));
	check_all(all, N, SC_STREAM_RAW_CPU, "s", N);
	transport_close(p);
	transport_close(c1);
	transport_close(c2);
	free(g1);
	free(g2);
	free(all);
}

Test(transport_mqtt, round_trips_at_qos_0)
{
	round_trip(0, 100);
}

Test(transport_mqtt, round_trips_at_qos_2)
{
	round_trip(2, 100);
}

Test(transport_mqtt, returns_keys_with_topic_characters_intact)
{
	struct got g[8];
	struct transport *c = consumer("c-keys", SC_STREAM_BIT(SC_STREAM_DEADLETTER), 1, 0);
	struct transport *p = producer(1);

	publish(p, SC_STREAM_DEADLETTER, "a/b+c#d", "one");
	publish(p, SC_STREAM_DEADLETTER, NULL, "two");
	flush_ok(p);
	cr_assert_eq(drain(c, g, 8, 2), 2);
	cr_assert_str_eq(g[0].payload, "one");
	cr_assert_str_eq(g[0].key, "a/b+c#d");
	cr_assert_str_eq(g[1].payload, "two");
	cr_assert_not(g[1].has_key);
	transport_close(p);
	transport_close(c);
}

/*
 * A publisher in another process: paho's packet loop serves every client of
 * a process, so a producer's rounds here would read the consumer's socket
 * too; only a publisher elsewhere shows what a consumer reads by itself.
 * Forked before any client exists here; it publishes once a byte arrives on
 * the pipe.
 */
struct child {
	pid_t pid;
	int go;
};

static struct child spawn_publisher(enum sc_stream s, const char *tag, int n)
{
	struct child c;
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		struct transport_cfg cfg = base_cfg("generate");
		struct sc_error err = {0};
		struct transport *t = NULL;
		char payload[64], key[16], b;
		int bad = 0;

		close(fds[1]);
		if (read(fds[0], &b, 1) != 1)
			_exit(2);
		test_opt(&cfg, "qos", 1);
		if (transport_open("mqtt", &cfg, &t, &err))
			_exit(3);
		for (int i = 0; i < n; i++) {
			struct sc_msg m = {0};
			snprintf(payload, sizeof(payload), "%s-%d", tag, i);
			snprintf(key, sizeof(key), "k%d", i % 5);
			m.stream = s;
			m.key = key;
			m.payload = payload;
			m.len = strlen(payload);
			bad |= transport_publish(t, &m, &err) != 0;
		}
		bad |= transport_flush(t, 10000, &err) != 0;
		transport_close(t);
		_exit(bad ? 4 : 0);
	}
	close(fds[0]);
	c.go = fds[1];
	return c;
}

static void child_done(struct child c)
{
	int status = 0;

	cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "publisher failed (status %d)",
		  status);
}

/*
 * Backpressure: a consumer reads from its socket only inside poll() (and the
 * publishes of the process role), so what it has not asked for stays with
 * the broker, in its session, not in the process's memory.
 */
Test(transport_mqtt, reads_nothing_before_it_is_polled_and_loses_nothing)
{
	enum { N = 60, PREFETCH = 10 };
	struct got g[N + 16];
	struct child pub = spawn_publisher(SC_STREAM_RAW_CPU, "lag", N);
	struct transport *c = consumer("c-lag", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, PREFETCH);

	cr_assert_eq(write(pub.go, "g", 1), 1);
	close(pub.go);
	child_done(pub);
	usleep(300000);
	cr_assert_eq(transport_lag(c), 0, "%lld messages were read before any poll",
		     (long long)transport_lag(c));
	cr_assert_eq(drain(c, g, N + 16, N), N);
	check_all(g, N, SC_STREAM_RAW_CPU, "lag", N);
	cr_assert_eq(transport_lag(c), 0);
	transport_close(c);
}

Test(transport_mqtt, rejects_bad_uris)
{
	const char *bad[] = {"mqtt://", "127.0.0.1:1883", "http://127.0.0.1:1883",
			     "mqtt://127.0.0.1:99999", "mqtt://127.0.0.1:1883/path"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct transport_cfg c = base_cfg("generate");
		struct sc_error err = {0};
		struct transport *t = NULL;

		c.broker = bad[i];
		cr_assert_eq(transport_open("mqtt", &c, &t, &err), -SC_EINVAL, "%s: %s", bad[i],
			     err.msg);
		cr_assert_null(t);
	}
}

Test(transport_mqtt, reports_a_refused_port_as_a_connection_error, .timeout = 15)
{
	struct transport_cfg c = base_cfg("generate");
	struct sc_error err = {0};
	struct transport *t = NULL;

	c.broker = "mqtt://user:secret@127.0.0.1:1";
	cr_assert_eq(transport_open("mqtt", &c, &t, &err), -SC_ECONN, "%s", err.msg);
	cr_assert_null(t);
	cr_assert(strstr(err.msg, "127.0.0.1:1") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, "secret") == NULL, "password leaked: %s", err.msg);
}

Test(transport_mqtt, rejects_unknown_options_and_consumers_without_an_id)
{
	struct sc_kv bad[] = {{"qos", "1"}, {"no.such.key", "1"}};
	struct transport_cfg c = base_cfg("generate");
	struct sc_error err = {0};
	struct transport *t = NULL;

	c.props = bad;
	c.nprops = 2;
	cr_assert_eq(transport_open("mqtt", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "no.such.key") != NULL, "%s", err.msg);

	c = base_cfg("sink");
	c.inputs = SC_STREAM_BIT(SC_STREAM_RAW_CPU);
	cr_assert_eq(transport_open("mqtt", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "client id") != NULL, "%s", err.msg);
}

/*
 * paho acknowledges a PUBLISH as soon as it reads it, before it hands it
 * over; a kill in between lost the message (3 in 132 sink kills,
 * mqtt-sink-kills.sh).  A round of the packet loop first journals the
 * PUBLISH waiting on the socket: it is in the journal before paho has read
 * (and acknowledged) it, and handing it over does not journal it a second
 * time.
 */
Test(transport_mqtt, journals_a_message_before_paho_reads_and_acknowledges_it)
{
	struct child pub = spawn_publisher(SC_STREAM_RAW_CPU, "pre", 1);
	struct transport *c = consumer("c-pre", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, 0);
	struct mqtt_priv *p = c->priv;
	struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
	struct sc_error err = {0};
	struct sc_msg m;

	cr_assert_geq(p->fd, 0, "the consumer's socket was not found");
	cr_assert_eq(mqtt_journal_pending(p->journal), 0);
	cr_assert_eq(write(pub.go, "g", 1), 1);
	close(pub.go);
	child_done(pub);
	cr_assert_eq(poll(&pfd, 1, 5000), 1, "the message never reached the consumer's socket");
	usleep(20000);	    /* all of it */
	mqtt_prejournal(p); /* what a round does before paho reads */
	cr_assert_eq(mqtt_journal_pending(p->journal), 1,
		     "the waiting PUBLISH is not in the journal before paho reads it");
	cr_assert_eq(transport_poll(c, &m, 2000, &err), 1, "poll: %s", err.msg);
	cr_assert_eq(m.len, strlen("pre-0"));
	cr_assert(memcmp(m.payload, "pre-0", m.len) == 0);
	cr_assert_str_eq(m.key, "k0");
	cr_assert_eq(mqtt_journal_pending(p->journal), 1, "journaled twice");
	cr_assert_eq(transport_commit(c, &m, &err), 0, "commit: %s", err.msg);
	cr_assert_eq(mqtt_journal_pending(p->journal), 0, "the commit did not reach the journal");
	transport_msg_release(c, &m);
	transport_close(c);
}
