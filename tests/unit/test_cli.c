/* test_cli.c - options, environment, defaults and usage errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "kafka_int.h" /* kafka_instance_id */
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
	cr_assert_eq(cfg.nprops, 2); /* amqp has no replication factor: its variable is ignored */
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
	cr_assert_lt(PARSE(NULL, "generate", "--transport=mqtt", "--qos=3"), 0);
	cr_assert(strstr(err.msg, "invalid value '3' for --qos"), "%s", err.msg);
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

/*
 * Kafka static membership: the --client-id given; -X group.instance.id
 * overrides, empty is off (runtime.c says whether the id was given,
 * kafka_instance_id() decides).
 */
Test(cli, static_member_id_is_the_client_id_given)
{
	struct transport_cfg tc;

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka"), 0, "%s", err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert(tc.client_id && *tc.client_id, "a default client id is made");
	cr_assert_not(tc.client_id_given);
	cr_assert_null(kafka_instance_id(&tc),
		       "the default client id is shared by a host's instances");

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "--client-id=proc-7"), 0, "%s",
		     err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert(tc.client_id_given);
	cr_assert_str_eq(kafka_instance_id(&tc), "proc-7");

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "--client-id=proc-7", "-X",
			   "group.instance.id=other"),
		     0, "%s", err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert_str_eq(kafka_instance_id(&tc), "other");

	cr_assert_eq(PARSE(NULL, "process", "--transport=kafka", "--client-id=proc-7", "-X",
			   "group.instance.id="),
		     0, "%s", err.msg);
	runtime_transport_cfg(&cfg, 1, &tc);
	cr_assert_null(kafka_instance_id(&tc), "an empty -X group.instance.id turns it off");
}

/* The value of -X key in cfg.props, the last one given (as the backends read it). */
static const char *prop(const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < cfg.nprops; i++)
		if (!strcmp(cfg.props[i].key, key))
			v = cfg.props[i].value;
	return v;
}

static const char *print_config(char *buf, size_t size)
{
	FILE *f = fmemopen(buf, size, "w");

	cr_assert_not_null(f);
	cli_print_config(f, &cfg);
	fclose(f);
	return buf;
}

/*
 * The flags that were shared settings (--qos, --partitions, ...) now come
 * from the backends' tables (transport_opt.flag) and set that backend's own
 * -X key; several backends may take one flag, each as its own option.
 */
Test(cli, flag_aliases_set_the_selected_backends_option)
{
	cr_assert_eq(PARSE(NULL, "generate", "--qos=0", "--inflight=7", "--transport=mqtt"), 0,
		     "%s", err.msg);
	cr_assert_str_eq(prop("qos"), "0");
	cr_assert_str_eq(prop("inflight"), "7");
	cr_assert_eq(PARSE(NULL, "sink", "--transport=kafka", "--partitions=6",
			   "--replication-factor=3", "--inflight=500"),
		     0, "%s", err.msg);
	cr_assert_str_eq(prop("partitions"), "6");
	cr_assert_str_eq(prop("replication.factor"), "3");
	cr_assert_str_eq(prop("inflight"), "500");
	/* the same flags, another backend's keys */
	cr_assert_eq(PARSE(NULL, "process", "--transport=amqp", "--prefetch=50", "--inflight=9",
			   "--quorum"),
		     0, "%s", err.msg);
	cr_assert_str_eq(prop("prefetch"), "50");
	cr_assert_str_eq(prop("confirm.window"), "9");
	cr_assert_str_eq(prop("quorum"), "true");
	cr_assert_eq(PARSE(NULL, "process", "--transport=amqp", "--quorum=no"), 0, "%s", err.msg);
	cr_assert_str_eq(prop("quorum"), "false");
	cr_assert_eq(PARSE(NULL, "process", "--transport=mqtt", "--prefetch=20"), 0, "%s", err.msg);
	cr_assert_str_eq(prop("prefetch"), "20");
}

Test(cli, an_explicit_x_key_wins_over_its_flag_and_the_flag_over_the_environment)
{
	char *env[] = {"STREAMCTL_QOS=2", "STREAMCTL_MQTT_INFLIGHT=11", "STREAMCTL_INFLIGHT=12",
		       "STREAMCTL_X=prefetch=30", NULL};

	cr_assert_eq(PARSE(env, "process", "--transport=mqtt", "--qos=1", "-X", "qos=0"), 0, "%s",
		     err.msg);
	cr_assert_str_eq(prop("qos"), "0");
	cr_assert_eq(PARSE(env, "process", "--transport=mqtt", "--qos=1", "--prefetch=31"), 0, "%s",
		     err.msg);
	cr_assert_str_eq(prop("qos"), "1");
	cr_assert_str_eq(prop("inflight"), "11"); /* STREAMCTL_MQTT_* before STREAMCTL_INFLIGHT */
	cr_assert_str_eq(prop("prefetch"), "31"); /* a flag wins over STREAMCTL_X */
	cr_assert_eq(PARSE(env, "process", "--transport=mqtt"), 0, "%s", err.msg);
	cr_assert_str_eq(prop("qos"), "2");
	cr_assert_str_eq(prop("prefetch"), "30");
}

Test(cli, a_flag_the_transport_lacks_is_one_clear_error)
{
	cr_assert_eq(PARSE(NULL, "generate", "--transport=kafka", "--qos=1"), -SC_EINVAL);
	cr_assert_str_eq(err.msg,
			 "generate: option '--qos' does not apply to transport 'kafka' (only to "
			 "mqtt)");
	cr_assert_eq(PARSE(NULL, "sink", "--quorum", "--transport=mqtt"), -SC_EINVAL);
	cr_assert(strstr(err.msg, "'--quorum' does not apply to transport 'mqtt' (only to amqp)"),
		  "%s", err.msg);
	cr_assert_eq(PARSE(NULL, "generate", "--partitions=3"), -SC_EINVAL); /* the pipe */
	cr_assert(strstr(err.msg, "transport 'pipe'"), "%s", err.msg);
	cr_assert_eq(PARSE(NULL, "verify", "--db=x.db", "--qos=1"), -SC_EINVAL);
	cr_assert(strstr(err.msg, "'--qos' does not apply here"), "%s", err.msg);
	cr_assert_eq(PARSE(NULL, "process", "--transport=amqp", "--quorum=maybe"), -SC_EINVAL);
	cr_assert(strstr(err.msg, "invalid value 'maybe' for --quorum"), "%s", err.msg);
}

/* One environment may serve roles of several transports: like another role's variables. */
Test(cli, a_flag_variable_the_transport_lacks_is_ignored)
{
	char *env[] = {"STREAMCTL_QOS=1", "STREAMCTL_PARTITIONS=6", "STREAMCTL_QUORUM=yes", NULL};
	char *bad[] = {"STREAMCTL_QOS=high", NULL};

	cr_assert_eq(PARSE(env, "process", "--transport=kafka"), 0, "%s", err.msg);
	cr_assert_str_eq(prop("partitions"), "6");
	cr_assert_null(prop("qos"));
	cr_assert_null(prop("quorum"));
	cr_assert_eq(PARSE(env, "process", "--transport=amqp"), 0, "%s", err.msg);
	cr_assert_str_eq(prop("quorum"), "true");
	cr_assert_null(prop("partitions"));
	cr_assert_eq(PARSE(bad, "process", "--transport=mqtt"), -SC_EINVAL);
	cr_assert(strstr(err.msg, "for STREAMCTL_QOS"), "%s", err.msg);
}

Test(cli, print_config_shows_the_backend_options_the_flags_set)
{
	char buf[8192];

	cr_assert_eq(PARSE(NULL, "generate", "--transport=kafka", "--partitions=6"), 0, "%s",
		     err.msg);
	print_config(buf, sizeof(buf));
	cr_assert(strstr(buf, "\nSTREAMCTL_KAFKA_PARTITIONS=6\n"), "%s", buf);
	cr_assert(strstr(buf, "\nSTREAMCTL_KAFKA_REPLICATION_FACTOR=1\n"), "%s", buf);
	cr_assert_null(strstr(buf, "STREAMCTL_QOS"), "%s", buf);
	cr_assert_eq(PARSE(NULL, "sink", "--transport=mqtt"), 0, "%s", err.msg);
	print_config(buf, sizeof(buf));
	cr_assert(strstr(buf, "\nSTREAMCTL_MQTT_QOS=1\n"), "%s", buf);
	cr_assert(strstr(buf, "\nSTREAMCTL_MQTT_PREFETCH=100\n"), "%s", buf);
	cr_assert_eq(PARSE(NULL, "sink", "--transport=amqp", "--quorum", "--prefetch=7"), 0, "%s",
		     err.msg);
	print_config(buf, sizeof(buf));
	cr_assert(strstr(buf, "\nSTREAMCTL_AMQP_QUORUM=true\n"), "%s", buf);
	cr_assert(strstr(buf, "\nSTREAMCTL_AMQP_PREFETCH=7\n"), "%s", buf);
	cr_assert(strstr(buf, "\nSTREAMCTL_AMQP_CONFIRM_WINDOW=1000\n"), "%s", buf);
}

Test(cli, help_and_variable_names_list_the_flags_with_their_backends)
{
	char buf[65536];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	cli_usage(f, "process");
	fclose(f);
	cr_assert(strstr(buf, "-X qos=N"), "%s", buf);
	cr_assert(strstr(buf, "also --qos=N, env STREAMCTL_QOS"), "%s", buf);
	cr_assert(strstr(buf, "also --quorum[=BOOL], env STREAMCTL_QUORUM"), "%s", buf);
	cr_assert(
		strstr(buf, "env STREAMCTL_KAFKA_REPLICATION_FACTOR; also --replication-factor=N"),
		"%s", buf);
	cr_assert(strstr(buf, "-X out.fd=N"), "%s", buf);
	f = fmemopen(buf, sizeof(buf), "w");
	cli_print_env_names(f);
	fclose(f);
	for (const char *const *v =
		     (const char *const[]){"STREAMCTL_QOS", "STREAMCTL_PARTITIONS",
					   "STREAMCTL_REPLICATION_FACTOR", "STREAMCTL_PREFETCH",
					   "STREAMCTL_INFLIGHT", "STREAMCTL_QUORUM",
					   "STREAMCTL_PIPE_IN_FD", NULL};
	     *v; v++) {
		char line[64];

		snprintf(line, sizeof(line), "\n%s\n", *v);
		cr_assert(strstr(buf, line), "%s missing", *v);
	}
}
