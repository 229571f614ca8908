/*
 * runtime: argv generation (exact, per engine), detection against the
 * real Docker daemon (and the real docker CLI pointed at a dead socket,
 * and a wrapper hiding runsc), Apple `container` through the fake on
 * PATH in every setup state, per-run networks, the host firewall chain
 * and orphan cleanup against the real engine.
 *
 * Usage: test_runtime            all tests except the Podman live ones
 *        test_runtime podman     Podman live tests (exit 77: skipped)
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <poll.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reach detect()'s host parameter: the macOS rules run here too. */
#include "../../runtime/detect.c"

#include "harness.h"

#define SECRET	"tok-5ecret-c0ffee"

static char	tmpdir[PATH_MAX];
static char	fakedir[PATH_MAX];	/* tests/integ/fake-container */
static char	logpath[PATH_MAX + 32];
static char	approot[PATH_MAX + 64];
static char	orig_path[4096];

static char *
join(const struct strvec *sv)
{
	size_t	 i, n = 1;
	char	*s;

	for (i = 0; i < sv->n; i++)
		n += strlen(sv->v[i]) + 1;
	s = xcalloc(1, n);
	for (i = 0; i < sv->n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, sv->v[i]);
	}
	return s;
}

static char *
slurp(const char *path)
{
	char	*d = NULL;
	size_t	 len;

	if (util_read_file(path, 1 << 20, &d, &len) == -1)
		return xstrdup("");
	return d;
}

/* Runs a command, returns its stdout (chomped) or "" */
static char *
sh_out(char *const argv[], int *status)
{
	char	*out = NULL, err[256];
	int	 st = -1;

	if (util_run(argv, NULL, NULL, 0, &out, NULL, 60000, &st, err,
	    sizeof(err)) == -1) {
		free(out);
		out = xstrdup("");
	}
	if (out == NULL)
		out = xstrdup("");
	rt_chomp(out);
	if (status)
		*status = st;
	return out;
}

static void
full_spec(struct rt_spec *s, int runsc)
{
	rt_spec_init(s);
	s->name = xstrdup("moat-r1");
	s->image = xstrdup("moat-agent:latest");
	strvec_push(&s->command, "sh");
	strvec_push(&s->command, "-c");
	strvec_push(&s->command, "echo hi");
	rt_spec_setenv(s, "HTTPS_PROXY", "http://moat:" SECRET "@172.19.0.1:"
	    "8080");
	rt_spec_setenv(s, "FOO", "bar");
	rt_spec_add_mount(s, tmpdir, "/workspace", 0);
	rt_spec_add_mount(s, tmpdir, "/etc/moat-ca", 1);
	rt_spec_add_label(s, "moat.run", "r1");
	s->network = xstrdup("moat-r1");
	s->runsc = runsc;
	s->user = xstrdup("1000:1000");
	s->workdir = xstrdup("/workspace");
	s->memory = 512ULL << 20;
	s->cpus = 1.5;
	s->pids_limit = 1024;
	s->no_new_privileges = 1;
	s->interactive = 1;
	s->tty = 1;
	strvec_push(&s->add_hosts, "host.docker.internal:host-gateway");
	s->remove = 1;
}

static void
check_no_secret(const struct strvec *argv)
{
	size_t i;

	for (i = 0; i < argv->n; i++)
		CHECK(strstr(argv->v[i], SECRET) == NULL);
}

static void
test_engine_names(void)
{
	CHECK_INT(rt_engine_parse("docker"), RT_DOCKER);
	CHECK_INT(rt_engine_parse("podman"), RT_PODMAN);
	CHECK_INT(rt_engine_parse("apple"), RT_APPLE);
	CHECK_INT(rt_engine_parse("auto"), RT_AUTO);
	CHECK_INT(rt_engine_parse(""), RT_AUTO);
	CHECK_INT(rt_engine_parse("Docker"), -1);
	CHECK_STR(rt_engine_name(RT_PODMAN), "podman");
	CHECK_STR(rt_mode_name(RT_DOCKER, 1), "docker+gvisor");
	CHECK_STR(rt_mode_name(RT_DOCKER, 0), "docker");
	CHECK_STR(rt_mode_name(RT_PODMAN, 1), "podman+gvisor");
	CHECK_STR(rt_mode_name(RT_PODMAN, 0), "podman");
	CHECK_STR(rt_mode_name(RT_APPLE, 0), "apple");
	CHECK_STR(rt_state_name(RT_APPLE, RT_STATE_NOT_RUNNING),
	    "System Not Running");
	CHECK_STR(rt_state_name(RT_DOCKER, RT_STATE_NOT_RUNNING),
	    "Not Running");
	CHECK_STR(rt_state_name(RT_APPLE, RT_STATE_KERNEL_NOT_CONFIGURED),
	    "Kernel Not Configured");
}

/* Docker and Podman take the same flags. */
static void
argv_docker_like(enum rt_engine e, const char *cli)
{
	struct rt_spec	 s;
	struct strvec	 argv = STRVEC_INIT, envp = STRVEC_INIT;
	char		 err[256], *got, *want;

	full_spec(&s, 1);
	CHECK_INT(rt_spec_argv(e, &s, &argv, &envp, err, sizeof(err)), 0);
	got = join(&argv);
	want = xasprintf("%s run --rm -i -t --name moat-r1 --runtime "
	    "runsc --security-opt no-new-privileges --pids-limit 1024 "
	    "-m 536870912 --cpus 1.5 --user 1000:1000 -w /workspace "
	    "--network moat-r1 --label moat.run=r1 --add-host "
	    "host.docker.internal:host-gateway -e HTTPS_PROXY -e FOO "
	    "-v %s:/workspace -v %s:/etc/moat-ca:ro moat-agent:latest sh -c "
	    "echo hi", cli, tmpdir, tmpdir);
	CHECK_STR(got, want);
	CHECK_STR(argv.v[argv.n - 1], "echo hi");	/* one argument */
	check_no_secret(&argv);
	CHECK_STR(strvec_getenv(&envp, "HTTPS_PROXY"),
	    "http://moat:" SECRET "@172.19.0.1:8080");
	CHECK_STR(strvec_getenv(&envp, "FOO"), "bar");
	CHECK(strvec_getenv(&envp, "PATH") != NULL);	/* ours, kept */
	free(got);
	free(want);
	strvec_free(&argv);
	rt_env_free(&envp);
	rt_spec_free(&s);
}

static void
test_argv_docker(void)
{
	argv_docker_like(RT_DOCKER, "docker");
}

static void
test_argv_podman(void)
{
	argv_docker_like(RT_PODMAN, "podman");
}

static void
test_argv_runsc_off_and_minimal(void)
{
	struct rt_spec	 s;
	struct strvec	 argv = STRVEC_INIT, envp = STRVEC_INIT;
	char		 err[256], *got;

	full_spec(&s, 0);
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	CHECK(strvec_find(&argv, "--runtime") == -1);
	CHECK(strvec_find(&argv, "runsc") == -1);
	CHECK(strvec_find(&argv, "no-new-privileges") != -1);
	strvec_free(&argv);
	rt_env_free(&envp);
	rt_spec_free(&s);

	/* Nothing set: nothing emitted. */
	rt_spec_init(&s);
	s.image = xstrdup("img");
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	got = join(&argv);
	CHECK_STR(got, "docker run img");
	free(got);
	strvec_free(&argv);
	rt_env_free(&envp);

	/* pull_never: right after --rm for docker/podman; Apple has none. */
	s.pull_never = 1;
	s.remove = 1;
	CHECK_INT(rt_spec_argv(RT_PODMAN, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	got = join(&argv);
	CHECK_STR(got, "podman run --rm --pull never img");
	free(got);
	strvec_free(&argv);
	rt_env_free(&envp);
	CHECK_INT(rt_spec_argv(RT_APPLE, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	got = join(&argv);
	CHECK_STR(got, "container run --rm img");
	free(got);
	strvec_free(&argv);
	rt_env_free(&envp);
	rt_spec_free(&s);
}

static void
test_argv_apple(void)
{
	struct rt_spec	 s;
	struct strvec	 argv = STRVEC_INIT, envp = STRVEC_INIT;
	char		 err[256], *got, *want, file[PATH_MAX + 8];
	FILE		*fp;

	full_spec(&s, 1);
	free(s.network);
	s.network = NULL;
	CHECK_INT(rt_spec_argv(RT_APPLE, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	got = join(&argv);
	want = xasprintf("container run --rm -i -t --name moat-r1 -m 512M "
	    "-c 2 --user 1000:1000 -w /workspace --label moat.run=r1 "
	    "-e HTTPS_PROXY -e FOO -v %s:/workspace -v %s:/etc/moat-ca:ro "
	    "moat-agent:latest sh -c echo hi", tmpdir, tmpdir);
	CHECK_STR(got, want);
	check_no_secret(&argv);
	free(got);
	free(want);
	strvec_free(&argv);
	rt_env_free(&envp);

	/* Memory rounds up to whole MiB. */
	s.memory = (1ULL << 20) + 1;
	s.cpus = 2;
	CHECK_INT(rt_spec_argv(RT_APPLE, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	CHECK(strvec_find(&argv, "2M") != -1);
	CHECK(strvec_find(&argv, "2") != -1);
	strvec_free(&argv);
	rt_env_free(&envp);

	/* Apple mounts only directories. */
	snprintf(file, sizeof(file), "%s/file", tmpdir);
	if ((fp = fopen(file, "w")) != NULL)
		fclose(fp);
	rt_spec_add_mount(&s, file, "/x", 1);
	CHECK_INT(rt_spec_argv(RT_APPLE, &s, &argv, &envp, err,
	    sizeof(err)), -1);
	want = xasprintf("Apple container can only mount directories: %s",
	    file);
	CHECK_STR(err, want);
	free(want);
	CHECK_INT(argv.n, 0);
	/* Docker mounts files fine. */
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	strvec_free(&argv);
	rt_env_free(&envp);
	unlink(file);
	rt_spec_free(&s);
}

static void
test_argv_refusals(void)
{
	struct rt_spec	 s;
	struct strvec	 argv = STRVEC_INIT, envp = STRVEC_INIT;
	char		 err[256];

	rt_spec_init(&s);
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "no image given");
	s.image = xstrdup("--privileged");
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "bad image name \"--privileged\"");
	free(s.image);
	s.image = xstrdup("img");
	rt_spec_add_mount(&s, "relative", "/x", 0);
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "mount relative:/x: both paths must be absolute");
	rt_spec_free(&s);
	rt_spec_init(&s);
	s.image = xstrdup("img");
	rt_spec_add_mount(&s, "/a:b", "/x", 0);
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "mount /a:b:/x: paths must not contain ':' or ','");
	CHECK_INT(argv.n, 0);
	CHECK_INT(envp.n, 0);
	rt_spec_free(&s);
	CHECK_INT(rt_spec_argv(RT_AUTO, &s, &argv, &envp, err,
	    sizeof(err)), -1);
}

static void
test_env_replace_and_parent(void)
{
	struct rt_spec	 s;
	struct strvec	 argv = STRVEC_INIT, envp = STRVEC_INIT;
	char		 err[256];
	size_t		 i, n = 0;

	rt_spec_init(&s);
	s.image = xstrdup("img");
	rt_spec_setenv(&s, "A", "1");
	rt_spec_setenv(&s, "B", "2");
	rt_spec_setenv(&s, "A", "3");
	CHECK_INT(s.env.n, 2);
	CHECK_STR(strvec_getenv(&s.env, "A"), "3");
	rt_spec_unsetenv(&s, "A");
	CHECK_INT(s.env.n, 1);
	CHECK(strvec_getenv(&s.env, "A") == NULL);
	CHECK(s.env.v[s.env.n] == NULL);
	rt_spec_unsetenv(&s, "nope");

	/* The parent's value of a spec key never reaches the CLI. */
	setenv("B", "parent", 1);
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	for (i = 0; i < envp.n; i++)
		if (strncmp(envp.v[i], "B=", 2) == 0)
			n++;
	CHECK_INT(n, 1);
	CHECK_STR(strvec_getenv(&envp, "B"), "2");
	unsetenv("B");
	strvec_free(&argv);
	rt_env_free(&envp);
	rt_spec_free(&s);
}

/*
 * The engine CLI runs on the host with the spec's environment: a variable
 * that the CLI itself reads (PATH, HOME, DOCKER_CONFIG, LD_PRELOAD ...),
 * set from agent.yaml, must reach the container only, never the CLI.
 */
static void
test_env_cli_vars_not_in_cli_env(void)
{
	struct rt_spec	 s;
	struct strvec	 argv = STRVEC_INIT, envp = STRVEC_INIT;
	char		 err[256], *a;
	const char	*parent_path = getenv("PATH");

	rt_spec_init(&s);
	s.image = xstrdup("img");
	rt_spec_setenv(&s, "PATH", "/workspace/bin");
	rt_spec_setenv(&s, "DOCKER_CONFIG", "/workspace/.d");
	rt_spec_setenv(&s, "LD_PRELOAD", "/workspace/x.so");
	/* podman would bind-mount the host socket it names */
	rt_spec_setenv(&s, "NOTIFY_SOCKET", "/run/user/0/x.sock");
	rt_spec_setenv(&s, "DBUS_SESSION_BUS_ADDRESS", "unix:path=/x");
	rt_spec_setenv(&s, "HTTPS_PROXY", "http://moat:" SECRET "@h:1");
	unsetenv("DOCKER_CONFIG");
	setenv("MOAT_PASSPHRASE", "pass-" SECRET, 1);
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	unsetenv("MOAT_PASSPHRASE");
	CHECK(strvec_getenv(&envp, "MOAT_PASSPHRASE") == NULL);
	CHECK_STR(strvec_getenv(&envp, "PATH"), parent_path ? parent_path :
	    "(null)");
	CHECK(strvec_getenv(&envp, "DOCKER_CONFIG") == NULL);
	CHECK(strvec_getenv(&envp, "LD_PRELOAD") == NULL);
	CHECK(strvec_getenv(&envp, "NOTIFY_SOCKET") == NULL);
	CHECK(strvec_getenv(&envp, "DBUS_SESSION_BUS_ADDRESS") == NULL ||
	    strcmp(strvec_getenv(&envp, "DBUS_SESSION_BUS_ADDRESS"),
	    "unix:path=/x") != 0);
	CHECK_STR(strvec_getenv(&envp, "HTTPS_PROXY"), "http://moat:" SECRET
	    "@h:1");
	a = join(&argv);
	CHECK_CONTAINS(a, "-e PATH=/workspace/bin ");
	CHECK_CONTAINS(a, "-e DOCKER_CONFIG=/workspace/.d ");
	CHECK_CONTAINS(a, "-e LD_PRELOAD=/workspace/x.so ");
	CHECK_CONTAINS(a, "-e HTTPS_PROXY ");
	check_no_secret(&argv);
	free(a);
	strvec_free(&argv);
	rt_env_free(&envp);
	rt_spec_free(&s);
}

/*
 * The attack itself, against the real docker CLI: agent.yaml sets PATH and
 * DOCKER_CONFIG to the workspace, whose config.json names a credential
 * helper that the workspace provides; an image that is not present makes
 * the CLI call the helper on the host.  It must never run.
 */
static void
test_env_cli_helper_not_run(void)
{
	struct rt_spec	 s;
	char		 err[512], dir[PATH_MAX + 8], f[PATH_MAX + 64];
	char		 mark[PATH_MAX + 64], path[PATH_MAX + 4200];
	pid_t		 pid;
	int		 status;
	FILE		*fp;

	snprintf(dir, sizeof(dir), "%s/ws", tmpdir);
	snprintf(f, sizeof(f), "%s/bin", dir);
	CHECK_INT(util_mkdir_p(f, 0700), 0);
	snprintf(mark, sizeof(mark), "%s/PWNED", dir);
	unlink(mark);
	snprintf(f, sizeof(f), "%s/bin/docker-credential-pwn", dir);
	if ((fp = fopen(f, "w")) == NULL) {
		CHECK(!"fopen");
		return;
	}
	fprintf(fp, "#!/bin/sh\ntouch '%s'\necho '{}'\n", mark);
	fclose(fp);
	chmod(f, 0755);
	snprintf(f, sizeof(f), "%s/config.json", dir);
	if ((fp = fopen(f, "w")) == NULL) {
		CHECK(!"fopen");
		return;
	}
	fputs("{\"credsStore\":\"pwn\"}\n", fp);
	fclose(fp);

	rt_spec_init(&s);
	s.name = xasprintf("moat-test-helper-%ld", (long)getpid());
	s.image = xstrdup("moat-nonexistent.invalid/agent:latest");
	snprintf(path, sizeof(path), "%s/bin:%s", dir, orig_path);
	rt_spec_setenv(&s, "PATH", path);
	rt_spec_setenv(&s, "DOCKER_CONFIG", dir);
	rt_spec_setenv(&s, "HOME", dir);
	s.remove = 1;
	pid = rt_container_spawn(RT_DOCKER, &s, UTIL_FD_NULL, UTIL_FD_NULL,
	    UTIL_FD_NULL, err, sizeof(err));
	CHECK(pid > 0);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
	CHECK(access(mark, F_OK) == -1);
	rt_spec_free(&s);
}

/* ---- Apple, through the fake `container` ---------------------------- */

static void
fake_on_path(int on, const char *state)
{
	char path[8192];

	if (on)
		snprintf(path, sizeof(path), "%s:%s", fakedir, orig_path);
	else
		snprintf(path, sizeof(path), "%s", orig_path);
	setenv("PATH", path, 1);
	setenv("FAKE_CONTAINER_STATE", state, 1);
	unlink(logpath);
}

static void
test_apple_states(void)
{
	struct rt_info	 info;
	char		*log;

	fake_on_path(0, "ready");
	CHECK_INT(rt_probe(RT_APPLE, &info), -1);
	CHECK_INT(info.state, RT_STATE_NOT_INSTALLED);
	CHECK_CONTAINS(info.reason, "not installed");
	log = slurp(logpath);
	CHECK_STR(log, "");
	free(log);

	fake_on_path(1, "unregistered");
	CHECK_INT(rt_probe(RT_APPLE, &info), -1);
	CHECK_INT(info.state, RT_STATE_NOT_RUNNING);
	CHECK_STR(info.reason, "the container system is not running\n"
	    "Start it with: container system start");
	log = slurp(logpath);
	CHECK_STR(log, "container system status\n");
	free(log);

	fake_on_path(1, "not-running");
	CHECK_INT(rt_probe(RT_APPLE, &info), -1);
	CHECK_INT(info.state, RT_STATE_NOT_RUNNING);
	CHECK_STR(rt_state_name(RT_APPLE, info.state), "System Not Running");

	fake_on_path(1, "no-kernel");
	CHECK_INT(rt_probe(RT_APPLE, &info), -1);
	CHECK_INT(info.state, RT_STATE_KERNEL_NOT_CONFIGURED);
	CHECK_STR(info.reason, "no default kernel is configured\n"
	    "Configure it with: container system kernel set --recommended");
	log = slurp(logpath);
	CHECK_STR(log, "container system status\n");
	free(log);

	fake_on_path(1, "ready");
	CHECK_INT(rt_probe(RT_APPLE, &info), 0);
	CHECK_INT(info.state, RT_STATE_READY);
	CHECK_STR(info.version, "0.9.0");
	CHECK_INT(info.gvisor, 0);
	log = slurp(logpath);
	CHECK_STR(log, "container system status\n");
	free(log);
	fake_on_path(0, "ready");
}

static void
test_apple_detect(void)
{
	struct rt_info	info;
	char		err[1024];

	/* MOAT_RUNTIME=apple, not available: one clear message. */
	setenv("MOAT_RUNTIME", "apple", 1);
	fake_on_path(1, "not-running");
	CHECK_INT(rt_detect(NULL, NULL, &info, err, sizeof(err)), -1);
	CHECK_STR(err, "Apple container runtime not available: the container "
	    "system is not running\nStart it with: container system start");
	fake_on_path(0, "ready");
	CHECK_INT(rt_detect(NULL, NULL, &info, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "Apple container runtime not available: the "
	    "container command is not installed");
	fake_on_path(1, "ready");
	CHECK_INT(rt_detect(NULL, NULL, &info, err, sizeof(err)), 0);
	CHECK_INT(info.engine, RT_APPLE);
	/* The flag and agent.yaml win over MOAT_RUNTIME. */
	CHECK_INT(rt_detect("docker", NULL, &info, err, sizeof(err)), 0);
	CHECK_INT(info.engine, RT_DOCKER);
	CHECK_INT(rt_detect(NULL, "docker", &info, err, sizeof(err)), 0);
	CHECK_INT(info.engine, RT_DOCKER);
	CHECK_INT(rt_detect("apple", "docker", &info, err, sizeof(err)), 0);
	CHECK_INT(info.engine, RT_APPLE);
	CHECK_INT(rt_detect("dokcer", NULL, &info, err, sizeof(err)), -1);
	CHECK_STR(err, "unknown runtime \"dokcer\" (from --runtime); use "
	    "docker, podman, apple or auto");
	setenv("MOAT_RUNTIME", "lxc", 1);
	CHECK_INT(rt_detect(NULL, NULL, &info, err, sizeof(err)), -1);
	CHECK_STR(err, "unknown runtime \"lxc\" (from MOAT_RUNTIME); use "
	    "docker, podman, apple or auto");
	unsetenv("MOAT_RUNTIME");

	/* Auto on macOS arm64. */
	fake_on_path(1, "ready");
	CHECK_INT(detect(HOST_MACOS_ARM64, NULL, NULL, &info, err,
	    sizeof(err)), 0);
	CHECK_INT(info.engine, RT_APPLE);
	fake_on_path(0, "ready");	/* not installed: Docker, silently */
	CHECK_INT(detect(HOST_MACOS_ARM64, NULL, NULL, &info, err,
	    sizeof(err)), 0);
	CHECK_INT(info.engine, RT_DOCKER);
	fake_on_path(1, "no-kernel");	/* half set up: an error */
	CHECK_INT(detect(HOST_MACOS_ARM64, "auto", "auto", &info, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "Apple container runtime not available: no default "
	    "kernel is configured\nConfigure it with: container system "
	    "kernel set --recommended");
	fake_on_path(1, "unregistered");
	CHECK_INT(detect(HOST_MACOS_ARM64, NULL, NULL, &info, err,
	    sizeof(err)), -1);
	CHECK_CONTAINS(err, "container system start");
	/* On Linux, auto never asks the Apple CLI. */
	fake_on_path(1, "ready");
	CHECK_INT(detect(HOST_LINUX, NULL, NULL, &info, err, sizeof(err)), 0);
	CHECK_INT(info.engine, RT_DOCKER);
	{
		char *log = slurp(logpath);

		CHECK_STR(log, "");
		free(log);
	}
	fake_on_path(0, "ready");
}

static void
test_apple_lifecycle(void)
{
	struct rt_spec	 s;
	char		 err[512], gw[64], *log, *want, envlog[PATH_MAX + 64];
	pid_t		 pid;
	int		 status = -1;

	fake_on_path(1, "ready");
	setenv("FAKE_CONTAINER_GATEWAY", "192.168.66.1", 1);
	rt_apple_gateway(gw, sizeof(gw));
	CHECK_STR(gw, "192.168.66.1");
	log = slurp(logpath);
	CHECK_STR(log, "container network inspect default\n");
	free(log);
	fake_on_path(1, "unregistered");
	rt_apple_gateway(gw, sizeof(gw));
	CHECK_STR(gw, "192.168.64.1");		/* the fallback */
	unsetenv("FAKE_CONTAINER_GATEWAY");

	fake_on_path(1, "ready");
	rt_spec_init(&s);
	s.name = xstrdup("moat-a1");
	s.image = xstrdup("moat-agent:latest");
	s.remove = 1;
	rt_spec_setenv(&s, "HTTP_PROXY", "http://moat:" SECRET
	    "@192.168.66.1:4444");
	rt_spec_add_mount(&s, tmpdir, "/workspace", 0);
	strvec_push(&s.command, "true");
	setenv("FAKE_CONTAINER_RUN_EXIT", "7", 1);
	pid = rt_container_spawn(RT_APPLE, &s, UTIL_FD_NULL, UTIL_FD_NULL,
	    UTIL_FD_INHERIT, err, sizeof(err));
	CHECK(pid > 0);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		CHECK_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 7);
	unsetenv("FAKE_CONTAINER_RUN_EXIT");
	log = slurp(logpath);
	want = xasprintf("container run --rm --name moat-a1 -e HTTP_PROXY "
	    "-v %s:/workspace moat-agent:latest true\n", tmpdir);
	CHECK_STR(log, want);
	CHECK(strstr(log, SECRET) == NULL);
	free(want);
	free(log);
	/* The CLI got the value through its environment. */
	snprintf(envlog, sizeof(envlog), "%s.env", logpath);
	log = slurp(envlog);
	CHECK_STR(log, "HTTP_PROXY=http://moat:" SECRET "@192.168.66.1:4444\n");
	free(log);
	unlink(envlog);

	unlink(logpath);
	CHECK_INT(rt_container_stop(RT_APPLE, "moat-a1", 5, err,
	    sizeof(err)), 0);
	CHECK_INT(rt_container_remove(RT_APPLE, "moat-a1", err,
	    sizeof(err)), 0);
	log = slurp(logpath);
	CHECK_STR(log, "container stop -t 5 moat-a1\n"
	    "container delete --force moat-a1\n");
	free(log);
	CHECK_INT(rt_container_stop(RT_APPLE, "-rf", 5, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "bad container name \"-rf\"");
	/* Per-run networks are a Docker/Podman thing. */
	{
		struct rt_network net;

		CHECK_INT(rt_network_create(RT_APPLE, "x", NULL, &net, err,
		    sizeof(err)), -1);
		CHECK_STR(err, "per-run networks need docker or podman");
	}
	rt_spec_free(&s);
	fake_on_path(0, "ready");
}

/*
 * What a SIGKILLed moat left running under Apple's runtime: found with
 * `container list --all --format json`, removed with `container delete`.
 */
static void
test_apple_orphans(void)
{
	char	 list[PATH_MAX + 32], err[512], *log, *want;
	FILE	*fp;
	int	 n = -1;
	long	 me = (long)getpid();

	snprintf(list, sizeof(list), "%s/apple-list.json", tmpdir);
	fp = fopen(list, "w");
	/* A dead moat's, a live one's (ours), a kept one, someone else's. */
	fprintf(fp, "[\n"
	    "  {\"status\": \"running\", \"configuration\": {\"id\": "
	    "\"moat-run-dead\", \"labels\": {\"moat.run\": \"run-dead\", "
	    "\"moat.pid\": \"999999999\"}, \"image\": {\"reference\": "
	    "\"moat-agent:latest\"}}, \"networks\": []},\n"
	    "  {\"status\": \"running\", \"configuration\": {\"id\": "
	    "\"moat-run-live\", \"labels\": {\"moat.run\": \"run-live\", "
	    "\"moat.pid\": \"%ld\"}}},\n"
	    "  {\"status\": \"stopped\", \"configuration\": {\"id\": "
	    "\"moat-run-kept\", \"labels\": {\"moat.run\": \"run-kept\", "
	    "\"moat.pid\": \"999999999\", \"moat.keep\": \"1\"}}},\n"
	    "  {\"status\": \"running\", \"configuration\": {\"id\": "
	    "\"webserver\", \"labels\": {}}}\n"
	    "]\n", me);
	fclose(fp);
	setenv("FAKE_CONTAINER_LIST", list, 1);
	fake_on_path(1, "ready");
	CHECK_INT(rt_cleanup_orphans(RT_APPLE, NULL, &n, err, sizeof(err)),
	    0);
	CHECK_INT(n, 1);
	log = slurp(logpath);
	want = xstrdup("container list --all --format json\n"
	    "container delete --force moat-run-dead\n");
	CHECK_STR(log, want);
	free(want);
	free(log);
	/* Not JSON: an error naming the command, nothing removed. */
	fp = fopen(list, "w");
	fputs("ID  IMAGE  STATE\n", fp);
	fclose(fp);
	fake_on_path(1, "ready");
	CHECK_INT(rt_cleanup_orphans(RT_APPLE, NULL, &n, err, sizeof(err)),
	    -1);
	CHECK_INT(n, 0);
	CHECK_STR(err, "listing moat containers: `container list --format "
	    "json` printed no JSON array");
	/* The system stopped: the CLI's own message. */
	fake_on_path(1, "not-running");
	CHECK_INT(rt_cleanup_orphans(RT_APPLE, NULL, &n, err, sizeof(err)),
	    -1);
	CHECK_CONTAINS(err, "listing moat containers: ");
	unsetenv("FAKE_CONTAINER_LIST");
	unlink(list);
	fake_on_path(0, "ready");
}

/* ---- Docker, for real ------------------------------------------------ */

static void
test_docker_probe(void)
{
	char		*argv[] = { "docker", "version", "--format",
			    "{{.Server.Version}}", NULL };
	struct rt_info	 info;
	char		*v;

	v = sh_out(argv, NULL);
	/* Over the daemon's socket (the default), then through the CLI. */
	for (int cli = 0; cli < 2; cli++) {
		if (cli)
			setenv("MOAT_DOCKER_API", "0", 1);
		memset(&info, 0, sizeof(info));
		CHECK_INT(rt_probe(RT_DOCKER, &info), 0);
		CHECK_INT(info.state, RT_STATE_READY);
		CHECK_STR(info.version, v);
		CHECK(*info.version != '\0');
		CHECK_INT(info.gvisor, 1);	/* runsc is registered here */
		CHECK_INT(info.desktop, 0);
	}
	unsetenv("MOAT_DOCKER_API");
	free(v);
}

/* When moat may talk to the daemon's socket itself, and which one. */
static void
test_api_socket(void)
{
	char	path[256], cfg[PATH_MAX + 64], home[PATH_MAX + 16];
	char	*oldhome = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	FILE	*fp;

	unsetenv("DOCKER_HOST");
	unsetenv("DOCKER_CONTEXT");
	unsetenv("DOCKER_CONFIG");
	unsetenv("MOAT_DOCKER_API");
	snprintf(home, sizeof(home), "%s/apihome", tmpdir);
	mkdir(home, 0700);
	snprintf(cfg, sizeof(cfg), "%s/.docker", home);
	mkdir(cfg, 0700);
	setenv("HOME", home, 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 1);
	CHECK_STR(path, "/var/run/docker.sock");
	setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 1);
	CHECK_STR(path, "/run/user/1000/docker.sock");
	/* The CLI for anything but a local socket, and when told to. */
	setenv("DOCKER_HOST", "tcp://127.0.0.1:2375", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	setenv("DOCKER_HOST", "ssh://me@host", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	setenv("DOCKER_HOST", "unix://relative.sock", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	unsetenv("DOCKER_HOST");
	setenv("MOAT_DOCKER_API", "0", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	unsetenv("MOAT_DOCKER_API");
	setenv("DOCKER_CONTEXT", "colima", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	setenv("DOCKER_CONTEXT", "default", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 1);
	unsetenv("DOCKER_CONTEXT");
	/* A context chosen with `docker context use`, in config.json. */
	snprintf(cfg, sizeof(cfg), "%s/.docker/config.json", home);
	fp = fopen(cfg, "w");
	fputs("{\"auths\": {}, \"currentContext\": \"rootless\"}\n", fp);
	fclose(fp);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	fp = fopen(cfg, "w");
	fputs("{\"currentContext\": \"default\"}\n", fp);
	fclose(fp);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 1);
	fp = fopen(cfg, "w");
	fputs("{\"currentContext\": ", fp);	/* unreadable: the CLI */
	fclose(fp);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 0);
	/* DOCKER_HOST wins over a context, as in the CLI. */
	setenv("DOCKER_HOST", "unix:///var/run/docker.sock", 1);
	CHECK_INT(rt_api_socket(path, sizeof(path)), 1);
	unsetenv("DOCKER_HOST");
	unlink(cfg);
	if (oldhome != NULL)
		setenv("HOME", oldhome, 1);
	free(oldhome);
}

/* The socket's answers, and its failures, against the real daemon. */
static void
test_api_call(void)
{
	char	*answer = NULL, err[512], sock[PATH_MAX + 32];
	int	 status = 0;

	CHECK_INT(rt_api_call("GET", "/_ping", NULL, 5000, &status, &answer,
	    err, sizeof(err)), 1);
	CHECK_INT(status, 200);
	CHECK_STR(answer, "OK");
	free(answer);
	/* A daemon error: its message and the status. */
	CHECK_INT(rt_api_call("GET", "/networks/moat-no-such-network", NULL,
	    5000, &status, &answer, err, sizeof(err)), 1);
	CHECK_INT(status, 404);
	rt_api_error(answer, status, "docker network inspect x", err,
	    sizeof(err));
	CHECK_STR(err, "docker network inspect x: network "
	    "moat-no-such-network not found (HTTP 404)");
	free(answer);
	/* Nobody on the socket: 0, so the caller asks the CLI. */
	snprintf(sock, sizeof(sock), "unix://%s/none.sock", tmpdir);
	setenv("DOCKER_HOST", sock, 1);
	CHECK_INT(rt_api_call("GET", "/_ping", NULL, 5000, &status, &answer,
	    err, sizeof(err)), 0);
	CHECK(answer == NULL);
	unsetenv("DOCKER_HOST");
}


static void
test_docker_down(void)
{
	struct rt_info	info;
	char		sock[PATH_MAX + 32], err[1024];

	/* The real docker CLI against a daemon that is not there. */
	snprintf(sock, sizeof(sock), "unix://%s/no-daemon.sock", tmpdir);
	setenv("DOCKER_HOST", sock, 1);
	CHECK_INT(rt_probe(RT_DOCKER, &info), -1);
	CHECK_INT(info.state, RT_STATE_NOT_RUNNING);
	CHECK(strncmp(info.reason, "cannot connect to the Docker daemon",
	    35) == 0);
	CHECK_CONTAINS(info.reason, "\nStart it with: sudo systemctl start "
	    "docker\n           or: sudo dockerd &");
	CHECK(strstr(info.reason, "gVisor") == NULL);
	CHECK(strstr(info.reason, "runsc") == NULL);
	CHECK_INT(rt_detect("docker", NULL, &info, err, sizeof(err)), -1);
	CHECK(strncmp(err, "cannot connect to the Docker daemon", 35) == 0);
	/* Auto on Linux: Docker down: Podman where it is installed, else
	 * Docker's message. */
	{
		char *pm = util_which("podman");

		if (pm == NULL) {
			CHECK_INT(detect(HOST_LINUX, NULL, NULL, &info, err,
			    sizeof(err)), -1);
			CHECK(strncmp(err, "cannot connect to the Docker "
			    "daemon", 35) == 0);
		} else {
			CHECK_INT(detect(HOST_LINUX, NULL, NULL, &info, err,
			    sizeof(err)), 0);
			CHECK_INT(info.engine, RT_PODMAN);
		}
		free(pm);
	}
	unsetenv("DOCKER_HOST");
}

static void
test_docker_without_runsc(void)
{
	struct rt_info	info;
	char		path[PATH_MAX + 8192];

	/*
	 * The real daemon, with runsc removed from its runtime list by a
	 * wrapper of the CLI (so moat must use the CLI, not the socket).
	 */
	snprintf(path, sizeof(path), "%s/no-runsc:%s", fakedir, orig_path);
	setenv("PATH", path, 1);
	setenv("MOAT_DOCKER_API", "0", 1);
	CHECK_INT(rt_probe(RT_DOCKER, &info), 0);
	CHECK_INT(info.state, RT_STATE_READY);
	CHECK_INT(info.gvisor, 0);
	unsetenv("MOAT_DOCKER_API");
	setenv("PATH", orig_path, 1);
	CHECK_INT(rt_probe(RT_DOCKER, &info), 0);
	CHECK_INT(info.gvisor, 1);
}

static int
docker_ok(char *const argv[])
{
	int	 st = -1;
	char	*o = sh_out(argv, &st);

	free(o);
	return st == 0;
}

static void
network_checks(void)
{
	struct rt_network	 net;
	struct strvec		 labels = STRVEC_INIT;
	char			 name[64], err[512], sys[128], *o;
	char			*inspect[] = { "docker", "network", "inspect",
				    "--format", "{{.Internal}} "
				    "{{index .Labels \"moat.run\"}}", name,
				    NULL };
	struct stat		 st;

	snprintf(name, sizeof(name), "moat-test-rt-%ld", (long)getpid());
	strvec_pushf(&labels, "moat.run=test-rt-%ld", (long)getpid());
	strvec_pushf(&labels, "moat.pid=%ld", (long)getpid());
	CHECK_INT(rt_network_create(RT_DOCKER, name, &labels, &net, err,
	    sizeof(err)), 0);
	CHECK_STR(net.name, name);
	CHECK(strncmp(net.bridge, "br-", 3) == 0 && strlen(net.bridge) == 15);
	CHECK(strncmp(net.bridge + 3, net.id, 12) == 0);
	CHECK(strchr(net.subnet, '/') != NULL);
	snprintf(sys, sizeof(sys), "/sys/class/net/%s", net.bridge);
	CHECK(stat(sys, &st) == 0);		/* the host interface */
	o = sh_out(inspect, NULL);
	{
		char *want = xasprintf("true test-rt-%ld", (long)getpid());

		CHECK_STR(o, want);
		free(want);
	}
	free(o);
	/* Read from the kernel, they are what the daemon says. */
	{
		char *ins[] = { "docker", "network", "inspect", "--format",
		    "{{.Id}} {{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}"
		    "{{end}}", name, NULL };
		char *want = xasprintf("%s %s %s", net.id, net.gateway,
		    net.subnet);

		o = sh_out(ins, NULL);
		CHECK_STR(o, want);
		CHECK(strlen(net.id) == 64);
		free(want);
		free(o);
	}
	/* A second create with the same name fails and leaves the first. */
	{
		struct rt_network n2;

		CHECK_INT(rt_network_create(RT_DOCKER, name, &labels, &n2,
		    err, sizeof(err)), -1);
		CHECK_CONTAINS(err, "network create");
		CHECK(docker_ok(inspect));
	}
	CHECK_INT(rt_network_remove(RT_DOCKER, name, err, sizeof(err)), 0);
	CHECK(!docker_ok(inspect));
	CHECK_INT(rt_network_remove(RT_DOCKER, name, err, sizeof(err)), 0);
	CHECK_INT(rt_network_create(RT_DOCKER, "bad name", NULL, &net, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "bad network name \"bad name\"");
	/* Cleanup even when a check above failed. */
	(void)rt_network_remove(RT_DOCKER, name, err, sizeof(err));
	strvec_free(&labels);
}

/* Create, inspect, refuse, remove: over the socket, then with the CLI. */
static void
test_network(void)
{
	network_checks();
	setenv("MOAT_DOCKER_API", "0", 1);
	network_checks();
	unsetenv("MOAT_DOCKER_API");
}

static void
test_firewall(void)
{
	struct rt_network	 net;
	char			 name[64], runid[32], chain[64], err[512], *o;
	char			*lsch[] = { "iptables", "-w", "5", "-S", chain,
				    NULL };
	char			*lsin[] = { "iptables", "-w", "5", "-S",
				    "INPUT", NULL };
	char			*want;
	int			 st;

	if (!rt_firewall_capable()) {
		printf("# firewall: not root here, checking the refusal\n");
		CHECK_INT(rt_firewall_add("r", "br-x", "172.19.0.1", 80, err,
		    sizeof(err)), -1);
		CHECK_CONTAINS(err, "CAP_NET_ADMIN");
		return;
	}
	snprintf(runid, sizeof(runid), "test-fw-%ld", (long)getpid());
	snprintf(chain, sizeof(chain), "MOAT-%s", runid);
	snprintf(name, sizeof(name), "moat-test-fw-%ld", (long)getpid());
	if (rt_network_create(RT_DOCKER, name, NULL, &net, err,
	    sizeof(err)) == -1) {
		CHECK(!"network create failed");
		printf("# %s\n", err);
		return;
	}
	CHECK_INT(rt_firewall_add(runid, net.bridge, net.gateway, 41234, err,
	    sizeof(err)), 0);
	o = sh_out(lsch, &st);
	want = xasprintf("-N %s\n-A %s -d %s/32 -p tcp -m tcp --dport 41234 "
	    "-j ACCEPT\n-A %s -j DROP", chain, chain, net.gateway, chain);
	CHECK_STR(o, want);
	free(want);
	free(o);
	o = sh_out(lsin, NULL);
	want = xasprintf("-A INPUT -i %s -j %s", net.bridge, chain);
	CHECK_CONTAINS(o, want);
	free(o);
	/* IPv6 from the bridge (link-local) reaches nothing on the host. */
	if ((o = util_which("ip6tables")) != NULL) {
		char *ls6[] = { "ip6tables", "-w", "5", "-S", chain, NULL };
		char *in6[] = { "ip6tables", "-w", "5", "-S", "INPUT", NULL };
		char *w6;

		free(o);
		o = sh_out(ls6, &st);
		w6 = xasprintf("-N %s\n-A %s -j DROP", chain, chain);
		CHECK_STR(o, w6);
		free(w6);
		free(o);
		o = sh_out(in6, NULL);
		CHECK_CONTAINS(o, want);
		free(o);
	}
	/* Adding twice replaces, never duplicates. */
	CHECK_INT(rt_firewall_add(runid, net.bridge, net.gateway, 41235, err,
	    sizeof(err)), 0);
	o = sh_out(lsin, NULL);
	CHECK(strstr(o, want) != NULL &&
	    strstr(strstr(o, want) + 1, want) == NULL);
	free(o);
	free(want);
	CHECK_INT(rt_firewall_remove(runid, err, sizeof(err)), 0);
	o = sh_out(lsch, &st);
	CHECK(st != 0);			/* the chain is gone */
	free(o);
	if ((o = util_which("ip6tables")) != NULL) {
		char *ls6[] = { "ip6tables", "-w", "5", "-S", chain, NULL };

		free(o);
		o = sh_out(ls6, &st);
		CHECK(st != 0);		/* and its IPv6 twin */
		free(o);
	}
	o = sh_out(lsin, NULL);
	CHECK(strstr(o, chain) == NULL);
	free(o);
	CHECK_INT(rt_firewall_remove(runid, err, sizeof(err)), 0);
	CHECK_INT(rt_firewall_add("bad id!", net.bridge, net.gateway, 1, err,
	    sizeof(err)), -1);
	/* Long run ids that differ only at the end get distinct chains. */
	{
		const char *id1 = "run-20260131-235959-0a1b2c";
		const char *id2 = "run-20260131-235959-0a1b2d";
		int n1, n2;
		char pat[64];

		/* Other runs have chains too: count the ones on our bridge. */
		snprintf(pat, sizeof(pat), "-i %s -j MOAT-h", net.bridge);

		CHECK_INT(rt_firewall_add(id1, net.bridge, net.gateway, 1000,
		    err, sizeof(err)), 0);
		CHECK_INT(rt_firewall_add(id2, net.bridge, net.gateway, 1001,
		    err, sizeof(err)), 0);
		o = sh_out(lsin, NULL);
		n1 = 0;
		for (char *q = o; (q = strstr(q, pat)) != NULL; q++)
			n1++;
		free(o);
		CHECK_INT(n1, 2);
		CHECK_INT(rt_firewall_remove(id1, err, sizeof(err)), 0);
		o = sh_out(lsin, NULL);
		n2 = 0;
		for (char *q = o; (q = strstr(q, pat)) != NULL; q++)
			n2++;
		free(o);
		CHECK_INT(n2, 1);
		CHECK_INT(rt_firewall_remove(id2, err, sizeof(err)), 0);
		(void)rt_firewall_remove(id1, err, sizeof(err));
	}
	(void)rt_firewall_remove(runid, err, sizeof(err));
	(void)rt_network_remove(RT_DOCKER, name, err, sizeof(err));
}

/* A listener on 0.0.0.0 (all interfaces, like a careless host service). */
static int
listen_any(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		sl = sizeof(sin);
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Child: answers "HTTP/1.0 200" on both listeners for at most 120 s. */
static pid_t
serve(int a, int b)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	alarm(120);
	for (;;) {
		struct pollfd	pf[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
		int		i, c;
		char		buf[512];
		static const char resp[] =
		    "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

		if (poll(pf, 2, -1) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			if ((c = accept(pf[i].fd, NULL, NULL)) == -1)
				continue;
			(void)!read(c, buf, sizeof(buf));
			(void)!write(c, resp, sizeof(resp) - 1);
			close(c);
		}
	}
}

/* curl from a container on net to gw:port; returns curl's exit status. */
static int
curl_from(const char *img, const char *net, const char *gw, int port)
{
	char	 url[128], *o;
	char	*argv[] = { "docker", "run", "--rm", "--network", (char *)net,
		    (char *)img, "curl", "-s", "-o", "/dev/null", "--connect-timeout",
		    "5", "-m", "30",
		    url, NULL };
	int	 st = -1;

	snprintf(url, sizeof(url), "http://%s:%d/", gw, port);
	o = sh_out(argv, &st);
	free(o);
	return st;
}

/* A small image from host files (sh, coreutils, curl), built once. */
static char	image[64];
static int	image_state;	/* 0 not tried, 1 built, -1 failed */

static const char *
test_image(void)
{
	char	*mk, *o;
	int	 st = -1;

	if (image_state == 0) {
		snprintf(image, sizeof(image), "moat-test-rt-img:%ld",
		    (long)getpid());
		mk = xasprintf("%s/tests/e2e/mkimage.sh", getenv("MOAT_SRC") ?
		    getenv("MOAT_SRC") : "../..");
		{
			char *argv[] = { "sh", mk, image, NULL };

			o = sh_out(argv, &st);
			free(o);
		}
		free(mk);
		image_state = st == 0 ? 1 : -1;
	}
	return image_state == 1 ? image : NULL;
}

/* What moat run asks after a `run --pull never` that failed. */
static void
test_image_present(void)
{
	char		*argv[] = { "docker", "run", "--rm", "--pull", "never",
			    "moat-no-such-image:0", "true", NULL };
	const char	*img;
	char		*o;
	int		 st = -1;

	if ((img = test_image()) == NULL) {
		CHECK(!"cannot build the test image");
		return;
	}
	CHECK_INT(rt_image_present(RT_DOCKER, img), 1);
	CHECK_INT(rt_image_present(RT_DOCKER, "moat-no-such-image:0"), 0);
	CHECK_INT(rt_image_present(RT_DOCKER, "-x"), -1);
	CHECK_INT(rt_image_present(RT_APPLE, "moat-agent:latest"), -1);
	/* The engine itself refuses rather than pulling. */
	o = sh_out(argv, &st);
	CHECK_INT(st, 125);
	free(o);
}

static void
test_image_remove(void)
{
	char *argv[] = { "docker", "rmi", "-f", image, NULL };

	if (image_state == 1)
		free(sh_out(argv, NULL));
}

/*
 * The spec through the real engine: the env value arrives (through the
 * CLI's environment), the user, working directory, no-new-privileges and
 * pids limit hold, the exit status passes through, --rm removes it.
 */
static void
spawn_live(int runsc)
{
	struct rt_spec	 s;
	char		 err[512], buf[4096], *want, *o;
	const char	*img;
	size_t		 len = 0;
	ssize_t		 n;
	int		 p[2], status = -1, st;
	pid_t		 pid;
	char		*inspect[] = { "docker", "inspect", NULL, NULL };

	if ((img = test_image()) == NULL) {
		CHECK(!"could not build the test image");
		return;
	}
	rt_spec_init(&s);
	s.name = xasprintf("moat-test-spawn-%d-%ld", runsc, (long)getpid());
	s.image = xstrdup(img);
	strvec_push(&s.command, "sh");
	strvec_push(&s.command, "-c");
	strvec_push(&s.command, "echo \"$HTTP_PROXY\"; id -u; id -g; pwd; "
	    "grep NoNewPrivs /proc/self/status; "
	    "cat /sys/fs/cgroup/pids.max 2>/dev/null || "
	    "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo no-pids; "
	    "exit 7");
	rt_spec_setenv(&s, "HTTP_PROXY", "http://moat:" SECRET "@10.9.8.7:1");
	rt_spec_add_mount(&s, tmpdir, "/workspace", 0);
	rt_spec_add_label(&s, "moat.run", "test-spawn");
	{
		char me[32];

		snprintf(me, sizeof(me), "%ld", (long)getpid());
		rt_spec_add_label(&s, "moat.pid", me);
	}
	s.user = xstrdup("1234:5678");
	s.workdir = xstrdup("/workspace");
	s.pids_limit = 1024;
	s.no_new_privileges = 1;
	s.runsc = runsc;
	s.remove = 1;
	if (pipe(p) == -1) {
		CHECK(!"pipe");
		rt_spec_free(&s);
		return;
	}
	pid = rt_container_spawn(RT_DOCKER, &s, UTIL_FD_NULL, p[1],
	    UTIL_FD_INHERIT, err, sizeof(err));
	close(p[1]);
	CHECK(pid > 0);
	while (pid > 0 && len < sizeof(buf) - 1 &&
	    (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		CHECK_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 7);
	if (runsc)	/* gVisor's /proc and cgroups differ: the basics */
		want = xstrdup("http://moat:" SECRET "@10.9.8.7:1\n1234\n"
		    "5678\n/workspace\n");
	else
		want = xstrdup("http://moat:" SECRET "@10.9.8.7:1\n1234\n"
		    "5678\n/workspace\nNoNewPrivs:\t1\n1024\n");
	if (runsc)
		CHECK(strncmp(buf, want, strlen(want)) == 0);
	else
		CHECK_STR(buf, want);
	if (strncmp(buf, want, strlen(want)) != 0)
		printf("# got: %s", buf);
	free(want);
	/* --rm: nothing left. */
	inspect[2] = s.name;
	o = sh_out(inspect, &st);
	CHECK(st != 0);
	free(o);
	if (st == 0) {
		char *rm[] = { "docker", "rm", "-f", s.name, NULL };

		free(sh_out(rm, NULL));
	}
	rt_spec_free(&s);
}

/* Reads fd to its end into buf (NUL-terminated), closes it, reaps pid:
 * the exit status, or -1. */
static int
drain_and_reap(pid_t pid, int fd, char *buf, size_t cap)
{
	size_t	len = 0;
	ssize_t	n;
	int	status = -1;

	while (pid > 0 && len < cap - 1 &&
	    (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return -1;
}

/*
 * The same spec run through the docker CLI and over the daemon's socket
 * (kept, not --rm): the daemon must hold the same configuration for
 * both, and the output and status must be the same.
 */
static char *
inspect_cfg(const char *name)
{
	char *argv[] = { "docker", "inspect", "--format",
	    "{{len .Config.Env}}|{{json .Config.Cmd}}|{{.Config.User}}|"
	    "{{.Config.WorkingDir}}|{{json .Config.Labels}}|"
	    "{{len .HostConfig.Binds}}|{{.HostConfig.NetworkMode}}|"
	    "{{.HostConfig.Runtime}}|{{json .HostConfig.SecurityOpt}}|"
	    "{{.HostConfig.PidsLimit}}|{{.HostConfig.Memory}}|"
	    "{{.HostConfig.NanoCpus}}|{{json .HostConfig.ExtraHosts}}|"
	    "{{.HostConfig.AutoRemove}}|{{.Config.Tty}}|{{.Config.OpenStdin}}|"
	    "{{.Config.AttachStdout}}|{{.Config.AttachStderr}}|"
	    "{{.State.ExitCode}}", (char *)name, NULL };

	return sh_out(argv, NULL);
}

static void
test_spawn_api_matches_cli(void)
{
	struct rt_spec	 s;
	char		 err[512], buf[2][256], *cfg[2] = { NULL, NULL };
	char		*names[2];
	const char	*img;
	int		 i, p[2];
	pid_t		 pid;

	if ((img = test_image()) == NULL) {
		CHECK(!"could not build the test image");
		return;
	}
	for (i = 0; i < 2; i++) {
		names[i] = xasprintf("moat-test-%s-%ld", i ? "api" : "cli",
		    (long)getpid());
		if (i == 0)
			setenv("MOAT_DOCKER_API", "0", 1);
		rt_spec_init(&s);
		s.name = xstrdup(names[i]);
		s.image = xstrdup(img);
		strvec_push(&s.command, "sh");
		strvec_push(&s.command, "-c");
		strvec_push(&s.command, "echo \"out $FOO\"; echo err >&2; "
		    "exit 3");
		rt_spec_setenv(&s, "HTTPS_PROXY", "http://moat:" SECRET
		    "@10.9.8.7:1");
		rt_spec_setenv(&s, "FOO", "bar baz");
		rt_spec_setenv(&s, "PATH", "/usr/local/bin:/usr/bin:/bin");
		rt_spec_add_mount(&s, tmpdir, "/workspace", 0);
		rt_spec_add_mount(&s, tmpdir, "/etc/moat-ca", 1);
		rt_spec_add_label(&s, "moat.run", "test-api");
		rt_spec_add_label(&s, "moat.name", "a \"quoted\" name");
		s.user = xstrdup("1234:5678");
		s.workdir = xstrdup("/workspace");
		s.pids_limit = 512;
		s.memory = 64ULL << 20;
		s.cpus = 1.5;
		s.no_new_privileges = 1;
		strvec_push(&s.add_hosts, "host.docker.internal:host-gateway");
		s.remove = 0;
		if (pipe(p) == -1) {
			CHECK(!"pipe");
			break;
		}
		/* stdout and stderr into one pipe: both must arrive. */
		pid = rt_container_spawn(RT_DOCKER, &s, UTIL_FD_NULL, p[1],
		    p[1], err, sizeof(err));
		close(p[1]);
		unsetenv("MOAT_DOCKER_API");
		CHECK(pid > 0);
		CHECK_INT(drain_and_reap(pid, p[0], buf[i], sizeof(buf[i])), 3);
		cfg[i] = inspect_cfg(names[i]);
		rt_spec_free(&s);
	}
	/* Line order between the two streams is not defined: count. */
	for (i = 0; i < 2; i++) {
		CHECK(strstr(buf[i], "out bar baz\n") != NULL);
		CHECK(strstr(buf[i], "err\n") != NULL);
		CHECK_INT((int)strlen(buf[i]), 16);
	}
	CHECK(cfg[0] != NULL && cfg[1] != NULL);
	if (cfg[0] != NULL && cfg[1] != NULL) {
		CHECK_STR(cfg[1], cfg[0]);
		if (strcmp(cfg[1], cfg[0]) != 0)
			printf("# api %s\n# cli %s\n", cfg[1], cfg[0]);
		/*
		 * The CLI orders binds and the environment its own way (Go
		 * maps, reserved names first): compare them as sets.
		 */
		for (i = 0; i < 2; i++) {
			char *argv[] = { "docker", "inspect", "--format",
			    "{{range .HostConfig.Binds}}{{.}}\n{{end}}"
			    "{{range .Config.Env}}{{.}}\n{{end}}end",
			    names[i], NULL };
			char *b = sh_out(argv, NULL), *w1, *w2;

			w1 = xasprintf("%s:/workspace\n", tmpdir);
			w2 = xasprintf("%s:/etc/moat-ca:ro\n", tmpdir);
			CHECK(b != NULL && strstr(b, w1) != NULL &&
			    strstr(b, w2) != NULL);
			CHECK(b != NULL && strstr(b, "\nHTTPS_PROXY=http://moat:"
			    SECRET "@10.9.8.7:1\n") != NULL &&
			    strstr(b, "\nFOO=bar baz\n") != NULL &&
			    strstr(b, "\nPATH=/usr/local/bin:/usr/bin:/bin") !=
			    NULL);
			free(w1);
			free(w2);
			free(b);
		}
		CHECK(strncmp(cfg[1], "3|", 2) == 0);	/* three env vars */
		CHECK_CONTAINS(cfg[1], "|1234:5678|/workspace|");
		CHECK_CONTAINS(cfg[1], "|2|default|runc|");
		CHECK_CONTAINS(cfg[1], "|512|67108864|1500000000|");
		CHECK_CONTAINS(cfg[1], "|false|false|false|true|true|3");
	}
	for (i = 0; i < 2; i++) {
		char *rm[] = { "docker", "rm", "-f", names[i], NULL };

		free(sh_out(rm, NULL));
		free(cfg[i]);
		free(names[i]);
	}
}

/* A command that cannot run, an image that is not there: the CLI's codes. */
static void
test_spawn_api_failures(void)
{
	struct rt_spec	 s;
	char		 err[512], buf[1024];
	const char	*img;
	int		 i, p[2];
	pid_t		 pid;

	if ((img = test_image()) == NULL) {
		CHECK(!"could not build the test image");
		return;
	}
	for (i = 0; i < 2; i++) {
		rt_spec_init(&s);
		s.name = xasprintf("moat-test-apifail-%d-%ld", i,
		    (long)getpid());
		s.image = xstrdup(i == 0 ? img : "moat-test-no-such-image:x");
		strvec_push(&s.command, "no-such-command");
		s.remove = 1;
		if (pipe(p) == -1)
			break;
		pid = rt_container_spawn(RT_DOCKER, &s, UTIL_FD_NULL,
		    UTIL_FD_NULL, p[1], err, sizeof(err));
		close(p[1]);
		CHECK_INT(drain_and_reap(pid, p[0], buf, sizeof(buf)),
		    i == 0 ? 127 : 125);
		CHECK(strncmp(buf, "docker: Error response from daemon: ",
		    36) == 0);
		CHECK_CONTAINS(buf, i == 0 ? "executable file not found" :
		    "No such image: moat-test-no-such-image:x");
		{
			/* --rm: nothing left, even though it never ran. */
			char *in[] = { "docker", "inspect", s.name, NULL };
			int st;

			free(sh_out(in, &st));
			CHECK(st != 0);
		}
		rt_spec_free(&s);
	}
}

static void
test_spawn_runc(void)
{
	spawn_live(0);
}

static void
test_spawn_runsc(void)
{
	spawn_live(1);
}

/* Stopping a running container by name ends its CLI; removal is idempotent. */
static void
test_stop_live(void)
{
	struct rt_spec	 s;
	char		 err[512], *o;
	const char	*img;
	char		*running[] = { "docker", "inspect", "--format",
			    "{{.State.Running}}", NULL, NULL };
	int		 i, st, status = -1;
	pid_t		 pid;

	if ((img = test_image()) == NULL) {
		CHECK(!"could not build the test image");
		return;
	}
	rt_spec_init(&s);
	s.name = xasprintf("moat-test-stop-%ld", (long)getpid());
	s.image = xstrdup(img);
	strvec_push(&s.command, "sleep");
	strvec_push(&s.command, "300");
	s.remove = 1;
	pid = rt_container_spawn(RT_DOCKER, &s, UTIL_FD_NULL, UTIL_FD_NULL,
	    UTIL_FD_NULL, err, sizeof(err));
	CHECK(pid > 0);
	running[4] = s.name;
	for (i = 0; pid > 0 && i < 60; i++) {	/* until it runs, bounded */
		o = sh_out(running, &st);
		if (strcmp(o, "true") == 0) {
			free(o);
			break;
		}
		free(o);
		usleep(500 * 1000);
	}
	CHECK(i < 60);
	CHECK_INT(rt_container_stop(RT_DOCKER, s.name, 1, err, sizeof(err)),
	    0);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	CHECK_INT(rt_container_remove(RT_DOCKER, s.name, err, sizeof(err)),
	    0);
	o = sh_out(running, &st);
	CHECK(st != 0);
	free(o);
	/* Stopping or removing what is not there is not an error. */
	CHECK_INT(rt_container_stop(RT_DOCKER, s.name, 1, err, sizeof(err)),
	    0);
	CHECK_INT(rt_container_remove(RT_DOCKER, s.name, err, sizeof(err)),
	    0);
	rt_spec_free(&s);
}

/*
 * The rule at work: a container on the per-run network reaches the
 * proxy port on the gateway but not another host service listening on
 * all interfaces; without the rule it does reach it (so this can fail).
 */
static void
test_firewall_live(void)
{
	struct rt_network	 net;
	char			 name[64], runid[32], err[512];
	const char		*img;
	int			 a, b, pa = 0, pb = 0;
	pid_t			 srv;

	if (!rt_firewall_capable()) {
		printf("# firewall live: not capable here\n");
		return;
	}
	if ((img = test_image()) == NULL) {
		CHECK(!"could not build the test image");
		return;
	}
	snprintf(runid, sizeof(runid), "test-fwl-%ld", (long)getpid());
	snprintf(name, sizeof(name), "moat-test-fwl-%ld", (long)getpid());
	if ((a = listen_any(&pa)) == -1 || (b = listen_any(&pb)) == -1) {
		CHECK(!"listen");
		return;
	}
	srv = serve(a, b);
	close(a);
	close(b);
	if (rt_network_create(RT_DOCKER, name, NULL, &net, err,
	    sizeof(err)) == -1) {
		CHECK(!"network create");
		goto out;
	}
	/* Without the rule the host service is reachable: the hole. */
	CHECK_INT(curl_from(img, name, net.gateway, pb), 0);
	CHECK_INT(rt_firewall_add(runid, net.bridge, net.gateway, pa, err,
	    sizeof(err)), 0);
	CHECK_INT(curl_from(img, name, net.gateway, pa), 0);	/* proxy */
	CHECK(curl_from(img, name, net.gateway, pb) != 0);	/* blocked */
	CHECK_INT(rt_firewall_remove(runid, err, sizeof(err)), 0);
	CHECK_INT(curl_from(img, name, net.gateway, pb), 0);
 out:
	(void)rt_firewall_remove(runid, err, sizeof(err));
	(void)rt_network_remove(RT_DOCKER, name, err, sizeof(err));
	if (srv > 0) {
		kill(srv, SIGKILL);
		waitpid(srv, NULL, 0);
	}
}

/* A pid that certainly belongs to no process now. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

static void
orphans_checks(void)
{
	char	 img[64], cdead[64], clive[64], ckeep[64], ndead[64];
	char	 runsdir[PATH_MAX + 8], md[PATH_MAX + 64], err[1024];
	char	 ldead[64], llive[64], lpid[64], lended[64], nended[64];
	char	*o, *tarcmd;
	int	 n = -1, st;
	long	 me = (long)getpid(), dead = (long)dead_pid();

	snprintf(img, sizeof(img), "moat-test-empty:%ld", me);
	snprintf(cdead, sizeof(cdead), "moat-test-dead-%ld", me);
	snprintf(clive, sizeof(clive), "moat-test-live-%ld", me);
	snprintf(ckeep, sizeof(ckeep), "moat-test-keep-%ld", me);
	snprintf(ndead, sizeof(ndead), "moat-test-ndead-%ld", me);
	snprintf(nended, sizeof(nended), "moat-test-nended-%ld", me);
	snprintf(ldead, sizeof(ldead), "moat.run=orph-%ld", me);
	snprintf(llive, sizeof(llive), "moat.run=live-%ld", me);
	snprintf(lended, sizeof(lended), "moat.run=ended-%ld", me);
	snprintf(lpid, sizeof(lpid), "moat.pid=%ld", dead);

	/* An empty image: enough to create (not start) containers. */
	tarcmd = xasprintf("tar cf - -T /dev/null | docker import - %s "
	    ">/dev/null", img);
	{
		char *argv[] = { "sh", "-c", tarcmd, NULL };

		free(sh_out(argv, &st));
		CHECK_INT(st, 0);
	}
	free(tarcmd);
	{
		char mypid[64];
		char *c1[] = { "docker", "create", "--name", cdead, "--label",
		    ldead, "--label", lpid, img, "true", NULL };
		char *c2[] = { "docker", "create", "--name", clive, "--label",
		    llive, "--label", mypid, img, "true", NULL };
		char *c3[] = { "docker", "create", "--name", ckeep, "--label",
		    ldead, "--label", lpid, "--label", "moat.keep=1", img,
		    "true", NULL };
		char *n1[] = { "docker", "network", "create", "--internal",
		    "--label", ldead, "--label", lpid, ndead, NULL };
		char *n2[] = { "docker", "network", "create", "--internal",
		    "--label", lended, "--label", mypid, nended, NULL };

		snprintf(mypid, sizeof(mypid), "moat.pid=%ld", me);
		CHECK(docker_ok(c1));
		CHECK(docker_ok(c2));
		CHECK(docker_ok(c3));
		CHECK(docker_ok(n1));
		CHECK(docker_ok(n2));
	}
	/* A run whose metadata says it ended, though its pid lives. */
	snprintf(runsdir, sizeof(runsdir), "%s/runs", tmpdir);
	snprintf(md, sizeof(md), "%s/ended-%ld", runsdir, me);
	CHECK(util_mkdir_p(md, 0700) == 0);
	strcat(md, "/metadata.json");
	o = xasprintf("{\"id\": \"ended-%ld\", \"pid\": %ld, \"start\": "
	    "\"2026-01-01T00:00:00Z\", \"end\": \"2026-01-01T00:01:00Z\"}\n",
	    me, me);
	CHECK_INT(util_write_atomic(md, o, strlen(o), 0600, err, sizeof(err)),
	    0);
	free(o);

	/*
	 * Other moat runs on this machine may clean the same orphans at the
	 * same time, or leave ones that cannot go yet: judge by what
	 * happened to ours.
	 */
	if (rt_cleanup_orphans(RT_DOCKER, runsdir, &n, err, sizeof(err)) ==
	    -1) {
		char mine[32];

		printf("# cleanup: %s\n", err);
		snprintf(mine, sizeof(mine), "-%ld", me);
		CHECK(strstr(err, mine) == NULL);
	}
	{
		char *i1[] = { "docker", "inspect", cdead, NULL };
		char *i2[] = { "docker", "inspect", clive, NULL };
		char *i3[] = { "docker", "inspect", ckeep, NULL };
		char *i4[] = { "docker", "network", "inspect", ndead, NULL };
		char *i5[] = { "docker", "network", "inspect", nended, NULL };

		CHECK(!docker_ok(i1));		/* dead pid: removed */
		CHECK(docker_ok(i2));		/* live pid: kept */
		CHECK(docker_ok(i3));		/* --keep: kept */
		CHECK(!docker_ok(i4));		/* dead pid: removed */
		CHECK(!docker_ok(i5));		/* run ended: removed */
	}
	/* Leave nothing behind. */
	{
		char *r1[] = { "docker", "rm", "-f", cdead, clive, ckeep, NULL };
		char *r2[] = { "docker", "network", "rm", ndead, nended, NULL };
		char *r3[] = { "docker", "rmi", "-f", img, NULL };

		free(sh_out(r1, NULL));
		free(sh_out(r2, NULL));
		free(sh_out(r3, NULL));
	}
}

/* Orphans found and removed over the socket, then with the CLI. */
static void
test_orphans(void)
{
	orphans_checks();
	setenv("MOAT_DOCKER_API", "0", 1);
	orphans_checks();
	unsetenv("MOAT_DOCKER_API");
}

/* ---- Podman (live, where installed) ---------------------------------- */

static int
podman_main(void)
{
	struct rt_info		 info;
	struct rt_network	 net;
	char			 err[512], name[64], *p;

	if ((p = util_which("podman")) == NULL) {
		printf("skipped: podman not installed\n");
		return 77;
	}
	free(p);
	harness_cur = "podman";
	CHECK_INT(rt_probe(RT_PODMAN, &info), 0);
	CHECK(*info.version != '\0');
	snprintf(name, sizeof(name), "moat-test-pm-%ld", (long)getpid());
	CHECK_INT(rt_network_create(RT_PODMAN, name, NULL, &net, err,
	    sizeof(err)), 0);
	CHECK(*net.gateway != '\0');
	CHECK(*net.bridge != '\0');
	CHECK_INT(rt_network_remove(RT_PODMAN, name, err, sizeof(err)), 0);
	(void)rt_network_remove(RT_PODMAN, name, err, sizeof(err));
	/*
	 * What a killed run left (labelled with a dead moat pid): found
	 * through `ps`/`network ls --format json` and removed.  A network
	 * and a created (never started) container: `podman run` itself may
	 * not work where this runs.
	 */
	{
		struct strvec	 labels = STRVEC_INIT;
		char		 cname[64], run[64];
		int		 n = -1, st;

		snprintf(run, sizeof(run), "moat.run=pm-dead-%ld",
		    (long)getpid());
		strvec_push(&labels, run);
		strvec_push(&labels, "moat.pid=999999999");
		CHECK_INT(rt_network_create(RT_PODMAN, name, &labels, &net,
		    err, sizeof(err)), 0);
		snprintf(cname, sizeof(cname), "moat-test-pmc-%ld",
		    (long)getpid());
		{
			char *c[] = { "podman", "create", "--name", cname,
			    "--label", run, "--label", "moat.pid=999999999",
			    "--network", "none", "localhost/moat-agent:latest",
			    "true", NULL };

			free(sh_out(c, &st));
			if (st != 0)
				printf("# podman create failed (no "
				    "moat-agent image in podman?): only the "
				    "network is checked\n");
		}
		CHECK_INT(rt_cleanup_orphans(RT_PODMAN, NULL, &n, err,
		    sizeof(err)), 0);
		CHECK(n >= (st == 0 ? 2 : 1));
		{
			char *i1[] = { "podman", "network", "exists", name,
			    NULL };
			char *i2[] = { "podman", "container", "exists", cname,
			    NULL };

			free(sh_out(i1, &st));
			CHECK(st != 0);
			free(sh_out(i2, &st));
			CHECK(st != 0);
		}
		(void)rt_network_remove(RT_PODMAN, name, err, sizeof(err));
		strvec_free(&labels);
	}
	return harness_cur_failed ? 1 : 0;
}

int
main(int argc, char **argv)
{
	const char	*src = getenv("MOAT_SRC"), *path = getenv("PATH");

	if (argc > 1 && strcmp(argv[1], "podman") == 0)
		return podman_main();
	snprintf(orig_path, sizeof(orig_path), "%s", path ? path :
	    "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/moat-test-rt-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(fakedir, sizeof(fakedir), "%s/tests/integ/fake-container",
	    src ? src : "../..");
	snprintf(logpath, sizeof(logpath), "%s/container.log", tmpdir);
	snprintf(approot, sizeof(approot), "%s/Application Support/"
	    "com.apple.container", tmpdir);
	setenv("FAKE_CONTAINER_LOG", logpath, 1);
	setenv("FAKE_CONTAINER_APPROOT", approot, 1);
	unsetenv("MOAT_RUNTIME");
	unsetenv("DOCKER_HOST");

	RUN(test_engine_names);
	RUN(test_argv_docker);
	RUN(test_argv_runsc_off_and_minimal);
	RUN(test_argv_podman);
	RUN(test_argv_apple);
	RUN(test_argv_refusals);
	RUN(test_env_replace_and_parent);
	RUN(test_env_cli_vars_not_in_cli_env);
	RUN(test_env_cli_helper_not_run);
	RUN(test_apple_states);
	RUN(test_apple_detect);
	RUN(test_apple_lifecycle);
	RUN(test_apple_orphans);
	RUN(test_docker_probe);
	RUN(test_api_socket);
	RUN(test_api_call);
	RUN(test_image_present);
	RUN(test_docker_down);
	RUN(test_docker_without_runsc);
	RUN(test_network);
	RUN(test_firewall);
	RUN(test_spawn_runc);
	RUN(test_spawn_api_matches_cli);
	RUN(test_spawn_api_failures);
	RUN(test_spawn_runsc);
	RUN(test_stop_live);
	RUN(test_firewall_live);
	RUN(test_orphans);

	test_image_remove();
	{
		char *argv_rm[] = { "rm", "-rf", tmpdir, NULL };
		int st;

		free(sh_out(argv_rm, &st));
	}
	return harness_done();
}
