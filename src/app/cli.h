/*
 * cli.h - command line, environment and help.
 *
 * cli_parse() returns 0 when the role should run, 1 when it printed what was
 * asked (--help, --version, --print-config) and the program should exit 0,
 * or a negative SC_E* code with a one-line message in err (exit 64).
 */
#ifndef SC_CLI_H
#define SC_CLI_H

#include <stdio.h>

struct sc_config;
struct sc_error;

#define STREAMCTL_VERSION "0.1.0"

int cli_parse(int argc, char **argv, char **envp, struct sc_config *cfg, struct sc_error *err);
void cli_usage(FILE *out, const char *role);
/* Print the effective configuration as STREAMCTL_*=value lines (secrets redacted). */
void cli_print_config(FILE *out, const struct sc_config *cfg);
/* Every STREAMCTL_* variable name streamctl understands, one per line. */
void cli_print_env_names(FILE *out);

#endif /* SC_CLI_H */
