/* moat list, logs, trace, clean: the run records under ~/.moat/runs */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
#include "run_record.h"
#include "run_clean.h"
#include "util.h"

#define TRACE_LINE_MAX	(64u * 1024)

static int
usage_err(const char *cmd)
{
	fputs(cmd_usage(cmd), stderr);
	return EXIT_USAGE;
}

/* A record's state as the user should see it: dead RUNNING is killed. */
static const char *
shown_state(const struct run_record *r)
{
	if (r->state == RUN_EXITED)
		return "exited";
	if (r->state == RUN_RUNNING && run_record_alive(r))
		return "running";
	return "killed";
}

static void
list_json(const struct run_record *v, size_t n)
{
	char	tb[32], te[32];
	size_t	i, k;

	fputs("[", stdout);
	for (i = 0; i < n; i++) {
		run_fmt_time(v[i].start, tb, sizeof(tb));
		run_fmt_time(v[i].end, te, sizeof(te));
		fputs(i ? ",\n {" : "\n {", stdout);
		fputs("\"id\": ", stdout);
		json_write_str(stdout, v[i].id);
		fputs(", \"name\": ", stdout);
		json_write_str(stdout, v[i].name ? v[i].name : "");
		fputs(", \"project\": ", stdout);
		json_write_str(stdout, v[i].project ? v[i].project : "");
		fputs(", \"image\": ", stdout);
		json_write_str(stdout, v[i].image ? v[i].image : "");
		fputs(", \"runtime\": ", stdout);
		json_write_str(stdout, v[i].runtime ? v[i].runtime : "");
		fputs(", \"sandbox\": ", stdout);
		json_write_str(stdout, v[i].sandbox ? v[i].sandbox : "");
		fputs(", \"grants\": [", stdout);
		for (k = 0; k < v[i].grants.n; k++) {
			if (k)
				fputs(", ", stdout);
			json_write_str(stdout, v[i].grants.v[k]);
		}
		printf("], \"state\": \"%s\", \"start\": \"%s\", ",
		    shown_state(&v[i]), tb);
		if (v[i].end)
			printf("\"end\": \"%s\", ", te);
		else
			fputs("\"end\": null, ", stdout);
		if (v[i].state == RUN_EXITED && v[i].exit_status >= 0)
			printf("\"exit_status\": %d}", v[i].exit_status);
		else
			fputs("\"exit_status\": null}", stdout);
	}
	fputs(n ? "\n]\n" : "]\n", stdout);
}

static void
list_table(const struct run_record *v, size_t n)
{
	char	tb[32], ex[16];
	size_t	i;

	if (n == 0) {
		printf("no runs\n");
		return;
	}
	printf("%-27s %-16s %-8s %-4s %-20s %s\n", "ID", "NAME", "STATE",
	    "EXIT", "STARTED", "SANDBOX");
	for (i = 0; i < n; i++) {
		run_fmt_time(v[i].start, tb, sizeof(tb));
		if (v[i].state == RUN_EXITED && v[i].exit_status >= 0)
			snprintf(ex, sizeof(ex), "%d", v[i].exit_status);
		else
			snprintf(ex, sizeof(ex), "-");
		printf("%-27s %-16.16s %-8s %-4s %-20s %s\n", v[i].id,
		    v[i].name ? v[i].name : "-", shown_state(&v[i]), ex, tb,
		    v[i].sandbox ? v[i].sandbox : "-");
	}
}

int
cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_record	*v;
	char			 home[PATH_MAX], err[512];
	size_t			 n;
	int			 ch, json = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'j')
			return usage_err("list");
		json = 1;
	}
	if (optind != argc)
		return usage_err("list");
	if (util_moat_home(home, sizeof(home), err, sizeof(err)) == -1 ||
	    run_records_list(home, &v, &n, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	if (json)
		list_json(v, n);
	else
		list_table(v, n);
	run_records_free(v, n);
	return 0;
}

/* Copies path to stdout.  0 or -1 (logged). */
static int
cat_file(const char *path)
{
	char	buf[16384];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_err("%s", path);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("%s", path);
			close(fd);
			return -1;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	}
	close(fd);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* Finds the run named by the only operand. 0 or exit status. */
static int
find_operand(int argc, char **argv, const char *cmd, struct run_record *r)
{
	char home[PATH_MAX], err[512];

	if (optind + 1 != argc)
		return usage_err(cmd);
	if (util_moat_home(home, sizeof(home), err, sizeof(err)) == -1 ||
	    run_record_find(home, argv[optind], r, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	return 0;
}

int
cmd_logs(int argc, char **argv)
{
	struct run_record	r;
	char			path[PATH_MAX + 16];
	int			ret;

	while (getopt_long(argc, argv, "", NULL, NULL) != -1)
		return usage_err("logs");
	if ((ret = find_operand(argc, argv, "logs", &r)) != 0)
		return ret;
	snprintf(path, sizeof(path), "%s/logs.txt", r.dir);
	ret = access(path, F_OK) == 0 ? (cat_file(path) == 0 ? 0 : 1) : 0;
	run_record_clear(&r);
	return ret;
}

static const char *
str_or(const struct json *j, const char *key, const char *alt,
    const char *def)
{
	const char *s = json_get_str(j, key);

	if (s == NULL && alt != NULL)
		s = json_get_str(j, alt);
	return s ? s : def;
}

static long long
num_or(const struct json *j, const char *key, const char *alt)
{
	const struct json *v = json_get(j, key);

	if ((v == NULL || v->type != JSON_NUMBER) && alt != NULL)
		v = json_get(j, alt);
	return v && v->type == JSON_NUMBER ? (long long)v->num : -1;
}

/* One request of network.jsonl as one line of text. */
static void
trace_line(const struct json *j)
{
	const struct json	*inj, *t;
	const char		*scheme;
	char			 tbuf[40], status[24];
	int			 tunnel;
	long long		 port, st, up, down;
	size_t			 i;

	t = json_get(j, "time");
	if (t && t->type == JSON_STRING)
		snprintf(tbuf, sizeof(tbuf), "%s", t->str);
	else if (t && t->type == JSON_NUMBER)
		run_fmt_time((time_t)t->num, tbuf, sizeof(tbuf));
	else
		snprintf(tbuf, sizeof(tbuf), "-");
	port = num_or(j, "port", NULL);
	st = num_or(j, "status", NULL);
	up = num_or(j, "bytes_up", "bytes_out");
	down = num_or(j, "bytes_down", "bytes_in");
	if (st >= 0)
		snprintf(status, sizeof(status), "%lld", st);
	else
		snprintf(status, sizeof(status), "-");
	scheme = str_or(j, "scheme", NULL, "-");
	tunnel = strcmp(scheme, "tunnel") == 0;
	/* A tunnel is CONNECT host:port; a request is a URL. */
	printf("%s %s %s%s%s", tbuf, str_or(j, "method", NULL, "-"),
	    tunnel ? "" : scheme, tunnel ? "" : "://",
	    str_or(j, "host", NULL, "-"));
	if (port > 0)
		printf(":%lld", port);
	printf("%s %s %lld/%lld %s", tunnel ? "" : str_or(j, "path", NULL, ""),
	    status,
	    up < 0 ? 0 : up, down < 0 ? 0 : down,
	    str_or(j, "decision", "policy", "-"));
	inj = json_get(j, "injected");
	if (inj == NULL)
		inj = json_get(j, "injected_headers");
	if (inj && inj->type == JSON_ARRAY && inj->n > 0) {
		fputs(" injected=", stdout);
		for (i = 0; i < inj->n; i++)
			if (inj->items[i]->type == JSON_STRING)
				printf("%s%s", i ? "," : "",
				    inj->items[i]->str);
	}
	if (json_get_str(j, "error") != NULL)
		printf(" error=\"%s\"", json_get_str(j, "error"));
	fputc('\n', stdout);
}

int
cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "network", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_record	 r;
	struct json		*j;
	char			 path[PATH_MAX + 16], *line = NULL, jerr[128];
	size_t			 cap = 0, lineno = 0;
	ssize_t			 len;
	FILE			*fp;
	int			 ch, network = 0, ret;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'n')
			return usage_err("trace");
		network = 1;
	}
	if (!network)
		return usage_err("trace");
	if ((ret = find_operand(argc, argv, "trace", &r)) != 0)
		return ret;
	snprintf(path, sizeof(path), "%s/network.jsonl", r.dir);
	run_record_clear(&r);
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;	/* no request was made */
		log_err("%s", path);
		return 1;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (len <= 1)
			continue;
		if ((size_t)len > TRACE_LINE_MAX ||
		    (j = json_parse(line, (size_t)len, jerr,
		    sizeof(jerr))) == NULL) {
			log_warnx("%s:%zu: skipping a malformed line", path,
			    lineno);
			continue;
		}
		if (j->type == JSON_OBJECT)
			trace_line(j);
		json_free(j);
	}
	free(line);
	fclose(fp);
	return 0;
}

int
cmd_clean(int argc, char **argv)
{
	char	home[PATH_MAX], err[512];
	int	n;

	while (getopt_long(argc, argv, "", NULL, NULL) != -1)
		return usage_err("clean");
	if (optind != argc)
		return usage_err("clean");
	if (util_moat_home(home, sizeof(home), err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	if ((n = run_clean_dead(home, RT_AUTO, 1)) < 0)
		return 1;
	printf("cleaned up %d run%s\n", n, n == 1 ? "" : "s");
	return 0;
}
