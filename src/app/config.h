/*
 * config.h - the effective configuration of one streamctl run.
 *
 * Filled by cli_parse() from, in increasing priority: built-in defaults,
 * STREAMCTL_* environment variables (STREAMCTL_<OPTION> with dashes as
 * underscores, e.g. STREAMCTL_STATS_INTERVAL), and command-line flags.  A
 * backend's own options (its table in transports/) land in props as -X
 * keys, whichever way they were given.
 * Strings point into argv, the environment or the config's own storage and
 * live as long as the process.
 */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"
#include "transport.h"

enum sc_role {
	SC_ROLE_NONE = 0,
	SC_ROLE_GENERATE = 1u << 0,
	SC_ROLE_PROCESS = 1u << 1,
	SC_ROLE_SINK = 1u << 2,
	SC_ROLE_VERIFY = 1u << 3,
	SC_ROLE_BENCH = 1u << 4,
};

#define SC_MAX_PROPS 64

struct sc_config {
	enum sc_role role;
	const char *role_name;

	/* transport */
	const char *transport;
	const char *broker;
	const char *ns;
	const char *client_id;
	const char *group;
	long max_msg_bytes;
	struct sc_kv props[SC_MAX_PROPS];
	size_t nprops;
	const char *broker_password; /* STREAMCTL_BROKER_PASSWORD only, never a flag */
	const char *password_file;

	/* encoding and reporting */
	const char *codec;
	const char *stats_path; /* NULL: stderr */
	double stats_interval;	/* seconds, 0: off */
	const char *progress;	/* auto|always|never */
	const char *metrics;	/* ADDR:PORT or NULL */

	/* generate */
	const char *source; /* cpu|sensor|http */
	long long count;    /* -1: unbounded */
	double duration;    /* seconds, 0: unbounded */
	double rate;	    /* Hz, 0: as fast as possible; < 0: default per source */
	double tick_ms;	    /* pacing wake-ups at most this often (role_generate.c) */
	const char *source_id;
	const char *device_id;
	long long seed;
	const char *listen;

	/* process / sink */
	double idle_exit; /* seconds, 0: never */
	long batch;
	long batch_ms;
	const char *input; /* raw|sensorlogger */
	const char *topic; /* external topic for --input=sensorlogger */
	long cpu_window;
	double z_threshold;
	long activity_window;

	/* sink / verify */
	const char *db;
	const char *csv;
	long long expect; /* -1: no tail check */
	long sources;	  /* 0: any number */

	bool print_config;
};

#endif /* SC_CONFIG_H */
