/*
 * libFuzzer driver for the agent.yaml loader.  Invariants checked on every
 * input:
 * - refused: the error is non-empty and every line names the file
 *   ("agent.yaml:..." or "agent.yaml: ...");
 * - accepted: config_print's output loads again, and prints the same.
 * Without MOAT_FUZZ it links with replay_main.c and replays the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define NAME	"agent.yaml"
#define PROJECT	"/fuzz/project"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char err[64 * 1024];

static char *
print_str(const struct config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	config_print(cfg, fp);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

static void
check_error(void)
{
	const char *line = err;

	if (*err == '\0') {
		fprintf(stderr, "refused without an error\n");
		abort();
	}
	while (line != NULL) {
		if (strncmp(line, NAME, strlen(NAME)) != 0 ||
		    line[strlen(NAME)] != ':') {
			fprintf(stderr, "error line without the file name: "
			    "%.200s\n", line);
			abort();
		}
		if ((line = strchr(line, '\n')) != NULL)
			line++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg, *again;
	char		*p1, *p2;

	err[0] = '\0';
	cfg = config_load_buffer((const char *)data, size, NAME, PROJECT, err,
	    sizeof(err));
	if (cfg == NULL) {
		check_error();
		return 0;
	}
	p1 = print_str(cfg);
	again = config_load_buffer(p1, strlen(p1), NAME, PROJECT, err,
	    sizeof(err));
	if (again == NULL) {
		fprintf(stderr, "printed config does not load: %s\n---\n%s",
		    err, p1);
		abort();
	}
	p2 = print_str(again);
	if (strcmp(p1, p2) != 0) {
		fprintf(stderr, "print differs after reload:\n%s---\n%s", p1,
		    p2);
		abort();
	}
	free(p1);
	free(p2);
	config_free(again);
	config_free(cfg);
	return 0;
}
