/*
 * test_transport_mqtt_sync.c - publish-only QoS 0 handles of the mqtt backend
 * (paho's synchronous client, transports/mqtt_client.c): order and
 * completeness, flush and close, keepalive of a slow publisher, and a broker
 * restart.  Against the real Mosquitto at 127.0.0.1:1883 (start it with
 * `scripts/brokers.sh start mqtt`); the restart test runs a private
 * Mosquitto on another port.  Each test uses a fresh namespace.
 */
#include "error.h"
#include "record.h"
#include "transport.h"
#include "test_opts.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define URI	 "mqtt://127.0.0.1:1883"
#define DRAIN_MS 15000

static char ns[64];

static bool reachable(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	if (fd < 0)
		return false;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void setup(void)
{
	static unsigned int n;
	struct timespec ts;

	signal(SIGPIPE, SIG_IGN); /* as the runtime does: a write to a closed socket */
	if (!reachable(1883))
		cr_assert_fail("mosquitto is not reachable at 127.0.0.1:1883: "
			       "run `scripts/brokers.sh start mqtt`");
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(ns, sizeof(ns), "sctsync_%ld_%ld_%u", (long)getpid(), (long)ts.tv_nsec, n++);
}

TestSuite(transport_mqtt_sync, .init = setup, .timeout = 60);

static struct transport *open_on(const char *uri, const char *role, const char *id,
				 unsigned int inputs, int qos, const char *keepalive)
{
	struct transport_cfg c = {0};
	struct sc_error err = {0};
	struct transport *t = NULL;
	static char ids[4][128];
	static struct sc_kv props[4][2];
	static int next;
	struct sc_kv *kv = props[next % 4];
	int rc;

	c.broker = uri;
	c.ns = ns;
	c.role = role;
	c.inputs = inputs;
	kv[0] = (struct sc_kv){"session.expiry", "120"};
	kv[1] = (struct sc_kv){"keepalive", keepalive ? keepalive : "30"};
	c.props = kv;
	c.nprops = 2;
	if (qos >= 0)
		test_opt(&c, "qos", qos);
	test_opt(&c, "prefetch", 1000);
	if (id) {
		char *cid = ids[next % 4];
		snprintf(cid, sizeof(ids[0]), "%s-%s", ns, id); /* client ids are broker-wide */
		c.client_id = cid;
	}
	next++;
	rc = transport_open("mqtt", &c, &t, &err);
	cr_assert_eq(rc, 0, "open failed: %s", err.msg);
	cr_assert_not_null(t);
	return t;
}

static struct transport *publisher(const char *uri, const char *keepalive)
{
	return open_on(uri, "generate", NULL, 0, 0, keepalive);
}

static struct transport *subscriber(const char *uri)
{
	return open_on(uri, "sink", "c", SC_STREAM_BIT(SC_STREAM_RAW_CPU), 1, NULL);
}

static int publish_one(struct transport *t, const char *tag, int i, struct sc_error *err)
{
	struct sc_msg m = {0};
	char payload[64];

	snprintf(payload, sizeof(payload), "%s-%d", tag, i);
	m.stream = SC_STREAM_RAW_CPU;
	m.key = i % 2 ? "host/7" : "vm"; /* "host/7" needs the "k" property */
	m.payload = payload;
	m.len = strlen(payload);
	return transport_publish(t, &m, err);
}

static void publish_n(struct transport *t, const char *tag, int n)
{
	struct sc_error err = {0};

	for (int i = 0; i < n; i++)
		cr_assert_eq(publish_one(t, tag, i, &err), 0, "publish %d: %s", i, err.msg);
}

/* Poll until n messages "<tag>-0" ... "<tag>-(n-1)" arrived, in that order. */
static void expect_in_order(struct transport *t, const char *tag, int n)
{
	struct sc_error err = {0};
	int64_t end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	int got = 0;

	while (got < n && sc_mono_ns() < end) {
		struct sc_msg m;
		char buf[64], want[64];
		int rc = transport_poll(t, &m, 100, &err);

		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		snprintf(buf, sizeof(buf), "%.*s", (int)m.len, (const char *)m.payload);
		cr_assert_str_eq(m.key, got % 2 ? "host/7" : "vm", "key of '%s'", buf);
		transport_msg_release(t, &m);
		snprintf(want, sizeof(want), "%s-%d", tag, got);
		cr_assert_str_eq(buf, want, "message %d out of order", got);
		got++;
	}
	cr_assert_eq(got, n, "%d of %d arrived", got, n);
}

Test(transport_mqtt_sync, delivers_qos_0_in_order_and_complete_and_flushes_at_once)
{
	enum { N = 3000 };
	struct sc_error err = {0};
	struct transport *c = subscriber(URI);
	struct transport *p = publisher(URI, NULL);

	publish_n(p, "o", N);
	/* publish() returned once each message was in the socket: nothing to wait for */
	cr_assert_eq(transport_flush(p, 0, &err), 0, "flush: %s", err.msg);
	cr_assert_eq(p->counters.published, N);
	cr_assert(transport_healthy(p));
	/* close right away: DISCONNECT follows what was published, nothing is lost */
	transport_close(p);
	expect_in_order(c, "o", N);
	transport_close(c);
}

/* Sleep ms, signals or not. */
static void pause_ms(int ms)
{
	int64_t end = sc_mono_ns() + (int64_t)ms * 1000000;

	while (sc_mono_ns() < end)
		usleep(10 * 1000);
}

/* keepalive 2 s: Mosquitto drops a client silent for 3 s (1.5 x keepalive;
 * it checks every few seconds, hence gaps of 6 s). */
Test(transport_mqtt_sync, keeps_its_connection_while_publishing_slower_than_the_keepalive)
{
	struct sc_error err = {0};
	struct transport *c = subscriber(URI);
	struct transport *p = publisher(URI, "2");

	for (int i = 0; i < 3; i++) {
		if (i)
			pause_ms(6000);
		cr_assert_eq(publish_one(p, "slow", i, &err), 0, "publish %d: %s", i, err.msg);
		cr_assert_eq(transport_flush(p, 1000, &err), 0, "flush: %s", err.msg);
	}
	cr_assert(transport_healthy(p), "the broker dropped an idle publisher");
	cr_assert_eq(p->counters.retries, 0, "the connection was lost %llu time(s)",
		     (unsigned long long)p->counters.retries);
	expect_in_order(c, "slow", 3);
	transport_close(p);
	transport_close(c);
}

/*
 * A fake broker that counts what a publisher sends: CONNECT is answered with
 * CONNACK, PINGREQ with PINGRESP; PUBLISH and PINGREQ are counted.  Mosquitto
 * 2.0.11 does not always drop a silent client in time, so this is what shows
 * that an idle publisher does send PINGREQ.
 */
struct fake {
	int lfd, port;
	pthread_t th;
	int publishes, pings; /* __atomic */
};

static bool read_full(int fd, unsigned char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	unsigned char h, body[4096];
	int fd = accept(f->lfd, NULL, NULL);

	while (fd >= 0 && read_full(fd, &h, 1)) {
		size_t len = 0, mul = 1;
		unsigned char c;
		do {
			if (!read_full(fd, &c, 1))
				goto out;
			len += (c & 127) * mul;
			mul *= 128;
		} while (c & 128);
		if (len > sizeof(body) || !read_full(fd, body, len))
			break;
		if ((h >> 4) == 1) { /* CONNECT -> CONNACK, MQTT 5, no properties */
			static const unsigned char ack[] = {0x20, 3, 0, 0, 0};
			if (write(fd, ack, sizeof(ack)) != sizeof(ack))
				break;
		} else if ((h >> 4) == 3) {
			__atomic_add_fetch(&f->publishes, 1, __ATOMIC_SEQ_CST);
		} else if ((h >> 4) == 12) { /* PINGREQ -> PINGRESP */
			static const unsigned char resp[] = {0xd0, 0};
			__atomic_add_fetch(&f->pings, 1, __ATOMIC_SEQ_CST);
			if (write(fd, resp, sizeof(resp)) != sizeof(resp))
				break;
		} else if ((h >> 4) == 14) { /* DISCONNECT */
			break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(f->lfd, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(f->lfd, 1), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&f->th, NULL, fake_run, f), 0);
}

Test(transport_mqtt_sync, sends_pingreq_while_idle_and_publishes_afterwards)
{
	struct sc_error err = {0};
	struct fake f;
	char uri[64];
	struct transport *p;

	fake_start(&f);
	snprintf(uri, sizeof(uri), "mqtt://127.0.0.1:%d", f.port);
	p = publisher(uri, "1");
	cr_assert_eq(publish_one(p, "idle", 0, &err), 0, "publish: %s", err.msg);
	pause_ms(3500); /* keepalive 1 s: PINGREQ after 1 s without sending */
	cr_assert_geq(__atomic_load_n(&f.pings, __ATOMIC_SEQ_CST), 1, "no PINGREQ while idle");
	cr_assert_eq(publish_one(p, "idle", 1, &err), 0, "publish: %s", err.msg);
	cr_assert(transport_healthy(p));
	transport_close(p); /* DISCONNECT: the fake broker's thread ends */
	pthread_join(f.th, NULL);
	close(f.lfd);
	cr_assert_eq(__atomic_load_n(&f.publishes, __ATOMIC_SEQ_CST), 2);
}

/* ---- a private broker, killed and restarted ------------------------------ */

static char conf[128];

static pid_t broker_start(int delay_ms)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (delay_ms)
			usleep((useconds_t)delay_ms * 1000);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(126);
		execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void broker_wait(int port)
{
	for (int i = 0; i < 100 && !reachable(port); i++)
		usleep(50 * 1000);
	cr_assert(reachable(port), "private mosquitto did not start on port %d", port);
}

static void broker_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

Test(transport_mqtt_sync, survives_a_broker_restart_and_reconnects)
{
	struct sc_error err = {0};
	int port = 20000 + (int)(getpid() % 20000);
	char uri[64];
	struct transport *p, *c;
	pid_t b;
	FILE *f;
	int i, rc;

	snprintf(conf, sizeof(conf), "/tmp/sctsync-%ld.conf", (long)getpid());
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port);
	fclose(f);
	snprintf(uri, sizeof(uri), "mqtt://127.0.0.1:%d", port);
	b = broker_start(0);
	broker_wait(port);

	p = publisher(uri, NULL);
	publish_n(p, "before", 10);
	broker_kill(b);
	b = broker_start(1500); /* back in 1.5 s */
	/* while it is away: publish() waits and reconnects (a message written to the
	 * dead connection before paho noticed may be lost: QoS 0) */
	for (i = 0; i < 50; i++) {
		rc = publish_one(p, "during", i, &err);
		cr_assert_eq(rc, 0, "publish %d during the restart: %s", i, err.msg);
		usleep(50 * 1000);
	}
	broker_wait(port);
	cr_assert_eq(transport_flush(p, 0, &err), 0, "flush: %s", err.msg);
	cr_assert(transport_healthy(p), "not reconnected");
	cr_assert_geq(p->counters.retries, 1, "the lost connection was not counted");

	c = subscriber(uri);
	publish_n(p, "after", 200);
	cr_assert_eq(transport_flush(p, 1000, &err), 0, "flush: %s", err.msg);
	expect_in_order(c, "after", 200);
	transport_close(p);
	transport_close(c);
	broker_kill(b);
	unlink(conf);
}

/*
 * QoS 1 through a broker restart that loses every session (no persistence):
 * what was unconfirmed when the broker died, and what is published while it
 * is away, is sent again after the reconnect, and flush() sees it all
 * confirmed.
 */
Test(transport_mqtt_sync, confirms_everything_at_qos_1_across_a_broker_restart)
{
	struct sc_error err = {0};
	int port = 20000 + (int)((getpid() + 7) % 20000);
	char uri[64];
	struct transport *p, *c;
	pid_t b;
	FILE *f;
	int i, rc;

	snprintf(conf, sizeof(conf), "/tmp/sctsync-%ld.conf", (long)getpid());
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port);
	fclose(f);
	snprintf(uri, sizeof(uri), "mqtt://127.0.0.1:%d", port);
	b = broker_start(0);
	broker_wait(port);

	p = open_on(uri, "generate", NULL, 0, 1, NULL);
	publish_n(p, "before", 10); /* not flushed: some may be unconfirmed */
	broker_kill(b);
	b = broker_start(1500);
	for (i = 0; i < 30; i++) {
		rc = publish_one(p, "during", i, &err);
		cr_assert_eq(rc, 0, "publish %d during the restart: %s", i, err.msg);
		usleep(20 * 1000);
	}
	broker_wait(port);
	cr_assert_eq(transport_flush(p, 15000, &err), 0, "flush: %s", err.msg);
	cr_assert(transport_healthy(p), "not reconnected");
	cr_assert_geq(p->counters.retries, 1, "the lost connection was not counted");

	c = subscriber(uri);
	publish_n(p, "after", 200);
	cr_assert_eq(transport_flush(p, 5000, &err), 0, "flush: %s", err.msg);
	expect_in_order(c, "after", 200);
	transport_close(p);
	transport_close(c);
	broker_kill(b);
	unlink(conf);
}

struct pub_job {
	struct transport *t;
	const char *tag;
	int n, rc;
	char why[sizeof(((struct sc_error *)0)->msg)];
};

static void *pub_thread(void *arg)
{
	struct pub_job *j = arg;
	struct sc_error err = {0};

	for (int i = 0; i < j->n && !j->rc; i++)
		j->rc = publish_one(j->t, j->tag, i, &err);
	if (!j->rc)
		j->rc = transport_flush(j->t, 20000, &err);
	snprintf(j->why, sizeof(j->why), "%s", err.msg);
	return NULL;
}

/*
 * Two QoS 1 publishers of one process, each in its own thread: paho's packet
 * loop serves both sockets, so one publisher's round may read the other's
 * acknowledgements (mqtt_client.c's client_lock).  Both must see everything
 * confirmed, and every message must arrive once per publisher, in order.
 */
Test(transport_mqtt_sync, two_qos_1_publishers_in_two_threads_each_see_all_confirmed)
{
	enum { N = 2000 };
	struct transport *c = subscriber(URI);
	struct pub_job a = {.tag = "a", .n = N}, b = {.tag = "b", .n = N};
	struct sc_error err = {0};
	int64_t end = sc_mono_ns() + (int64_t)DRAIN_MS * 1000000;
	int next[2] = {0, 0};
	pthread_t ta, tb;

	a.t = open_on(URI, "generate", NULL, 0, 1, NULL);
	b.t = open_on(URI, "generate", NULL, 0, 1, NULL);
	cr_assert_eq(pthread_create(&ta, NULL, pub_thread, &a), 0);
	cr_assert_eq(pthread_create(&tb, NULL, pub_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	cr_assert_eq(a.rc, 0, "publisher a: %s", a.why);
	cr_assert_eq(b.rc, 0, "publisher b: %s", b.why);
	while ((next[0] < N || next[1] < N) && sc_mono_ns() < end) {
		struct sc_msg m;
		char buf[64], want[64];
		int rc = transport_poll(c, &m, 100, &err), k;

		cr_assert_geq(rc, 0, "poll: %s", err.msg);
		if (rc == 0)
			continue;
		snprintf(buf, sizeof(buf), "%.*s", (int)m.len, (const char *)m.payload);
		transport_msg_release(c, &m);
		k = buf[0] == 'b';
		snprintf(want, sizeof(want), "%c-%d", k ? 'b' : 'a', next[k]);
		cr_assert_str_eq(buf, want, "publisher %c: out of order", k ? 'b' : 'a');
		next[k]++;
	}
	cr_assert_eq(next[0], N, "%d of a's %d arrived", next[0], N);
	cr_assert_eq(next[1], N, "%d of b's %d arrived", next[1], N);
	transport_close(a.t);
	transport_close(b.t);
	transport_close(c);
}
