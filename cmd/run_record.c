/* Run records: <moat home>/runs/<id>/metadata.json and friends. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "json.h"
#include "run_record.h"
#include "util.h"

#define METADATA_MAX	(256u * 1024)
#define RUNS_MAX	100000

void
run_id_new(char *buf, size_t len)
{
	unsigned char	rnd[3];
	struct tm	tm;
	time_t		now = time(NULL);

	randombytes_buf(rnd, sizeof(rnd));
	gmtime_r(&now, &tm);
	snprintf(buf, len, "run-%04d%02d%02d-%02d%02d%02d-%02x%02x%02x",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

int
run_id_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 5 || n >= RUN_ID_MAX || strncmp(s, "run-", 4) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

unsigned long long
run_pid_start(long pid)
{
	char			 path[64], *data = NULL, *p;
	size_t			 len;
	unsigned long long	 v = 0;
	int			 field;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (util_read_file(path, 4096, &data, &len) == -1)
		return 0;
	/* comm may hold spaces and parentheses: fields start after ")". */
	if ((p = strrchr(data, ')')) == NULL)
		goto out;
	/* Field 3 is the state right after ") "; starttime is field 22. */
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoull(p + 1, NULL, 10);
 out:
	free(data);
	return v;
}

static const char *
state_name(enum run_state s)
{
	switch (s) {
	case RUN_RUNNING:
		return "running";
	case RUN_EXITED:
		return "exited";
	default:
		return "killed";
	}
}

static void
put_kv_str(FILE *fp, const char *key, const char *val, int last)
{
	fprintf(fp, "  \"%s\": ", key);
	if (val == NULL)
		fputs("null", fp);
	else
		json_write_str(fp, val);
	fputs(last ? "\n" : ",\n", fp);
}

void
run_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
put_time(FILE *fp, const char *key, time_t t)
{
	char buf[32];

	if (t == 0) {
		fprintf(fp, "  \"%s\": null,\n", key);
		return;
	}
	run_fmt_time(t, buf, sizeof(buf));
	fprintf(fp, "  \"%s\": \"%s\",\n  \"%s_unix\": %lld,\n", key, buf,
	    key, (long long)t);
}

int
run_record_save(const struct run_record *r, char *err, size_t errlen)
{
	char	*buf = NULL, *path;
	size_t	 len = 0, i;
	FILE	*fp;
	int	 ret;

	if ((fp = open_memstream(&buf, &len)) == NULL) {
		util_errf(err, errlen, "open_memstream: %s", strerror(errno));
		return -1;
	}
	fputs("{\n", fp);
	put_kv_str(fp, "id", r->id, 0);
	put_kv_str(fp, "name", r->name, 0);
	put_kv_str(fp, "project", r->project, 0);
	put_kv_str(fp, "image", r->image, 0);
	put_kv_str(fp, "runtime", r->runtime, 0);
	put_kv_str(fp, "sandbox", r->sandbox, 0);
	put_kv_str(fp, "container", r->container, 0);
	put_kv_str(fp, "network", r->network, 0);
	fputs("  \"grants\": [", fp);
	for (i = 0; i < r->grants.n; i++) {
		if (i)
			fputs(", ", fp);
		json_write_str(fp, r->grants.v[i]);
	}
	fputs("],\n", fp);
	fprintf(fp, "  \"pid\": %ld,\n  \"pid_start\": %llu,\n", r->pid,
	    r->pid_start);
	put_time(fp, "start", r->start);
	put_time(fp, "end", r->end);
	put_kv_str(fp, "state", state_name(r->state), 0);
	if (r->state == RUN_EXITED && r->exit_status >= 0)
		fprintf(fp, "  \"exit_status\": %d\n}\n", r->exit_status);
	else
		fputs("  \"exit_status\": null\n}\n", fp);
	if (fclose(fp) != 0) {
		free(buf);
		util_errf(err, errlen, "metadata: %s", strerror(errno));
		return -1;
	}
	path = xasprintf("%s/metadata.json", r->dir);
	ret = util_write_atomic(path, buf, len, 0600, err, errlen);
	free(path);
	free(buf);
	return ret;
}

int
run_record_create(struct run_record *r, const char *home, char *err,
    size_t errlen)
{
	char runs[PATH_MAX];

	if (!run_id_valid(r->id)) {
		util_errf(err, errlen, "invalid run id \"%s\"", r->id);
		return -1;
	}
	snprintf(runs, sizeof(runs), "%s/runs", home);
	if (util_mkdir_p(runs, 0700) == -1) {
		util_errf(err, errlen, "cannot create %s: %s", runs,
		    strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(r->dir, sizeof(r->dir), "%s/%s", runs, r->id) >=
	    sizeof(r->dir)) {
		util_errf(err, errlen, "%s: path too long", runs);
		return -1;
	}
	if (mkdir(r->dir, 0700) == -1) {
		util_errf(err, errlen, "cannot create %s: %s", r->dir,
		    strerror(errno));
		return -1;
	}
	r->pid = (long)getpid();
	r->pid_start = run_pid_start(r->pid);
	r->start = time(NULL);
	r->end = 0;
	r->state = RUN_RUNNING;
	r->exit_status = -1;
	return run_record_save(r, err, errlen);
}

int
run_record_finish(struct run_record *r, int status, char *err,
    size_t errlen)
{
	r->end = time(NULL);
	r->state = RUN_EXITED;
	r->exit_status = status;
	return run_record_save(r, err, errlen);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int
run_record_load(const char *dir, struct run_record *r, char *err,
    size_t errlen)
{
	char			*path, *data = NULL, jerr[128];
	const char		*id, *state;
	const struct json	*g;
	struct json		*j = NULL;
	size_t			 len, i;
	int			 ret = -1;

	memset(r, 0, sizeof(*r));
	r->exit_status = -1;
	path = xasprintf("%s/metadata.json", dir);
	if (util_read_file(path, METADATA_MAX, &data, &len) == -1) {
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((j = json_parse(data, len, jerr, sizeof(jerr))) == NULL ||
	    j->type != JSON_OBJECT) {
		util_errf(err, errlen, "%s: not valid JSON (%s)", path,
		    j ? "not an object" : jerr);
		goto out;
	}
	if ((id = json_get_str(j, "id")) == NULL || !run_id_valid(id)) {
		util_errf(err, errlen, "%s: missing or invalid \"id\"", path);
		goto out;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	r->name = dup_or_null(json_get_str(j, "name"));
	r->project = dup_or_null(json_get_str(j, "project"));
	r->image = dup_or_null(json_get_str(j, "image"));
	r->runtime = dup_or_null(json_get_str(j, "runtime"));
	r->sandbox = dup_or_null(json_get_str(j, "sandbox"));
	r->container = dup_or_null(json_get_str(j, "container"));
	r->network = dup_or_null(json_get_str(j, "network"));
	if ((g = json_get(j, "grants")) != NULL && g->type == JSON_ARRAY)
		for (i = 0; i < g->n; i++)
			if (g->items[i]->type == JSON_STRING)
				strvec_push(&r->grants, g->items[i]->str);
	r->pid = (long)json_get_num(j, "pid", 0);
	r->pid_start = (unsigned long long)json_get_num(j, "pid_start", 0);
	r->start = (time_t)json_get_num(j, "start_unix", 0);
	r->end = (time_t)json_get_num(j, "end_unix", 0);
	r->exit_status = (int)json_get_num(j, "exit_status", -1);
	state = json_get_str(j, "state");
	if (state != NULL && strcmp(state, "exited") == 0)
		r->state = RUN_EXITED;
	else if (state != NULL && strcmp(state, "killed") == 0)
		r->state = RUN_KILLED;
	else
		r->state = RUN_RUNNING;
	ret = 0;
 out:
	if (ret == -1)
		run_record_clear(r);
	json_free(j);
	free(data);
	free(path);
	return ret;
}

void
run_record_clear(struct run_record *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->project);
	free(r->image);
	free(r->runtime);
	free(r->sandbox);
	free(r->container);
	free(r->network);
	strvec_free(&r->grants);
	r->name = r->project = r->image = r->runtime = r->sandbox = NULL;
	r->container = r->network = NULL;
}

int
run_record_alive(const struct run_record *r)
{
	unsigned long long st;

	if (r->state != RUN_RUNNING || r->pid <= 0)
		return 0;
	if ((st = run_pid_start(r->pid)) != 0)
		return r->pid_start == 0 || st == r->pid_start;
	/* No /proc (not Linux): fall back to whether the pid exists. */
	return kill((pid_t)r->pid, 0) == 0 || errno == EPERM;
}

static int
cmp_start(const void *a, const void *b)
{
	const struct run_record *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return strcmp(x->id, y->id);
}

int
run_records_list(const char *home, struct run_record **out, size_t *n,
    char *err, size_t errlen)
{
	char		 runs[PATH_MAX], dir[PATH_MAX + 256], lerr[256];
	struct run_record *v = NULL;
	struct dirent	*de;
	size_t		 cnt = 0;
	DIR		*d;

	*out = NULL;
	*n = 0;
	snprintf(runs, sizeof(runs), "%s/runs", home);
	if ((d = opendir(runs)) == NULL) {
		if (errno == ENOENT)
			return 0;
		util_errf(err, errlen, "%s: %s", runs, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && cnt < RUNS_MAX) {
		if (!run_id_valid(de->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", runs, de->d_name);
		v = xrealloc(v, (cnt + 1) * sizeof(*v));
		if (run_record_load(dir, &v[cnt], lerr, sizeof(lerr)) == -1) {
			log_debug("skipping %s", lerr);
			continue;
		}
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_start);
	*out = v;
	*n = cnt;
	return 0;
}

void
run_records_free(struct run_record *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		run_record_clear(&v[i]);
	free(v);
}

int
run_record_find(const char *home, const char *what, struct run_record *r,
    char *err, size_t errlen)
{
	struct run_record	*v;
	size_t			 n, i, plen = strlen(what);
	ssize_t			 hit = -1;
	int			 nhit = 0;

	if (run_records_list(home, &v, &n, err, errlen) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].id, what) == 0) {
			hit = (ssize_t)i;
			nhit = 1;
			goto found;
		}
	for (i = 0; i < n; i++)
		if (plen > 0 && strncmp(v[i].id, what, plen) == 0) {
			hit = (ssize_t)i;
			nhit++;
		}
	if (nhit > 1) {
		util_errf(err, errlen, "\"%s\" matches %d runs; give more of "
		    "the id (see moat list)", what, nhit);
		goto fail;
	}
	if (nhit == 0)
		for (i = 0; i < n; i++)	/* newest with that name wins */
			if (v[i].name && strcmp(v[i].name, what) == 0) {
				hit = (ssize_t)i;
				nhit = 1;
			}
	if (nhit == 0) {
		util_errf(err, errlen, "no run \"%s\" (see moat list)", what);
		goto fail;
	}
 found:
	*r = v[hit];
	memset(&v[hit], 0, sizeof(v[hit]));
	run_records_free(v, n);
	return 0;
 fail:
	run_records_free(v, n);
	return -1;
}
