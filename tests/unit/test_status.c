/*
 * moat status: runtimes (the real Docker daemon, the real CLI against a
 * dead socket, a wrapper hiding runsc, the fake Apple `container`), the
 * runtime `moat run` would use and its sandbox mode, and active runs
 * from real run records.  cmd_status() runs in a child with its stdout
 * in a file.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
#include "run_record.h"
#include "util.h"

#include "harness.h"

static char	tmp[PATH_MAX];
static char	fakedir[PATH_MAX];
static char	orig_path[4096];

const char *
cmd_usage(const char *name)
{
	(void)name;
	return "usage: moat status [--json]\n";
}

/* Runs cmd_status(args) in a child; returns its stdout, *rc its status. */
static char *
status_out(int json, int *rc)
{
	char	 path[PATH_MAX + 16], *a[] = { "status", "--json", NULL };
	char	*data = NULL;
	size_t	 len;
	pid_t	 pid;
	int	 fd, st = 0;

	snprintf(path, sizeof(path), "%s/out.txt", tmp);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return xstrdup("");
	fflush(stdout);
	if ((pid = fork()) == 0) {
		dup2(fd, 1);
		optind = 0;
		exit(cmd_status(json ? 2 : 1, a));
	}
	close(fd);
	waitpid(pid, &st, 0);
	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (util_read_file(path, 1 << 20, &data, &len) == -1)
		return xstrdup("");
	return data;
}

static char *
docker_version(void)
{
	char	*argv[] = { "docker", "version", "--format",
		    "{{.Server.Version}}", NULL };
	char	*out = NULL, err[128];
	int	 st;

	if (util_run(argv, NULL, NULL, 0, &out, NULL, 60000, &st, err,
	    sizeof(err)) == -1 || out == NULL)
		return xstrdup("?");
	out[strcspn(out, "\n")] = '\0';
	return out;
}

/* Podman on PATH changes what auto-detection picks with Docker down. */
static int
podman_installed(void)
{
	char	*p = util_which("podman");
	int	 r = p != NULL;

	free(p);
	return r;
}

static void
test_text_real_docker(void)
{
	char	*o, *v = docker_version(), *want;
	int	 rc;

	o = status_out(0, &rc);
	CHECK_INT(rc, 0);
	want = xasprintf("Runtimes:\n  docker  %-22s Ready, gVisor "
	    "available\n", v);
	CHECK(strncmp(o, want, strlen(want)) == 0);
	if (strncmp(o, want, strlen(want)) != 0)
		printf("# got:\n%s# want prefix:\n%s", o, want);
	if (!podman_installed())
		CHECK_CONTAINS(o, "\n  podman  -                      Not "
		    "Installed\n");
	else
		CHECK_CONTAINS(o, "\n  podman  ");
	/* No Apple line on Linux unless a `container` CLI is found. */
	CHECK(strstr(o, "apple") == NULL);
	CHECK_CONTAINS(o, "\nmoat run uses: docker\nSandbox: docker+gvisor\n");
	CHECK_CONTAINS(o, "\nActive runs: none\n");
	free(want);
	free(o);
	free(v);
}

static void
test_docker_down_and_no_runsc(void)
{
	char	 sock[PATH_MAX + 32], path[PATH_MAX + 8192], *o;
	int	 rc;

	snprintf(sock, sizeof(sock), "unix://%s/none.sock", tmp);
	setenv("DOCKER_HOST", sock, 1);
	o = status_out(0, &rc);
	CHECK_CONTAINS(o, "\n  docker  -                      Not Running "
	    "(cannot connect to the Docker daemon");
	if (!podman_installed()) {
		CHECK_INT(rc, 1);
		CHECK_CONTAINS(o, "\nmoat run uses: none\ncannot connect to "
		    "the Docker daemon");
		CHECK_CONTAINS(o, "Start it with: sudo systemctl start "
		    "docker\n");
		CHECK(strstr(o, "gVisor") == NULL);
	} else {
		/* Docker down, Podman there: auto-detection falls back. */
		CHECK_INT(rc, 0);
		CHECK_CONTAINS(o, "\nmoat run uses: podman\n");
	}
	free(o);
	unsetenv("DOCKER_HOST");

	/* A CLI wrapper hides runsc: moat must ask the CLI, not the socket. */
	snprintf(path, sizeof(path), "%s/no-runsc:%s", fakedir, orig_path);
	setenv("PATH", path, 1);
	setenv("MOAT_DOCKER_API", "0", 1);
	o = status_out(0, &rc);
	CHECK_INT(rc, 0);
	CHECK_CONTAINS(o, "Ready, gVisor not available\n");
	CHECK_CONTAINS(o, "\nSandbox: docker (gVisor (runsc) is required but "
	    "not available: moat run needs --no-sandbox)\n");
	free(o);
	unsetenv("MOAT_DOCKER_API");
	setenv("PATH", orig_path, 1);
}

static void
test_apple_fake(void)
{
	char	 path[PATH_MAX + 8192], log[PATH_MAX + 16], root[PATH_MAX + 16];
	char	*o;
	int	 rc;

	snprintf(path, sizeof(path), "%s:%s", fakedir, orig_path);
	snprintf(log, sizeof(log), "%s/container.log", tmp);
	snprintf(root, sizeof(root), "%s/approot", tmp);
	setenv("PATH", path, 1);
	setenv("FAKE_CONTAINER_LOG", log, 1);
	setenv("FAKE_CONTAINER_APPROOT", root, 1);

	setenv("FAKE_CONTAINER_STATE", "ready", 1);
	o = status_out(0, &rc);
	CHECK_CONTAINS(o, "\n  apple   0.9.0                  Ready\n");
	free(o);
	setenv("FAKE_CONTAINER_STATE", "not-running", 1);
	o = status_out(0, &rc);
	CHECK_CONTAINS(o, "\n  apple   -                      System Not "
	    "Running (the container system is not running)\n");
	free(o);
	setenv("FAKE_CONTAINER_STATE", "no-kernel", 1);
	o = status_out(0, &rc);
	/* The apiserver runs (so its version is known); no kernel. */
	CHECK_CONTAINS(o, "\n  apple   0.9.0                  Kernel Not "
	    "Configured (no default kernel is configured)\n");
	free(o);
	/* MOAT_RUNTIME=apple, not ready: what moat run would say. */
	setenv("MOAT_RUNTIME", "apple", 1);
	o = status_out(0, &rc);
	CHECK_INT(rc, 1);
	CHECK_CONTAINS(o, "\nmoat run uses: none\nApple container runtime "
	    "not available: no default kernel is configured\nConfigure it "
	    "with: container system kernel set --recommended\n");
	free(o);
	setenv("FAKE_CONTAINER_STATE", "ready", 1);
	o = status_out(0, &rc);
	CHECK_INT(rc, 0);
	CHECK_CONTAINS(o, "\nmoat run uses: apple\nSandbox: apple\n");
	free(o);
	unsetenv("MOAT_RUNTIME");
	setenv("PATH", orig_path, 1);
}

static void
test_active_runs_and_json(void)
{
	struct run_record	 live, done, dead;
	struct json		*j;
	const struct json	*runs, *rts;
	char			 home[PATH_MAX + 16], err[512], *o, *want;
	int			 rc;
	pid_t			 dp;

	snprintf(home, sizeof(home), "%s/home", tmp);
	setenv("MOAT_HOME", home, 1);
	memset(&live, 0, sizeof(live));
	memset(&done, 0, sizeof(done));
	memset(&dead, 0, sizeof(dead));
	snprintf(live.id, sizeof(live.id), "run-20260101-000000-aaaaaa");
	snprintf(done.id, sizeof(done.id), "run-20260101-000000-bbbbbb");
	snprintf(dead.id, sizeof(dead.id), "run-20260101-000000-cccccc");
	live.name = xstrdup("demo");
	live.image = xstrdup("moat-agent:latest");
	live.runtime = xstrdup("docker");
	live.sandbox = xstrdup("docker+gvisor");
	live.project = xstrdup("/p");
	strvec_push(&live.grants, "github");
	CHECK_INT(run_record_create(&live, home, err, sizeof(err)), 0);
	CHECK_INT(run_record_create(&done, home, err, sizeof(err)), 0);
	CHECK_INT(run_record_finish(&done, 0, err, sizeof(err)), 0);
	CHECK_INT(run_record_create(&dead, home, err, sizeof(err)), 0);
	if ((dp = fork()) == 0)
		_exit(0);
	waitpid(dp, NULL, 0);
	dead.pid = dp;
	CHECK_INT(run_record_save(&dead, err, sizeof(err)), 0);

	o = status_out(0, &rc);
	want = xasprintf("\nActive runs:\n  %-28s %-16s %-14s %-20s pid %ld, "
	    "since ", live.id, "demo", "docker+gvisor", "moat-agent:latest",
	    (long)getpid());
	CHECK_CONTAINS(o, want);
	CHECK(strstr(o, done.id) == NULL);
	CHECK(strstr(o, dead.id) == NULL);
	free(want);
	free(o);

	o = status_out(1, &rc);
	CHECK_INT(rc, 0);
	j = json_parse(o, strlen(o), err, sizeof(err));
	CHECK(j != NULL);
	if (j != NULL) {
		CHECK_STR(json_get_str(j, "runtime"), "docker");
		CHECK_STR(json_get_str(j, "sandbox"), "docker+gvisor");
		CHECK(json_get(j, "runtime_error") != NULL &&
		    json_get(j, "runtime_error")->type == JSON_NULL);
		rts = json_get(j, "runtimes");
		CHECK(rts != NULL && rts->n == 3);
		if (rts != NULL && rts->n == 3) {
			CHECK_STR(json_get_str(rts->items[0], "name"),
			    "docker");
			CHECK_STR(json_get_str(rts->items[0], "state"),
			    "Ready");
			CHECK(json_get(rts->items[0], "gvisor")->num == 1);
			CHECK_STR(json_get_str(rts->items[1], "name"),
			    "podman");
			CHECK_STR(json_get_str(rts->items[1], "state"),
			    podman_installed() ? "Ready" : "Not Installed");
		}
		runs = json_get(j, "active_runs");
		CHECK(runs != NULL && runs->n == 1);
		if (runs != NULL && runs->n == 1) {
			CHECK_STR(json_get_str(runs->items[0], "id"),
			    live.id);
			CHECK_STR(json_get_str(runs->items[0], "name"),
			    "demo");
			CHECK_INT(json_get_num(runs->items[0], "pid", 0),
			    getpid());
		}
	} else
		printf("# %s\n%s", err, o);
	json_free(j);
	free(o);
	run_record_clear(&live);
	run_record_clear(&done);
	run_record_clear(&dead);
	unsetenv("MOAT_HOME");
}

static void
test_usage(void)
{
	char	*a[] = { "status", "extra", NULL };
	pid_t	 pid;
	int	 st = 0;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		optind = 0;
		exit(cmd_status(2, a));
	}
	waitpid(pid, &st, 0);
	CHECK_INT(WEXITSTATUS(st), EXIT_USAGE);
}

int
main(void)
{
	const char *src = getenv("MOAT_SRC"), *path = getenv("PATH");
	char *argv_rm[] = { "rm", "-rf", tmp, NULL };
	int st;

	snprintf(orig_path, sizeof(orig_path), "%s", path ? path :
	    "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	snprintf(tmp, sizeof(tmp), "/tmp/moat-test-status-XXXXXX");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(fakedir, sizeof(fakedir), "%s/tests/integ/fake-container",
	    src ? src : "../..");
	unsetenv("MOAT_RUNTIME");
	unsetenv("DOCKER_HOST");
	{
		char home[PATH_MAX + 16];

		snprintf(home, sizeof(home), "%s/empty-home", tmp);
		setenv("MOAT_HOME", home, 1);
	}

	RUN(test_text_real_docker);
	RUN(test_docker_down_and_no_runsc);
	RUN(test_apple_fake);
	RUN(test_active_runs_and_json);
	RUN(test_usage);

	util_run(argv_rm, NULL, NULL, 0, NULL, NULL, 60000, &st, NULL, 0);
	return harness_done();
}
