/*
 * test_transport_security.c - credentials and TLS settings: URI decoding,
 * where the password comes from, the -X tls.* keys, and the refusals each
 * backend makes before it talks to a broker.  No broker needed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "transport.h"

static struct sc_error err;

static char *temp_file(const char *content)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/sc-test-pw.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs(content, f);
	fclose(f);
	return path;
}

static struct transport_cfg producer_cfg(const char *broker)
{
	struct transport_cfg c = {0};

	c.broker = broker;
	c.ns = "sectest";
	c.role = "generate";
	return c;
}

Test(transport_uri, decodes_percent_escapes_in_user_and_password)
{
	struct sc_uri u;

	cr_assert_eq(sc_uri_parse("mqtts://us%40er:p%3Aw%2Fd%25@h:8883", &u, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(u.user, "us@er");
	cr_assert_str_eq(u.password, "p:w/d%");
	cr_assert_str_eq(u.host, "h");
	cr_assert_eq(u.port, 8883);
	cr_assert_null(u.path);
}

Test(transport_uri, redacts_every_password_of_a_host_list)
{
	char buf[128];

	sc_uri_redact("kafka://u:p1@h1:1,v:p2@h2:2,h3/x?pw=1", buf, sizeof(buf));
	cr_assert_str_eq(buf, "kafka://u:***@h1:1,v:***@h2:2,h3/x?pw=1");
	sc_uri_redact("mqtt://u:p@ss@h:1", buf, sizeof(buf));
	cr_assert_str_eq(buf, "mqtt://u:***@h:1");
	sc_uri_redact("amqp://u:secret@h", buf, 12);
	cr_assert_str_eq(buf, "amqp://u:**");
}

Test(transport_password, the_file_wins_over_the_environment_and_the_uri)
{
	struct transport_cfg c = {0};
	char buf[64];

	c.password = "from-env";
	c.password_file = temp_file("from-file\nsecond line\n");
	cr_assert_eq(transport_password(&c, "x", "from-uri", buf, sizeof(buf), &err), 1);
	cr_assert_str_eq(buf, "from-file");
	unlink(c.password_file);
	c.password_file = NULL;
	cr_assert_eq(transport_password(&c, "x", "from-uri", buf, sizeof(buf), &err), 1);
	cr_assert_str_eq(buf, "from-env");
	c.password = NULL;
	cr_assert_eq(transport_password(&c, "x", "from-uri", buf, sizeof(buf), &err), 1);
	cr_assert_str_eq(buf, "from-uri");
	cr_assert_eq(transport_password(&c, "x", NULL, buf, sizeof(buf), &err), 0);
	cr_assert_str_eq(buf, "");
}

Test(transport_password, the_uri_password_may_already_be_in_the_buffer)
{
	struct transport_cfg c = {0};
	char buf[64] = "kept";

	cr_assert_eq(transport_password(&c, "x", buf, buf, sizeof(buf), &err), 1);
	cr_assert_str_eq(buf, "kept");
}

Test(transport_password, a_file_without_newline_or_with_crlf_is_read)
{
	struct transport_cfg c = {0};
	char buf[64];

	c.password_file = temp_file("no-newline");
	cr_assert_eq(transport_password(&c, "x", NULL, buf, sizeof(buf), &err), 1);
	cr_assert_str_eq(buf, "no-newline");
	unlink(c.password_file);
	c.password_file = temp_file("crlf\r\n");
	cr_assert_eq(transport_password(&c, "x", NULL, buf, sizeof(buf), &err), 1);
	cr_assert_str_eq(buf, "crlf");
	unlink(c.password_file);
}

Test(transport_password, a_missing_empty_or_long_file_is_refused_naming_it)
{
	struct transport_cfg c = {0};
	char buf[16];

	c.password_file = "/nonexistent/sc-password";
	cr_assert_eq(transport_password(&c, "amqp", NULL, buf, sizeof(buf), &err), -SC_ENOENT);
	cr_assert_str_eq(
		err.msg,
		"amqp: password file '/nonexistent/sc-password': No such file or directory");
	c.password_file = temp_file("\nsecret-on-line-2\n");
	cr_assert_eq(transport_password(&c, "amqp", NULL, buf, sizeof(buf), &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "the first line is empty"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "secret"), "%s", err.msg);
	unlink(c.password_file);
	c.password_file = temp_file("a-password-longer-than-fifteen-bytes\n");
	cr_assert_eq(transport_password(&c, "amqp", NULL, buf, sizeof(buf), &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "longer than 15 bytes"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "a-password"), "%s", err.msg);
	cr_assert_str_eq(buf, "", "a partial password stays in the buffer");
	unlink(c.password_file);
}

Test(transport_tls, reads_the_tls_keys_and_refuses_bad_ones)
{
	struct sc_kv good[] = {{"tls.ca", "/dev/null"}, {"tls.insecure", "true"}};
	struct sc_kv half[] = {{"tls.cert", "/dev/null"}};
	struct sc_kv bad[] = {{"tls.insecure", "maybe"}};
	struct sc_kv missing[] = {{"tls.ca", "/nonexistent/ca.pem"}};
	struct transport_cfg c = {0};
	struct transport_tls t;

	c.props = good;
	c.nprops = 2;
	cr_assert_eq(transport_tls_opts(&c, "mqtt", &t, &err), 0, "%s", err.msg);
	cr_assert_str_eq(t.ca, "/dev/null");
	cr_assert(t.insecure);
	cr_assert_null(t.cert);
	c.props = half;
	c.nprops = 1;
	cr_assert_eq(transport_tls_opts(&c, "mqtt", &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "tls.cert and -X tls.key go together"), "%s", err.msg);
	c.props = bad;
	cr_assert_eq(transport_tls_opts(&c, "mqtt", &t, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "mqtt: -X tls.insecure=maybe: expected true or false");
	c.props = missing;
	cr_assert_eq(transport_tls_opts(&c, "mqtt", &t, &err), -SC_ENOENT);
	cr_assert(strstr(err.msg, "/nonexistent/ca.pem"), "%s", err.msg);
	c.nprops = 0;
	cr_assert_eq(transport_tls_opts(&c, "mqtt", &t, &err), 0);
	cr_assert_not(t.insecure, "verification is on unless asked otherwise");
	cr_assert(transport_tls_key("tls.ca") && !transport_tls_key("ssl.ca.location"));
}

Test(transport_kafka_security, credentials_inside_the_broker_list_are_refused_unshown)
{
	struct transport_cfg c = producer_cfg("kafkas://u@127.0.0.1:1,v:hunter2@127.0.0.1:2");
	struct transport *t = NULL;

	cr_assert_eq(transport_open("kafka", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "credentials go once, before the list"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "hunter2"), "%s", err.msg);
	cr_assert_null(t);
}

Test(transport_kafka_security, a_password_without_a_user_is_refused)
{
	struct transport_cfg c = producer_cfg("kafkas://127.0.0.1:1");
	struct transport *t = NULL;

	c.password = "hunter2";
	cr_assert_eq(transport_open("kafka", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "a password but no user"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "hunter2"), "%s", err.msg);
}

Test(transport_kafka_security, kafkas_with_a_user_makes_a_valid_sasl_ssl_client)
{
	struct sc_kv props[] = {{"tls.insecure", "true"}, {"sasl.mechanism", "SCRAM-SHA-256"}};
	struct transport_cfg c = producer_cfg("kafkas://streamctl:p%40ss@127.0.0.1:1");
	struct transport *t = NULL;

	c.props = props;
	c.nprops = 2;
	/* a pure producer connects lazily: open only builds the configuration */
	cr_assert_eq(transport_open("kafka", &c, &t, &err), 0, "%s", err.msg);
	transport_close(t);
}

Test(transport_kafka_security, a_bad_x_sasl_password_value_is_not_echoed)
{
	struct sc_kv props[] = {{"sasl.password", "hunter2"}, {"no.such.key", "x"}};
	struct transport_cfg c = producer_cfg("kafka://127.0.0.1:1");
	struct transport *t = NULL;

	c.props = props;
	c.nprops = 2;
	cr_assert_eq(transport_open("kafka", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "no.such.key"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "hunter2"), "%s", err.msg);
}

Test(transport_amqp_security, amqps_checks_its_tls_keys_before_connecting)
{
	struct sc_kv half[] = {{"tls.key", "/dev/null"}};
	struct transport_cfg c = producer_cfg("amqps://u:hunter2@127.0.0.1:1/");
	struct transport *t = NULL;

	c.props = half;
	c.nprops = 1;
	cr_assert_eq(transport_open("amqp", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "go together"), "%s", err.msg);
	c.nprops = 0;
	c.password_file = "/nonexistent/pw";
	cr_assert_eq(transport_open("amqp", &c, &t, &err), -SC_ENOENT);
	cr_assert(strstr(err.msg, "amqp: password file '/nonexistent/pw'"), "%s", err.msg);
	c.password_file = NULL;
	/* nothing listens on port 1: a connection error that shows no password */
	cr_assert_eq(transport_open("amqp", &c, &t, &err), -SC_ECONN);
	cr_assert_null(strstr(err.msg, "hunter2"), "%s", err.msg);
}

Test(transport_mqtt_security, mqtts_refuses_a_bad_tls_key_value, .timeout = 15)
{
	struct sc_kv bad[] = {{"tls.insecure", "yes please"}};
	struct transport_cfg c = producer_cfg("mqtts://u:hunter2@127.0.0.1:1");
	struct transport *t = NULL;

	c.props = bad;
	c.nprops = 1;
	cr_assert_eq(transport_open("mqtt", &c, &t, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "tls.insecure"), "%s", err.msg);
	c.nprops = 0;
	cr_assert_eq(transport_open("mqtt", &c, &t, &err), -SC_ECONN, "%s", err.msg);
	cr_assert_null(strstr(err.msg, "hunter2"), "%s", err.msg);
}
