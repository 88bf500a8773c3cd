/* test_cli.c - options, environment, defaults and usage errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "runtime.h"
#include "transport.h"

static struct sc_config cfg;
static struct sc_error err;

static int parse(char **envp, int argc, char **argv)
{
	sc_error_clear(&err);
	return cli_parse(argc, argv, envp, &cfg, &err);
}

#define ARGV(...)	 ((char *[]){"streamctl", __VA_ARGS__, NULL})
#define ARGC(...)	 ((int)(sizeof((char *[]){"streamctl", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(envp, ...) parse(envp, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

Test(cli, applies_defaults_per_source)
{
	cr_assert_eq(PARSE(NULL, "generate"), 0);
	cr_assert_str_eq(cfg.transport, "pipe");
	cr_assert_str_eq(cfg.ns, "streamctl");
	cr_assert_str_eq(cfg.codec, "json");
	cr_assert_str_eq(cfg.source, "cpu");
	cr_assert_eq(cfg.count, -1);
	cr_assert(cfg.rate < 0, "rate default is per source");
	cr_assert_eq(cfg.role, SC_ROLE_GENERATE);
}

Test(cli, parses_generate_flags)
{
	cr_assert_eq(PARSE(NULL, "generate", "--transport=kafka", "--source=sensor", "--count=1000",
			   "--rate=0", "--codec=msgpack", "--source-id=s1", "-X", "linger.ms=10",
			   "-Xacks=all"),
		     0, "%s", err.msg);
	cr_assert_str_eq(cfg.transport, "kafka");
	cr_assert_str_eq(cfg.source, "sensor");
	cr_assert_eq(cfg.count, 1000);
	cr_assert_eq(cfg.rate, 0.0);
	cr_assert_str_eq(cfg.codec, "msgpack");
	cr_assert_str_eq(cfg.source_id, "s1");
	cr_assert_eq(cfg.nprops, 2);
	cr_assert_str_eq(cfg.props[0].key, "linger.ms");
	cr_assert_str_eq(cfg.props[0].value, "10");
	cr_assert_str_eq(cfg.props[1].key, "acks");
	cr_assert_str_eq(cfg.props[1].value, "all");
}

Test(cli, environment_sets_options_and_flags_win)
{
	char *env[] = {"STREAMCTL_TRANSPORT=amqp",
		       "STREAMCTL_NAMESPACE=envns",
		       "STREAMCTL_REPLICATION_FACTOR=3",
		       "STREAMCTL_X=heartbeat=1;tls.ca=x,y",
		       "PATH=/bin",
		       NULL};

	cr_assert_eq(PARSE(env, "process", "--namespace=flagns"), 0, "%s", err.msg);
	cr_assert_str_eq(cfg.transport, "amqp");
	cr_assert_str_eq(cfg.ns, "flagns");
	cr_assert_eq(cfg.replication, 3);
	cr_assert_eq(cfg.nprops, 2);
	cr_assert_str_eq(cfg.props[1].key, "tls.ca");
	cr_assert_str_eq(cfg.props[1].value, "x,y");
}

Test(cli, environment_of_other_roles_is_ignored)
{
	char *env[] = {"STREAMCTL_DB=/tmp/x.db", "STREAMCTL_SOURCE=sensor", NULL};

	cr_assert_eq(PARSE(env, "process"), 0, "%s", err.msg);
	cr_assert_eq(PARSE(env, "sink"), 0, "%s", err.msg);
	cr_assert_str_eq(cfg.db, "/tmp/x.db");
}

Test(cli, rejects_bad_environment_value_naming_the_variable)
{
	char *env[] = {"STREAMCTL_COUNT=lots", NULL};

	cr_assert_lt(PARSE(env, "generate"), 0);
	cr_assert(strstr(err.msg, "STREAMCTL_COUNT"), "%s", err.msg);
}

Test(cli, rejects_unknown_role)
{
	cr_assert_lt(PARSE(NULL, "frobnicate"), 0);
	cr_assert(strstr(err.msg, "unknown role 'frobnicate'"), "%s", err.msg);
}

Test(cli, rejects_missing_role)
{
	char *argv[] = {"streamctl", NULL};

	cr_assert_lt(parse(NULL, 1, argv), 0);
	cr_assert(strstr(err.msg, "no role"), "%s", err.msg);
}

Test(cli, rejects_unknown_option)
{
	cr_assert_lt(PARSE(NULL, "sink", "--bogus=1"), 0);
	cr_assert(strstr(err.msg, "unknown option '--bogus=1'"), "%s", err.msg);
}

Test(cli, rejects_option_of_another_role)
{
	cr_assert_lt(PARSE(NULL, "generate", "--db=x.db"), 0);
	cr_assert(strstr(err.msg, "'--db' does not apply"), "%s", err.msg);
}

Test(cli, rejects_unknown_codec)
{
	cr_assert_lt(PARSE(NULL, "generate", "--codec=xml"), 0);
	cr_assert(strstr(err.msg, "unknown codec 'xml'"), "%s", err.msg);
}

Test(cli, rejects_unknown_source)
{
	cr_assert_lt(PARSE(NULL, "generate", "--source=gps"), 0);
	cr_assert(strstr(err.msg, "unknown source 'gps'"), "%s", err.msg);
}

Test(cli, rejects_bad_numbers)
{
	cr_assert_lt(PARSE(NULL, "generate", "--count=12x"), 0);
	cr_assert(strstr(err.msg, "--count"), "%s", err.msg);
	cr_assert_lt(PARSE(NULL, "generate", "--rate=-3"), 0);
	cr_assert_lt(PARSE(NULL, "generate", "--qos=3"), 0);
	cr_assert(strstr(err.msg, "0..2"), "%s", err.msg);
}

Test(cli, rejects_malformed_property)
{
	cr_assert_lt(PARSE(NULL, "process", "-X", "novalue"), 0);
	cr_assert(strstr(err.msg, "KEY=VALUE"), "%s", err.msg);
}

Test(cli, rejects_stray_argument)
{
	cr_assert_lt(PARSE(NULL, "sink", "extra"), 0);
	cr_assert(strstr(err.msg, "unexpected argument 'extra'"), "%s", err.msg);
}

Test(cli, print_config_redacts_broker_password)
{
	char buf[8192] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	cr_assert_eq(PARSE(NULL, "sink", "--transport=amqp",
			   "--broker=amqp://user:hunter2@127.0.0.1:5672/"),
		     0);
	cli_print_config(f, &cfg);
	fclose(f);
	cr_assert(strstr(buf, "STREAMCTL_BROKER=amqp://user:***@127.0.0.1:5672/"), "%s", buf);
	cr_assert_null(strstr(buf, "hunter2"));
	cr_assert(strstr(buf, "STREAMCTL_DB=streamctl.db"), "%s", buf);
}

Test(cli, broker_password_comes_from_the_environment_only_and_is_redacted)
{
	char *envp[] = {"STREAMCTL_BROKER_PASSWORD=hunter3", "STREAMCTL_PASSWORD_FILE=/run/pw",
			NULL};
	char buf[8192] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	cr_assert_eq(PARSE(envp, "generate", "--transport=kafka", "-X", "sasl.password=hunter4"), 0,
		     "%s", err.msg);
	cr_assert_str_eq(cfg.broker_password, "hunter3");
	cr_assert_str_eq(cfg.password_file, "/run/pw");
	cli_print_config(f, &cfg);
	fclose(f);
	cr_assert(strstr(buf, "STREAMCTL_BROKER_PASSWORD=***\n"), "%s", buf);
	cr_assert(strstr(buf, "STREAMCTL_PASSWORD_FILE=/run/pw\n"), "%s", buf);
	cr_assert_null(strstr(buf, "hunter"), "%s", buf);
	cr_assert_lt(PARSE(NULL, "generate", "--broker-password=hunter5"), 0);
	cr_assert(strstr(err.msg, "unknown option"), "%s", err.msg);
	cr_assert_eq(PARSE(NULL, "sink", "--password-file=/run/pw2"), 0, "%s", err.msg);
	cr_assert_str_eq(cfg.password_file, "/run/pw2");
}

/* A backend's own options: its table drives the variables and the checks (issue 19). */
Test(cli, backend_option_from_its_variable_and_flags_win)
{
	char *env[] = {"STREAMCTL_MQTT_KEEPALIVE=7", "STREAMCTL_MQTT_JOURNAL_SYNC=true", NULL};

	cr_assert_eq(PARSE(env, "process", "--transport=mqtt", "-X", "keepalive=9"), 0, "%s",
		     err.msg);
	cr_assert_eq(cfg.nprops, 2);
	cr_assert_str_eq(cfg.props[0].key, "keepalive");
	cr_assert_str_eq(cfg.props[0].value, "9");
	cr_assert_str_eq(cfg.props[1].key, "journal.sync");
	cr_assert_str_eq(cfg.props[1].value, "true");
	/* another backend's variables are not read */
	cr_assert_eq(PARSE(env, "process", "--transport=amqp"), 0, "%s", err.msg);
	cr_assert_eq(cfg.nprops, 0);
}

Test(cli, mistyped_backend_option_is_one_line_error)
{
	char *env[] = {"STREAMCTL_AMQP_FRAME_MAX=12", NULL};

	cr_assert_eq(PARSE(NULL, "process", "--transport=mqtt", "-X", "kepalive=9"), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "mqtt: unknown -X key 'kepalive' (see streamctl <role> --help)");
	cr_assert_eq(PARSE(NULL, "process", "--transport=mqtt", "-X", "clean=maybe"), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "mqtt: -X clean=maybe: expected true or false");
	cr_assert_eq(PARSE(env, "sink", "--transport=amqp"), -SC_EINVAL);
	cr_assert_str_eq(err.msg,
			 "amqp: -X frame_max=12: expected an integer from 4096 to 1073741824");
	/* Kafka passes keys it does not declare on to librdkafka */
	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "-X", "linger.ms=5"), 0, "%s",
		     err.msg);
}

/* Kafka static membership: the --client-id given; -X group.instance.id overrides, empty is off. */
Test(cli, static_member_id_is_the_client_id_given)
{
	struct transport_cfg tc;

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka"), 0, "%s", err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert_null(tc.instance_id, "the default client id is shared by a host's instances");
	cr_assert(tc.client_id && *tc.client_id, "a default client id is made");

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "--client-id=proc-7"), 0, "%s",
		     err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert_str_eq(tc.instance_id, "proc-7");

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "--client-id=proc-7", "-X",
			   "group.instance.id=other"),
		     0, "%s", err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert_str_eq(tc.instance_id, "other");

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "--client-id=proc-7", "-X",
			   "group.instance.id="),
		     0, "%s", err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert_null(tc.instance_id, "an empty -X group.instance.id turns it off");
}
