/* moat: argv dispatch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cmd.h"
#include "util.h"

struct command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*summary;
	const char	*usage;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run an agent in a sandboxed container",
	  "usage: moat run [flags] [PATH] [-- CMD...]\n"
	  "\n"
	  "Runs the agent described by PATH/agent.yaml (default .) in a\n"
	  "container whose only way out is moat's credential-injecting proxy.\n"
	  "\n"
	  "  -g, --grant NAME        hand credential NAME to the proxy "
	  "(repeatable)\n"
	  "  -e KEY=VAL              set an environment variable in the "
	  "container\n"
	  "      --image IMAGE       container image (default moat-agent)\n"
	  "      --name NAME         run name\n"
	  "      --runtime RT        docker, podman, apple or auto\n"
	  "      --no-sandbox        run without gVisor (reduced isolation)\n"
	  "  -i, --interactive       attach stdin (and a TTY when on one)\n"
	  "      --keep              keep the container after it exits\n"
	  "      --resolve H:P:ADDR  resolve H:P to ADDR (also allows it)\n"
	  "      --upstream-ca FILE  extra roots for upstream TLS\n"
	  "  -v, --verbose           more output\n" },
	{ "proxy", cmd_proxy, "run the proxy alone, without a container",
	  "usage: moat proxy [--listen ADDR:PORT] [--config agent.yaml]\n"
	  "                  [--grant NAME]... [--resolve HOST:PORT:ADDR]...\n"
	  "                  [--upstream-ca FILE] [--ca-dir DIR] "
	  "[--log FILE]\n"
	  "                  [--credential NAME:HOSTPATTERN:HEADER:PREFIX]...\n"
	  "                  [--limit NAME=N]... [-v]\n"
	  "\n"
	  "Runs the proxy without a container (default 127.0.0.1:0) and\n"
	  "prints HTTP_PROXY=, HTTPS_PROXY= and MOAT_CA= once listening.\n"
	  "\n"
	  "  --listen ADDR:PORT    where to listen (port 0: ephemeral)\n"
	  "  --config FILE         apply an agent.yaml's network section\n"
	  "  --grant NAME          inject stored credential NAME "
	  "(repeatable)\n"
	  "  --resolve H:P:ADDR    resolve H:P to ADDR (also allows it)\n"
	  "  --upstream-ca FILE    extra roots for upstream TLS\n"
	  "  --ca-dir DIR          persist the CA in DIR (ca.crt, ca.key)\n"
	  "  --log FILE            request log, one JSON object per line\n"
	  "  --credential NAME:PAT[,PAT...]:HEADER:PREFIX\n"
	  "                        a test credential; the secret is read from\n"
	  "                        $MOAT_SECRET_<NAME>; PREFIX basic=USER for\n"
	  "                        Basic auth\n"
	  "  --limit NAME=N        header-bytes, header-count, uri-bytes,\n"
	  "                        header-timeout-ms, idle-timeout-ms,\n"
	  "                        connect-timeout-ms, upstream-timeout-ms,\n"
	  "                        tunnel-idle-timeout-ms, max-connections,\n"
	  "                        grace-ms\n"
	  "  -v, --verbose         one summary line per connection on stderr\n"
	  },
	{ "config", cmd_config, "validate agent.yaml and print the effective "
	  "configuration",
	  "usage: moat config [PATH]\n"
	  "\n"
	  "Validates PATH/agent.yaml (default .) and prints the effective\n"
	  "configuration with defaults filled in, or every error found.\n"
	  "Exit status 0 when valid, 2 otherwise.\n" },
	{ "status", cmd_status, "show container runtimes and active runs",
	  "usage: moat status [--json]\n" },
	{ "grant", cmd_grant, "store a credential for later runs",
	  "usage: moat grant <provider>\n"
	  "       moat grant <name> --host PATTERN [--host PATTERN]...\n"
	  "                  [--header NAME] [--prefix STR | --basic-user USER]\n"
	  "                  [--from-env VAR]\n"
	  "       moat grant list [--json]\n"
	  "       moat grant show NAME\n" },
	{ "revoke", cmd_revoke, "remove a stored credential",
	  "usage: moat revoke NAME\n" },
	{ "list", cmd_list, "list runs", "usage: moat list [--json]\n" },
	{ "logs", cmd_logs, "print a run's agent output",
	  "usage: moat logs RUN\n" },
	{ "trace", cmd_trace, "print a run's network requests",
	  "usage: moat trace --network RUN\n" },
	{ "clean", cmd_clean, "remove what stopped or killed runs left behind",
	  "usage: moat clean\n" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

const char *
cmd_usage(const char *name)
{
	const struct command *c = find_command(name);

	return c ? c->usage : NULL;
}

int
cmd_not_available(const char *name)
{
	log_errx("%s is not available yet", name);
	return EXIT_USAGE;
}

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp,
	    "moat - run AI coding agents with credentials they never see\n"
	    "\n"
	    "usage: moat <command> [flags]\n"
	    "       moat run ./project\n"
	    "\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-8s %s\n", commands[i].name,
		    commands[i].summary);
	fprintf(fp,
	    "  %-8s %s\n"
	    "\n"
	    "  -h, --help     this help\n"
	    "  -V, --version  print the version\n"
	    "\n"
	    "Run 'moat help <command>' for a command's flags.\n",
	    "help", "show help for a command");
}

static int
help(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if ((c = find_command(argv[1])) == NULL) {
		log_errx("unknown command \"%s\"; run 'moat --help'", argv[1]);
		return EXIT_USAGE;
	}
	fputs(c->usage, stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command	*c;
	int			 ch;

	if (sodium_init() < 0) {
		log_errx("libsodium failed to initialise");
		return 1;
	}
	/* Options before the subcommand only; the rest belongs to it. */
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("moat %s\n", MOAT_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0)
		return help(argc, argv);
	if ((c = find_command(argv[0])) == NULL) {
		log_errx("unknown command \"%s\"; run 'moat --help'", argv[0]);
		return EXIT_USAGE;
	}
	optind = 0;	/* glibc: full reinitialisation for the subcommand */
	return c->fn(argc, argv);
}
