/*
 * Replays fuzz inputs without libFuzzer: every regular file in each
 * directory (or each file) named on the command line goes through
 * LLVMFuzzerTestOneInput once.  A driver that crashes fails the test; an
 * empty corpus fails too, so a missing corpus cannot pass unnoticed.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX	(16u << 20)

static int
replay_file(const char *path)
{
	FILE	*fp;
	uint8_t	*buf;
	size_t	 n;

	if ((fp = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	if ((buf = malloc(REPLAY_MAX)) == NULL) {
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX, fp);
	fclose(fp);
	/* an exact-size copy, so that ASan sees reads past the end */
	{
		uint8_t *exact = malloc(n ? n : 1);

		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, n);
		free(buf);
		printf("replay %s (%zu bytes)\n", path, n);
		fflush(stdout);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		 path[4096];
	int		 i, count = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) == -1)
				return 1;
			count++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(d)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    de->d_name);
			if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
				continue;
			if (replay_file(path) == -1) {
				closedir(d);
				return 1;
			}
			count++;
		}
		closedir(d);
	}
	printf("%d inputs replayed\n", count);
	return count > 0 ? 0 : 1;
}
