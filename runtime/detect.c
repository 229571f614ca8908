/*
 * Engine detection: which container engine is installed, reachable and
 * able to run gVisor, and which one `moat run` uses.
 */
#include <sys/stat.h>
#include <sys/utsname.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "runtime.h"
#include "rt_private.h"

enum host_kind {
	HOST_LINUX,
	HOST_MACOS_ARM64,
	HOST_OTHER,
};

static const char *engine_names[] = { "auto", "docker", "podman", "apple" };

const char *
rt_engine_name(enum rt_engine e)
{
	if ((int)e < 0 || (size_t)e >= sizeof(engine_names) /
	    sizeof(engine_names[0]))
		return "?";
	return engine_names[e];
}

int
rt_engine_parse(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return RT_AUTO;
	for (i = 0; i < sizeof(engine_names) / sizeof(engine_names[0]); i++)
		if (strcmp(s, engine_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
rt_state_name(enum rt_engine e, enum rt_state s)
{
	switch (s) {
	case RT_STATE_NOT_INSTALLED:
		return "Not Installed";
	case RT_STATE_NOT_RUNNING:
		return e == RT_APPLE ? "System Not Running" : "Not Running";
	case RT_STATE_KERNEL_NOT_CONFIGURED:
		return "Kernel Not Configured";
	case RT_STATE_READY:
		return "Ready";
	}
	return "?";
}

const char *
rt_mode_name(enum rt_engine e, int runsc)
{
	switch (e) {
	case RT_DOCKER:
		return runsc ? "docker+gvisor" : "docker";
	case RT_PODMAN:
		return runsc ? "podman+gvisor" : "podman";
	case RT_APPLE:
		return "apple";
	default:
		return "none";
	}
}

const char *
rt_cli_name(enum rt_engine e)
{
	switch (e) {
	case RT_DOCKER:
		return "docker";
	case RT_PODMAN:
		return "podman";
	case RT_APPLE:
		return "container";
	default:
		return NULL;
	}
}

static enum host_kind
host_kind(void)
{
	struct utsname u;

	if (uname(&u) == -1)
		return HOST_OTHER;
	if (strcmp(u.sysname, "Linux") == 0)
		return HOST_LINUX;
	if (strcmp(u.sysname, "Darwin") == 0 &&
	    (strcmp(u.machine, "arm64") == 0 ||
	    strcmp(u.machine, "aarch64") == 0))
		return HOST_MACOS_ARM64;
	return HOST_OTHER;
}

int
rt_host_is_linux(void)
{
	return host_kind() == HOST_LINUX;
}

/* Strips trailing whitespace in place. */
void
rt_chomp(char *s)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Copies the first non-empty line of s (at most 300 bytes) into buf. */
void
rt_first_line(const char *s, char *buf, size_t len)
{
	size_t n;

	buf[0] = '\0';
	if (s == NULL)
		return;
	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	n = strcspn(s, "\r\n");
	if (n > 300)
		n = 300;
	snprintf(buf, len, "%.*s", (int)n, s);
}

int
rt_query(char *const argv[], char **out, char **errout, int *status,
    char *err, size_t errlen)
{
	return util_run(argv, NULL, NULL, 0, out, errout, RT_QUERY_TIMEOUT_MS,
	    status, err, errlen);
}

/*
 * The message for a daemon the CLI cannot reach.  what is the CLI's own
 * complaint (first line of its stderr), or a timeout note.
 */
static void
daemon_down(struct rt_info *info, const char *errout, int status)
{
	char line[320];

	rt_first_line(errout, line, sizeof(line));
	if (status == 124)
		snprintf(line, sizeof(line), "no answer within %d seconds",
		    RT_QUERY_TIMEOUT_MS / 1000);
	info->state = RT_STATE_NOT_RUNNING;
	if (info->engine == RT_DOCKER)
		snprintf(info->reason, sizeof(info->reason),
		    "cannot connect to the Docker daemon%s%s%s\n"
		    "Start it with: sudo systemctl start docker\n"
		    "           or: sudo dockerd &%s",
		    *line ? " (" : "", line, *line ? ")" : "",
		    strstr(line, "permission denied") != NULL ?
		    "\nIf it runs, let your user reach it: sudo usermod -aG "
		    "docker $USER (then log in again)" : "");
	else
		snprintf(info->reason, sizeof(info->reason),
		    "cannot connect to Podman%s%s%s\n"
		    "Start it with: systemctl --user start podman.socket\n"
		    "    (or check: podman info)",
		    *line ? " (" : "", line, *line ? ")" : "");
}

/*
 * Asks a daemon for its version (argv prints just that); fills
 * info->version, or the state and reason when it cannot be reached.
 */
static int
daemon_version(struct rt_info *info, char *const argv[])
{
	char	*out = NULL, *errout = NULL, err[256];
	int	 status, r = -1;

	if (rt_query(argv, &out, &errout, &status, err, sizeof(err)) == -1) {
		snprintf(info->reason, sizeof(info->reason),
		    "cannot run %s: %s", argv[0], err);
		info->state = RT_STATE_NOT_RUNNING;
		goto out;
	}
	rt_chomp(out);
	if (status != 0 || out == NULL || *out == '\0') {
		daemon_down(info, errout, status);
		goto out;
	}
	snprintf(info->version, sizeof(info->version), "%s", out);
	r = 0;
 out:
	free(out);
	free(errout);
	return r;
}

/*
 * GET /info over the daemon's socket: the same three facts as the CLI
 * query below, without its start-up.  0 with info filled, -1 when the
 * API is not usable or did not answer 200 (the CLI then explains).
 */
static int
probe_docker_api(struct rt_info *info)
{
	struct json	*j = NULL;
	const char	*v, *os;
	char		*answer = NULL, err[256];
	int		 status, r = -1;

	if (rt_api_call("GET", "/info", NULL, RT_QUERY_TIMEOUT_MS, &status,
	    &answer, err, sizeof(err)) != 1 || status != 200)
		goto out;
	if ((j = json_parse(answer, strlen(answer), NULL, 0)) == NULL ||
	    (v = json_get_str(j, "ServerVersion")) == NULL || *v == '\0')
		goto out;
	snprintf(info->version, sizeof(info->version), "%s", v);
	info->gvisor = json_get(json_get(j, "Runtimes"), "runsc") != NULL;
	os = json_get_str(j, "OperatingSystem");
	info->desktop = !rt_host_is_linux() ||
	    (os != NULL && strstr(os, "Docker Desktop") != NULL);
	info->state = RT_STATE_READY;
	r = 0;
 out:
	json_free(j);
	free(answer);
	return r;
}

/*
 * One query answers everything (each docker CLI call costs tens of ms):
 * the server version, the runtimes (gVisor: "runsc" among them) and the
 * operating system (desktop: "Docker Desktop").  A daemon that is down
 * makes it fail with the CLI's "Cannot connect" on stderr.
 */
static int
probe_docker(struct rt_info *info)
{
	char	*argv_info[] = { "docker", "info", "--format",
		    "{{.ServerVersion}}\n{{json .Runtimes}}\n"
		    "{{.OperatingSystem}}", NULL };
	char	*out = NULL, *errout = NULL, err[256];
	size_t	 n;
	int	 status, r = -1;

	if (probe_docker_api(info) == 0)
		return 0;
	if (rt_query(argv_info, &out, &errout, &status, err,
	    sizeof(err)) == -1) {
		snprintf(info->reason, sizeof(info->reason),
		    "cannot run docker: %s", err);
		info->state = RT_STATE_NOT_RUNNING;
		goto out;
	}
	/* The version is the first word of the first line. */
	n = out == NULL ? 0 : strcspn(out, " \t\r\n");
	if (status != 0 || n == 0) {
		daemon_down(info, errout, status);
		goto out;
	}
	snprintf(info->version, sizeof(info->version), "%.*s", (int)n, out);
	/* Runtimes is a JSON object keyed by runtime name. */
	info->gvisor = strstr(out, "\"runsc\":") != NULL;
	info->desktop = !rt_host_is_linux() ||
	    strstr(out, "Docker Desktop") != NULL;
	info->state = RT_STATE_READY;
	r = 0;
 out:
	free(out);
	free(errout);
	return r;
}

static int
probe_podman(struct rt_info *info)
{
	char	*argv_info[] = { "podman", "info", "--format",
		    "{{.Version.Version}}", NULL };
	char	*runsc;

	if (daemon_version(info, argv_info) == -1)
		return -1;
	/* Podman runs runsc by name from its runtime table or PATH. */
	if ((runsc = util_which("runsc")) != NULL) {
		info->gvisor = 1;
		free(runsc);
	}
	info->desktop = !rt_host_is_linux();
	info->state = RT_STATE_READY;
	return 0;
}

/*
 * `container system status` prints "apiserver is not running..." and
 * exits 1 when stopped; when running, a FIELD/VALUE table with app-root
 * and apiserver-version rows.  The default kernel is the symlink
 * <app root>/kernels/default.kernel-<arch>.
 */
static int
probe_apple(struct rt_info *info)
{
	char		*argv_status[] = { "container", "system", "status",
			    NULL };
	char		*out = NULL, *errout = NULL, *line, *save = NULL;
	char		 err[256], approot[1024] = "", kernel[1200];
	const char	*home, *env;
	struct stat	 st;
	int		 status, r = -1;

	if (rt_query(argv_status, &out, &errout, &status, err,
	    sizeof(err)) == -1) {
		snprintf(info->reason, sizeof(info->reason),
		    "cannot run container: %s", err);
		info->state = RT_STATE_NOT_RUNNING;
		goto out;
	}
	if (status != 0 || out == NULL || strstr(out, "not running") != NULL ||
	    strstr(out, "not registered") != NULL) {
		info->state = RT_STATE_NOT_RUNNING;
		snprintf(info->reason, sizeof(info->reason),
		    "the container system is not running\n"
		    "Start it with: container system start");
		goto out;
	}
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *k = line, *v;

		v = k + strcspn(k, " \t");
		if (*v == '\0')
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		rt_chomp(v);
		if (strcmp(k, "app-root") == 0)
			snprintf(approot, sizeof(approot), "%s", v);
		else if (strcmp(k, "apiserver-version") == 0) {
			/* "container-apiserver version 0.9.0 (build: ...)"
			 * in older releases, the bare version in newer. */
			char *w = strstr(v, "version ");

			if (w != NULL) {
				w += strlen("version ");
				w[strcspn(w, " ")] = '\0';
				v = w;
			}
			snprintf(info->version, sizeof(info->version), "%s", v);
		}
	}
	if (*approot == '\0') {
		if ((env = getenv("CONTAINER_APP_ROOT")) != NULL && *env)
			snprintf(approot, sizeof(approot), "%s", env);
		else if ((home = getenv("HOME")) != NULL)
			snprintf(approot, sizeof(approot), "%s/Library/"
			    "Application Support/com.apple.container", home);
	}
	rt_chomp(approot);
	snprintf(kernel, sizeof(kernel), "%s%skernels/default.kernel-arm64",
	    approot, (*approot && approot[strlen(approot) - 1] == '/') ?
	    "" : "/");
	if (stat(kernel, &st) == -1) {
		info->state = RT_STATE_KERNEL_NOT_CONFIGURED;
		snprintf(info->reason, sizeof(info->reason),
		    "no default kernel is configured\n"
		    "Configure it with: container system kernel set "
		    "--recommended");
		goto out;
	}
	info->state = RT_STATE_READY;
	r = 0;
 out:
	free(out);
	free(errout);
	return r;
}

int
rt_probe(enum rt_engine e, struct rt_info *info)
{
	const char	*cli = rt_cli_name(e);
	char		*path;

	memset(info, 0, sizeof(*info));
	info->engine = e;
	if (cli == NULL) {
		snprintf(info->reason, sizeof(info->reason),
		    "no engine given");
		return -1;
	}
	if ((path = util_which(cli)) == NULL) {
		info->state = RT_STATE_NOT_INSTALLED;
		switch (e) {
		case RT_DOCKER:
			snprintf(info->reason, sizeof(info->reason),
			    "docker is not installed (not found in PATH)\n"
			    "Install it: sudo apt-get install docker.io "
			    "(or see https://docs.docker.com/engine/install/)");
			break;
		case RT_PODMAN:
			snprintf(info->reason, sizeof(info->reason),
			    "podman is not installed (not found in PATH)\n"
			    "Install it: sudo apt-get install podman");
			break;
		default:
			snprintf(info->reason, sizeof(info->reason),
			    "the container command is not installed (not found "
			    "in PATH)\nInstall it from "
			    "https://github.com/apple/container/releases");
			break;
		}
		return -1;
	}
	free(path);
	switch (e) {
	case RT_DOCKER:
		return probe_docker(info);
	case RT_PODMAN:
		return probe_podman(info);
	default:
		return probe_apple(info);
	}
}

/*
 * Auto-detection for a given host kind (a parameter so that tests can
 * exercise the macOS rules on Linux).
 */
static int
detect_auto(enum host_kind host, struct rt_info *info, char *err,
    size_t errlen)
{
	struct rt_info podman;

	if (host == HOST_MACOS_ARM64) {
		if (rt_probe(RT_APPLE, info) == 0)
			return 0;
		if (info->state != RT_STATE_NOT_INSTALLED) {
			util_errf(err, errlen, "Apple container runtime not "
			    "available: %s", info->reason);
			return -1;
		}
		/* Not installed: Docker, silently. */
	}
	if (rt_probe(RT_DOCKER, info) == 0)
		return 0;
	if (host != HOST_LINUX) {
		util_errf(err, errlen, "%s", info->reason);
		return -1;
	}
	if (rt_probe(RT_PODMAN, &podman) == 0) {
		*info = podman;
		return 0;
	}
	if (info->state == RT_STATE_NOT_INSTALLED &&
	    podman.state == RT_STATE_NOT_INSTALLED) {
		util_errf(err, errlen, "no container runtime found: neither "
		    "docker nor podman is in PATH\n"
		    "Install one: sudo apt-get install docker.io (or podman)");
		return -1;
	}
	if (info->state == RT_STATE_NOT_INSTALLED)
		*info = podman;
	util_errf(err, errlen, "%s", info->reason);
	return -1;
}

static int
detect(enum host_kind host, const char *flag, const char *cfg_runtime,
    struct rt_info *info, char *err, size_t errlen)
{
	const char	*req = NULL, *from = NULL, *env;
	int		 e;

	memset(info, 0, sizeof(*info));
	env = getenv("MOAT_RUNTIME");
	if (flag != NULL && *flag && strcmp(flag, "auto") != 0) {
		req = flag;
		from = "--runtime";
	} else if (cfg_runtime != NULL && *cfg_runtime &&
	    strcmp(cfg_runtime, "auto") != 0) {
		req = cfg_runtime;
		from = "agent.yaml";
	} else if (env != NULL && *env && strcmp(env, "auto") != 0) {
		req = env;
		from = "MOAT_RUNTIME";
	}
	if (req == NULL)
		return detect_auto(host, info, err, errlen);
	if ((e = rt_engine_parse(req)) == -1) {
		util_errf(err, errlen, "unknown runtime \"%s\" (from %s); use "
		    "docker, podman, apple or auto", req, from);
		return -1;
	}
	if (rt_probe((enum rt_engine)e, info) == 0)
		return 0;
	if (e == RT_APPLE)
		util_errf(err, errlen, "Apple container runtime not "
		    "available: %s", info->reason);
	else
		util_errf(err, errlen, "%s", info->reason);
	return -1;
}

int
rt_detect(const char *flag, const char *cfg_runtime, struct rt_info *info,
    char *err, size_t errlen)
{
	return detect(host_kind(), flag, cfg_runtime, info, err, errlen);
}
