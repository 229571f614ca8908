/*
 * `moat config [PATH]` through the real binary ($MOAT_BIN): stdout,
 * stderr and exit status for valid, missing, broken and hostile files.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static char	 tmpdir[PATH_MAX];
static char	*out, *errout;
static int	 status;

/* Runs moat config with up to two arguments; fills out, errout, status. */
static void
moat_config(const char *a1, const char *a2)
{
	char	*argv[5];
	char	 err[256];
	int	 i = 0;

	free(out);
	free(errout);
	out = errout = NULL;
	status = -1;
	argv[i++] = getenv("MOAT_BIN");
	argv[i++] = "config";
	if (a1 != NULL)
		argv[i++] = (char *)a1;
	if (a2 != NULL)
		argv[i++] = (char *)a2;
	argv[i] = NULL;
	if (util_run(argv, NULL, NULL, 0, &out, &errout, 60000, &status, err,
	    sizeof(err)) == -1) {
		printf("could not run moat: %s\n", err);
		CHECK(0);
	}
}

static char *
project(const char *name, const char *yaml, size_t len)
{
	char	*dir = xasprintf("%s/%s", tmpdir, name), *path;
	FILE	*fp;

	CHECK(mkdir(dir, 0700) == 0);
	if (yaml == NULL)
		return dir;
	if (len == (size_t)-1)
		len = strlen(yaml);
	path = xasprintf("%s/agent.yaml", dir);
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	if (fp != NULL) {
		CHECK(fwrite(yaml, 1, len, fp) == len);
		fclose(fp);
	}
	free(path);
	return dir;
}

static void
test_valid(void)
{
	char *dir, *want;

	dir = project("good", "name: demo\n"
	    "command: [sh, -c, \"echo hi\"]\n"
	    "env: {PORT: 8080}\n"
	    "mounts: [./data:/data:ro]\n"
	    "grants: [github]\n"
	    "network:\n"
	    "  policy: strict\n"
	    "  allow: [API.GitHub.com]\n"
	    "  host: [5432]\n"
	    "resources: {memory: 512m, cpus: 1.5}\n"
	    "interactive: true\n", (size_t)-1);
	moat_config(dir, NULL);
	CHECK_INT(status, 0);
	CHECK_STR(errout, "");
	want = xasprintf("# moat: effective configuration from %s/agent.yaml\n"
	    "name: \"demo\"\n"
	    "image: \"moat-agent:latest\"\n"
	    "command:\n"
	    "  - \"sh\"\n"
	    "  - \"-c\"\n"
	    "  - \"echo hi\"\n"
	    "env:\n"
	    "  PORT: \"8080\"\n"
	    "mounts:\n"
	    "  - \"%s/data:/data:ro\"\n"
	    "grants:\n"
	    "  - \"github\"\n"
	    "network:\n"
	    "  policy: strict\n"
	    "  allow:\n"
	    "    - \"api.github.com\"\n"
	    "  host: [5432]\n"
	    "resources:\n"
	    "  memory: 512m\n"
	    "  cpus: 1.5\n"
	    "sandbox: true\n"
	    "runtime: auto\n"
	    "interactive: true\n", dir, dir);
	CHECK_STR(out, want);
	free(want);
	free(dir);
}

static void
test_defaults_and_cwd(void)
{
	char	*dir = project("empty-project", NULL, 0);
	char	 cwd[PATH_MAX];

	moat_config(dir, NULL);
	CHECK_INT(status, 0);
	CHECK_STR(errout, "");
	CHECK(out != NULL && strncmp(out, "# moat: no agent.yaml in ", 25) ==
	    0);
	CHECK_CONTAINS(out, "\nname: \"empty-project\"\nimage: "
	    "\"moat-agent:latest\"\n");
	CHECK_CONTAINS(out, "\nsandbox: true\nruntime: auto\ninteractive: "
	    "false\n");

	/* no PATH: the current directory, named plainly "agent.yaml" */
	free(dir);
	dir = project("cwd", "imgae: x\n", (size_t)-1);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(dir) == 0);
	moat_config(NULL, NULL);
	CHECK(chdir(cwd) == 0);
	CHECK_INT(status, 2);
	CHECK_STR(out, "");
	CHECK_STR(errout, "agent.yaml:1:1: unknown key \"imgae\" (did you mean "
	    "\"image\"?)\n");
	free(dir);
}

static void
test_errors(void)
{
	char *dir, *want, *big;

	dir = project("bad", "name: demo\n"
	    "credentails: [github]\n"
	    "command: claude\n"
	    "env:\n"
	    "  HTTPS_PROXY: http://evil\n"
	    "mounts: [./a:/w, ./b:/w/, ./c:rel]\n"
	    "resources: {memory: 4x}\n"
	    "runtime: lxc\n", (size_t)-1);
	moat_config(dir, NULL);
	CHECK_INT(status, 2);
	CHECK_STR(out, "");
	want = xasprintf(
	    "%s/agent.yaml:2:1: unknown key \"credentails\" (did you mean "
	    "\"grants\"?)\n"
	    "%s/agent.yaml:3:10: command must be a list of strings\n"
	    "%s/agent.yaml:5:3: env \"HTTPS_PROXY\" is not allowed: moat sets "
	    "the proxy variables itself\n"
	    "%s/agent.yaml:6:18: duplicate mount target \"/w\" (first at line "
	    "6)\n"
	    "%s/agent.yaml:6:27: mount target \"rel\" must be an absolute "
	    "path\n"
	    "%s/agent.yaml:7:21: resources.memory must be a size like 512m or "
	    "4g: digits and an optional k, m, g or t (got \"4x\")\n"
	    "%s/agent.yaml:8:10: runtime must be one of auto, docker, podman, "
	    "apple (got \"lxc\")\n", dir, dir, dir, dir, dir, dir, dir);
	CHECK_STR(errout, want);
	free(want);
	free(dir);

	/* one clear error each, never a crash */
	dir = project("zero", "", 0);
	moat_config(dir, NULL);
	CHECK_INT(status, 2);
	want = xasprintf("%s/agent.yaml: file is empty; delete it to use the "
	    "defaults, or add settings (see agent.yaml.example)\n", dir);
	CHECK_STR(errout, want);
	free(want);
	free(dir);

	dir = project("syntax", "image: x\n  name: y\n", (size_t)-1);
	moat_config(dir, NULL);
	CHECK_INT(status, 2);
	want = xasprintf("%s/agent.yaml:2:7: YAML syntax error: mapping values "
	    "are not allowed in this context\n", dir);
	CHECK_STR(errout, want);
	free(want);
	free(dir);

	dir = project("binary", "\x7f" "ELF\x02\x01\x01\0\0\0\xff\xfe", 12);
	moat_config(dir, NULL);
	CHECK_INT(status, 2);
	CHECK_STR(out, "");
	want = xasprintf("%s/agent.yaml:1:8: not a text file (NUL byte)\n",
	    dir);
	CHECK_STR(errout, want);
	free(want);
	free(dir);

	big = xmalloc(3 << 20);
	memset(big, 'a', 3 << 20);
	dir = project("huge", big, 3 << 20);
	free(big);
	moat_config(dir, NULL);
	CHECK_INT(status, 2);
	want = xasprintf("%s/agent.yaml: file is too large (more than 1 "
	    "MiB)\n", dir);
	CHECK_STR(errout, want);
	free(want);
	free(dir);

	dir = xasprintf("%s/does-not-exist", tmpdir);
	moat_config(dir, NULL);
	CHECK_INT(status, 2);
	CHECK_STR(out, "");
	want = xasprintf("%s: no such directory\n", dir);
	CHECK_STR(errout, want);
	free(want);
	free(dir);
}

static void
test_usage(void)
{
	moat_config("--help", NULL);
	CHECK_INT(status, 0);
	CHECK(out != NULL && strncmp(out, "usage: moat config [PATH]\n", 26) ==
	    0);
	moat_config("-h", NULL);
	CHECK_INT(status, 0);
	moat_config("a", "b");
	CHECK_INT(status, 2);
	CHECK_STR(out, "");
	CHECK(errout != NULL && strncmp(errout, "moat: config takes one PATH, "
	    "got 2 arguments\nusage: moat config [PATH]\n", 70) == 0);
	moat_config("--bogus", NULL);
	CHECK_INT(status, 2);
	CHECK_CONTAINS(errout, "usage: moat config [PATH]\n");
}

static void
cleanup(void)
{
	char *cmd;

	if (tmpdir[0] == '\0')
		return;
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
}

int
main(void)
{
	char *t;

	if (getenv("MOAT_BIN") == NULL) {
		printf("MOAT_BIN is not set\n");
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/moat-test-config-cli-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	t = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", t);
	free(t);
	atexit(cleanup);
	RUN(test_valid);
	RUN(test_defaults_and_cwd);
	RUN(test_errors);
	RUN(test_usage);
	free(out);
	free(errout);
	return harness_done();
}
