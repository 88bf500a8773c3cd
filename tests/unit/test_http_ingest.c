/*
 * test_http_ingest.c - the Sensor Logger HTTP ingest: the push logic against
 * the pipe transport (frames read back from a pipe(2)), and real HTTP round
 * trips on 127.0.0.1 with an ephemeral port and a raw socket client.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "codec.h"
#include "error.h"
#include "http_ingest.h"
#include "record.h"
#include "runtime.h"
#include "transport.h"
#include "test_opts.h"

/* A push as the app sends it: orientation, barometer, microphone, location. */
#define PUSH_FMT                                                                                   \
	"{\"messageId\": %d, \"sessionId\": \"%s\", \"deviceId\": \"%s\", \"payload\": [\n"        \
	" {\"name\": \"accelerometer\", \"time\": 1698422422123456789, \"accuracy\": 3,"           \
	"  \"values\": {\"z\": -0.0127, \"y\": 0.0371, \"x\": -0.00352}},\n"                       \
	" {\"name\": \"orientation\", \"time\": 1698422422133456789, \"values\": {\"qz\": 0.0102," \
	"  \"qy\": -0.0172, \"qx\": 0.5765, \"qw\": 0.8167, \"roll\": -0.0374, \"pitch\": -1.229," \
	"  \"yaw\": 0.0029}},\n"                                                                   \
	" {\"name\": \"barometer\", \"time\": 1698422422200000000, \"values\":"                    \
	"  {\"relativeAltitude\": 0, \"pressure\": 1008.4}},\n"                                    \
	" {\"name\": \"location\", \"time\": 1698422423000000000, \"values\": "                    \
	"{\"bearingAccuracy\":"                                                                    \
	"  0, \"speedAccuracy\": 0.5, \"verticalAccuracy\": 3.5, \"horizontalAccuracy\": 4.7,"     \
	"  \"speed\": 0, \"bearing\": -1, \"altitude\": 36.1, \"longitude\": 13.4049,"             \
	"  \"latitude\": 52.52}},\n"                                                               \
	" {\"name\": \"microphone\", \"time\": 1698422422900000000, \"values\": {\"dBFS\": "       \
	"-47.3}}\n"                                                                                \
	"]}\n"

#define LATEST_NS 1698422423000000000LL
#define DEV	  "a7e4c0f2-19b3-4a7c-8f0d-5e2b9c1d3f4a"
#define SESS	  "c3b5a0d2-7f0e-4d55-9a51-2f6c0c8e7b11"

struct fixture {
	int rfd; /* read end of the pipe the transport writes to */
	int wfd; /* its write end, the transport's -X out.fd */
	struct transport *t;
	struct run_stats *stats;
	struct http_ingest *h;
	struct sc_buf reply;
};

static struct fixture fx;

static void push_body(char *buf, size_t size, int msg_id, const char *session, const char *dev)
{
	snprintf(buf, size, PUSH_FMT, msg_id, session, dev);
}

static void fixture_open(long long count, size_t max_body)
{
	struct http_ingest_cfg hc = {.codec = SC_CODEC_JSON, .max_body = max_body, .count = count};
	struct transport_cfg tc;
	struct sc_error err = {0};
	int fds[2];

	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe(fds), 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fx.rfd = fds[0];
	fx.wfd = fds[1];
	memset(&tc, 0, sizeof(tc));
	tc.role = "generate";
	test_opt(&tc, "in.fd", -1);
	test_opt(&tc, "out.fd", fds[1]);
	cr_assert_eq(transport_open("pipe", &tc, &fx.t, &err), 0, "%s", err.msg);
	fx.stats = calloc(1, sizeof(*fx.stats));
	cr_assert_not_null(fx.stats);
	fx.h = http_ingest_new(&hc, fx.t, fx.stats, &err);
	cr_assert_not_null(fx.h, "%s", err.msg);
	sc_buf_init(&fx.reply);
}

static void setup(void)
{
	fixture_open(-1, 4096);
}

static void teardown(void)
{
	http_ingest_free(fx.h);
	if (fx.t)
		close(fx.wfd);
	transport_close(fx.t);
	if (fx.rfd >= 0)
		close(fx.rfd);
	free(fx.stats);
	sc_buf_release(&fx.reply);
	memset(&fx, 0, sizeof(fx));
}

static const char *reply_text(void)
{
	sc_buf_append(&fx.reply, "", 1);
	fx.reply.len--;
	return (const char *)fx.reply.data;
}

static int push(const char *body)
{
	return http_ingest_push(fx.h, body, strlen(body), &fx.reply);
}

static bool read_exact(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = read(fx.rfd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* The next frame in the pipe, decoded into r; false when the pipe is empty. */
static bool next_record(struct sc_record *r)
{
	unsigned char hdr[8];
	struct sc_error err = {0};
	unsigned char *payload;
	uint32_t len;

	if (!read_exact(hdr, sizeof(hdr)))
		return false;
	cr_assert_eq(hdr[0], 'S');
	cr_assert_eq(hdr[1], 'C');
	cr_assert_eq(hdr[2], SC_STREAM_RAW_SENSOR);
	len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
	payload = malloc(len);
	cr_assert_not_null(payload);
	cr_assert(read_exact(payload, len));
	cr_assert_eq(codec_decode(payload, len, r, &err), 0, "%s", err.msg);
	free(payload);
	return true;
}

static void assert_pipe_empty(void)
{
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_not(next_record(&r), "something was published");
	sc_record_release(&r);
}

/* ---- the push logic ------------------------------------------------------------ */

TestSuite(http_ingest, .init = setup, .fini = teardown);

Test(http_ingest, publishes_three_pushes_with_seq_0_1_2_and_the_envelope)
{
	char body[2048];
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	for (int i = 0; i < 3; i++) {
		char want[64];
		push_body(body, sizeof(body), 40 + i, SESS, DEV);
		cr_assert_eq(push(body), 200, "%s", reply_text());
		snprintf(want, sizeof(want), "{\"ok\":true,\"seq\":%d}\n", i);
		cr_assert_str_eq(reply_text(), want);
	}
	for (int i = 0; i < 3; i++) {
		int64_t before = sc_now_ns();
		cr_assert(next_record(&r), "push %d was not published", i);
		cr_assert_eq(r.kind, SC_KIND_SENSOR);
		cr_assert_str_eq(r.env.source, DEV);
		cr_assert_str_eq(r.env.key, DEV "/" SESS);
		cr_assert_eq(r.env.seq, (uint64_t)i);
		cr_assert_eq(r.env.event_ns, LATEST_NS);
		cr_assert_eq(r.env.intended_ns, r.env.sent_ns);
		cr_assert(r.env.sent_ns > 0 && r.env.sent_ns <= before);
		cr_assert_eq(r.u.sensor.message_id, 40 + i);
		cr_assert_eq(r.u.sensor.n, 5);
		cr_assert_str_eq(r.u.sensor.readings[1].name, "orientation");
		cr_assert_eq(sc_reading_get(&r.u.sensor.readings[1], "qw")->v, 0.8167);
		cr_assert_eq(sc_reading_get(&r.u.sensor.readings[2], "pressure")->v, 1008.4);
		cr_assert_eq(sc_reading_get(&r.u.sensor.readings[3], "latitude")->v, 52.52);
		cr_assert_eq(sc_reading_get(&r.u.sensor.readings[4], "dBFS")->v, -47.3);
	}
	assert_pipe_empty();
	cr_assert_eq(http_ingest_accepted(fx.h), 3);
	cr_assert_eq(fx.stats->in, 3);
	cr_assert_eq(fx.stats->out, 3);
	cr_assert_eq(fx.stats->errors, 0);
	sc_record_release(&r);
}

Test(http_ingest, counts_seq_per_device_and_keys_by_session)
{
	char body[2048];
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	push_body(body, sizeof(body), 1, "s1", "phone-a");
	cr_assert_eq(push(body), 200);
	push_body(body, sizeof(body), 1, "s9", "phone-b");
	cr_assert_eq(push(body), 200);
	cr_assert_str_eq(reply_text(), "{\"ok\":true,\"seq\":0}\n");
	push_body(body, sizeof(body), 2, "s2", "phone-a");
	cr_assert_eq(push(body), 200);
	cr_assert_str_eq(reply_text(), "{\"ok\":true,\"seq\":1}\n");

	cr_assert(next_record(&r));
	cr_assert_str_eq(r.env.key, "phone-a/s1");
	cr_assert(next_record(&r));
	cr_assert_str_eq(r.env.source, "phone-b");
	cr_assert_eq(r.env.seq, 0);
	cr_assert(next_record(&r));
	cr_assert_str_eq(r.env.source, "phone-a");
	cr_assert_str_eq(r.env.key, "phone-a/s2");
	cr_assert_eq(r.env.seq, 1);
	sc_record_release(&r);
}

Test(http_ingest, accepts_an_empty_payload_with_the_receive_time_as_event_time)
{
	const char *body =
		"{\"messageId\":3,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":[]}";
	int64_t before = sc_now_ns(), after;
	struct sc_record r;

	cr_assert_eq(push(body), 200, "%s", reply_text());
	after = sc_now_ns();
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert(next_record(&r));
	cr_assert_eq(r.u.sensor.n, 0);
	cr_assert(r.env.event_ns >= before && r.env.event_ns <= after);
	cr_assert_eq(r.env.event_ns, r.env.sent_ns);
	cr_assert_eq(fx.stats->out, 1);
	sc_record_release(&r);
}

static void expect_400(const char *body, const char *reason)
{
	cr_assert_eq(push(body), 400, "accepted %s", body);
	cr_assert(strncmp(reply_text(), "{\"error\":\"", 10) == 0, "%s", reply_text());
	cr_assert(strstr(reply_text(), reason), "reply %s does not name '%s'", reply_text(),
		  reason);
}

Test(http_ingest, refuses_malformed_json_with_400_and_the_reason)
{
	expect_400("{\"messageId\": 1, \"sessionId\": ", "truncated input");
	expect_400("{\"messageId\": 1,, }", "malformed json");
	expect_400("", "truncated input");
	expect_400("[1,2]", "body is not a json object");
	assert_pipe_empty();
	cr_assert_eq(fx.stats->errors, 4);
	cr_assert_eq(http_ingest_accepted(fx.h), 0);
}

Test(http_ingest, refuses_a_missing_field_with_400_naming_it)
{
	expect_400("{\"messageId\":1,\"sessionId\":\"s\",\"payload\":[]}",
		   "field 'deviceId': missing");
	expect_400("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\"}",
		   "field 'payload': missing");
	expect_400("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"\",\"payload\":[]}",
		   "field 'deviceId': empty");
	assert_pipe_empty();
}

Test(http_ingest, refuses_a_wrong_type_with_400_naming_the_field)
{
	expect_400("{\"messageId\":\"1\",\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":[]}",
		   "field 'messageId': expected integer");
	expect_400("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":["
		   "{\"name\":\"a\",\"time\":\"now\",\"values\":{}}]}",
		   "field 'payload[0].time': expected integer");
	expect_400("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":["
		   "{\"name\":\"a\",\"time\":1,\"values\":{\"x\":\"\\\"q\\\"\"}}]}",
		   "field 'payload[0].values.x': expected number");
	assert_pipe_empty();
}

Test(http_ingest, a_refused_push_does_not_use_up_a_seq)
{
	char body[2048];

	expect_400("{}", "missing");
	push_body(body, sizeof(body), 1, SESS, DEV);
	cr_assert_eq(push(body), 200);
	cr_assert_str_eq(reply_text(), "{\"ok\":true,\"seq\":0}\n");
}

Test(http_ingest, refuses_an_oversized_body_with_413)
{
	char body[8192];

	memset(body, ' ', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	cr_assert_eq(push(body), 413);
	cr_assert(strstr(reply_text(), "exceeds --max-msg-bytes=4096"), "%s", reply_text());
	assert_pipe_empty();
}

Test(http_ingest, replies_503_with_the_reason_when_the_publish_fails)
{
	char body[2048];

	close(fx.rfd);
	fx.rfd = -1;
	push_body(body, sizeof(body), 1, SESS, DEV);
	cr_assert_eq(push(body), 503);
	cr_assert(strstr(reply_text(), "downstream closed the pipe"), "%s", reply_text());
	cr_assert_eq(fx.stats->errors, 1);
	cr_assert_eq(fx.stats->out, 0);
	cr_assert_eq(http_ingest_accepted(fx.h), 0);
}

Test(http_ingest_count, stops_accepting_after_count_pushes)
{
	char body[2048];

	fixture_open(2, 0);
	push_body(body, sizeof(body), 1, SESS, DEV);
	cr_assert_eq(push(body), 200);
	cr_assert_eq(push(body), 200);
	cr_assert_eq(push(body), 503);
	cr_assert(strstr(reply_text(), "stopping"), "%s", reply_text());
	cr_assert_eq(http_ingest_accepted(fx.h), 2);
	teardown();
}

/* ---- over HTTP ---------------------------------------------------------------- */

struct http_reply {
	int status;
	char head[1024];
	char body[1024];
};

/* Send `req` raw to 127.0.0.1:port and read the reply until the server closes. */
static void http_raw(int port, const char *req, size_t len, struct http_reply *out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 10};
	char buf[4096], *sep;
	size_t got = 0;
	int fd;

	memset(out, 0, sizeof(*out));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		/* replies here are small: stop once the announced body is complete */
		sep = strstr(buf, "\r\n\r\n");
		if (sep) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			if (cl && cl < sep &&
			    got - (size_t)(sep + 4 - buf) >= strtoul(cl + 17, NULL, 10))
				break;
		}
	}
	close(fd);
	buf[got] = '\0';
	cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &out->status), 1, "no status line in '%s'", buf);
	sep = strstr(buf, "\r\n\r\n");
	cr_assert_not_null(sep);
	snprintf(out->head, sizeof(out->head), "%.*s", (int)(sep - buf), buf);
	snprintf(out->body, sizeof(out->body), "%s", sep + 4);
}

static void http_post(int port, const char *path, const char *body, struct http_reply *out)
{
	char req[4096];
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 path, strlen(body), body);

	cr_assert(n > 0 && (size_t)n < sizeof(req));
	http_raw(port, req, (size_t)n, out);
}

static int listen_ephemeral(void)
{
	struct sc_error err = {0};

	cr_assert_eq(http_ingest_listen(fx.h, "127.0.0.1:0", &err), 0, "%s", err.msg);
	cr_assert_gt(http_ingest_port(fx.h), 0);
	return http_ingest_port(fx.h);
}

Test(http_ingest, round_trip_over_http_on_any_path)
{
	struct http_reply rep;
	struct sc_record r;
	char body[2048];
	int port = listen_ephemeral();

	push_body(body, sizeof(body), 7, SESS, DEV);
	http_post(port, "/", body, &rep);
	cr_assert_eq(rep.status, 200, "%s", rep.body);
	cr_assert_str_eq(rep.body, "{\"ok\":true,\"seq\":0}\n");
	cr_assert(strcasestr(rep.head, "Content-Type: application/json"), "%s", rep.head);
	http_post(port, "/data", body, &rep);
	cr_assert_eq(rep.status, 200, "%s", rep.body);
	cr_assert_str_eq(rep.body, "{\"ok\":true,\"seq\":1}\n");

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert(next_record(&r));
	cr_assert_str_eq(r.env.source, DEV);
	cr_assert_eq(r.env.seq, 0);
	cr_assert_eq(r.u.sensor.message_id, 7);
	cr_assert(next_record(&r));
	cr_assert_eq(r.env.seq, 1);
	sc_record_release(&r);
	http_ingest_stop(fx.h);
	cr_assert_eq(http_ingest_port(fx.h), 0);
}

Test(http_ingest, http_refuses_malformed_bodies_with_400)
{
	struct http_reply rep;
	int port = listen_ephemeral();

	http_post(port, "/", "{\"messageId\":1,\"sessionId\":\"s\",\"payload\":[]}", &rep);
	cr_assert_eq(rep.status, 400);
	cr_assert_str_eq(rep.body, "{\"error\":\"field 'deviceId': missing\"}\n");
	http_post(port, "/", "not json", &rep);
	cr_assert_eq(rep.status, 400);
	cr_assert(strstr(rep.body, "malformed json"), "%s", rep.body);
	assert_pipe_empty();
}

Test(http_ingest, http_refuses_other_methods_with_405_and_serves_healthz)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char put[] = "PUT /data HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
				  "Connection: close\r\n\r\n{}";
	static const char health[] =
		"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_reply rep;
	int port = listen_ephemeral();

	http_raw(port, get, sizeof(get) - 1, &rep);
	cr_assert_eq(rep.status, 405);
	cr_assert(strcasestr(rep.head, "Allow: POST"), "%s", rep.head);
	cr_assert(strstr(rep.body, "method GET not allowed"), "%s", rep.body);
	http_raw(port, put, sizeof(put) - 1, &rep);
	cr_assert_eq(rep.status, 405);
	http_raw(port, health, sizeof(health) - 1, &rep);
	cr_assert_eq(rep.status, 200);
	cr_assert_str_eq(rep.body, "ok\n");
	assert_pipe_empty();
	cr_assert_eq(fx.stats->in, 0);
}

Test(http_ingest, http_refuses_a_declared_oversized_body_before_reading_it)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
				  "Connection: close\r\n\r\n";
	struct http_reply rep;
	int port = listen_ephemeral();

	/* only the head is sent: the reply must come without the body */
	http_raw(port, req, sizeof(req) - 1, &rep);
	cr_assert_eq(rep.status, 413);
	cr_assert(strstr(rep.body, "of 100000 bytes exceeds --max-msg-bytes=4096"), "%s", rep.body);
	cr_assert_eq(fx.stats->errors, 1);
	assert_pipe_empty();
}

Test(http_ingest, http_refuses_an_oversized_chunked_body)
{
	char req[16384];
	size_t n = 0;
	struct http_reply rep;
	int port = listen_ephemeral();

	n += (size_t)snprintf(req, sizeof(req),
			      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
			      "Connection: close\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		n += (size_t)snprintf(req + n, sizeof(req) - n, "%x\r\n", 3000);
		memset(req + n, ' ', 3000);
		n += 3000;
		n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
	}
	n += (size_t)snprintf(req + n, sizeof(req) - n, "0\r\n\r\n");
	http_raw(port, req, n, &rep);
	cr_assert_eq(rep.status, 413);
	cr_assert(strstr(rep.body, "exceeds --max-msg-bytes=4096"), "%s", rep.body);
	assert_pipe_empty();
}

Test(http_ingest, listen_names_a_busy_address)
{
	struct http_ingest_cfg hc = {.codec = SC_CODEC_JSON, .count = -1};
	struct sc_error err = {0};
	struct http_ingest *other;
	char addr[64];
	int port = listen_ephemeral();

	other = http_ingest_new(&hc, fx.t, fx.stats, &err);
	cr_assert_not_null(other);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	cr_assert_eq(http_ingest_listen(other, addr, &err), -SC_EIO);
	cr_assert(strstr(err.msg, "http: cannot listen on 127.0.0.1:") &&
			  strstr(err.msg, ": address in use"),
		  "%s", err.msg);
	http_ingest_free(other);
}

Test(http_ingest, listen_refuses_malformed_addresses)
{
	static const char *bad[] = {"8080",	  "127.0.0.1",	    ":8080",
				    "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000",
				    "[::1",	  "[::1]8080",	    "::1:8080"};
	struct sc_error err = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(http_ingest_listen(fx.h, bad[i], &err), -SC_EINVAL, "accepted '%s'",
			     bad[i]);
		cr_assert(strstr(err.msg, "http: invalid listen address"), "%s", err.msg);
	}
	cr_assert_eq(http_ingest_port(fx.h), 0);
}
