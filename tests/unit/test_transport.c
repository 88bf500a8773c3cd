/* test_transport.c - registry, wrappers, URIs, and the pipe backend. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "transport.h"
#include "test_opts.h"

static struct sc_error err;

Test(transport_registry, every_backend_matches_its_caps)
{
	cr_assert_eq(transport_registry_check(&err), 0, "%s", err.msg);
}

Test(transport_registry, unknown_name_is_refused)
{
	cr_assert_null(transport_find("carrier-pigeon", &err));
	cr_assert_eq(err.code, SC_EINVAL);
	cr_assert(strstr(err.msg, "unknown transport 'carrier-pigeon'"), "%s", err.msg);
}

Test(transport_registry, pipe_is_built_in)
{
	const struct transport_ops *o = transport_find("pipe", &err);

	cr_assert_not_null(o);
	cr_assert(o->caps & TRANSPORT_CAP_PUBLISH);
	cr_assert(o->caps & TRANSPORT_CAP_CONSUME);
	cr_assert_not(o->caps & TRANSPORT_CAP_COMMIT);
}

Test(transport_uri, parses_all_parts)
{
	struct sc_uri u;

	cr_assert_eq(sc_uri_parse("amqp://guest:pw@127.0.0.1:5672/vh?x=1", &u, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(u.scheme, "amqp");
	cr_assert_str_eq(u.user, "guest");
	cr_assert_str_eq(u.password, "pw");
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_eq(u.port, 5672);
	cr_assert_str_eq(u.path, "vh");
	cr_assert_str_eq(u.query, "x=1");
}

Test(transport_uri, parses_ipv6_and_no_port)
{
	struct sc_uri u;

	cr_assert_eq(sc_uri_parse("mqtt://[::1]:1883", &u, &err), 0);
	cr_assert_str_eq(u.host, "::1");
	cr_assert_eq(u.port, 1883);
	cr_assert_eq(sc_uri_parse("kafka://localhost", &u, &err), 0);
	cr_assert_eq(u.port, 0);
	cr_assert_null(u.user);
}

Test(transport_uri, rejects_bad_port_without_leaking_password)
{
	struct sc_uri u;

	cr_assert_lt(sc_uri_parse("amqp://u:secret@h:99999/", &u, &err), 0);
	cr_assert(strstr(err.msg, "bad port"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "secret"), "%s", err.msg);
}

Test(transport_uri, rejects_missing_scheme_and_host)
{
	struct sc_uri u;

	cr_assert_lt(sc_uri_parse("127.0.0.1:9092", &u, &err), 0);
	cr_assert(strstr(err.msg, "scheme://"), "%s", err.msg);
	cr_assert_lt(sc_uri_parse("mqtt://:1883", &u, &err), 0);
	cr_assert(strstr(err.msg, "no host"), "%s", err.msg);
}

Test(transport_uri, redacts_password_only)
{
	char buf[128];

	sc_uri_redact("amqps://bob:s3cr3t@host:5671/vh", buf, sizeof(buf));
	cr_assert_str_eq(buf, "amqps://bob:***@host:5671/vh");
	sc_uri_redact("mqtt://host:1883", buf, sizeof(buf));
	cr_assert_str_eq(buf, "mqtt://host:1883");
	sc_uri_redact("kafka://alice@host", buf, sizeof(buf));
	cr_assert_str_eq(buf, "kafka://alice@host");
}

Test(transport_names, stream_names_carry_the_namespace)
{
	char buf[64];

	transport_stream_name(buf, sizeof(buf), "ns1", SC_STREAM_RAW_CPU, '.');
	cr_assert_str_eq(buf, "ns1.raw.cpu");
	transport_stream_name(buf, sizeof(buf), "ns1", SC_STREAM_PROC_SENSOR, '/');
	cr_assert_str_eq(buf, "ns1/processed/sensor");
}

/* ---- pipe backend through the wrappers -------------------------------- */

struct pipe_pair {
	struct transport *w, *r;
	int fds[2];
};

static void open_pair(struct pipe_pair *pp, size_t max)
{
	struct transport_cfg wc = {.ns = "t", .role = "generate", .max_msg_bytes = max};
	struct transport_cfg rc = wc;

	cr_assert_eq(pipe(pp->fds), 0);
	test_opt(&wc, "in.fd", -1);
	test_opt(&wc, "out.fd", pp->fds[1]);
	rc.role = "process";
	rc.inputs = SC_STREAM_BIT(SC_STREAM_RAW_CPU);
	test_opt(&rc, "in.fd", pp->fds[0]);
	test_opt(&rc, "out.fd", -1);
	cr_assert_eq(transport_open("pipe", &wc, &pp->w, &err), 0, "%s", err.msg);
	cr_assert_eq(transport_open("pipe", &rc, &pp->r, &err), 0, "%s", err.msg);
}

static void close_writer(struct pipe_pair *pp)
{
	cr_assert_eq(transport_flush(pp->w, 0, &err), 0);
	transport_close(pp->w);
	pp->w = NULL;
	close(pp->fds[1]);
}

Test(transport_pipe, frames_round_trip_in_order_then_eof)
{
	struct pipe_pair pp;
	struct sc_msg m = {0}, got;
	char payload[64];

	open_pair(&pp, 0);
	for (int i = 0; i < 100; i++) {
		int n = snprintf(payload, sizeof(payload), "message %d", i);
		m.stream = i % 2 ? SC_STREAM_RAW_SENSOR : SC_STREAM_RAW_CPU;
		m.payload = payload;
		m.len = (size_t)n;
		cr_assert_eq(transport_publish(pp.w, &m, &err), 0, "%s", err.msg);
	}
	close_writer(&pp);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1, "i=%d %s", i, err.msg);
		snprintf(payload, sizeof(payload), "message %d", i);
		cr_assert_eq(got.len, strlen(payload));
		cr_assert_eq(memcmp(got.payload, payload, got.len), 0);
		cr_assert_eq(got.stream, i % 2 ? SC_STREAM_RAW_SENSOR : SC_STREAM_RAW_CPU);
		cr_assert_eq(got.flags, 0);
		transport_msg_release(pp.r, &got);
	}
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), -SC_EOF);
	transport_close(pp.r);
}

Test(transport_pipe, garbage_between_frames_becomes_one_malformed_message)
{
	struct pipe_pair pp;
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = "good", .len = 4}, got;

	open_pair(&pp, 0);
	cr_assert_eq(transport_publish(pp.w, &m, &err), 0);
	cr_assert_eq(transport_flush(pp.w, 0, &err), 0);
	cr_assert_eq(write(pp.fds[1], "this is not a frame", 19), 19);
	cr_assert_eq(transport_publish(pp.w, &m, &err), 0);
	close_writer(&pp);

	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1);
	cr_assert_eq(got.flags, 0);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1);
	cr_assert(got.flags & SC_MSG_MALFORMED);
	cr_assert_eq(got.len, 19);
	cr_assert(strstr(got.error, "bad frame header"), "%s", got.error);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1);
	cr_assert_eq(got.flags, 0);
	cr_assert_eq(got.len, 4);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), -SC_EOF);
	transport_close(pp.r);
}

Test(transport_pipe, truncated_last_frame_is_malformed_not_lost)
{
	struct pipe_pair pp;
	struct sc_msg got;
	const unsigned char partial[] = {'S', 'C', 0, 0, 0, 0, 0, 10, 'a', 'b'};

	open_pair(&pp, 0);
	cr_assert_eq(write(pp.fds[1], partial, sizeof(partial)), (ssize_t)sizeof(partial));
	close_writer(&pp);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1);
	cr_assert(got.flags & SC_MSG_MALFORMED);
	cr_assert(strstr(got.error, "truncated"), "%s", got.error);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), -SC_EOF);
	transport_close(pp.r);
}

Test(transport_pipe, oversized_frame_header_is_skipped)
{
	struct pipe_pair pp;
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = "ok", .len = 2}, got;
	const unsigned char huge[] = {'S', 'C', 0, 0, 0x7f, 0, 0, 0, 'x', 'x', 'x', 'x'};

	open_pair(&pp, 1024);
	cr_assert_eq(write(pp.fds[1], huge, sizeof(huge)), (ssize_t)sizeof(huge));
	cr_assert_eq(transport_publish(pp.w, &m, &err), 0);
	close_writer(&pp);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1);
	cr_assert(got.flags & SC_MSG_MALFORMED);
	cr_assert(strstr(got.error, "over the limit"), "%s", got.error);
	cr_assert_eq(transport_poll(pp.r, &got, 1000, &err), 1);
	cr_assert_eq(got.flags, 0);
	cr_assert_eq(got.len, 2);
	transport_close(pp.r);
}

Test(transport_pipe, publish_refuses_message_over_limit)
{
	struct pipe_pair pp;
	static char big[2048];
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = big, .len = sizeof(big)};

	open_pair(&pp, 1024);
	cr_assert_eq(transport_publish(pp.w, &m, &err), -SC_ETOOBIG);
	cr_assert(strstr(err.msg, "exceeds"), "%s", err.msg);
	close_writer(&pp);
	transport_close(pp.r);
}

Test(transport_pipe, poll_times_out_without_input)
{
	struct pipe_pair pp;
	struct sc_msg got;

	open_pair(&pp, 0);
	cr_assert_eq(transport_poll(pp.r, &got, 10, &err), 0);
	close_writer(&pp);
	transport_close(pp.r);
}

Test(transport_pipe, write_to_closed_reader_is_a_clear_error)
{
	struct pipe_pair pp;
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = "x", .len = 1};

	signal(SIGPIPE, SIG_IGN);
	open_pair(&pp, 0);
	transport_close(pp.r);
	close(pp.fds[0]);
	cr_assert_eq(transport_publish(pp.w, &m, &err), 0);
	cr_assert_eq(transport_flush(pp.w, 0, &err), -SC_EIO);
	cr_assert(strstr(err.msg, "downstream closed"), "%s", err.msg);
	transport_close(pp.w);
}

/* Callers may pass no error detail: a failure is still a code, not a crash. */
Test(transport_wrappers, accept_a_null_error)
{
	struct transport_cfg cfg = {.ns = "t", .role = "generate"};
	struct sc_msg m = {.stream = SC_STREAM_RAW_CPU, .payload = "x", .len = 1};
	struct transport *t = (struct transport *)0x1;
	struct pipe_pair pp;

	cr_assert_eq(transport_open("carrier-pigeon", &cfg, &t, NULL), -SC_EINVAL);
	cr_assert_null(t);
	cr_assert_eq(transport_open("", &cfg, &t, NULL), -SC_EINVAL);

	signal(SIGPIPE, SIG_IGN);
	open_pair(&pp, 0);
	transport_close(pp.r);
	close(pp.fds[0]);
	cr_assert_eq(transport_publish(pp.w, &m, NULL), 0);
	cr_assert_eq(transport_flush(pp.w, 0, NULL), -SC_EIO);
	transport_close(pp.w);
	close(pp.fds[1]);
}

/* -X integers and booleans: parsed once for every backend (issue 19). */
Test(transport_props, integers_and_booleans_parse_one_way)
{
	struct sc_kv kv[] = {
		{"n", "42"}, {"big", "70000"}, {"junk", "4x"}, {"b", "1"}, {"nb", "yes"}};
	struct transport_cfg cfg = {.props = kv, .nprops = 5};
	long n = -1;
	bool b = false;

	cr_assert_eq(transport_prop_long(&cfg, "amqp", "n", 0, 100, &n, &err), 1);
	cr_assert_eq(n, 42);
	cr_assert_eq(transport_prop_long(&cfg, "amqp", "absent", 0, 100, &n, &err), 0);
	cr_assert_eq(n, 42);
	cr_assert_eq(transport_prop_long(&cfg, "amqp", "big", 0, 65535, &n, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "amqp: -X big=70000: expected an integer from 0 to 65535");
	cr_assert_eq(transport_prop_long(&cfg, "mqtt", "junk", 0, 9, &n, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "mqtt: -X junk=4x: expected an integer from 0 to 9");
	cr_assert_eq(transport_prop_bool(&cfg, "mqtt", "b", &b, &err), 1);
	cr_assert(b);
	cr_assert_eq(transport_prop_bool(&cfg, "mqtt", "nb", &b, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "mqtt: -X nb=yes: expected true or false");
	cr_assert_eq(transport_parse_bool("kafka", "x", "false", &b, &err), 0);
	cr_assert_not(b);
}
