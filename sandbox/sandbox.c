/*
 * sandbox: gVisor policy and the container spec for one run.
 */
#include <sys/stat.h>
#include <sys/utsname.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sandbox.h"

static const char *proxy_vars[] = {
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
	"NO_PROXY", "no_proxy",
};

static const char *ca_vars[] = {
	"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
	"NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO",
};

#define GVISOR_MISSING \
	"gVisor (runsc) is required but not available\n" \
	"\n" \
	"Install it (Debian/Ubuntu):\n" \
	"  sudo apt-get install runsc\n" \
	"  sudo runsc install        # registers runsc in " \
	"/etc/docker/daemon.json\n" \
	"  sudo systemctl restart docker\n" \
	"Other systems: https://gvisor.dev/docs/user_guide/install/\n" \
	"\n" \
	"To bypass (reduced isolation): moat run --no-sandbox"

#define GVISOR_MISSING_PODMAN \
	"gVisor (runsc) is required but not available\n" \
	"\n" \
	"Install it (Debian/Ubuntu):\n" \
	"  sudo apt-get install runsc     # podman finds runsc in PATH\n" \
	"Other systems: https://gvisor.dev/docs/user_guide/install/\n" \
	"\n" \
	"To bypass (reduced isolation): moat run --no-sandbox"

int
sandbox_is_proxy_var(const char *key)
{
	static const char *const any_case[] = {
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	};
	size_t i;

	for (i = 0; i < sizeof(any_case) / sizeof(any_case[0]); i++)
		if (strcasecmp(key, any_case[i]) == 0)
			return 1;
	return 0;
}

static int
host_is_linux(void)
{
	struct utsname u;

	return uname(&u) == 0 && strcmp(u.sysname, "Linux") == 0;
}

/* The decision for a given host (a parameter for the tests). */
static int
decide(int linux_host, const struct rt_info *rt, const struct config *cfg,
    int no_sandbox, int *runsc, int *warn, char *err, size_t errlen)
{
	int want;

	*runsc = 0;
	*warn = 0;
	if (rt->engine == RT_APPLE || !linux_host || rt->desktop)
		return 0;	/* the VM is the boundary; the flag is moot */
	want = !no_sandbox && (cfg == NULL || cfg->sandbox);
	if (!want) {
		*warn = 1;
		return 0;
	}
	if (!rt->gvisor) {
		util_errf(err, errlen, "%s", rt->engine == RT_PODMAN ?
		    GVISOR_MISSING_PODMAN : GVISOR_MISSING);
		return -1;
	}
	*runsc = 1;
	return 0;
}

int
sandbox_decide(const struct rt_info *rt, const struct config *cfg,
    int no_sandbox, int *runsc, int *warn, char *err, size_t errlen)
{
	return decide(host_is_linux(), rt, cfg, no_sandbox, runsc, warn, err,
	    errlen);
}

/* Adds KEY=VALUE entries from a vector, refusing the proxy variables. */
static int
add_env_list(struct rt_spec *spec, const struct strvec *sv,
    const char *what, char *err, size_t errlen)
{
	size_t	 i;
	char	*key, *eq;

	for (i = 0; sv != NULL && i < sv->n; i++) {
		if ((eq = strchr(sv->v[i], '=')) == NULL || eq == sv->v[i]) {
			util_errf(err, errlen, "%s: \"%.*s\" is not KEY=VALUE",
			    what, (int)strcspn(sv->v[i], "="), sv->v[i]);
			return -1;
		}
		key = xstrndup(sv->v[i], (size_t)(eq - sv->v[i]));
		if (sandbox_is_proxy_var(key)) {
			util_errf(err, errlen, "%s %s: moat sets the proxy "
			    "variables; they cannot be overridden", what, key);
			free(key);
			return -1;
		}
		rt_spec_setenv(spec, key, eq + 1);
		free(key);
	}
	return 0;
}

static int
reserved_dst(const char *dst)
{
	static const char *const kernel[] = { "/proc", "/sys", "/dev" };
	size_t n, i, kl;

	n = strlen(dst);
	while (n > 1 && dst[n - 1] == '/')
		n--;
	/* the container's kernel interfaces: nothing is mounted over them */
	for (i = 0; i < sizeof(kernel) / sizeof(kernel[0]); i++) {
		kl = strlen(kernel[i]);
		if (n >= kl && strncmp(dst, kernel[i], kl) == 0 &&
		    (n == kl || dst[kl] == '/'))
			return 1;
	}
	return (n == strlen(SANDBOX_WORKSPACE) &&
	    strncmp(dst, SANDBOX_WORKSPACE, n) == 0) ||
	    (n == strlen(SANDBOX_CA_DIR) &&
	    strncmp(dst, SANDBOX_CA_DIR, n) == 0) ||
	    (n == 1 && dst[0] == '/');
}

/*
 * Host paths that an agent.yaml mount (the agent writes agent.yaml) may
 * neither be, nor sit inside, nor contain: the engine's sockets and the
 * host's system trees, moat's home, the user's secret dot-directories.
 */
static const char *const sys_protected[] = {
	"/proc", "/sys", "/dev", "/run", "/var/run", "/boot", "/etc",
	"/var/lib/docker", "/var/lib/containers", NULL,
};
static const char *const home_protected[] = {
	".ssh", ".gnupg", ".aws", ".azure", ".config", ".docker", ".kube",
	".netrc", ".git-credentials", ".npmrc", ".pypirc", ".password-store",
	".local/share/keyrings", NULL,
};

/* 1 when a and b (absolute, clean) are equal or one holds the other. */
static int
path_related(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;

	if (strncmp(a, b, n) != 0)
		return 0;
	if (la == lb || n == 1)		/* equal, or one is "/" */
		return 1;
	return (la < lb ? b[n] : a[n]) == '/';
}

/* Whether resolved relates to p, as written or with its links resolved. */
static int
related_to(const char *resolved, const char *p)
{
	char real[PATH_MAX];

	if (path_related(resolved, p))
		return 1;
	return realpath(p, real) != NULL && path_related(resolved, real);
}

/* moat's home (resolved when it exists) into buf; 0 or -1 (unknown). */
static int
moat_home_real(char *buf, size_t len)
{
	char	home[PATH_MAX], e[256];

	if (util_moat_home(home, sizeof(home), e, sizeof(e)) == -1 ||
	    home[0] != '/')
		return -1;
	if (realpath(home, buf) == NULL || strlen(buf) >= len)
		snprintf(buf, len, "%s", home);
	return 0;
}

/*
 * The protected path that resolved relates to, into what (empty when
 * none).
 */
static void
protected_hit(const char *resolved, char *what, size_t len)
{
	char		 p[PATH_MAX + 32], real[PATH_MAX];
	const char	*home = getenv("HOME");
	size_t		 i;

	what[0] = '\0';
	for (i = 0; sys_protected[i] != NULL; i++)
		if (related_to(resolved, sys_protected[i])) {
			util_errf(what, len, "%s", sys_protected[i]);
			return;
		}
	if (moat_home_real(p, sizeof(p)) == 0 && related_to(resolved, p)) {
		util_errf(what, len, "%s", p);
		return;
	}
	if (home == NULL || home[0] != '/')
		return;
	if (realpath(home, real) == NULL)
		snprintf(real, sizeof(real), "%s", home);
	for (i = 0; home_protected[i] != NULL; i++) {
		snprintf(p, sizeof(p), "%s/%s", strcmp(real, "/") == 0 ? "" :
		    real, home_protected[i]);
		if (related_to(resolved, p)) {
			util_errf(what, len, "%s", p);
			return;
		}
	}
}

/*
 * Checks an agent.yaml mount source and resolves it (docker would follow
 * its links itself): it must exist, be a file or a directory, and expose
 * nothing protected.  0 with resolved filled, or -1 with err.
 */
static int
mount_source(const struct config_mount *m, char *resolved, char *err,
    size_t errlen)
{
	struct stat	st;
	char		what[PATH_MAX], via[PATH_MAX + 32];

	if (realpath(m->src, resolved) == NULL) {
		util_errf(err, errlen, "agent.yaml:%d: mount source %s: %s",
		    m->line, m->src, strerror(errno));
		return -1;
	}
	via[0] = '\0';
	if (strcmp(resolved, m->src) != 0)
		snprintf(via, sizeof(via), " (which resolves to %s)",
		    resolved);
	if (stat(resolved, &st) == -1 || !(S_ISDIR(st.st_mode) ||
	    S_ISREG(st.st_mode))) {
		util_errf(err, errlen, "agent.yaml:%d: mount source %s%s is "
		    "not a file or directory (sockets and devices are never "
		    "mounted)", m->line, m->src, via);
		return -1;
	}
	protected_hit(resolved, what, sizeof(what));
	if (what[0] != '\0') {
		util_errf(err, errlen, "agent.yaml:%d: mount source %s%s would "
		    "expose %s, which moat never mounts into the container",
		    m->line, m->src, via, what);
		return -1;
	}
	return 0;
}

/* The workspace must neither hold moat's home nor sit inside it. */
static int
workspace_ok(const char *ws, char *err, size_t errlen)
{
	char	real[PATH_MAX], home[PATH_MAX];

	if (realpath(ws, real) == NULL ||
	    moat_home_real(home, sizeof(home)) == -1)
		return 0;
	if (path_related(real, home)) {
		util_errf(err, errlen, "workspace %s is moat's home or shares "
		    "a directory with it (%s, which holds the keys and "
		    "credentials); refusing to mount it into the container",
		    ws, home);
		return -1;
	}
	return 0;
}

static int
build(int linux_host, const struct config *cfg,
    const struct sandbox_opts *o, struct rt_spec *spec, char *err,
    size_t errlen)
{
	const char	*ws, *image, *cafile;
	char		*url = NULL, *cap = NULL;
	struct stat	 st;
	size_t		 i;
	int		 r = -1, v6;

	rt_spec_init(spec);
	if (o->run_id == NULL || *o->run_id == '\0') {
		util_errf(err, errlen, "no run id");
		goto out;
	}
	if (o->engine == RT_AUTO) {
		util_errf(err, errlen, "no container engine chosen");
		goto out;
	}
	ws = o->workspace != NULL ? o->workspace :
	    (cfg != NULL ? cfg->project_dir : NULL);
	errno = 0;
	if (ws == NULL || stat(ws, &st) == -1 || !S_ISDIR(st.st_mode)) {
		util_errf(err, errlen, "workspace %s: %s", ws ? ws : "(none)",
		    ws == NULL ? "not given" : errno == 0 ? "not a directory" :
		    strerror(errno));
		goto out;
	}
	if (workspace_ok(ws, err, errlen) == -1)
		goto out;
	if (o->ca_dir == NULL || o->proxy_host == NULL ||
	    o->token_hex == NULL || o->proxy_port < 1 ||
	    o->proxy_port > 65535) {
		util_errf(err, errlen, "missing CA directory or proxy "
		    "address, port or token");
		goto out;
	}
	image = o->image != NULL && *o->image ? o->image :
	    (cfg != NULL && cfg->image != NULL ? cfg->image :
	    CONFIG_DEFAULT_IMAGE);

	spec->name = xasprintf("moat-%s", o->run_id);
	spec->image = xstrdup(image);
	if (o->command != NULL && o->command->n > 0) {
		for (i = 0; i < o->command->n; i++)
			strvec_push(&spec->command, o->command->v[i]);
	} else if (cfg != NULL) {
		for (i = 0; i < cfg->command.n; i++)
			strvec_push(&spec->command, cfg->command.v[i]);
	}
	rt_spec_add_label(spec, RT_LABEL_RUN, o->run_id);
	{
		char pid[24];

		snprintf(pid, sizeof(pid), "%ld", (long)(o->moat_pid > 0 ?
		    o->moat_pid : getpid()));
		rt_spec_add_label(spec, RT_LABEL_PID, pid);
	}
	if (o->run_name != NULL && *o->run_name)
		rt_spec_add_label(spec, "moat.name", o->run_name);
	if (o->keep)
		rt_spec_add_label(spec, RT_LABEL_KEEP, "1");
	spec->remove = !o->keep;

	/* Mounts: workspace, agent.yaml's, then the CA bundle. */
	rt_spec_add_mount(spec, ws, SANDBOX_WORKSPACE, 0);
	spec->workdir = xstrdup(SANDBOX_WORKSPACE);
	for (i = 0; cfg != NULL && i < cfg->nmounts; i++) {
		const struct config_mount *m = &cfg->mounts[i];
		char resolved[PATH_MAX];

		if (reserved_dst(m->dst)) {
			util_errf(err, errlen, "agent.yaml:%d: mount target "
			    "%s is reserved by moat", m->line, m->dst);
			goto out;
		}
		if (mount_source(m, resolved, err, errlen) == -1)
			goto out;
		rt_spec_add_mount(spec, resolved, m->dst, m->readonly);
	}
	rt_spec_add_mount(spec, o->ca_dir, SANDBOX_CA_DIR, 1);

	/* Environment: placeholders < agent.yaml < -e < moat's own. */
	if (add_env_list(spec, o->placeholders, "placeholder", err,
	    errlen) == -1)
		goto out;
	for (i = 0; cfg != NULL && i < cfg->nenv; i++) {
		if (cfg->env[i].key == NULL || *cfg->env[i].key == '\0' ||
		    strchr(cfg->env[i].key, '=') != NULL ||
		    cfg->env[i].value == NULL) {
			util_errf(err, errlen, "agent.yaml env: bad variable "
			    "name \"%s\"", cfg->env[i].key ? cfg->env[i].key :
			    "");
			goto out;
		}
		if (sandbox_is_proxy_var(cfg->env[i].key)) {
			util_errf(err, errlen, "agent.yaml env %s: moat sets "
			    "the proxy variables; they cannot be overridden",
			    cfg->env[i].key);
			goto out;
		}
		rt_spec_setenv(spec, cfg->env[i].key, cfg->env[i].value);
	}
	if (add_env_list(spec, o->extra_env, "-e", err, errlen) == -1)
		goto out;
	v6 = strchr(o->proxy_host, ':') != NULL;
	url = xasprintf("http://moat:%s@%s%s%s:%d", o->token_hex,
	    v6 ? "[" : "", o->proxy_host, v6 ? "]" : "", o->proxy_port);
	for (i = 0; i < 4; i++)
		rt_spec_setenv(spec, proxy_vars[i], url);
	rt_spec_setenv(spec, "NO_PROXY", SANDBOX_NO_PROXY);
	rt_spec_setenv(spec, "no_proxy", SANDBOX_NO_PROXY);
	rt_spec_setenv(spec, "NODE_USE_ENV_PROXY", "1");
	cafile = o->ca_file != NULL && *o->ca_file ? o->ca_file :
	    SANDBOX_CA_FILE;
	cap = xasprintf("%s/%s", SANDBOX_CA_DIR, cafile);
	for (i = 0; i < sizeof(ca_vars) / sizeof(ca_vars[0]); i++)
		rt_spec_setenv(spec, ca_vars[i], cap);

	/* Isolation and limits. */
	if (o->engine != RT_APPLE) {
		spec->runsc = o->runsc;
		spec->no_new_privileges = 1;
		spec->pids_limit = SANDBOX_PIDS_LIMIT;
		if (o->network != NULL && *o->network)
			spec->network = xstrdup(o->network);
		for (i = 0; o->add_hosts != NULL && i < o->add_hosts->n; i++)
			strvec_push(&spec->add_hosts, o->add_hosts->v[i]);
		if (linux_host)
			spec->user = xasprintf("%lu:%lu",
			    (unsigned long)st.st_uid,
			    (unsigned long)st.st_gid);
	}
	if (cfg != NULL) {
		spec->memory = cfg->memory;
		spec->cpus = cfg->cpus;
	}
	spec->interactive = o->interactive || (cfg != NULL &&
	    cfg->interactive);
	spec->tty = spec->interactive && o->is_tty;
	r = 0;
 out:
	util_free_secret_str(url);
	free(cap);
	return r;
}

int
sandbox_build_spec(const struct config *cfg, const struct sandbox_opts *o,
    struct rt_spec *spec, char *err, size_t errlen)
{
	return build(host_is_linux(), cfg, o, spec, err, errlen);
}
