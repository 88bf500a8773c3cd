/*
 * test_contract.c - one behavioural contract, run against every transport.
 *
 * The same expectations (transport.h's delivery contract) hold for pipe,
 * kafka, amqp and mqtt, each against its real broker on the default port
 * (scripts/brokers.sh start all).  Every test uses a fresh namespace and
 * client ids derived from it, so runs in parallel do not meet.  What a
 * backend does not promise (its caps say so) is skipped, never faked:
 * the pipe has no COMMIT, so it is not asked to redeliver.
 *
 * Cases: publish and consume; order per key; redelivery of what was not
 * committed; commit after the output is safe; close and drain; oversized
 * and malformed messages.
 *
 * Map:  backends - helpers - cases - one Test() per backend and case
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "record.h"
#include "transport.h"
#include "test_opts.h"

/* ---- backends ------------------------------------------------------------------ */

struct backend {
	const char *name;
	const char *broker; /* NULL: the pipe */
	int port;
};

static const struct backend be_pipe = {"pipe", NULL, 0};
static const struct backend be_kafka = {"kafka", "kafka://127.0.0.1:9092", 9092};
static const struct backend be_amqp = {"amqp", "amqp://guest:guest@127.0.0.1:5672/", 5672};
static const struct backend be_mqtt = {"mqtt", "mqtt://127.0.0.1:1883", 1883};

#define WAIT_MS	 30000 /* the longest a broker may take to deliver (rebalances) */
#define QUIET_MS 1500  /* how long "nothing more arrives" is watched */
#define MAXN	 256

static char ns[80];
/* the pipe's "broker": two pipes (a stream in, a stream out), by slot */
static int pipes[2][2] = {{-1, -1}, {-1, -1}};
static const struct sc_kv mqtt_props[] = {{"session.expiry", "120"}};

static void require_port(const struct backend *b)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
	int fd, rc;

	if (!b->port)
		return;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	cr_assert_eq(rc, 0, "%s: no broker on 127.0.0.1:%d (scripts/brokers.sh start all)", b->name,
		     b->port);
}

static void setup(const struct backend *b)
{
	static unsigned int n;
	struct timespec ts;

	require_port(b);
	signal(SIGPIPE, SIG_IGN);
	if (!getenv("STREAMCTL_STATE_DIR")) {
		static char state[64];
		snprintf(state, sizeof(state), "/tmp/sccontract_state_%ld", (long)getuid());
		setenv("STREAMCTL_STATE_DIR", state, 1);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(ns, sizeof(ns), "ct_%s_%ld_%ld_%u", b->name, (long)getpid(), (long)ts.tv_nsec,
		 n++);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pipe(pipes[i]), 0);
}

static struct transport_cfg base_cfg(const struct backend *b, const char *role)
{
	struct transport_cfg c = {0};

	c.broker = b->broker;
	c.ns = ns;
	c.role = role;
	if (strcmp(b->name, "mqtt") == 0) {
		c.props = mqtt_props;
		c.nprops = 1;
	}
	if (strcmp(b->name, "pipe") == 0) {
		test_opt(&c, "in.fd", -1);
		test_opt(&c, "out.fd", -1);
	}
	return c;
}

static struct transport *open_ok(const struct backend *b, const struct transport_cfg *c)
{
	struct sc_error err = {0};
	struct transport *t = NULL;

	cr_assert_eq(transport_open(b->name, c, &t, &err), 0, "%s: open: %s", b->name, err.msg);
	return t;
}

/* A producer; on the pipe it writes into pipe `slot`. */
static struct transport *producer(const struct backend *b, int slot, size_t max)
{
	struct transport_cfg c = base_cfg(b, "generate");

	if (strcmp(b->name, "pipe") == 0)
		test_opt(&c, "out.fd", pipes[slot][1]);
	c.max_msg_bytes = max;
	return open_ok(b, &c);
}

/* A consumer of `stream` with a stable identity `id` (its group / session). */
static struct transport *consumer(const struct backend *b, int slot, enum sc_stream stream,
				  const char *id, size_t max)
{
	static char ids[8][160];
	static int next;
	struct transport_cfg c = base_cfg(b, "sink");
	char *cid = ids[next++ % 8];

	snprintf(cid, sizeof(ids[0]), "%s-%s", ns, id);
	c.client_id = cid;
	c.group = cid;
	c.inputs = SC_STREAM_BIT(stream);
	if (strcmp(b->name, "pipe") == 0)
		test_opt(&c, "in.fd", pipes[slot][0]);
	c.max_msg_bytes = max;
	return open_ok(b, &c);
}

/* ---- helpers ------------------------------------------------------------------- */

static void publish_one(struct transport *t, enum sc_stream s, const char *key, const void *p,
			size_t len)
{
	struct sc_error err = {0};
	struct sc_msg m = {.stream = s, .payload = p, .len = len, .key = key};

	cr_assert_eq(transport_publish(t, &m, &err), 0, "publish: %s", err.msg);
}

/* Payloads "<tag>-<i>", keys "k<i % 5>", i in [from, to). */
static void publish_range(struct transport *t, enum sc_stream s, const char *tag, int from, int to)
{
	char key[16], payload[64];

	for (int i = from; i < to; i++) {
		int n = snprintf(payload, sizeof(payload), "%s-%d", tag, i);

		snprintf(key, sizeof(key), "k%d", i % 5);
		publish_one(t, s, key, payload, (size_t)n);
	}
}

static void flush_ok(struct transport *t)
{
	struct sc_error err = {0};

	cr_assert_eq(transport_flush(t, 30000, &err), 0, "flush: %s", err.msg);
}

/* The pipe's writer is done: the reader will see the end of input. */
static void close_producer(const struct backend *b, struct transport *t, int slot)
{
	transport_close(t);
	if (!b->broker && pipes[slot][1] >= 0) {
		close(pipes[slot][1]);
		pipes[slot][1] = -1;
	}
}

struct seen {
	int count[MAXN]; /* arrivals of index i */
	int order[MAXN]; /* indices in arrival order */
	int n;		 /* arrivals */
	int malformed;	 /* messages flagged SC_MSG_MALFORMED */
	char error[128]; /* the first one's reason */
	bool eof;	 /* the input ended (pipe) */
	bool committed[MAXN];
};

/*
 * Poll until `want` messages of `tag` arrived (or WAIT_MS), then QUIET_MS
 * more to catch extras; commit those for which commit(i) says so.
 */
static void take(struct transport *t, const char *tag, int want, bool (*commit)(int i),
		 struct seen *s)
{
	struct sc_error err = {0};
	size_t tl = strlen(tag);
	int64_t end = sc_mono_ns() + (int64_t)WAIT_MS * 1000000, quiet = 0;

	for (;;) {
		int64_t now = sc_mono_ns();
		struct sc_msg m;
		char payload[64], want_key[16];
		int rc, i;

		if (s->n >= want && !quiet)
			quiet = now + (int64_t)QUIET_MS * 1000000;
		if (now > end || (quiet && now > quiet) || s->eof)
			break;
		rc = transport_poll(t, &m, 100, &err);
		if (rc == -SC_EOF) {
			s->eof = true;
			break;
		}
		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		if (m.flags & SC_MSG_MALFORMED) {
			if (!s->malformed++)
				snprintf(s->error, sizeof(s->error), "%s", m.error ? m.error : "");
			cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
			transport_msg_release(t, &m);
			continue;
		}
		cr_assert_lt(m.len, sizeof(payload), "unexpected %zu-byte message", m.len);
		memcpy(payload, m.payload, m.len);
		payload[m.len] = '\0';
		cr_assert(strncmp(payload, tag, tl) == 0 && payload[tl] == '-',
			  "payload '%s' is not from '%s'", payload, tag);
		i = atoi(payload + tl + 1);
		cr_assert(i >= 0 && i < MAXN, "payload '%s'", payload);
		if (m.key) {
			snprintf(want_key, sizeof(want_key), "k%d", i % 5);
			cr_assert_str_eq(m.key, want_key, "key of '%s'", payload);
		}
		s->count[i]++;
		if (s->n < MAXN)
			s->order[s->n] = i;
		s->n++;
		if (!commit || commit(i)) {
			cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
			s->committed[i] = true;
		}
		transport_msg_release(t, &m);
	}
}

static void assert_each_once(const struct seen *s, int from, int to)
{
	for (int i = from; i < to; i++)
		cr_assert_eq(s->count[i], 1, "message %d arrived %d times", i, s->count[i]);
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (pipes[i][j] >= 0) {
				close(pipes[i][j]);
				pipes[i][j] = -1;
			}
}

/* ---- cases --------------------------------------------------------------------- */

/* Everything published and flushed arrives once, on its stream, with its key. */
static void publish_and_consume(const struct backend *b)
{
	enum { N = 100 };
	static struct seen s;
	struct transport *c, *p;

	memset(&s, 0, sizeof(s));
	setup(b);
	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	p = producer(b, 0, 0);
	cr_assert(transport_has(p, TRANSPORT_CAP_PUBLISH));
	cr_assert(transport_has(c, TRANSPORT_CAP_CONSUME));
	publish_range(p, SC_STREAM_RAW_CPU, "pc", 0, N);
	flush_ok(p);
	close_producer(b, p, 0);
	take(c, "pc", N, NULL, &s);
	cr_assert_eq(s.n, N, "%d of %d arrived", s.n, N);
	assert_each_once(&s, 0, N);
	cr_assert_eq(s.malformed, 0, "%s", s.error);
	transport_close(c);
	teardown();
}

/*
 * flush(0) does not wait: asked again and again, it answers -SC_ETIMEDOUT
 * while messages are in flight and 0 once the broker has them all (it
 * reads the broker's answers itself, no blocking flush needed); then they
 * all arrive.
 */
static void flush_without_waiting(const struct backend *b)
{
	enum { N = 100 };
	static struct seen s;
	struct transport *c, *p;
	struct sc_error err = {0};
	int64_t end;
	int rc;

	memset(&s, 0, sizeof(s));
	setup(b);
	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	p = producer(b, 0, 0);
	publish_range(p, SC_STREAM_RAW_CPU, "nw", 0, N);
	end = sc_mono_ns() + (int64_t)WAIT_MS * 1000000;
	while ((rc = transport_flush(p, 0, &err)) == -SC_ETIMEDOUT && sc_mono_ns() < end)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	cr_assert_eq(rc, 0, "flush(0): %s", err.msg);
	close_producer(b, p, 0);
	take(c, "nw", N, NULL, &s);
	cr_assert_eq(s.n, N, "%d of %d arrived", s.n, N);
	assert_each_once(&s, 0, N);
	transport_close(c);
	teardown();
}

/* Messages of one key arrive in the order they were published. */
static void order_per_key(const struct backend *b)
{
	enum { N = 200 };
	static struct seen s;
	int last[5] = {-1, -1, -1, -1, -1};
	struct transport *c, *p;

	memset(&s, 0, sizeof(s));
	setup(b);
	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	p = producer(b, 0, 0);
	publish_range(p, SC_STREAM_RAW_CPU, "ord", 0, N);
	flush_ok(p);
	close_producer(b, p, 0);
	take(c, "ord", N, NULL, &s);
	cr_assert_eq(s.n, N);
	for (int k = 0; k < s.n; k++) {
		int i = s.order[k];
		cr_assert_gt(i, last[i % 5], "key k%d: %d arrived after %d", i % 5, i, last[i % 5]);
		last[i % 5] = i;
	}
	transport_close(c);
	teardown();
}

static bool first_half(int i)
{
	return i < 20;
}

/*
 * With COMMIT: what was polled and not committed comes back to the same
 * consumer identity after it went away; what was committed does not.
 */
static void redelivers_what_was_not_committed(const struct backend *b)
{
	enum { N = 40 };
	static struct seen s, again;
	struct transport *c, *p;

	memset(&s, 0, sizeof(s));
	memset(&again, 0, sizeof(again));
	setup(b);
	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	if (!transport_has(c, TRANSPORT_CAP_COMMIT)) {
		transport_close(c);
		teardown();
		cr_skip_test("%s has no TRANSPORT_CAP_COMMIT: nothing is redelivered", b->name);
	}
	p = producer(b, 0, 0);
	publish_range(p, SC_STREAM_RAW_CPU, "rd", 0, N);
	flush_ok(p);
	close_producer(b, p, 0);
	take(c, "rd", N, first_half, &s);
	cr_assert_eq(s.n, N);
	transport_close(c);

	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	take(c, "rd", N - 20, NULL, &again);
	for (int i = 0; i < N; i++) {
		if (i < 20)
			cr_assert_eq(again.count[i], 0, "committed message %d came back", i);
		else
			cr_assert_geq(again.count[i], 1, "uncommitted message %d was lost", i);
	}
	transport_close(c);
	teardown();
}

/*
 * A processor's step: read the input, publish the output, flush, and only
 * then commit the input.  After that, the output is all there and the
 * input identity has nothing left to read.
 */
static void commit_after_output_is_safe(const struct backend *b)
{
	enum { N = 50 };
	static struct seen in, out, rest;
	struct transport *src, *proc_in, *proc_out, *sink;
	struct sc_error err = {0};
	char payload[64];
	int64_t end;
	bool commits;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	memset(&rest, 0, sizeof(rest));
	setup(b);
	proc_in = consumer(b, 0, SC_STREAM_RAW_CPU, "proc", 0);
	sink = consumer(b, 1, SC_STREAM_PROC_CPU, "sink", 0);
	src = producer(b, 0, 0);
	proc_out = producer(b, 1, 0);
	publish_range(src, SC_STREAM_RAW_CPU, "in", 0, N);
	flush_ok(src);
	close_producer(b, src, 0);

	end = sc_mono_ns() + (int64_t)WAIT_MS * 1000000;
	while (in.n < N && sc_mono_ns() < end) {
		struct sc_msg m[N];
		int got = 0, rc;

		while (got < N && (rc = transport_poll(proc_in, &m[got], 100, &err)) > 0) {
			int n = snprintf(payload, sizeof(payload), "out-%.*s", (int)m[got].len - 3,
					 (const char *)m[got].payload + 3);
			publish_one(proc_out, SC_STREAM_PROC_CPU, m[got].key, payload, (size_t)n);
			got++;
		}
		cr_assert(rc >= 0 || rc == -SC_EOF, "poll: %s", err.msg);
		flush_ok(proc_out); /* the outputs are safe ... */
		for (int k = 0; k < got; k++) {
			/* ... and only now is the input committed */
			cr_assert_eq(transport_commit(proc_in, &m[k], &err), 0, "commit: %s",
				     err.msg);
			transport_msg_release(proc_in, &m[k]);
		}
		in.n += got;
		if (rc == -SC_EOF)
			break;
	}
	cr_assert_eq(in.n, N, "the processor read %d of %d", in.n, N);
	close_producer(b, proc_out, 1);
	take(sink, "out", N, NULL, &out);
	cr_assert_eq(out.n, N);
	assert_each_once(&out, 0, N);
	transport_close(sink);
	commits = transport_has(proc_in, TRANSPORT_CAP_COMMIT);
	transport_close(proc_in);
	if (commits) {
		proc_in = consumer(b, 0, SC_STREAM_RAW_CPU, "proc", 0);
		take(proc_in, "in", 0, NULL, &rest);
		cr_assert_eq(rest.n, 0, "%d committed inputs came back", rest.n);
		transport_close(proc_in);
	}
	teardown();
}

/* A producer closed right after its flush loses nothing; a consumer that
 * committed everything and closed gets nothing again (or, on the pipe, the
 * end of input). */
static void close_and_drain(const struct backend *b)
{
	enum { N = 150 };
	static struct seen s, again;
	struct transport *c, *p;

	memset(&s, 0, sizeof(s));
	memset(&again, 0, sizeof(again));
	setup(b);
	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	p = producer(b, 0, 0);
	publish_range(p, SC_STREAM_RAW_CPU, "cd", 0, N);
	flush_ok(p);
	close_producer(b, p, 0);
	take(c, "cd", N, NULL, &s);
	cr_assert_eq(s.n, N);
	assert_each_once(&s, 0, N);
	if (!b->broker) {
		cr_assert(s.eof, "the pipe's reader did not see the end of input");
	} else {
		bool commits = transport_has(c, TRANSPORT_CAP_COMMIT);

		transport_close(c);
		c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
		take(c, "cd", 0, NULL, &again);
		if (commits)
			cr_assert_eq(again.n, 0, "%d committed messages came back", again.n);
	}
	transport_close(c);
	teardown();
}

/* Over the limit: publish refuses with -SC_ETOOBIG and a reason; a consumer
 * with a limit flags a larger message malformed (dead-letter) and goes on. */
static void oversized_messages(const struct backend *b)
{
	static struct seen s;
	static char big[4096];
	struct transport *c, *p, *unlimited;
	struct sc_error err = {0};
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = big, .len = sizeof(big)};

	memset(big, 'x', sizeof(big));
	memset(&s, 0, sizeof(s));
	setup(b);
	p = producer(b, 0, 1024);
	cr_assert_eq(transport_publish(p, &m, &err), -SC_ETOOBIG);
	cr_assert(strstr(err.msg, "exceeds"), "%s", err.msg);
	transport_close(p);

	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 1024);
	unlimited = producer(b, 0, 0);
	publish_range(unlimited, SC_STREAM_RAW_CPU, "ov", 0, 1);
	publish_one(unlimited, SC_STREAM_RAW_CPU, "k1", big, sizeof(big));
	publish_range(unlimited, SC_STREAM_RAW_CPU, "ov", 1, 2);
	flush_ok(unlimited);
	close_producer(b, unlimited, 0);
	take(c, "ov", 2, NULL, &s);
	cr_assert_eq(s.n, 2, "the messages around the big one: %d of 2", s.n);
	cr_assert_eq(s.malformed, 1, "the big one flagged malformed %d times", s.malformed);
	cr_assert(strstr(s.error, "size limit") || strstr(s.error, "over the limit"), "%s",
		  s.error);
	transport_close(c);
	teardown();
}

/* Any bytes are a message: NULs and invalid UTF-8 round-trip exactly and are
 * not flagged.  On the pipe, bytes that are not a frame become one malformed
 * message and what follows still arrives. */
static void malformed_messages(const struct backend *b)
{
	static const unsigned char odd[] = {0x00, 0xff, 0xfe, 'a', 0x00, 0xc3, 0x28, 0x80};
	struct transport *c, *p;
	struct sc_error err = {0};
	struct sc_msg m;
	int64_t end;
	int rc = 0, good = 0, bad = 0;

	setup(b);
	c = consumer(b, 0, SC_STREAM_RAW_CPU, "c", 0);
	p = producer(b, 0, 0);
	publish_one(p, SC_STREAM_RAW_CPU, "k0", odd, sizeof(odd));
	flush_ok(p);
	if (!b->broker)
		cr_assert_eq(write(pipes[0][1], "this is not a frame", 19), 19);
	publish_one(p, SC_STREAM_RAW_CPU, "k0", "tail", 4);
	flush_ok(p);
	close_producer(b, p, 0);
	end = sc_mono_ns() + (int64_t)WAIT_MS * 1000000;
	while (good < 2 && sc_mono_ns() < end) {
		rc = transport_poll(c, &m, 100, &err);
		if (rc == -SC_EOF)
			break;
		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		if (m.flags & SC_MSG_MALFORMED) {
			bad++;
		} else if (good++ == 0) {
			cr_assert_eq(m.len, sizeof(odd));
			cr_assert_eq(memcmp(m.payload, odd, sizeof(odd)), 0, "bytes changed");
		} else {
			cr_assert_eq(m.len, 4);
			cr_assert_eq(memcmp(m.payload, "tail", 4), 0);
		}
		cr_assert_eq(transport_commit(c, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(c, &m);
	}
	cr_assert_eq(good, 2, "%d of 2 messages arrived", good);
	cr_assert_eq(bad, b->broker ? 0 : 1, "malformed: %d", bad);
	transport_close(c);
	teardown();
}

/* ---- one Test() per backend and case --------------------------------------------- */

#define CONTRACT(be)                                           \
	TestSuite(contract_##be, .timeout = 120);              \
	Test(contract_##be, publish_and_consume)               \
	{                                                      \
		publish_and_consume(&be_##be);                 \
	}                                                      \
	Test(contract_##be, flush_without_waiting)             \
	{                                                      \
		flush_without_waiting(&be_##be);               \
	}                                                      \
	Test(contract_##be, order_per_key)                     \
	{                                                      \
		order_per_key(&be_##be);                       \
	}                                                      \
	Test(contract_##be, redelivers_what_was_not_committed) \
	{                                                      \
		redelivers_what_was_not_committed(&be_##be);   \
	}                                                      \
	Test(contract_##be, commit_after_output_is_safe)       \
	{                                                      \
		commit_after_output_is_safe(&be_##be);         \
	}                                                      \
	Test(contract_##be, close_and_drain)                   \
	{                                                      \
		close_and_drain(&be_##be);                     \
	}                                                      \
	Test(contract_##be, oversized_messages)                \
	{                                                      \
		oversized_messages(&be_##be);                  \
	}                                                      \
	Test(contract_##be, malformed_messages)                \
	{                                                      \
		malformed_messages(&be_##be);                  \
	}

CONTRACT(pipe)
CONTRACT(kafka)
CONTRACT(amqp)
CONTRACT(mqtt)
