/*
 * sandbox: the gVisor decision and its exact messages, and the container
 * spec (env precedence, proxy variables, CA trust, mounts, user, limits),
 * turned into real argv by the runtime to prove no token reaches argv.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reach decide()/build() with the host kind as a parameter. */
#include <sys/socket.h>
#include <sys/un.h>

#include "../../sandbox/sandbox.c"

#include "harness.h"

#define TOKEN	"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

static char	ws[PATH_MAX];
static char	cadir[PATH_MAX + 16];
static char	orig_path[4096];

static const char *want_missing =
	"gVisor (runsc) is required but not available\n"
	"\n"
	"Install it (Debian/Ubuntu):\n"
	"  sudo apt-get install runsc\n"
	"  sudo runsc install        # registers runsc in "
	"/etc/docker/daemon.json\n"
	"  sudo systemctl restart docker\n"
	"Other systems: https://gvisor.dev/docs/user_guide/install/\n"
	"\n"
	"To bypass (reduced isolation): moat run --no-sandbox";

static void
rt(struct rt_info *i, enum rt_engine e, int gvisor)
{
	memset(i, 0, sizeof(*i));
	i->engine = e;
	i->state = RT_STATE_READY;
	i->gvisor = gvisor;
}

static void
test_decide(void)
{
	struct rt_info	i;
	struct config	cfg;
	char		err[1024];
	int		runsc = -1, warn = -1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.sandbox = 1;
	rt(&i, RT_DOCKER, 1);
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 1);
	CHECK_INT(warn, 0);
	CHECK_INT(decide(1, &i, NULL, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 1);
	/* --no-sandbox */
	CHECK_INT(decide(1, &i, &cfg, 1, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 0);
	CHECK_INT(warn, 1);
	/* sandbox: false */
	cfg.sandbox = 0;
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 0);
	CHECK_INT(warn, 1);
	cfg.sandbox = 1;

	/* gVisor missing: the exact message, never a silent runc. */
	rt(&i, RT_DOCKER, 0);
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)),
	    -1);
	CHECK_STR(err, want_missing);
	CHECK_INT(runsc, 0);
	/* ... unless the sandbox is off, by flag or by agent.yaml. */
	CHECK_INT(decide(1, &i, &cfg, 1, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(warn, 1);
	cfg.sandbox = 0;
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(warn, 1);
	cfg.sandbox = 1;

	rt(&i, RT_PODMAN, 0);
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)),
	    -1);
	CHECK(strncmp(err, "gVisor (runsc) is required but not available\n",
	    strlen("gVisor (runsc) is required but not available\n")) == 0);
	CHECK_CONTAINS(err, "\nTo bypass (reduced isolation): moat run "
	    "--no-sandbox");
	rt(&i, RT_PODMAN, 1);
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 1);

	/* Apple, and any engine off Linux: the flag has no effect. */
	rt(&i, RT_APPLE, 0);
	CHECK_INT(decide(0, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 0);
	CHECK_INT(warn, 0);
	CHECK_INT(decide(0, &i, &cfg, 1, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(warn, 0);
	rt(&i, RT_DOCKER, 0);
	CHECK_INT(decide(0, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 0);
	CHECK_INT(warn, 0);
	i.desktop = 1;
	CHECK_INT(decide(1, &i, &cfg, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 0);
	CHECK_INT(warn, 0);
	CHECK_STR(SANDBOX_WARN_NO_GVISOR,
	    "running without gVisor sandbox - reduced isolation");
}

/* The real daemon with runsc hidden from `docker info`: the message. */
static void
test_decide_real_docker_without_runsc(void)
{
	struct rt_info	 i;
	char		 path[PATH_MAX + 8192], err[1024];
	const char	*src = getenv("MOAT_SRC");
	int		 runsc, warn;

	snprintf(path, sizeof(path), "%s/tests/integ/fake-container/"
	    "no-runsc:%s", src ? src : "../..", orig_path);
	setenv("PATH", path, 1);
	/* The wrapper is a CLI: moat must not ask the socket instead. */
	setenv("MOAT_DOCKER_API", "0", 1);
	CHECK_INT(rt_detect("docker", NULL, &i, err, sizeof(err)), 0);
	CHECK_INT(i.gvisor, 0);
	CHECK_INT(decide(1, &i, NULL, 0, &runsc, &warn, err, sizeof(err)),
	    -1);
	CHECK_STR(err, want_missing);
	unsetenv("MOAT_DOCKER_API");
	setenv("PATH", orig_path, 1);
	/* And the real one has it. */
	CHECK_INT(rt_detect("docker", NULL, &i, err, sizeof(err)), 0);
	CHECK_INT(i.gvisor, 1);
	CHECK_INT(decide(1, &i, NULL, 0, &runsc, &warn, err, sizeof(err)), 0);
	CHECK_INT(runsc, 1);
}

static void
base_opts(struct sandbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->engine = RT_DOCKER;
	o->run_id = "run-1";
	o->run_name = "demo";
	o->moat_pid = 4242;
	o->workspace = ws;
	o->ca_dir = cadir;
	o->proxy_host = "172.19.0.1";
	o->proxy_port = 3128;
	o->token_hex = TOKEN;
	o->network = "moat-run-1";
	o->runsc = 1;
}

static void
test_spec_docker(void)
{
	struct config		cfg;
	struct sandbox_opts	o;
	struct rt_spec		s;
	struct strvec		argv = STRVEC_INIT, envp = STRVEC_INIT;
	struct config_env	env[1] = { { "EDITOR", "vi" } };
	char			err[512], *proxy, *user;
	struct stat		st;
	size_t			i;
	static const char *want_env[] = {
		"EDITOR=vi",
		"HTTP_PROXY=http://moat:" TOKEN "@172.19.0.1:3128",
		"HTTPS_PROXY=http://moat:" TOKEN "@172.19.0.1:3128",
		"http_proxy=http://moat:" TOKEN "@172.19.0.1:3128",
		"https_proxy=http://moat:" TOKEN "@172.19.0.1:3128",
		"NO_PROXY=localhost,127.0.0.1,::1",
		"no_proxy=localhost,127.0.0.1,::1",
		"NODE_USE_ENV_PROXY=1",
		"SSL_CERT_FILE=/etc/moat-ca/ca-bundle.pem",
		"CURL_CA_BUNDLE=/etc/moat-ca/ca-bundle.pem",
		"REQUESTS_CA_BUNDLE=/etc/moat-ca/ca-bundle.pem",
		"NODE_EXTRA_CA_CERTS=/etc/moat-ca/ca-bundle.pem",
		"GIT_SSL_CAINFO=/etc/moat-ca/ca-bundle.pem",
	};

	memset(&cfg, 0, sizeof(cfg));
	cfg.sandbox = 1;
	cfg.image = "from-yaml:1";
	cfg.project_dir = ws;
	cfg.env = env;
	cfg.nenv = 1;
	cfg.memory = 1ULL << 30;
	cfg.cpus = 2;
	strvec_push(&cfg.command, "claude");
	base_opts(&o);
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), 0);
	CHECK_STR(s.name, "moat-run-1");
	CHECK_STR(s.image, "from-yaml:1");
	CHECK_INT(s.command.n, 1);
	CHECK_STR(s.command.v[0], "claude");
	CHECK_INT(s.env.n, sizeof(want_env) / sizeof(want_env[0]));
	for (i = 0; i < s.env.n && i < sizeof(want_env) / sizeof(*want_env);
	    i++)
		CHECK_STR(s.env.v[i], want_env[i]);
	CHECK_INT(s.labels.n, 3);
	CHECK_STR(s.labels.v[0], "moat.run=run-1");
	CHECK_STR(s.labels.v[1], "moat.pid=4242");
	CHECK_STR(s.labels.v[2], "moat.name=demo");
	CHECK_INT(s.nmounts, 2);
	CHECK_STR(s.mounts[0].src, ws);
	CHECK_STR(s.mounts[0].dst, "/workspace");
	CHECK_INT(s.mounts[0].readonly, 0);
	CHECK_STR(s.mounts[1].src, cadir);
	CHECK_STR(s.mounts[1].dst, "/etc/moat-ca");
	CHECK_INT(s.mounts[1].readonly, 1);
	CHECK_STR(s.workdir, "/workspace");
	CHECK_STR(s.network, "moat-run-1");
	CHECK_INT(s.runsc, 1);
	CHECK_INT(s.no_new_privileges, 1);
	CHECK_INT(s.pids_limit, 1024);
	CHECK_INT(s.memory, 1ULL << 30);
	CHECK(s.cpus == 2);
	CHECK_INT(s.remove, 1);
	CHECK_INT(s.interactive, 0);
	CHECK_INT(s.tty, 0);
	stat(ws, &st);
	user = xasprintf("%lu:%lu", (unsigned long)st.st_uid,
	    (unsigned long)st.st_gid);
	CHECK_STR(s.user, user);
	free(user);

	/* Through the runtime: the token is in envp only. */
	CHECK_INT(rt_spec_argv(RT_DOCKER, &s, &argv, &envp, err,
	    sizeof(err)), 0);
	for (i = 0; i < argv.n; i++)
		CHECK(strstr(argv.v[i], TOKEN) == NULL);
	CHECK(strvec_find(&argv, "-e") != -1);
	CHECK(strvec_find(&argv, "HTTPS_PROXY") != -1);
	CHECK(strvec_find(&argv, "runsc") != -1);
	proxy = xasprintf("http://moat:%s@172.19.0.1:3128", TOKEN);
	CHECK_STR(strvec_getenv(&envp, "HTTPS_PROXY"), proxy);
	free(proxy);
	strvec_free(&argv);
	rt_env_free(&envp);
	rt_spec_free(&s);
	strvec_free(&cfg.command);
}

static void
test_spec_precedence(void)
{
	struct config		cfg;
	struct sandbox_opts	o;
	struct rt_spec		s;
	struct strvec		ph = STRVEC_INIT, ex = STRVEC_INIT;
	struct config_env	env[2] = { { "FOO", "yaml" }, { "BAR", "yaml" } };
	char			err[512];

	memset(&cfg, 0, sizeof(cfg));
	cfg.sandbox = 1;
	cfg.env = env;
	cfg.nenv = 2;
	strvec_push(&ph, "FOO=placeholder");
	strvec_push(&ph, "BAR=placeholder");
	strvec_push(&ph, "OPENAI_API_KEY=moat-placeholder-openai");
	strvec_push(&ex, "FOO=flag");
	strvec_push(&ex, "EMPTY=");
	base_opts(&o);
	o.placeholders = &ph;
	o.extra_env = &ex;
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), 0);
	CHECK_STR(strvec_getenv(&s.env, "FOO"), "flag");
	CHECK_STR(strvec_getenv(&s.env, "BAR"), "yaml");
	CHECK_STR(strvec_getenv(&s.env, "OPENAI_API_KEY"),
	    "moat-placeholder-openai");
	CHECK_STR(strvec_getenv(&s.env, "EMPTY"), "");
	CHECK_STR(s.image, CONFIG_DEFAULT_IMAGE);
	rt_spec_free(&s);

	/* The proxy variables cannot be overridden. */
	strvec_push(&ex, "HTTPS_PROXY=http://evil:1");
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "-e HTTPS_PROXY: moat sets the proxy variables; they "
	    "cannot be overridden");
	rt_spec_free(&s);
	strvec_free(&ex);
	strvec_push(&ex, "no_proxy=*");
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "-e no_proxy: moat sets the proxy variables; they "
	    "cannot be overridden");
	rt_spec_free(&s);
	strvec_free(&ex);
	/* in any case, and ALL_PROXY too (curl honours it) */
	strvec_push(&ex, "Https_Proxy=http://evil:1");
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "-e Https_Proxy: moat sets the proxy variables; they "
	    "cannot be overridden");
	rt_spec_free(&s);
	strvec_free(&ex);
	strvec_push(&ex, "all_proxy=socks5h://evil:1");
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "-e all_proxy: moat sets the proxy variables; they "
	    "cannot be overridden");
	rt_spec_free(&s);
	strvec_free(&ex);
	strvec_push(&ex, "JUSTKEY");
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "-e: \"JUSTKEY\" is not KEY=VALUE");
	rt_spec_free(&s);
	strvec_free(&ex);
	env[1].key = "http_proxy";
	o.extra_env = NULL;
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "agent.yaml env http_proxy: moat sets the proxy "
	    "variables; they cannot be overridden");
	rt_spec_free(&s);
	env[1].key = "A=B";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "agent.yaml env: bad variable name \"A=B\"");
	rt_spec_free(&s);
	strvec_free(&ph);
}

static void
test_spec_options(void)
{
	struct config		cfg;
	struct sandbox_opts	o;
	struct rt_spec		s;
	struct strvec		cmd = STRVEC_INIT, hosts = STRVEC_INIT;
	struct config_mount	m[1] = { { NULL, "/data", 1, 7 } };
	char			err[512], data[PATH_MAX + 8];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(data, sizeof(data), "%s/data", ws);
	mkdir(data, 0700);
	m[0].src = data;
	cfg.sandbox = 1;
	cfg.image = "yaml-image";
	cfg.mounts = m;
	cfg.nmounts = 1;
	strvec_push(&cfg.command, "yaml-cmd");
	strvec_push(&cmd, "sh");
	strvec_push(&cmd, "-c");
	strvec_push(&cmd, "exit 7");
	strvec_push(&hosts, "host.docker.internal:host-gateway");
	base_opts(&o);
	o.image = "flag-image";
	o.command = &cmd;
	o.keep = 1;
	o.interactive = 1;
	o.is_tty = 0;
	o.runsc = 0;
	o.proxy_host = "fd00::1";
	o.ca_file = "bundle.crt";
	o.add_hosts = &hosts;
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), 0);
	CHECK_STR(s.image, "flag-image");
	CHECK_INT(s.command.n, 3);
	CHECK_STR(s.command.v[2], "exit 7");
	CHECK_INT(s.remove, 0);
	CHECK_STR(s.labels.v[s.labels.n - 1], "moat.keep=1");
	CHECK_INT(s.interactive, 1);
	CHECK_INT(s.tty, 0);
	CHECK_INT(s.runsc, 0);
	CHECK_STR(strvec_getenv(&s.env, "HTTP_PROXY"),
	    "http://moat:" TOKEN "@[fd00::1]:3128");
	CHECK_STR(strvec_getenv(&s.env, "SSL_CERT_FILE"),
	    "/etc/moat-ca/bundle.crt");
	CHECK_INT(s.nmounts, 3);
	CHECK_STR(s.mounts[1].src, data);
	CHECK_STR(s.mounts[1].dst, "/data");
	CHECK_INT(s.mounts[1].readonly, 1);
	CHECK_STR(s.add_hosts.v[0], "host.docker.internal:host-gateway");
	rt_spec_free(&s);

	/* agent.yaml interactive; a TTY only when moat's stdin is one. */
	cfg.interactive = 1;
	o.interactive = 0;
	o.is_tty = 1;
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), 0);
	CHECK_INT(s.interactive, 1);
	CHECK_INT(s.tty, 1);
	rt_spec_free(&s);

	/* Reserved mount targets. */
	m[0].dst = "/workspace/";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "agent.yaml:7: mount target /workspace/ is reserved by "
	    "moat");
	rt_spec_free(&s);
	m[0].dst = "/etc/moat-ca";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	/* The container's kernel interfaces (runc has had CVEs there). */
	m[0].dst = "/proc/sys";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "agent.yaml:7: mount target /proc/sys is reserved by "
	    "moat");
	rt_spec_free(&s);
	m[0].dst = "/sys";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	m[0].dst = "/dev/shm";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	m[0].dst = "/devices";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), 0);
	rt_spec_free(&s);
	m[0].dst = "/data";

	/* Apple: no user, no runsc/no-new-privileges/pids, no network. */
	o.engine = RT_APPLE;
	o.runsc = 1;
	CHECK_INT(build(0, &cfg, &o, &s, err, sizeof(err)), 0);
	CHECK(s.user == NULL);
	CHECK_INT(s.runsc, 0);
	CHECK_INT(s.no_new_privileges, 0);
	CHECK_INT(s.pids_limit, 0);
	CHECK(s.network == NULL);
	rt_spec_free(&s);

	/* A workspace that does not exist. */
	o.engine = RT_DOCKER;
	o.workspace = "/nonexistent/moat-ws";
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	CHECK_STR(err, "workspace /nonexistent/moat-ws: No such file or "
	    "directory");
	rt_spec_free(&s);
	o.workspace = ws;
	o.token_hex = NULL;
	CHECK_INT(build(1, &cfg, &o, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);

	strvec_free(&cmd);
	strvec_free(&hosts);
	strvec_free(&cfg.command);
	rmdir(data);
}

/* Builds with one agent.yaml mount (line 9) of src at /x. */
static int
build_mount(const char *src, struct rt_spec *s, char *err, size_t errlen)
{
	struct config		cfg;
	struct sandbox_opts	o;
	struct config_mount	m[1];

	memset(&cfg, 0, sizeof(cfg));
	cfg.sandbox = 1;
	m[0].src = (char *)src;
	m[0].dst = "/x";
	m[0].readonly = 1;
	m[0].line = 9;
	cfg.mounts = m;
	cfg.nmounts = 1;
	base_opts(&o);
	return build(1, &cfg, &o, s, err, errlen);
}

/*
 * agent.yaml is in the workspace, so the agent writes it: its mounts must
 * not expose the engine's socket, moat's home (keys, credentials), the
 * host's system trees or the user's secret dot-directories, directly,
 * through an ancestor, or through a symbolic link that docker would
 * follow.  The workspace itself may not hold or sit in moat's home.
 */
static void
test_spec_mount_policy(void)
{
	struct rt_spec		 s;
	struct sockaddr_un	 sun;
	char			 err[1024], p[PATH_MAX + 64], want[PATH_MAX * 3];
	char			 home[PATH_MAX + 16], mhome[PATH_MAX + 32];
	char			 real[PATH_MAX];
	const char		*oldhome = getenv("HOME");
	char			*savehome = oldhome ? xstrdup(oldhome) : NULL;
	int			 fd;

	/* A HOME of its own, beside the workspace. */
	snprintf(home, sizeof(home), "/tmp/moat-test-sbh-XXXXXX");
	if (mkdtemp(home) == NULL) {
		CHECK(!"mkdtemp");
		free(savehome);
		return;
	}
	snprintf(mhome, sizeof(mhome), "%s/.moat", home);
	CHECK_INT(util_mkdir_p(mhome, 0700), 0);
	snprintf(p, sizeof(p), "%s/.ssh", home);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/src", home);
	mkdir(p, 0700);
	setenv("HOME", home, 1);
	unsetenv("MOAT_HOME");

	/* An ordinary directory outside the project: allowed, resolved. */
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), 0);
	CHECK(realpath(p, real) != NULL);
	CHECK_INT(s.nmounts, 3);
	if (s.nmounts == 3)
		CHECK_STR(s.mounts[1].src, real);
	rt_spec_free(&s);

	/* The engine's socket (any socket or device). */
	if (access("/run/docker.sock", F_OK) == 0) {
		CHECK_INT(build_mount("/run/docker.sock", &s, err,
		    sizeof(err)), -1);
		CHECK_CONTAINS(err, "agent.yaml:9: mount source "
		    "/run/docker.sock ");
		rt_spec_free(&s);
		CHECK_INT(build_mount("/var/run/docker.sock", &s, err,
		    sizeof(err)), -1);
		rt_spec_free(&s);
	}
	snprintf(p, sizeof(p), "%s/s.sock", ws);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CHECK(strlen(p) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, p, strlen(p) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_INT(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "agent.yaml:9: mount source %s is not a "
	    "file or directory (sockets and devices are never mounted)", p);
	CHECK_STR(err, want);
	rt_spec_free(&s);
	close(fd);
	unlink(p);
	CHECK_INT(build_mount("/dev/null", &s, err, sizeof(err)), -1);
	rt_spec_free(&s);

	/* The host's root and system trees, and what is inside them. */
	CHECK_INT(build_mount("/", &s, err, sizeof(err)), -1);
	CHECK_STR(err, "agent.yaml:9: mount source / would expose /proc, "
	    "which moat never mounts into the container");
	rt_spec_free(&s);
	CHECK_INT(build_mount("/proc/1", &s, err, sizeof(err)), -1);
	CHECK_STR(err, "agent.yaml:9: mount source /proc/1 would expose "
	    "/proc, which moat never mounts into the container");
	rt_spec_free(&s);
	CHECK_INT(build_mount("/etc", &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	CHECK_INT(build_mount("/var", &s, err, sizeof(err)), -1);
	rt_spec_free(&s);

	/* moat's home, an ancestor of it, and the user's secrets. */
	CHECK_INT(build_mount(mhome, &s, err, sizeof(err)), -1);
	CHECK(realpath(mhome, real) != NULL);
	snprintf(want, sizeof(want), "agent.yaml:9: mount source %s would "
	    "expose %s, which moat never mounts into the container", mhome,
	    real);
	CHECK_STR(err, want);
	rt_spec_free(&s);
	CHECK_INT(build_mount(home, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	snprintf(p, sizeof(p), "%s/.ssh", home);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "/.ssh, which moat never mounts");
	rt_spec_free(&s);

	/* A symbolic link is judged by what it points to. */
	snprintf(p, sizeof(p), "%s/link", ws);
	CHECK_INT(symlink("/", p), 0);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "agent.yaml:9: mount source %s (which "
	    "resolves to /) would expose /proc, which moat never mounts into "
	    "the container", p);
	CHECK_STR(err, want);
	rt_spec_free(&s);
	unlink(p);
	CHECK_INT(symlink(mhome, p), 0);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	unlink(p);

	/* A source that does not exist (docker would create it as root). */
	snprintf(p, sizeof(p), "%s/nope", ws);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "agent.yaml:9: mount source %s: No such "
	    "file or directory", p);
	CHECK_STR(err, want);
	rt_spec_free(&s);

	/* The workspace must not hold or sit inside moat's home. */
	setenv("MOAT_HOME", mhome, 1);
	snprintf(p, sizeof(p), "%s/src", home);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), 0);
	rt_spec_free(&s);
	setenv("MOAT_HOME", ws, 1);	/* ws is the workspace */
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is moat's home or shares a directory with it");
	rt_spec_free(&s);
	snprintf(p, sizeof(p), "%s/inner", ws);
	setenv("MOAT_HOME", p, 1);
	snprintf(p, sizeof(p), "%s/src", home);
	CHECK_INT(build_mount(p, &s, err, sizeof(err)), -1);
	rt_spec_free(&s);
	unsetenv("MOAT_HOME");

	if (savehome != NULL)
		setenv("HOME", savehome, 1);
	free(savehome);
	snprintf(p, sizeof(p), "%s/.ssh", home);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/src", home);
	rmdir(p);
	rmdir(mhome);
	rmdir(home);
}

int
main(void)
{
	const char *path = getenv("PATH");

	snprintf(orig_path, sizeof(orig_path), "%s", path ? path :
	    "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	snprintf(ws, sizeof(ws), "/tmp/moat-test-sb-XXXXXX");
	if (mkdtemp(ws) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cadir, sizeof(cadir), "%s/ca", ws);
	mkdir(cadir, 0700);
	unsetenv("MOAT_RUNTIME");

	RUN(test_decide);
	RUN(test_decide_real_docker_without_runsc);
	RUN(test_spec_docker);
	RUN(test_spec_precedence);
	RUN(test_spec_options);
	RUN(test_spec_mount_policy);

	rmdir(cadir);
	rmdir(ws);
	return harness_done();
}
