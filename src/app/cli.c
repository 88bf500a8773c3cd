/*
 * cli.c - options, STREAMCTL_* variables, help and --print-config.
 *
 * One table describes every option: its name, the roles that take it, its
 * type, where it lands in struct sc_config, its default and its help.  The
 * environment, getopt_long, the help text and --print-config are all driven
 * by that table, so they cannot disagree.  A transport's own options come
 * from its table in transports/ (struct transport_opt) the same way, flags
 * such as --qos included: nothing here names a backend or its options.
 *
 * Map:  table - value parsing - environment - backend options - flags -
 *       help and printing
 */
#include "cli.h"
#include "config.h"
#include "error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { T_STR, T_LONG, T_LLONG, T_DOUBLE, T_BOOL, T_PROP, T_FLAG };

#define R_GEN	    SC_ROLE_GENERATE
#define R_PROC	    SC_ROLE_PROCESS
#define R_SINK	    SC_ROLE_SINK
#define R_VER	    SC_ROLE_VERIFY
#define R_BENCH	    SC_ROLE_BENCH
#define R_TRANSPORT (R_GEN | R_PROC | R_SINK | R_BENCH)
#define R_ALL	    (R_TRANSPORT | R_VER)

struct opt {
	const char *name;
	unsigned roles;
	enum opt_type type;
	size_t off;
	const char *def; /* default as text, NULL: none */
	const char *metavar;
	const char *help;
	bool secret;	    /* redact in --print-config */
	long long min, max; /* for integers */
	bool env_only;	    /* no flag: a secret on a command line shows in ps */
};

#define OFF(f) offsetof(struct sc_config, f)

static const struct opt opts[] = {
	{"transport", R_TRANSPORT, T_STR, OFF(transport), "pipe", "NAME",
	 "the messaging backend ('streamctl --help' lists them)"},
	{"broker", R_TRANSPORT, T_STR, OFF(broker), NULL, "URI",
	 "broker address, e.g. kafka://127.0.0.1:9092 (default: the local one)", true},
	{.name = "broker-password",
	 .roles = R_TRANSPORT,
	 .type = T_STR,
	 .off = OFF(broker_password),
	 .metavar = "SECRET",
	 .secret = true,
	 .env_only = true,
	 .help = "broker password, wins over the uri's (environment only)"},
	{"password-file", R_TRANSPORT, T_STR, OFF(password_file), NULL, "PATH",
	 "read the broker password from the first line of PATH (wins over the others)"},
	{"namespace", R_TRANSPORT, T_STR, OFF(ns), "streamctl", "NAME",
	 "prefix of every topic, queue, exchange and group"},
	{"codec", R_GEN | R_PROC | R_BENCH, T_STR, OFF(codec), "json", "NAME",
	 "output encoding: json or msgpack (input is auto-detected)"},
	{"client-id", R_TRANSPORT, T_STR, OFF(client_id), NULL, "ID",
	 "stable id of this instance (MQTT session, Kafka client.id)"},
	{"group", R_PROC | R_SINK | R_BENCH, T_STR, OFF(group), NULL, "NAME",
	 "consumer group (default <namespace>.<role>)"},
	{"max-msg-bytes", R_TRANSPORT, T_LONG, OFF(max_msg_bytes), "1048576", "N",
	 "larger messages are refused or dead-lettered", false, 64, 256L * 1024 * 1024},
	{"X", R_TRANSPORT, T_PROP, OFF(props), NULL, "KEY=VALUE",
	 "passed to the client library (repeatable)"},
	{"stats", R_TRANSPORT, T_STR, OFF(stats_path), NULL, "FILE",
	 "write periodic stats as JSON lines to FILE (default stderr)"},
	{"stats-interval", R_TRANSPORT, T_DOUBLE, OFF(stats_interval), "5", "SEC",
	 "seconds between stats lines, 0: only the final one"},
	{"progress", R_TRANSPORT, T_STR, OFF(progress), "auto", "WHEN",
	 "live one-line progress on a terminal: auto, always or never"},
	{"metrics", R_TRANSPORT, T_STR, OFF(metrics), NULL, "ADDR:PORT",
	 "serve Prometheus /metrics, /healthz and /readyz"},
	{"source", R_GEN | R_BENCH, T_STR, OFF(source), "cpu", "NAME",
	 "cpu (real /proc/stat), sensor (simulated phone) or http (Sensor Logger app)"},
	{"count", R_GEN | R_BENCH, T_LLONG, OFF(count), "-1", "N",
	 "messages to send (-1: unbounded)", false, -1, LLONG_MAX},
	{"duration", R_GEN | R_BENCH, T_DOUBLE, OFF(duration), "0", "SEC",
	 "stop after SEC seconds (0: unbounded)"},
	{"rate", R_GEN | R_BENCH, T_DOUBLE, OFF(rate), NULL, "HZ",
	 "messages per second, 0: as fast as possible (default 2 cpu, 1 sensor)"},
	{"tick", R_GEN | R_BENCH, T_DOUBLE, OFF(tick_ms), "1", "MS",
	 "wake at most once per MS and send what is due (0: once per message)"},
	{"source-id", R_GEN | R_BENCH, T_STR, OFF(source_id), NULL, "ID",
	 "id of this producer run, seq counts from 0 (default <source>-<host>-<start s>)"},
	{"device-id", R_GEN | R_BENCH, T_STR, OFF(device_id), NULL, "ID",
	 "device id and key (default: host name / simulated phone id)"},
	{"seed", R_GEN | R_BENCH, T_LLONG, OFF(seed), "1", "N", "sensor simulator seed", false, 0,
	 LLONG_MAX},
	{"listen", R_GEN, T_STR, OFF(listen), "127.0.0.1:8080", "ADDR:PORT",
	 "HTTP ingest address for --source=http"},
	{"idle-exit", R_PROC | R_SINK | R_BENCH, T_DOUBLE, OFF(idle_exit), "0", "SEC",
	 "exit cleanly after SEC seconds without input (0: never)"},
	{"batch", R_PROC | R_SINK, T_LONG, OFF(batch), "500", "N",
	 "messages per output flush / transaction", false, 1, 100000},
	{"batch-ms", R_PROC | R_SINK, T_LONG, OFF(batch_ms), "50", "MS",
	 "longest time a batch takes messages already there", false, 0, 60000},
	{"input", R_PROC, T_STR, OFF(input), "raw", "NAME",
	 "raw (streamctl records) or sensorlogger (the app's bare JSON on --topic)"},
	{"topic", R_PROC, T_STR, OFF(topic), "sensor-logger", "NAME",
	 "topic/queue the Sensor Logger app publishes to (--input=sensorlogger)"},
	{"cpu-window", R_PROC, T_LONG, OFF(cpu_window), "60", "N",
	 "samples in the cpu rolling window", false, 2, 100000},
	{"z-threshold", R_PROC, T_DOUBLE, OFF(z_threshold), "3", "Z", "cpu anomaly threshold"},
	{"activity-window", R_PROC, T_LONG, OFF(activity_window), "5", "N",
	 "sensor batches in the activity window", false, 1, 10000},
	{"db", R_SINK | R_VER, T_STR, OFF(db), "streamctl.db", "PATH", "SQLite database"},
	{"csv", R_SINK, T_STR, OFF(csv), NULL, "DIR", "also write CSV files into DIR"},
	{"expect", R_VER, T_LLONG, OFF(expect), "-1", "N", "every source must hold seq 0..N-1",
	 false, -1, LLONG_MAX},
	{"sources", R_VER, T_LONG, OFF(sources), "0", "N",
	 "exactly N sources must have stored rows (a source that stored none is otherwise unseen)",
	 false, 0, 1000000},
	{"print-config", R_ALL, T_FLAG, OFF(print_config), NULL, NULL,
	 "print the effective configuration as STREAMCTL_* lines and exit"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct {
	const char *name;
	enum sc_role role;
	const char *summary;
} roles[] = {
	{"generate", SC_ROLE_GENERATE, "produce raw cpu or sensor records"},
	{"process", SC_ROLE_PROCESS, "derive statistics and features from raw records"},
	{"sink", SC_ROLE_SINK, "store processed records in SQLite (and CSV)"},
	{"verify", SC_ROLE_VERIFY, "check a sink database for gaps and duplicates"},
};

/* ---- value parsing ---------------------------------------------------- */

/* 1/true/yes/on or 0/false/no/off: 0, or -1 for anything else. */
static int parse_bool(const char *val, bool *out)
{
	if (!strcmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
	    !strcasecmp(val, "on"))
		*out = true;
	else if (!strcmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no") ||
		 !strcasecmp(val, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_value(const struct opt *o, const char *val, const char *from,
		       struct sc_config *cfg, struct sc_error *err)
{
	void *dst = (char *)cfg + o->off;
	char *end;

	switch (o->type) {
	case T_STR: *(const char **)dst = val; return 0;
	case T_LONG:
	case T_LLONG: {
		long long v;
		errno = 0;
		v = strtoll(val, &end, 10);
		if (errno || end == val || *end || v < o->min || v > o->max)
			return sc_error_set(err, SC_EINVAL,
					    "invalid value '%s' for %s: expected an integer in "
					    "%lld..%lld",
					    val, from, o->min, o->max);
		if (o->type == T_LONG)
			*(long *)dst = (long)v;
		else
			*(long long *)dst = v;
		return 0;
	}
	case T_DOUBLE: {
		double v;
		errno = 0;
		v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v) || v < 0)
			return sc_error_set(
				err, SC_EINVAL,
				"invalid value '%s' for %s: expected a non-negative number", val,
				from);
		*(double *)dst = v;
		return 0;
	}
	case T_BOOL:
	case T_FLAG:
		if (parse_bool(val, (bool *)dst))
			return sc_error_set(err, SC_EINVAL,
					    "invalid value '%s' for %s: expected true or false",
					    val, from);
		return 0;
	case T_PROP: {
		const char *eq = strchr(val, '=');
		char *key;
		if (!eq || eq == val)
			return sc_error_set(err, SC_EINVAL,
					    "invalid value '%s' for %s: expected KEY=VALUE", val,
					    from);
		if (cfg->nprops >= SC_MAX_PROPS)
			return sc_error_set(err, SC_EINVAL, "too many -X properties (max %d)",
					    SC_MAX_PROPS);
		key = strndup(val, (size_t)(eq - val));
		if (!key)
			return sc_error_set(err, SC_ENOMEM, "out of memory");
		cfg->props[cfg->nprops].key = key;
		cfg->props[cfg->nprops].value = eq + 1;
		cfg->nprops++;
		return 0;
	}
	}
	return sc_error_set(err, SC_EINVAL, "internal: bad option type");
}

/* STREAMCTL_<NAME>, dashes as underscores: --stats-interval, STREAMCTL_STATS_INTERVAL. */
static void env_name_of(const char *name, char *buf, size_t size)
{
	size_t i = 0;

	i = (size_t)snprintf(buf, size, "STREAMCTL_");
	for (const char *p = name; *p && i + 1 < size; p++)
		buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	buf[i] = '\0';
}

static void env_name(const struct opt *o, char *buf, size_t size)
{
	env_name_of(o->name, buf, size);
}

static const char *env_value(char **envp, const char *name)
{
	size_t nl = strlen(name);
	const char *val = NULL;

	for (char **e = envp; e && *e; e++)
		if (!strncmp(*e, name, nl) && (*e)[nl] == '=')
			val = *e + nl + 1;
	return val;
}

static void set_defaults(struct sc_config *cfg, struct sc_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].def)
			parse_value(&opts[i], opts[i].def, opts[i].name, cfg, err);
	cfg->rate = -1; /* per source: 2 Hz cpu, 1 Hz sensor */
}

/* ---- environment ------------------------------------------------------ */

/*
 * STREAMCTL_X holds -X properties separated by ';' (values may contain ',').
 * Variables of options that do not apply to the role are ignored, so one
 * container environment can serve every role.
 */
static int apply_env(char **envp, struct sc_config *cfg, struct sc_error *err)
{
	char name[64];

	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		const char *val = NULL;
		size_t nl;

		if (!(o->roles & cfg->role) || o->type == T_FLAG)
			continue;
		env_name(o, name, sizeof(name));
		nl = strlen(name);
		for (char **e = envp; e && *e; e++)
			if (!strncmp(*e, name, nl) && (*e)[nl] == '=')
				val = *e + nl + 1;
		if (!val || !*val)
			continue;
		if (o->type == T_PROP) {
			char *copy = strdup(val), *save = NULL;
			if (!copy)
				return sc_error_set(err, SC_ENOMEM, "out of memory");
			for (char *tok = strtok_r(copy, ";", &save); tok;
			     tok = strtok_r(NULL, ";", &save)) {
				int rc = parse_value(o, tok, name, cfg, err);
				if (rc)
					return rc;
			}
			continue; /* copy stays referenced by props */
		}
		if (parse_value(o, val, name, cfg, err))
			return -SC_EINVAL;
	}
	return 0;
}

/* ---- backend options -------------------------------------------------- */

/*
 * The top-level flags of backend options (transport_opt.flag: --qos,
 * --partitions, ...), gathered from every built-in backend's table, each
 * name once.  Which backend's option a flag sets is known only when the
 * transport is (--transport may come later, or from the environment), so
 * the values wait here until apply_backend_opts().
 */
#define MAX_BFLAGS 32

struct bflag {
	const char *name;	      /* without "--" */
	enum transport_opt_type type; /* of its first table entry: has it a value? */
	const char *value;	      /* from the command line; NULL: not given */
};

/*
 * A backend flag must not shadow an option of the table above, and backends
 * that share one must agree whether it takes a value (getopt has one entry):
 * tables that break this are a programmer error, which test_cli's calls
 * catch.
 */
static size_t bflags_collect(struct bflag *out)
{
	size_t n = 0;

	for (size_t b = 0; transport_backends[b]; b++)
		for (const struct transport_opt *o = transport_backends[b]->opts; o && o->key;
		     o++) {
			bool seen = false;

			if (!o->flag)
				continue;
			for (size_t i = 0; i < NOPTS; i++)
				assert(strcmp(opts[i].name, o->flag) != 0);
			for (size_t j = 0; j < n; j++)
				if (!strcmp(out[j].name, o->flag)) {
					assert((out[j].type == TRANSPORT_OPT_BOOL) ==
					       (o->type == TRANSPORT_OPT_BOOL));
					seen = true;
				}
			assert(seen || n < MAX_BFLAGS);
			if (!seen && n < MAX_BFLAGS)
				out[n++] = (struct bflag){o->flag, o->type, NULL};
		}
	return n;
}

static const struct transport_opt *opt_of_flag(const struct transport_ops *ops, const char *flag)
{
	for (const struct transport_opt *o = ops->opts; o && o->key; o++)
		if (o->flag && !strcmp(o->flag, flag))
			return o;
	return NULL;
}

/*
 * A value given by a flag or its variable (from: "--qos" or "STREAMCTL_QOS"),
 * checked here so the message names what the user typed; booleans take the
 * spellings every other flag takes (yes, on, ...) and pass on as true/false.
 */
static int check_flag_value(const struct transport_opt *o, const char **val, const char *from,
			    struct sc_error *err)
{
	char *end;
	long n;
	bool b;

	switch (o->type) {
	case TRANSPORT_OPT_LONG:
		errno = 0;
		n = strtol(*val, &end, 10);
		if (errno || end == *val || *end || n < o->min || n > o->max)
			return sc_error_set(err, SC_EINVAL,
					    "invalid value '%s' for %s: expected an integer in "
					    "%ld..%ld",
					    *val, from, o->min, o->max);
		return 0;
	case TRANSPORT_OPT_BOOL:
		if (parse_bool(*val, &b))
			return sc_error_set(err, SC_EINVAL,
					    "invalid value '%s' for %s: expected true or false",
					    *val, from);
		*val = b ? "true" : "false";
		return 0;
	case TRANSPORT_OPT_STR: return 0;
	}
	return 0;
}

/* "mqtt" or "amqp, mqtt": the built-in backends that have a flag. */
static void backends_with_flag(const char *flag, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t b = 0; transport_backends[b] && n < size; b++)
		if (opt_of_flag(transport_backends[b], flag))
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
					      transport_backends[b]->name);
}

/*
 * The selected backend's options into cfg->props, as -X keys, from (highest
 * first): -X on the command line; the option's flag (--qos); -X in
 * STREAMCTL_X; STREAMCTL_<BACKEND>_<KEY>; the flag's variable
 * (STREAMCTL_QOS).  A flag the backend has no option for stops here; the
 * variable of one is ignored, so one environment can serve several
 * transports' roles as it serves several roles.  Then every -X is checked
 * against the table: a mistyped key or value stops here with one line.
 * nenv: how many of cfg->props came from STREAMCTL_X.
 */
static int apply_backend_opts(char **envp, struct sc_config *cfg, const struct bflag *bf,
			      size_t nbf, size_t nenv, struct sc_error *err)
{
	const struct transport_ops *ops = transport_find(cfg->transport, err);
	char name[96], fenv[96], who[128];

	if (!ops)
		return -SC_EINVAL;
	for (size_t j = 0; j < nbf; j++)
		if (bf[j].value && !opt_of_flag(ops, bf[j].name)) {
			backends_with_flag(bf[j].name, who, sizeof(who));
			return sc_error_set(err, SC_EINVAL,
					    "%s: option '--%s' does not apply to transport '%s' "
					    "(only to %s)",
					    cfg->role_name, bf[j].name, ops->name, who);
		}
	for (const struct transport_opt *o = ops->opts; o && o->key; o++) {
		const char *val = NULL, *from = NULL;
		bool on_cmdline = false, in_env = false;
		int rc;

		if (!strcmp(o->key, "*"))
			continue;
		for (size_t k = 0; k < cfg->nprops; k++) {
			if (strcmp(cfg->props[k].key, o->key))
				continue;
			if (k < nenv)
				in_env = true;
			else
				on_cmdline = true;
		}
		if (on_cmdline)
			continue;
		for (size_t j = 0; o->flag && j < nbf; j++)
			if (!strcmp(bf[j].name, o->flag) && bf[j].value) {
				snprintf(fenv, sizeof(fenv), "--%s", o->flag);
				val = bf[j].value;
				from = fenv;
			}
		if (!val && in_env)
			continue;
		if (!val) { /* an empty variable counts as unset */
			transport_opt_env(ops, o, name, sizeof(name));
			val = env_value(envp, name);
			val = val && *val ? val : NULL;
		}
		if (!val && o->flag) {
			env_name_of(o->flag, fenv, sizeof(fenv));
			val = env_value(envp, fenv);
			val = val && *val ? val : NULL;
			from = fenv;
		}
		if (!val)
			continue;
		if (from && (rc = check_flag_value(o, &val, from, err)))
			return rc;
		if (cfg->nprops >= SC_MAX_PROPS)
			return sc_error_set(err, SC_EINVAL, "too many -X properties (max %d)",
					    SC_MAX_PROPS);
		cfg->props[cfg->nprops].key = o->key;
		cfg->props[cfg->nprops].value = val;
		cfg->nprops++;
	}
	return transport_check_props(ops, cfg->props, cfg->nprops, err);
}

/* ---- flags ------------------------------------------------------------ */

static const char *role_of(const char *name, enum sc_role *role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(roles[i].name, name)) {
			*role = roles[i].role;
			return roles[i].name;
		}
	return NULL;
}

static int check_choices(const struct sc_config *cfg, struct sc_error *err)
{
	if ((cfg->role & R_TRANSPORT) && !transport_find(cfg->transport, err))
		return -SC_EINVAL;
	if (cfg->codec && strcmp(cfg->codec, "json") && strcmp(cfg->codec, "msgpack"))
		return sc_error_set(err, SC_EINVAL, "unknown codec '%s' (known: json, msgpack)",
				    cfg->codec);
	if (cfg->source && strcmp(cfg->source, "cpu") && strcmp(cfg->source, "sensor") &&
	    strcmp(cfg->source, "http"))
		return sc_error_set(err, SC_EINVAL,
				    "unknown source '%s' (known: cpu, sensor, http)", cfg->source);
	if (cfg->progress && strcmp(cfg->progress, "auto") && strcmp(cfg->progress, "always") &&
	    strcmp(cfg->progress, "never"))
		return sc_error_set(err, SC_EINVAL,
				    "invalid value '%s' for --progress: expected auto, always or "
				    "never",
				    cfg->progress);
	if (cfg->input && strcmp(cfg->input, "raw") && strcmp(cfg->input, "sensorlogger"))
		return sc_error_set(err, SC_EINVAL, "unknown input '%s' (known: raw, sensorlogger)",
				    cfg->input);
	if (cfg->role == SC_ROLE_VERIFY && (!cfg->db || !*cfg->db))
		return sc_error_set(err, SC_EINVAL, "verify needs --db=PATH");
	return 0;
}

int cli_parse(int argc, char **argv, char **envp, struct sc_config *cfg, struct sc_error *err)
{
	struct option lopts[NOPTS + MAX_BFLAGS + 3];
	struct bflag bf[MAX_BFLAGS];
	const char *role_name;
	char flag[80];
	size_t n = 0, nbf = bflags_collect(bf), nenv;
	int c, rc;

	set_defaults(cfg, err);
	if (argc < 2)
		return sc_error_set(err, SC_EINVAL, "no role given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_usage(stdout, argc > 2 ? argv[2] : NULL);
		return 1;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("streamctl %s\n", STREAMCTL_VERSION);
		return 1;
	}
	if (!strcmp(argv[1], "--print-env-names")) {
		cli_print_env_names(stdout);
		return 1;
	}
	role_name = role_of(argv[1], &cfg->role);
	if (!role_name) {
		if (argv[1][0] == '-')
			return sc_error_set(err, SC_EINVAL, "expected a role before '%s'", argv[1]);
		return sc_error_set(err, SC_EINVAL,
				    "unknown role '%s' (known: generate, process, sink, verify)",
				    argv[1]);
	}
	cfg->role_name = role_name;

	rc = apply_env(envp, cfg, err);
	if (rc)
		return rc;
	nenv = cfg->nprops;

	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].type == T_PROP || opts[i].env_only)
			continue;
		lopts[n].name = opts[i].name;
		lopts[n].has_arg = opts[i].type == T_FLAG ? no_argument : required_argument;
		lopts[n].flag = NULL;
		lopts[n].val = 1000 + (int)i;
		n++;
	}
	for (size_t j = 0; j < nbf; j++) /* --quorum alone means --quorum=true */
		lopts[n++] = (struct option){bf[j].name,
					     bf[j].type == TRANSPORT_OPT_BOOL ? optional_argument
									      : required_argument,
					     NULL, 2000 + (int)j};
	lopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	lopts[n++] = (struct option){"version", no_argument, NULL, 'V'};
	lopts[n] = (struct option){NULL, 0, NULL, 0};

	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hVX:", lopts, NULL)) != -1) {
		const struct opt *o;

		if (c == 'h') {
			cli_usage(stdout, role_name);
			return 1;
		}
		if (c == 'V') {
			printf("streamctl %s\n", STREAMCTL_VERSION);
			return 1;
		}
		if (c == '?') {
			if (optopt)
				return sc_error_set(err, SC_EINVAL, "%s: unknown option '-%c'",
						    role_name, optopt);
			return sc_error_set(err, SC_EINVAL, "%s: unknown option '%s'", role_name,
					    argv[optind - 1]);
		}
		if (c == ':')
			return sc_error_set(err, SC_EINVAL, "%s: option '%s' needs a value",
					    role_name, argv[optind - 1]);
		if (c >= 2000) {
			if (!(cfg->role & R_TRANSPORT))
				return sc_error_set(err, SC_EINVAL,
						    "%s: option '--%s' does not apply here",
						    role_name, bf[c - 2000].name);
			bf[c - 2000].value = optarg ? optarg : "true";
			continue;
		}
		if (c == 'X') {
			o = NULL;
			for (size_t i = 0; i < NOPTS; i++)
				if (opts[i].type == T_PROP)
					o = &opts[i];
		} else {
			o = &opts[c - 1000];
		}
		if (!(o->roles & cfg->role))
			return sc_error_set(err, SC_EINVAL, "%s: option '--%s' does not apply here",
					    role_name, o->name);
		snprintf(flag, sizeof(flag), o->type == T_PROP ? "-%s" : "--%s", o->name);
		rc = parse_value(o, o->type == T_FLAG ? "true" : optarg, flag, cfg, err);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return sc_error_set(err, SC_EINVAL, "%s: unexpected argument '%s'", role_name,
				    argv[optind]);
	rc = check_choices(cfg, err);
	if (!rc && (cfg->role & R_TRANSPORT))
		rc = apply_backend_opts(envp, cfg, bf, nbf, nenv, err);
	if (rc)
		return rc;
	if (cfg->print_config) {
		cli_print_config(stdout, cfg);
		return 1;
	}
	return 0;
}

/* ---- help and printing ------------------------------------------------ */

void cli_usage(FILE *out, const char *role)
{
	enum sc_role r = SC_ROLE_NONE;

	if (role && !role_of(role, &r)) {
		fprintf(out, "streamctl: unknown role '%s'\n", role);
		role = NULL;
	}
	if (!role) {
		fprintf(out, "usage: streamctl <role> [options]\n"
			     "\n"
			     "A streaming pipeline: generate -> process -> sink, over a broker or "
			     "a pipe.\n"
			     "\n"
			     "roles:\n");
		for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
			fprintf(out, "  %-10s %s\n", roles[i].name, roles[i].summary);
		fprintf(out, "\ntransports:\n");
		for (size_t b = 0; transport_backends[b]; b++)
			fprintf(out, "  %-10s %s\n", transport_backends[b]->name,
				transport_backends[b]->summary);
		fprintf(out, "\n"
			     "example:\n"
			     "  streamctl generate --source=cpu --count=1000 --rate=0 \\\n"
			     "    | streamctl process | streamctl sink --db=out.db\n"
			     "  streamctl verify --db=out.db --expect=1000\n"
			     "\n"
			     "'streamctl <role> --help' lists a role's options; every option can "
			     "also be\n"
			     "set as STREAMCTL_<OPTION> (e.g. STREAMCTL_BROKER); flags win.\n");
		return;
	}
	fprintf(out, "usage: streamctl %s [options]\n\noptions:\n", role);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char lhs[64], env[64];

		if (!(o->roles & r))
			continue;
		if (o->env_only)
			snprintf(lhs, sizeof(lhs), "(no flag)");
		else if (o->type == T_PROP)
			snprintf(lhs, sizeof(lhs), "-X %s", o->metavar);
		else if (o->type == T_FLAG)
			snprintf(lhs, sizeof(lhs), "--%s", o->name);
		else
			snprintf(lhs, sizeof(lhs), "--%s=%s", o->name, o->metavar);
		env_name(o, env, sizeof(env));
		fprintf(out, "  %-28s %s", lhs, o->help);
		if (o->def && o->type != T_FLAG && !o->secret)
			fprintf(out, " [%s]", o->def);
		fprintf(out, "\n  %-28s env %s\n", "", env);
	}
	fprintf(out, "  %-28s %s\n", "--help", "this help");
	if (!(r & R_TRANSPORT))
		return;
	for (size_t b = 0; transport_backends[b]; b++) {
		const struct transport_ops *ops = transport_backends[b];

		if (!ops->opts)
			continue;
		fprintf(out, "\n%s options (-X KEY=VALUE):\n", ops->name);
		for (const struct transport_opt *o = ops->opts; o->key; o++) {
			char lhs[64], env[96];

			if (!strcmp(o->key, "*")) {
				fprintf(out, "  %-28s %s\n", "-X KEY=VALUE", o->help);
				continue;
			}
			snprintf(lhs, sizeof(lhs), "-X %s=%s", o->key,
				 o->type == TRANSPORT_OPT_LONG	 ? "N"
				 : o->type == TRANSPORT_OPT_BOOL ? "BOOL"
								 : "VALUE");
			fprintf(out, "  %-28s %s", lhs, o->help);
			if (o->def)
				fprintf(out, " [%s]", o->def);
			transport_opt_env(ops, o, env, sizeof(env));
			fprintf(out, "\n  %-28s env %s", "", env);
			if (o->flag) {
				char fenv[96];

				env_name_of(o->flag, fenv, sizeof(fenv));
				fprintf(out, "; also --%s%s, env %s", o->flag,
					o->type == TRANSPORT_OPT_BOOL	? "[=BOOL]"
					: o->type == TRANSPORT_OPT_LONG ? "=N"
									: "=VALUE",
					fenv);
			}
			fputc('\n', out);
		}
	}
}

/* The selected backend's own options: as given by -X, else the default. */
static void print_backend_config(FILE *out, const struct sc_config *cfg)
{
	const struct transport_ops *ops = transport_find(cfg->transport, NULL);
	char env[96];

	for (const struct transport_opt *o = ops ? ops->opts : NULL; o && o->key; o++) {
		const char *v = o->def;

		if (!strcmp(o->key, "*"))
			continue;
		for (size_t k = 0; k < cfg->nprops; k++)
			if (!strcmp(cfg->props[k].key, o->key))
				v = cfg->props[k].value;
		transport_opt_env(ops, o, env, sizeof(env));
		fprintf(out, "%s=%s\n", env, v ? v : "");
	}
}

void cli_print_config(FILE *out, const struct sc_config *cfg)
{
	char env[64];

	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		const void *src = (const char *)cfg + o->off;

		if (!(o->roles & cfg->role) || o->type == T_FLAG)
			continue;
		env_name(o, env, sizeof(env));
		switch (o->type) {
		case T_STR: {
			const char *v = *(const char *const *)src;
			char red[512];
			if (v && *v && o->secret) {
				if (strstr(v, "://"))
					sc_uri_redact(v, red, sizeof(red));
				else
					sc_strlcpy(red, "***", sizeof(red));
				v = red;
			}
			fprintf(out, "%s=%s\n", env, v ? v : "");
			break;
		}
		case T_LONG: fprintf(out, "%s=%ld\n", env, *(const long *)src); break;
		case T_LLONG: fprintf(out, "%s=%lld\n", env, *(const long long *)src); break;
		case T_DOUBLE: fprintf(out, "%s=%g\n", env, *(const double *)src); break;
		case T_BOOL:
			fprintf(out, "%s=%s\n", env, *(const bool *)src ? "true" : "false");
			break;
		case T_PROP:
			fprintf(out, "%s=", env);
			for (size_t k = 0; k < cfg->nprops; k++) {
				bool secret = strstr(cfg->props[k].key, "password") ||
					      strstr(cfg->props[k].key, "secret");
				fprintf(out, "%s%s=%s", k ? ";" : "", cfg->props[k].key,
					secret ? "***" : cfg->props[k].value);
			}
			fputc('\n', out);
			break;
		case T_FLAG: break;
		}
	}
	if (cfg->role & R_TRANSPORT)
		print_backend_config(out, cfg);
}

void cli_print_env_names(FILE *out)
{
	struct bflag bf[MAX_BFLAGS];
	size_t nbf = bflags_collect(bf);
	char env[96];

	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].type == T_FLAG)
			continue;
		env_name(&opts[i], env, sizeof(env));
		fprintf(out, "%s\n", env);
	}
	for (size_t b = 0; transport_backends[b]; b++)
		for (const struct transport_opt *o = transport_backends[b]->opts; o && o->key;
		     o++) {
			char benv[96];

			if (!strcmp(o->key, "*"))
				continue;
			transport_opt_env(transport_backends[b], o, benv, sizeof(benv));
			fprintf(out, "%s\n", benv);
		}
	for (size_t j = 0; j < nbf; j++) {
		env_name_of(bf[j].name, env, sizeof(env));
		fprintf(out, "%s\n", env);
	}
}
