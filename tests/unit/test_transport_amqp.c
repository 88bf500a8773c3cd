/*
 * test_transport_amqp.c - the amqp backend against the real RabbitMQ at
 * 127.0.0.1:5672 (scripts/brokers.sh start amqp).  Nothing is skipped: an
 * unreachable broker fails every test with a message saying how to start it.
 *
 * Each test runs in its own process on a fresh namespace "t<pid>_<n>" and
 * deletes its exchanges and queues at the end.  The raw rabbitmq-c client is
 * used here only to inspect and clean the broker (reject into the
 * dead-letter queue, delete a queue behind the publisher's back, cleanup).
 * Connection loss is injected with a TCP relay between the backend and the
 * broker that the test can cut at an exact point (see relay_*).
 *
 * Map:  helpers - relay - publish/consume - delivery - errors - reconnect
 */
#include <criterion/criterion.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "transport.h"
#include "test_opts.h"

/* The binary's signal handling is not linked into unit tests. */
__attribute__((weak)) bool sc_stop_requested(void)
{
	return false;
}

/* ---- helpers ------------------------------------------------------------- */

static char test_ns[64];

static void ns_init(void)
{
	static int n;
	snprintf(test_ns, sizeof(test_ns), "t%d_%d", (int)getpid(), ++n);
}

static struct transport_cfg cfg_for(unsigned int inputs)
{
	struct transport_cfg c = {0};
	c.ns = test_ns;
	c.role = "test";
	c.client_id = "test_transport_amqp";
	c.inputs = inputs;
	return c;
}

static struct transport *open_ok(const struct transport_cfg *cfg)
{
	struct sc_error err = {0};
	struct transport *t = NULL;
	int rc = transport_open("amqp", cfg, &t, &err);

	if (rc == -SC_ECONN)
		cr_assert_fail("RabbitMQ is not reachable (%s): start it with "
			       "`scripts/brokers.sh start amqp`",
			       err.msg);
	cr_assert_eq(rc, 0, "open failed: %s", err.msg);
	return t;
}

static int open_err(const char *broker, const struct sc_kv *props, size_t nprops,
		    struct sc_error *err)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *t = NULL;
	int rc;

	c.broker = broker;
	c.props = props;
	c.nprops = nprops;
	rc = transport_open("amqp", &c, &t, err);
	cr_assert_null(t);
	return rc;
}

/* A raw connection for inspecting and cleaning the broker. */
static amqp_connection_state_t raw_connect(void)
{
	amqp_connection_state_t st = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(st);
	amqp_rpc_reply_t r;

	cr_assert_eq(amqp_socket_open(s, "127.0.0.1", 5672), 0,
		     "RabbitMQ is not reachable at 127.0.0.1:5672: start it with "
		     "`scripts/brokers.sh start amqp`");
	r = amqp_login(st, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL, "raw login failed");
	return st;
}

static void raw_delete_all(void)
{
	static const char *const queues[] = {"raw.cpu",	      "raw.sensor",
					     "processed.cpu", "processed.sensor",
					     "deadletter",    "deadletter.rejected"};
	amqp_connection_state_t st;
	char name[128];
	amqp_channel_t ch = 1;

	if (!test_ns[0])
		return;
	st = raw_connect();
	for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++, ch++) {
		amqp_channel_open(st, ch);
		snprintf(name, sizeof(name), "%s.%s", test_ns, queues[i]);
		amqp_queue_delete(st, ch, amqp_cstring_bytes(name), 0, 0);
	}
	amqp_channel_open(st, ch);
	amqp_exchange_delete(st, ch, amqp_cstring_bytes(test_ns), 0);
	snprintf(name, sizeof(name), "%s.dlx", test_ns);
	amqp_exchange_delete(st, ch, amqp_cstring_bytes(name), 0);
	amqp_connection_close(st, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(st);
}

static void setup(void)
{
	ns_init();
}

static void teardown(void)
{
	raw_delete_all();
}

static void publish(struct transport *t, enum sc_stream s, const char *key, int i)
{
	struct sc_error err = {0};
	char buf[64];
	struct sc_msg m = {0};
	int rc;

	m.stream = s;
	m.key = key;
	m.len = (size_t)snprintf(buf, sizeof(buf), "{\"s\":%d,\"i\":%d}", (int)s, i);
	m.payload = buf;
	m.timestamp_ns = 1700000000123456789LL + i;
	rc = transport_publish(t, &m, &err);
	cr_assert_eq(rc, 0, "publish %d: %s", i, err.msg);
}

static void flush_ok(struct transport *t)
{
	struct sc_error err = {0};
	int rc = transport_flush(t, 30000, &err);
	cr_assert_eq(rc, 0, "flush: %s", err.msg);
}

/* Index i of a payload published by publish(), checking its stream; -1 if foreign. */
static int payload_index(const struct sc_msg *m)
{
	char buf[64];
	int s, i;

	if (m->len >= sizeof(buf))
		return -1;
	memcpy(buf, m->payload, m->len);
	buf[m->len] = '\0';
	if (sscanf(buf, "{\"s\":%d,\"i\":%d}", &s, &i) != 2 || s != (int)m->stream)
		return -1;
	return i;
}

/* Poll until `want` messages arrived (or 30 s of silence); calls fn on each. */
static int consume(struct transport *t, int want, bool commit,
		   void (*fn)(const struct sc_msg *m, void *arg), void *arg)
{
	struct sc_error err = {0};
	int got = 0, idle = 0;

	while (got < want && idle < 150) {
		struct sc_msg m;
		int rc = transport_poll(t, &m, 200, &err);
		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0) {
			idle++;
			continue;
		}
		idle = 0;
		got++;
		if (fn)
			fn(&m, arg);
		if (commit)
			cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(t, &m);
	}
	return got;
}

/* Poll and commit until one second passes without a message; how many came. */
static int consume_until_quiet(struct transport *t, void (*fn)(const struct sc_msg *m, void *arg),
			       void *arg)
{
	struct sc_error err = {0};
	struct sc_msg m;
	int got = 0, rc;

	while ((rc = transport_poll(t, &m, 1000, &err)) > 0) {
		got++;
		if (fn)
			fn(&m, arg);
		cr_assert_eq(transport_commit(t, &m, &err), 0, "commit: %s", err.msg);
		transport_msg_release(t, &m);
	}
	cr_assert_eq(rc, 0, "poll: %s", err.msg);
	return got;
}

static void expect_nothing_more(struct transport *t)
{
	struct sc_error err = {0};
	struct sc_msg m;
	int rc = transport_poll(t, &m, 700, &err);

	if (rc > 0)
		transport_msg_release(t, &m);
	cr_assert_eq(rc, 0, "an unexpected extra message (or error: %s)", err.msg);
}

/* ---- relay: a TCP hop to the broker the test can cut -------------------- */

struct relay {
	int lfd, port;
	atomic_int cut_gen; /* bumped to cut every open pair */
	atomic_int refuse;  /* close this many new clients at once */
	atomic_bool stop;
	pthread_t thr;
};

struct relay_pair {
	struct relay *r;
	int a, b;
};

static void *relay_pair_run(void *arg)
{
	struct relay_pair *p = arg;
	int gen = atomic_load(&p->r->cut_gen);
	char buf[16384];

	while (!atomic_load(&p->r->stop) && atomic_load(&p->r->cut_gen) == gen) {
		struct pollfd f[2] = {{.fd = p->a, .events = POLLIN},
				      {.fd = p->b, .events = POLLIN}};
		if (poll(f, 2, 50) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(f[i].fd, buf, sizeof(buf));
			if (n <= 0 || write(i ? p->a : p->b, buf, (size_t)n) != n)
				goto out;
		}
	}
out:
	shutdown(p->a, SHUT_RDWR);
	shutdown(p->b, SHUT_RDWR);
	close(p->a);
	close(p->b);
	free(p);
	return NULL;
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd f = {.fd = r->lfd, .events = POLLIN};
		struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons(5672)};
		struct relay_pair *p;
		pthread_t th;
		int c;

		if (poll(&f, 1, 50) <= 0)
			continue;
		c = accept(r->lfd, NULL, NULL);
		if (c < 0)
			continue;
		if (atomic_load(&r->refuse) > 0) {
			atomic_fetch_sub(&r->refuse, 1);
			close(c);
			continue;
		}
		p = calloc(1, sizeof(*p));
		p->r = r;
		p->a = c;
		p->b = socket(AF_INET, SOCK_STREAM, 0);
		up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(p->b, (struct sockaddr *)&up, sizeof(up))) {
			close(p->a);
			close(p->b);
			free(p);
			continue;
		}
		pthread_create(&th, NULL, relay_pair_run, p);
		pthread_detach(th);
	}
	return NULL;
}

static void relay_start(struct relay *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	memset(r, 0, sizeof(*r));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(r->lfd, 16), 0);
	getsockname(r->lfd, (struct sockaddr *)&a, &len);
	r->port = ntohs(a.sin_port);
	pthread_create(&r->thr, NULL, relay_run, r);
}

/* Cut every connection through the relay and refuse the next `refuse` ones. */
static void relay_cut(struct relay *r, int refuse)
{
	atomic_store(&r->refuse, refuse);
	atomic_fetch_add(&r->cut_gen, 1);
}

static void relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thr, NULL);
	close(r->lfd);
}

/* ---- publish and consume -------------------------------------------------- */

#define N 300

struct seen {
	int count[SC_STREAM__COUNT][N];
	int redelivered;
	int bad;
	int64_t ts_bad;
};

static void record(const struct sc_msg *m, void *arg)
{
	struct seen *s = arg;
	int i = payload_index(m);
	char want_key[32];

	if (i < 0 || i >= N) {
		s->bad++;
		return;
	}
	snprintf(want_key, sizeof(want_key), "host%d", i % 3);
	if (!m->key || strcmp(m->key, want_key) != 0)
		s->bad++;
	if (m->timestamp_ns != 1700000000123456789LL + i)
		s->ts_bad++;
	if (m->flags & SC_MSG_REDELIVERED)
		s->redelivered++;
	s->count[m->stream][i]++;
}

static void publish_n(struct transport *t, enum sc_stream s, int n)
{
	char key[32];

	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "host%d", i % 3);
		publish(t, s, key, i);
	}
}

TestSuite(transport_amqp, .init = setup, .fini = teardown, .timeout = 90);

Test(transport_amqp, publishes_to_two_streams_and_flush_confirms_all)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c);

	cr_assert(transport_has(p, TRANSPORT_CAP_CONFIRM | TRANSPORT_CAP_COMMIT |
					   TRANSPORT_CAP_GROUPS | TRANSPORT_CAP_LAG));
	cr_assert_not(transport_has(p, TRANSPORT_CAP_REPLAY));
	publish_n(p, SC_STREAM_RAW_CPU, N);
	publish_n(p, SC_STREAM_PROC_SENSOR, N);
	flush_ok(p);
	cr_assert_eq(p->counters.published, 2 * N);
	cr_assert(transport_healthy(p));
	transport_close(p);
}

Test(transport_amqp, consumer_receives_exactly_what_was_published_with_stream_key_payload)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;
	static struct seen seen;

	publish_n(p, SC_STREAM_RAW_CPU, N);
	publish_n(p, SC_STREAM_PROC_SENSOR, N);
	flush_ok(p);
	transport_close(p);

	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_PROC_SENSOR));
	q = open_ok(&c);
	cr_assert_eq(consume(q, 2 * N, true, record, &seen), 2 * N);
	expect_nothing_more(q);
	cr_assert_eq(seen.bad, 0, "%d message(s) with a wrong payload or key", seen.bad);
	cr_assert_eq(seen.ts_bad, 0, "timestamps not carried through");
	for (int i = 0; i < N; i++) {
		cr_assert_eq(seen.count[SC_STREAM_RAW_CPU][i], 1, "raw.cpu %d seen %d times", i,
			     seen.count[SC_STREAM_RAW_CPU][i]);
		cr_assert_eq(seen.count[SC_STREAM_PROC_SENSOR][i], 1);
	}
	cr_assert_eq(q->counters.committed, 2 * N);
	transport_close(q);
}

Test(transport_amqp, messages_published_before_any_consumer_exist_are_kept)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;
	struct sc_msg m;
	struct sc_error err = {0};

	publish(p, SC_STREAM_DEADLETTER, NULL, 7);
	flush_ok(p);
	transport_close(p);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_DEADLETTER));
	q = open_ok(&c);
	cr_assert_eq(transport_poll(q, &m, 5000, &err), 1, "%s", err.msg);
	cr_assert_eq(m.stream, SC_STREAM_DEADLETTER);
	cr_assert_null(m.key);
	cr_assert_eq(payload_index(&m), 7);
	cr_assert_eq(transport_commit(q, &m, &err), 0);
	transport_msg_release(q, &m);
	transport_close(q);
}

Test(transport_amqp, acked_messages_are_not_redelivered_after_reopen)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;

	publish_n(p, SC_STREAM_RAW_CPU, 50);
	flush_ok(p);
	transport_close(p);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	q = open_ok(&c);
	cr_assert_eq(consume(q, 50, true, NULL, NULL), 50);
	transport_close(q);
	q = open_ok(&c);
	expect_nothing_more(q);
	cr_assert_eq(transport_lag(q), 0);
	transport_close(q);
}

Test(transport_amqp, unacked_messages_are_redelivered_with_the_redelivered_flag)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;
	static struct seen first, second;

	publish_n(p, SC_STREAM_RAW_CPU, 40);
	flush_ok(p);
	transport_close(p);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	q = open_ok(&c);
	cr_assert_eq(consume(q, 40, false, record, &first), 40);
	cr_assert_eq(first.redelivered, 0);
	transport_close(q);
	q = open_ok(&c);
	cr_assert_eq(consume(q, 40, true, record, &second), 40);
	cr_assert_eq(second.redelivered, 40, "only %d of 40 flagged REDELIVERED",
		     second.redelivered);
	expect_nothing_more(q);
	transport_close(q);
}

Test(transport_amqp, two_consumers_on_one_stream_share_its_messages)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q1, *q2;
	static struct seen s1, s2;
	struct sc_error err = {0};
	int got1 = 0, got2 = 0, idle = 0;

	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_SENSOR));
	test_opt(&c, "prefetch", 5);
	q1 = open_ok(&c);
	q2 = open_ok(&c);
	publish_n(p, SC_STREAM_RAW_SENSOR, 200);
	flush_ok(p);
	while (got1 + got2 < 200 && idle < 100) {
		struct transport *q = (got1 + got2 + idle) % 2 ? q2 : q1;
		struct sc_msg m;
		int rc = transport_poll(q, &m, 100, &err);
		cr_assert_geq(rc, 0, "%s", err.msg);
		if (!rc) {
			idle++;
			continue;
		}
		record(&m, q == q1 ? &s1 : &s2);
		*(q == q1 ? &got1 : &got2) += 1;
		cr_assert_eq(transport_commit(q, &m, &err), 0);
		transport_msg_release(q, &m);
	}
	cr_assert_eq(got1 + got2, 200);
	cr_assert_gt(got1, 0, "the first consumer got nothing");
	cr_assert_gt(got2, 0, "the second consumer got nothing");
	for (int i = 0; i < 200; i++)
		cr_assert_eq(s1.count[SC_STREAM_RAW_SENSOR][i] + s2.count[SC_STREAM_RAW_SENSOR][i],
			     1, "message %d delivered to both or neither", i);
	transport_close(q1);
	transport_close(q2);
	transport_close(p);
}

Test(transport_amqp, lag_counts_messages_ready_in_the_consumed_queues)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;
	struct sc_error err = {0};
	struct sc_msg m;

	publish_n(p, SC_STREAM_PROC_CPU, 30);
	flush_ok(p);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_PROC_CPU));
	test_opt(&c, "prefetch", 1);
	q = open_ok(&c);
	cr_assert_eq(transport_poll(q, &m, 5000, &err), 1, "%s", err.msg);
	cr_assert_eq(transport_lag(q), 29, "one of 30 is delivered, 29 are ready");
	cr_assert_eq(transport_lag(p), -1, "a pure publisher has no lag");
	transport_msg_release(q, &m);
	transport_close(q);
	transport_close(p);
}

Test(transport_amqp, lag_queries_between_polls_lose_no_delivery)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;
	static struct seen seen;

	publish_n(p, SC_STREAM_RAW_CPU, 90);
	flush_ok(p);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	test_opt(&c, "prefetch", 50);
	q = open_ok(&c);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(consume(q, 30, true, record, &seen), 30);
		/*
		 * The batch's ack goes out with the next poll() or lag(): send it,
		 * then wait past the lag cache, so the query below comes after
		 * the broker pushed the next deliveries and is a real one.
		 */
		(void)transport_lag(q);
		usleep(1100000);
		cr_assert_eq(transport_lag(q), round < 1 ? 10 : 0, "round %d", round);
	}
	expect_nothing_more(q);
	cr_assert_eq(seen.bad, 0);
	for (int i = 0; i < 90; i++)
		cr_assert_eq(seen.count[SC_STREAM_RAW_CPU][i], 1, "message %d seen %d times", i,
			     seen.count[SC_STREAM_RAW_CPU][i]);
	transport_close(q);
	transport_close(p);
}

Test(transport_amqp, small_confirm_window_still_confirms_everything)
{
	struct sc_kv props[] = {{"confirm.window", "4"}};
	struct transport_cfg c = cfg_for(0);
	struct transport *p;

	c.props = props;
	c.nprops = 1;
	p = open_ok(&c);
	publish_n(p, SC_STREAM_RAW_CPU, 100);
	flush_ok(p);
	cr_assert_eq(p->counters.published, 100);
	transport_close(p);
}

/* ---- dead letters and failures -------------------------------------------- */

Test(transport_amqp, a_rejected_message_lands_in_the_dead_letter_queue)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c);
	amqp_connection_state_t st = raw_connect();
	char queue[128];
	amqp_rpc_reply_t r;
	amqp_basic_get_ok_t *ok;
	amqp_message_t msg;
	amqp_queue_declare_ok_t *d;

	publish(p, SC_STREAM_RAW_CPU, "h", 1);
	flush_ok(p);
	amqp_channel_open(st, 1);
	snprintf(queue, sizeof(queue), "%s.raw.cpu", test_ns);
	r = amqp_basic_get(st, 1, amqp_cstring_bytes(queue), 0);
	cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
	cr_assert_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD, "the message is not in %s", queue);
	ok = r.reply.decoded;
	cr_assert_eq(amqp_basic_reject(st, 1, ok->delivery_tag, 0), 0);
	cr_assert_eq(amqp_read_message(st, 1, &msg, 0).reply_type, AMQP_RESPONSE_NORMAL);
	cr_assert_eq(msg.properties.delivery_mode, AMQP_DELIVERY_PERSISTENT);
	cr_assert_eq(msg.properties.content_type.len, strlen("application/json"));
	amqp_destroy_message(&msg);
	snprintf(queue, sizeof(queue), "%s.deadletter.rejected", test_ns);
	for (int i = 0; i < 50; i++) {
		d = amqp_queue_declare(st, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0,
				       amqp_empty_table);
		cr_assert_not_null(d, "%s does not exist", queue);
		if (d->message_count == 1)
			break;
		usleep(100000);
	}
	cr_assert_eq(d->message_count, 1, "the rejected message is not in %s", queue);
	amqp_connection_close(st, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(st);
	transport_close(p);
}

Test(transport_amqp, an_unroutable_message_makes_flush_fail_with_eio)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c);
	amqp_connection_state_t st = raw_connect();
	struct sc_error err = {0};
	char queue[128];

	publish(p, SC_STREAM_RAW_CPU, "h", 1);
	flush_ok(p);
	snprintf(queue, sizeof(queue), "%s.raw.cpu", test_ns);
	amqp_channel_open(st, 1);
	cr_assert_not_null(amqp_queue_delete(st, 1, amqp_cstring_bytes(queue), 0, 0));
	amqp_connection_close(st, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(st);
	publish(p, SC_STREAM_RAW_CPU, "h", 2);
	cr_assert_eq(transport_flush(p, 10000, &err), -SC_EIO, "flush: %s", err.msg);
	cr_assert(strstr(err.msg, "1 message(s) nacked/returned"), "%s", err.msg);
	cr_assert(strstr(err.msg, "NO_ROUTE"), "%s", err.msg);
	flush_ok(p); /* reported once */
	transport_close(p);
}

Test(transport_amqp, wrong_password_is_refused_with_eauth_without_showing_it)
{
	struct sc_error err = {0};
	int rc = open_err("amqp://guest:s3cr3t-Wrong@127.0.0.1:5672/", NULL, 0, &err);

	cr_assert_eq(rc, -SC_EAUTH, "got %d: %s", rc, err.msg);
	cr_assert(strncmp(err.msg,
			  "amqp: authentication refused for user 'guest' at 127.0.0.1:5672",
			  62) == 0,
		  "%s", err.msg);
	cr_assert_null(strstr(err.msg, "s3cr3t"), "the password leaked: %s", err.msg);
}

Test(transport_amqp, an_unknown_vhost_is_refused_with_eauth)
{
	struct sc_error err = {0};
	int rc = open_err("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", NULL, 0, &err);

	cr_assert_eq(rc, -SC_EAUTH, "got %d: %s", rc, err.msg);
	cr_assert(strstr(err.msg, "vhost 'no-such-vhost'"), "%s", err.msg);
}

Test(transport_amqp, malformed_uris_are_refused_with_einval)
{
	static const char *const bad[] = {
		"127.0.0.1:5672",
		"amqp://guest:guest@127.0.0.1:99999/",
		"http://127.0.0.1:5672/",
		"amqp://guest:pw@:5672/",
	};
	struct sc_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		cr_assert_eq(open_err(bad[i], NULL, 0, &err), -SC_EINVAL, "%s: %s", bad[i],
			     err.msg);
		cr_assert(strncmp(err.msg, "amqp: broker uri", 16) == 0, "%s", err.msg);
		cr_assert_null(strstr(err.msg, "pw@"), "the password leaked: %s", err.msg);
	}
}

Test(transport_amqp, connection_refused_fails_with_econn_naming_the_address)
{
	struct sc_error err = {0};
	int rc = open_err("amqp://guest:guest@127.0.0.1:1/", NULL, 0, &err);

	cr_assert_eq(rc, -SC_ECONN, "%s", err.msg);
	cr_assert_str_eq(err.msg, "amqp: cannot connect to 127.0.0.1:1: connection refused");
}

Test(transport_amqp, unknown_x_keys_and_bad_values_are_refused)
{
	struct sc_kv unknown[] = {{"acks", "all"}};
	struct sc_kv bad[] = {{"prefetch", "lots"}};
	struct sc_error err = {0};

	cr_assert_eq(open_err(NULL, unknown, 1, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "unknown -X key 'acks'"), "%s", err.msg);
	cr_assert_eq(open_err(NULL, bad, 1, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "-X prefetch=lots"), "%s", err.msg);
}

Test(transport_amqp, a_queue_of_another_type_is_refused_clearly)
{
	struct transport_cfg c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	struct transport *q = open_ok(&c), *t = NULL;
	struct sc_error err = {0};

	transport_close(q);
	test_opt(&c, "quorum", 1);
	cr_assert_eq(transport_open("amqp", &c, &t, &err), -SC_EINVAL, "%s", err.msg);
	cr_assert(strstr(err.msg, "x-queue-type"), "%s", err.msg);
}

Test(transport_amqp, quorum_queues_carry_messages_too)
{
	struct transport_cfg c = cfg_for(0);
	struct transport *p, *q;

	test_opt(&c, "quorum", 1);
	p = open_ok(&c);
	publish_n(p, SC_STREAM_RAW_CPU, 20);
	flush_ok(p);
	transport_close(p);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	test_opt(&c, "quorum", 1);
	q = open_ok(&c);
	cr_assert_eq(consume(q, 20, true, NULL, NULL), 20);
	expect_nothing_more(q);
	transport_close(q);
}

/* ---- reconnect ------------------------------------------------------------ */

Test(transport_amqp, publisher_survives_connection_loss_and_resends_unconfirmed)
{
	struct relay r;
	char uri[64];
	struct sc_kv props[] = {{"confirm.window", "50"}};
	struct transport_cfg c = cfg_for(0);
	struct transport *p, *q;
	static struct seen seen;

	relay_start(&r);
	snprintf(uri, sizeof(uri), "amqp://guest:guest@127.0.0.1:%d/", r.port);
	c.broker = uri;
	c.props = props;
	c.nprops = 1;
	p = open_ok(&c);
	for (int i = 0; i < N; i++) {
		if (i == N / 3)
			relay_cut(&r, 2); /* lost, and the next two attempts are refused */
		if (i == 2 * N / 3)
			relay_cut(&r, 0);
		publish(p, SC_STREAM_RAW_CPU, (char[]){'h', 'o', 's', 't', (char)('0' + i % 3), 0},
			i);
	}
	flush_ok(p);
	cr_assert_geq(p->counters.retries, 2, "reconnects: %llu",
		      (unsigned long long)p->counters.retries);
	cr_assert(transport_healthy(p));
	transport_close(p);
	relay_stop(&r);

	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	q = open_ok(&c);
	consume(q, N, true, record, &seen);
	consume_until_quiet(q, record, &seen); /* re-sent copies may come twice */
	for (int i = 0; i < N; i++)
		cr_assert_geq(seen.count[SC_STREAM_RAW_CPU][i], 1, "message %d was lost", i);
	transport_close(q);
}

Test(transport_amqp, consumer_survives_connection_loss_and_gets_unacked_again)
{
	struct relay r;
	char uri[64];
	struct transport_cfg c = cfg_for(0);
	struct transport *p = open_ok(&c), *q;
	struct sc_error err = {0};
	struct sc_msg held;
	static struct seen seen;
	int got;

	publish_n(p, SC_STREAM_RAW_CPU, 100);
	flush_ok(p);
	transport_close(p);

	relay_start(&r);
	snprintf(uri, sizeof(uri), "amqp://guest:guest@127.0.0.1:%d/", r.port);
	c = cfg_for(SC_STREAM_BIT(SC_STREAM_RAW_CPU));
	c.broker = uri;
	test_opt(&c, "prefetch", 10);
	q = open_ok(&c);
	got = consume(q, 40, true, record, &seen);
	cr_assert_eq(got, 40);
	cr_assert_eq(transport_poll(q, &held, 5000, &err), 1, "%s", err.msg);
	relay_cut(&r, 1);
	/*
	 * The rest, `held` included, arrive on the new connection.  Acks still
	 * in flight when the connection was cut are lost, so a few of the
	 * first 40 may come again: all must, and only they may, be flagged.
	 */
	got += consume(q, 60, true, record, &seen);
	got += consume_until_quiet(q, record, &seen);
	cr_assert_geq(got, 100, "after the reconnect: %d of 100", got);
	cr_assert_geq(seen.redelivered, 1, "the unacked messages came back flagged");
	cr_assert_leq(got - 100 + 1, seen.redelivered, "%d duplicate(s) but %d flagged", got - 100,
		      seen.redelivered);
	/* held's tag belongs to the lost connection: committing it is a no-op. */
	cr_assert_eq(transport_commit(q, &held, &err), 0, "%s", err.msg);
	transport_msg_release(q, &held);
	cr_assert_geq(q->counters.retries, 1);
	for (int i = 0; i < 100; i++)
		cr_assert_geq(seen.count[SC_STREAM_RAW_CPU][i], 1, "message %d was lost", i);
	transport_close(q);
	relay_stop(&r);
}
