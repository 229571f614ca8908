/* Unit tests: util/json.c and cmd/run_record.c. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "json.h"
#include "run_record.h"
#include "util.h"

static char home[PATH_MAX];

static struct json *
parse(const char *s)
{
	char err[128];

	return json_parse(s, strlen(s), err, sizeof(err));
}

static void
test_json_values(void)
{
	struct json		*j;
	const struct json	*a;

	j = parse(" {\"a\": \"x\\\"y\\\\z\\n\", \"n\": -12.5e1, \"t\": true,"
	    " \"f\": false, \"z\": null, \"arr\": [1, \"two\", []],"
	    " \"o\": {\"k\": \"v\"}} ");
	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK_INT(j->type, JSON_OBJECT);
	CHECK_STR(json_get_str(j, "a"), "x\"y\\z\n");
	CHECK(json_get_num(j, "n", 0) == -125.0);
	CHECK_INT(json_get(j, "t")->type, JSON_BOOL);
	CHECK(json_get(j, "t")->num == 1);
	CHECK(json_get(j, "f")->num == 0);
	CHECK_INT(json_get(j, "z")->type, JSON_NULL);
	a = json_get(j, "arr");
	CHECK(a != NULL && a->type == JSON_ARRAY && a->n == 3);
	CHECK_STR(a->items[1]->str, "two");
	CHECK_STR(json_get_str(json_get(j, "o"), "k"), "v");
	CHECK(json_get(j, "missing") == NULL);
	CHECK(json_get_str(j, "n") == NULL);	/* not a string */
	CHECK(json_get_num(j, "a", 42) == 42);	/* not a number */
	json_free(j);

	/* \u escapes, including a surrogate pair, become UTF-8. */
	j = parse("\"\\u00e9\\ud83d\\ude00/\\/\"");
	CHECK(j != NULL && j->type == JSON_STRING);
	if (j)
		CHECK_STR(j->str, "\xc3\xa9\xf0\x9f\x98\x80//");
	json_free(j);
}

static void
test_json_malformed(void)
{
	static const char *bad[] = {
		"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1 2]",
		"\"unterminated", "\"ctl\x01\"", "\"\\x\"", "\"\\u12\"",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\u0000\"", "tru", "nul",
		"1 2", "{} x", "{a:1}", "--1", "1e999",
		"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
	};
	char	err[128];
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json *j = json_parse(bad[i], strlen(bad[i]), err,
		    sizeof(err));
		if (j != NULL)
			printf("  accepted: %s\n", bad[i]);
		CHECK(j == NULL);
		json_free(j);
	}
	/* The depth limit names itself. */
	CHECK(json_parse("[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]", 40, err,
	    sizeof(err)) == NULL);
	CHECK_CONTAINS(err, "nested too deeply");
}

static void
test_json_write(void)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp = open_memstream(&buf, &len);

	json_write_str(fp, "a\"b\\c\n\x01\x7f\xc3\xa9");
	fclose(fp);
	CHECK_STR(buf, "\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\"");
	/* What we write, we read back. */
	{
		struct json *j = parse(buf);
		CHECK(j != NULL && j->type == JSON_STRING);
		if (j)
			CHECK_STR(j->str, "a\"b\\c\n\x01\x7f\xc3\xa9");
		json_free(j);
	}
	free(buf);
}

static void
test_run_id(void)
{
	char	a[RUN_ID_MAX], b[RUN_ID_MAX];
	size_t	i;

	run_id_new(a, sizeof(a));
	run_id_new(b, sizeof(b));
	CHECK(run_id_valid(a));
	CHECK(strcmp(a, b) != 0);
	/* run-YYYYMMDD-HHMMSS-xxxxxx */
	CHECK_INT(strlen(a), 26);
	CHECK(strncmp(a, "run-", 4) == 0 && a[12] == '-' && a[19] == '-');
	for (i = 4; i < strlen(a); i++)
		CHECK((a[i] >= '0' && a[i] <= '9') ||
		    (a[i] >= 'a' && a[i] <= 'f') || a[i] == '-');
	CHECK(!run_id_valid("run-../../etc"));
	CHECK(!run_id_valid("run-ABC"));
	CHECK(!run_id_valid("run-"));
	CHECK(!run_id_valid("xyz-1"));
	CHECK(!run_id_valid("run-a/b"));
}

static void
make_record(struct run_record *r, const char *id, const char *name,
    time_t start)
{
	char err[256];

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->name = xstrdup(name);
	r->project = xstrdup("/tmp/pro\"ject");
	r->image = xstrdup("moat-agent:latest");
	r->runtime = xstrdup("docker");
	r->sandbox = xstrdup("docker+gvisor");
	r->container = xasprintf("moat-%s", id);
	strvec_push(&r->grants, "github");
	strvec_push(&r->grants, "my-api");
	CHECK_INT(run_record_create(r, home, err, sizeof(err)), 0);
	if (start) {
		r->start = start;
		CHECK_INT(run_record_save(r, err, sizeof(err)), 0);
	}
}

static void
test_record_roundtrip(void)
{
	struct run_record	 r, l;
	struct stat		 st;
	char			 err[256], path[PATH_MAX + 32], *data;
	size_t			 len;

	make_record(&r, "run-20260101-000000-aaaaaa", "demo", 0);
	CHECK(stat(r.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/metadata.json", r.dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(util_read_file(path, 65536, &data, &len) == 0);
	CHECK_CONTAINS(data, "\"state\": \"running\"");
	CHECK_CONTAINS(data, "\"exit_status\": null");
	CHECK_CONTAINS(data, "\"grants\": [\"github\", \"my-api\"]");
	CHECK_CONTAINS(data, "\"project\": \"/tmp/pro\\\"ject\"");
	free(data);

	CHECK_INT(run_record_load(r.dir, &l, err, sizeof(err)), 0);
	CHECK_STR(l.id, r.id);
	CHECK_STR(l.name, "demo");
	CHECK_STR(l.project, "/tmp/pro\"ject");
	CHECK_STR(l.sandbox, "docker+gvisor");
	CHECK_INT(l.grants.n, 2);
	CHECK_INT(l.state, RUN_RUNNING);
	CHECK_INT(l.pid, getpid());
	CHECK(l.start == r.start && l.end == 0);
	CHECK(run_record_alive(&l));	/* this process */
	run_record_clear(&l);

	CHECK_INT(run_record_finish(&r, 7, err, sizeof(err)), 0);
	CHECK_INT(run_record_load(r.dir, &l, err, sizeof(err)), 0);
	CHECK_INT(l.state, RUN_EXITED);
	CHECK_INT(l.exit_status, 7);
	CHECK(l.end != 0);
	CHECK(!run_record_alive(&l));
	run_record_clear(&l);
	run_record_clear(&r);

	/* Creating the same id twice fails. */
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "run-20260101-000000-aaaaaa");
	CHECK_INT(run_record_create(&r, home, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "File exists");
	snprintf(r.id, sizeof(r.id), "run-../x");
	CHECK_INT(run_record_create(&r, home, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "invalid run id");
}

static void
test_record_dead_pid(void)
{
	struct run_record	r, l;
	char			err[256];
	pid_t			pid;

	make_record(&r, "run-20260101-000001-bbbbbb", "dead", 0);
	/* A process that has exited: its record is no longer alive. */
	if ((pid = fork()) == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	r.pid = pid;
	r.pid_start = 1;
	CHECK_INT(run_record_save(&r, err, sizeof(err)), 0);
	CHECK_INT(run_record_load(r.dir, &l, err, sizeof(err)), 0);
	CHECK(!run_record_alive(&l));
	/* A live pid with another start time (pid reuse) is not ours. */
	l.pid = getpid();
	l.pid_start = run_pid_start(getpid()) + 1;
	CHECK(!run_record_alive(&l));
	l.pid_start = run_pid_start(getpid());
	CHECK(l.pid_start != 0);
	CHECK(run_record_alive(&l));
	run_record_clear(&l);
	run_record_clear(&r);
}

static void
test_record_list_find(void)
{
	struct run_record	*v, r;
	char			 err[256], path[PATH_MAX + 128];
	size_t			 n;

	make_record(&r, "run-20260102-000000-cccccc", "later", 2000000000);
	run_record_clear(&r);
	make_record(&r, "run-20250102-000000-dddddd", "early", 1000000000);
	run_record_clear(&r);
	/* Junk in runs/ is skipped, not fatal. */
	snprintf(path, sizeof(path), "%s/runs/run-20250101-000000-eeeeee",
	    home);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path),
	    "%s/runs/run-20250101-000000-eeeeee/metadata.json", home);
	CHECK(util_write_atomic(path, "{\"id\": ", 7, 0600, err,
	    sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/runs/not-a-run", home);
	CHECK(mkdir(path, 0700) == 0);

	CHECK_INT(run_records_list(home, &v, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_STR(v[0].id, "run-20250102-000000-dddddd");
		CHECK_STR(v[3].id, "run-20260102-000000-cccccc");
	}
	run_records_free(v, n);

	CHECK_INT(run_record_find(home, "run-20260102-000000-cccccc", &r,
	    err, sizeof(err)), 0);
	CHECK_STR(r.name, "later");
	run_record_clear(&r);
	CHECK_INT(run_record_find(home, "run-2025", &r, err, sizeof(err)),
	    0);
	CHECK_STR(r.name, "early");
	run_record_clear(&r);
	CHECK_INT(run_record_find(home, "run-2026", &r, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "\"run-2026\" matches 3 runs; give more of the id "
	    "(see moat list)");
	CHECK_INT(run_record_find(home, "early", &r, err, sizeof(err)), 0);
	CHECK_STR(r.id, "run-20250102-000000-dddddd");
	run_record_clear(&r);
	CHECK_INT(run_record_find(home, "nope", &r, err, sizeof(err)), -1);
	CHECK_STR(err, "no run \"nope\" (see moat list)");
}

int
main(void)
{
	char tmpl[] = "/tmp/moat-test-run-XXXXXX", *cmd;

	if (sodium_init() < 0 || mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(home, sizeof(home), "%s/home", tmpl);
	RUN(test_json_values);
	RUN(test_json_malformed);
	RUN(test_json_write);
	RUN(test_run_id);
	RUN(test_record_roundtrip);
	RUN(test_record_dead_pid);
	RUN(test_record_list_find);
	cmd = xasprintf("rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		printf("could not remove %s\n", tmpl);
	free(cmd);
	return harness_done();
}
