/*
 * The neutral container spec and its translation into each engine's
 * `run` command line.  Environment values travel in the CLI's own
 * environment ("-e KEY"), never in argv.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "rt_private.h"

extern char **environ;

void
rt_spec_init(struct rt_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
}

/* Wipes and frees every entry of an env vector. */
static void
env_free(struct strvec *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++) {
		util_free_secret_str(sv->v[i]);
		sv->v[i] = NULL;
	}
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

void
rt_env_free(struct strvec *envp)
{
	if (envp != NULL)
		env_free(envp);
}

void
rt_spec_free(struct rt_spec *spec)
{
	size_t i;

	if (spec == NULL)
		return;
	free(spec->name);
	free(spec->image);
	strvec_free(&spec->command);
	env_free(&spec->env);
	for (i = 0; i < spec->nmounts; i++) {
		free(spec->mounts[i].src);
		free(spec->mounts[i].dst);
	}
	free(spec->mounts);
	strvec_free(&spec->labels);
	free(spec->network);
	free(spec->user);
	free(spec->workdir);
	strvec_free(&spec->add_hosts);
	rt_spec_init(spec);
}

/* Index of KEY=... in an env vector, or -1. */
static ssize_t
env_index(const struct strvec *sv, const char *key)
{
	size_t i, kl = strlen(key);

	for (i = 0; i < sv->n; i++)
		if (strncmp(sv->v[i], key, kl) == 0 && sv->v[i][kl] == '=')
			return (ssize_t)i;
	return -1;
}

void
rt_spec_unsetenv(struct rt_spec *spec, const char *key)
{
	ssize_t i;

	if ((i = env_index(&spec->env, key)) == -1)
		return;
	util_free_secret_str(spec->env.v[i]);
	memmove(&spec->env.v[i], &spec->env.v[i + 1],
	    (spec->env.n - (size_t)i) * sizeof(char *));	/* with NULL */
	spec->env.n--;
}

void
rt_spec_setenv(struct rt_spec *spec, const char *key, const char *value)
{
	char	*kv;
	size_t	 kl = strlen(key), vl = strlen(value);
	ssize_t	 i;

	kv = xmalloc(kl + vl + 2);
	memcpy(kv, key, kl);
	kv[kl] = '=';
	memcpy(kv + kl + 1, value, vl + 1);
	if ((i = env_index(&spec->env, key)) != -1) {
		util_free_secret_str(spec->env.v[i]);
		spec->env.v[i] = kv;
	} else
		strvec_take(&spec->env, kv);
}

void
rt_spec_add_mount(struct rt_spec *spec, const char *src, const char *dst,
    int readonly)
{
	struct rt_mount *m;

	spec->mounts = xrealloc(spec->mounts, (spec->nmounts + 1) *
	    sizeof(*spec->mounts));
	m = &spec->mounts[spec->nmounts++];
	m->src = xstrdup(src);
	m->dst = xstrdup(dst);
	m->readonly = readonly;
}

void
rt_spec_add_label(struct rt_spec *spec, const char *key, const char *value)
{
	strvec_pushf(&spec->labels, "%s=%s", key, value);
}

/* A key the CLIs accept for "-e KEY": non-empty, no '=', no NUL. */
static int
env_key_ok(const char *kv, size_t *klen)
{
	const char *eq = strchr(kv, '=');

	if (eq == NULL || eq == kv)
		return 0;
	*klen = (size_t)(eq - kv);
	return 1;
}

static int
check_mount(enum rt_engine e, const struct rt_mount *m, char *err,
    size_t errlen)
{
	struct stat st;

	if (m->src == NULL || m->dst == NULL || m->src[0] != '/' ||
	    m->dst[0] != '/') {
		util_errf(err, errlen, "mount %s:%s: both paths must be "
		    "absolute", m->src ? m->src : "", m->dst ? m->dst : "");
		return -1;
	}
	if (strpbrk(m->src, ":,\n") != NULL || strpbrk(m->dst, ":,\n")) {
		util_errf(err, errlen, "mount %s:%s: paths must not contain "
		    "':' or ','", m->src, m->dst);
		return -1;
	}
	if (e == RT_APPLE) {
		if (stat(m->src, &st) == -1) {
			util_errf(err, errlen, "mount source %s: %s", m->src,
			    strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			util_errf(err, errlen, "Apple container can only "
			    "mount directories: %s", m->src);
			return -1;
		}
	}
	return 0;
}

/*
 * Variables that the engine CLI (or the dynamic loader, libc, the Go
 * runtime under it) reads for itself.  The spec's environment comes from
 * agent.yaml, which the agent can write: PATH + DOCKER_CONFIG naming a
 * credential helper in the workspace would run it on the host.  These
 * travel in argv as "-e KEY=VALUE" (for the container only) and the CLI
 * keeps moat's own values.  moat never puts a secret under these names.
 */
static const char *const cli_exact[] = {
	"PATH", "HOME", "TMPDIR", "SHELL", "GCONV_PATH", "GETCONF_DIR",
	"GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
	"NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR",
	"SSL_CERT_DIR", "GODEBUG", "GOTRACEBACK", "GOMAXPROCS", "GOGC",
	"GOMEMLIMIT", "REGISTRY_AUTH_FILE", "STORAGE_DRIVER", "STORAGE_OPTS",
	"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", NULL,
};
static const char *const cli_prefix[] = {
	"LD_", "DYLD_", "MALLOC_", "DOCKER_", "BUILDKIT_", "BUILDX_",
	"COMPOSE_", "NOTARY_", "PODMAN_", "CONTAINERS_", "CONTAINER_",
	"_CONTAINERS_", "BUILDAH_", "CONMON_", "CRUN_", "RUNC_", "OCI_",
	"XDG_", "DBUS_", "SYSTEMD_", "SSH_", NULL,
};

static int
cli_reads(const char *key, size_t kl)
{
	size_t i, n;

	for (i = 0; cli_exact[i] != NULL; i++)
		if (strlen(cli_exact[i]) == kl &&
		    strncmp(key, cli_exact[i], kl) == 0)
			return 1;
	for (i = 0; cli_prefix[i] != NULL; i++) {
		n = strlen(cli_prefix[i]);
		if (kl >= n && strncmp(key, cli_prefix[i], n) == 0)
			return 1;
	}
	return 0;
}

/*
 * Builds the CLI's environment: ours minus the spec's keys, plus them
 * (except those the CLI reads itself: see cli_reads()).
 */
static void
build_envp(const struct rt_spec *spec, struct strvec *envp)
{
	char	**ep;
	size_t	  i, kl, skl;

	for (ep = environ; ep != NULL && *ep != NULL; ep++) {
		if (!env_key_ok(*ep, &kl) ||
		    strncmp(*ep, "MOAT_PASSPHRASE=", 16) == 0)
			continue;
		for (i = 0; i < spec->env.n; i++)
			if (strncmp(spec->env.v[i], *ep, kl + 1) == 0 &&
			    !cli_reads(*ep, kl))
				break;
		if (i == spec->env.n)
			strvec_push(envp, *ep);
	}
	for (i = 0; i < spec->env.n; i++)
		if (env_key_ok(spec->env.v[i], &skl) &&
		    !cli_reads(spec->env.v[i], skl))
			strvec_push(envp, spec->env.v[i]);
}

int
rt_spec_argv(enum rt_engine e, const struct rt_spec *spec,
    struct strvec *argv, struct strvec *envp, char *err, size_t errlen)
{
	const char	*cli = rt_cli_name(e);
	size_t		 i, kl = 0;
	int		 apple = e == RT_APPLE;

	if (cli == NULL) {
		util_errf(err, errlen, "no container engine chosen");
		return -1;
	}
	if (spec->image == NULL || *spec->image == '\0') {
		util_errf(err, errlen, "no image given");
		return -1;
	}
	if (spec->image[0] == '-') {
		util_errf(err, errlen, "bad image name \"%s\"", spec->image);
		return -1;
	}
	for (i = 0; i < spec->env.n; i++) {
		if (!env_key_ok(spec->env.v[i], &kl)) {
			util_errf(err, errlen, "environment entry %zu has no "
			    "KEY=", i);
			return -1;
		}
	}
	for (i = 0; i < spec->nmounts; i++)
		if (check_mount(e, &spec->mounts[i], err, errlen) == -1)
			return -1;

	strvec_push(argv, cli);
	strvec_push(argv, "run");
	if (spec->remove)
		strvec_push(argv, "--rm");
	if (spec->pull_never && !apple) {
		strvec_push(argv, "--pull");
		strvec_push(argv, "never");
	}
	if (spec->interactive)
		strvec_push(argv, "-i");
	if (spec->tty)
		strvec_push(argv, "-t");
	if (spec->name != NULL) {
		strvec_push(argv, "--name");
		strvec_push(argv, spec->name);
	}
	if (!apple) {
		if (spec->runsc) {
			strvec_push(argv, "--runtime");
			strvec_push(argv, "runsc");
		}
		if (spec->no_new_privileges) {
			strvec_push(argv, "--security-opt");
			strvec_push(argv, "no-new-privileges");
		}
		if (spec->pids_limit > 0) {
			strvec_push(argv, "--pids-limit");
			strvec_pushf(argv, "%ld", spec->pids_limit);
		}
		if (spec->memory > 0) {
			strvec_push(argv, "-m");
			strvec_pushf(argv, "%llu", spec->memory);
		}
		if (spec->cpus > 0) {
			strvec_push(argv, "--cpus");
			strvec_pushf(argv, "%g", spec->cpus);
		}
	} else {
		if (spec->memory > 0) {
			/* 1 MiB granularity, rounded up. */
			strvec_push(argv, "-m");
			strvec_pushf(argv, "%lluM",
			    (spec->memory + (1ULL << 20) - 1) >> 20);
		}
		if (spec->cpus > 0) {
			long c = (long)spec->cpus;

			if ((double)c < spec->cpus)
				c++;
			strvec_push(argv, "-c");
			strvec_pushf(argv, "%ld", c);
		}
	}
	if (spec->user != NULL) {
		strvec_push(argv, "--user");
		strvec_push(argv, spec->user);
	}
	if (spec->workdir != NULL) {
		strvec_push(argv, "-w");
		strvec_push(argv, spec->workdir);
	}
	if (spec->network != NULL) {
		strvec_push(argv, "--network");
		strvec_push(argv, spec->network);
	}
	for (i = 0; i < spec->labels.n; i++) {
		strvec_push(argv, "--label");
		strvec_push(argv, spec->labels.v[i]);
	}
	if (!apple) {
		for (i = 0; i < spec->add_hosts.n; i++) {
			strvec_push(argv, "--add-host");
			strvec_push(argv, spec->add_hosts.v[i]);
		}
	}
	for (i = 0; i < spec->env.n; i++) {
		env_key_ok(spec->env.v[i], &kl);
		strvec_push(argv, "-e");
		if (cli_reads(spec->env.v[i], kl))
			strvec_push(argv, spec->env.v[i]);
		else
			strvec_take(argv, xstrndup(spec->env.v[i], kl));
	}
	for (i = 0; i < spec->nmounts; i++) {
		const struct rt_mount *m = &spec->mounts[i];

		strvec_push(argv, "-v");
		strvec_pushf(argv, "%s:%s%s", m->src, m->dst,
		    m->readonly ? ":ro" : "");
	}
	strvec_push(argv, spec->image);
	for (i = 0; i < spec->command.n; i++)
		strvec_push(argv, spec->command.v[i]);
	build_envp(spec, envp);
	return 0;
}
