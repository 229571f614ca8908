/* moat config [PATH]: validate PATH/agent.yaml, print the effective one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "config.h"
#include "util.h"

#define CONFIG_ERRLEN	(64 * 1024)

int
cmd_config(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config	*cfg;
	const char	*dir = ".";
	char		*err;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			fputs(cmd_usage("config"), stdout);
			return 0;
		default:
			fputs(cmd_usage("config"), stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1) {
		log_errx("config takes one PATH, got %d arguments", argc);
		fputs(cmd_usage("config"), stderr);
		return EXIT_USAGE;
	}
	if (argc == 1)
		dir = argv[0];
	err = xmalloc(CONFIG_ERRLEN);
	if ((cfg = config_load(dir, err, CONFIG_ERRLEN)) == NULL) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return EXIT_USAGE;
	}
	free(err);
	config_print(cfg, stdout);
	config_free(cfg);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_err("stdout");
		return 1;
	}
	return 0;
}
