/*
 * main.c - streamctl entry point: parse, dispatch to a role, map the
 * outcome to an exit status (sysexits(3)).  Only main() calls exit.
 */
#include "cli.h"
#include "config.h"
#include "error.h"
#include "runtime.h"
#include "sink.h"
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

extern char **environ;

int role_verify(const struct sc_config *cfg, struct sc_error *err)
{
	struct verify_cfg vc = {
		.db_path = cfg->db, .expect = cfg->expect, .sources = cfg->sources, .out = stdout};

	if (access(cfg->db, F_OK) != 0)
		return sc_error_set(err, SC_ENOENT, "no database at '%s'", cfg->db);
	return verify_run(&vc, err);
}

int main(int argc, char **argv)
{
	static struct sc_config cfg;
	struct sc_error err;
	int rc;

	sc_error_clear(&err);
	if (transport_registry_check(&err)) {
		fprintf(stderr, "streamctl: internal error: %s\n", err.msg);
		return EX_SOFTWARE;
	}
	rc = cli_parse(argc, argv, environ, &cfg, &err);
	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "streamctl: %s\n", err.msg);
		fprintf(stderr, "try 'streamctl %s%s--help'\n", cfg.role_name ? cfg.role_name : "",
			cfg.role_name ? " " : "");
		return EX_USAGE;
	}
	runtime_signals();
	switch (cfg.role) {
	case SC_ROLE_GENERATE: rc = role_generate(&cfg, &err); break;
	case SC_ROLE_PROCESS: rc = role_process(&cfg, &err); break;
	case SC_ROLE_SINK: rc = role_sink(&cfg, &err); break;
	case SC_ROLE_VERIFY:
		rc = role_verify(&cfg, &err);
		if (rc == 1)
			return 1;
		break;
	default: rc = sc_error_set(&err, SC_EINVAL, "role not available"); break;
	}
	if (rc < 0) {
		fprintf(stderr, "streamctl %s: %s\n", cfg.role_name, err.msg);
		return sc_exit_code(rc);
	}
	return 0;
}
