/*
 * cmd: argv and subcommands; the composition root.  Each subcommand is
 * int cmd_X(int argc, char **argv) with argv[0] the subcommand's name, and
 * returns the process exit status: 0 ok, 1 runtime failure, 2 usage or
 * configuration error (moat run: the agent's status).
 */
#ifndef MOAT_CMD_H
#define MOAT_CMD_H

#include <stddef.h>

#define EXIT_USAGE	2

int	cmd_run(int argc, char **argv);		/* cmd_run.c */
int	cmd_proxy(int argc, char **argv);	/* cmd_proxy.c */
int	cmd_config(int argc, char **argv);	/* cmd_config.c */
int	cmd_status(int argc, char **argv);	/* cmd_status.c */
int	cmd_grant(int argc, char **argv);	/* cmd_grant.c */
int	cmd_revoke(int argc, char **argv);	/* cmd_grant.c */
int	cmd_list(int argc, char **argv);	/* cmd_runs.c */
int	cmd_logs(int argc, char **argv);	/* cmd_runs.c */
int	cmd_trace(int argc, char **argv);	/* cmd_runs.c */
int	cmd_clean(int argc, char **argv);	/* cmd_runs.c */

struct proxy_resolve;

/*
 * Parses --resolve HOST:PORT:ADDR as curl takes it (ADDR a numeric IPv4 or
 * IPv6 address, with or without brackets) into res.  0, or -1 with err
 * naming the flag and the expected form.
 */
int	cmd_parse_resolve(const char *s, struct proxy_resolve *res, char *err,
	    size_t errlen);

/* The help text of one command, or NULL when there is none. */
const char *cmd_usage(const char *name);

/* Prints "moat: <name> is not available yet" and returns EXIT_USAGE. */
int	cmd_not_available(const char *name);

#endif /* MOAT_CMD_H */
