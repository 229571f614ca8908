/*
 * runtime: container engines (Docker with or without gVisor, Podman, Apple
 * `container`).  Detects which engine is usable, turns a neutral container
 * spec into the engine's exact argv (and the CLI's environment), spawns
 * and stops containers, creates and removes per-run networks, installs the
 * per-run host firewall rule and removes what killed runs left behind.
 *
 * Everything here runs external programs through util_run()/util_spawn(),
 * never a shell, or -- for Docker's daemon that the CLI would use -- talks
 * to the Docker Engine API on its unix socket (engine_api.c,
 * engine_run.c), and every call has a deadline.  Links util only; it
 * never sees the event loop: rt_container_spawn() returns a pid and the
 * caller waits for it (SIGCHLD).
 *
 * Secrets: an environment value in a spec (the proxy URL carries the run
 * token) never appears in argv.  rt_spec_argv() emits "-e KEY" and puts
 * KEY=VALUE in the environment of the engine's CLI, which copies it into
 * the container.  Exception: names the CLI itself (or its loader, libc,
 * Go runtime) reads -- PATH, HOME, TMPDIR, LD_*, DYLD_*, DOCKER_*,
 * PODMAN_*, CONTAINERS_*, XDG_* and the like -- go as "-e KEY=VALUE" so
 * that an agent.yaml cannot steer the CLI on the host; moat never puts a
 * secret under those names.
 */
#ifndef MOAT_RUNTIME_H
#define MOAT_RUNTIME_H

#include <sys/types.h>

#include "util.h"

/* Labels on everything moat creates (containers and networks). */
#define RT_LABEL_RUN	"moat.run"	/* moat.run=<run id> */
#define RT_LABEL_PID	"moat.pid"	/* moat.pid=<pid of moat run> */
#define RT_LABEL_KEEP	"moat.keep"	/* moat.keep=1: never cleaned up */

/* Deadline for one engine query (version, info, inspect, network ...). */
#define RT_QUERY_TIMEOUT_MS	15000

enum rt_engine {
	RT_AUTO = 0,		/* only as a request: "pick one" */
	RT_DOCKER,
	RT_PODMAN,
	RT_APPLE,
};

/* "auto", "docker", "podman", "apple". */
const char	*rt_engine_name(enum rt_engine e);
/* The reverse; "" and NULL give RT_AUTO; -1 for anything else. */
int		 rt_engine_parse(const char *s);

enum rt_state {
	RT_STATE_NOT_INSTALLED = 0,	/* the CLI is not on PATH */
	RT_STATE_NOT_RUNNING,		/* daemon down / Apple system stopped */
	RT_STATE_KERNEL_NOT_CONFIGURED,	/* Apple only */
	RT_STATE_READY,
};

/* "Not Installed", "Not Running" ("System Not Running" for Apple),
 * "Kernel Not Configured", "Ready". */
const char	*rt_state_name(enum rt_engine e, enum rt_state s);

/* What a probe found out about one engine. */
struct rt_info {
	enum rt_engine	engine;
	enum rt_state	state;
	char		version[128];	/* server version, "" when unknown */
	int		gvisor;		/* runsc usable (docker: registered
					 * with the daemon; podman: runsc on
					 * PATH); always 0 for apple */
	int		desktop;	/* Docker Desktop or a non-Linux host:
					 * no per-run network, the proxy binds
					 * 127.0.0.1, the container uses
					 * host.docker.internal */
	char		reason[1024];	/* when not READY: what is wrong and
					 * the command that fixes it */
};

/*
 * Probes one engine (not RT_AUTO) and fills *info completely.  Returns 0
 * when the engine is READY, -1 otherwise (info->state and info->reason
 * say why).  info->reason (first line: what; then the fix):
 *  docker down:   "cannot connect to the Docker daemon (<CLI's stderr>)\n"
 *                 "Start it with: sudo systemctl start docker\n"
 *                 "           or: sudo dockerd &"
 *                 (+ a docker group hint on "permission denied")
 *  podman down:   "cannot connect to Podman (<CLI's stderr>)\n"
 *                 "Start it with: systemctl --user start podman.socket\n..."
 *  not on PATH:   "docker is not installed (not found in PATH)\n"
 *                 "Install it: ..." (podman, container alike)
 *  apple stopped: "the container system is not running\n"
 *                 "Start it with: container system start"
 *  apple kernel:  "no default kernel is configured\n"
 *                 "Configure it with: container system kernel set "
 *                 "--recommended"
 * Commands issued: docker: one `docker info --format
 * '{{.ServerVersion}}\n{{json .Runtimes}}\n{{.OperatingSystem}}'`
 * (gvisor: "runsc" among the runtimes; desktop: "Docker Desktop");
 * podman: `podman info --format {{.Version.Version}}` (gvisor: runsc in
 * PATH); apple: `container system status` only (its app-root row, then
 * <app root>/kernels/default.kernel-arm64 must exist; version from the
 * apiserver-version row).
 */
int		 rt_probe(enum rt_engine e, struct rt_info *info);

/*
 * Chooses the engine `moat run` uses: flag (the --runtime value, NULL or
 * "auto" when not given) wins over cfg_runtime (agent.yaml `runtime:`,
 * NULL or "auto" when unset), which wins over $MOAT_RUNTIME, which wins
 * over auto-detection: on macOS arm64 Apple when READY else Docker; on
 * Linux Docker when READY, else Podman when READY; elsewhere Docker.  In
 * auto mode an Apple `container` that is not installed falls back to
 * Docker silently; a half set-up one is an error.
 *
 * Returns 0 with *info describing a READY engine, or -1 with err filled:
 *  - docker/podman not ready: info->reason (for auto on Linux, Docker's
 *    reason unless Docker is not installed at all);
 *  - Apple not ready (asked for, or half set up in auto mode):
 *    "Apple container runtime not available: <info->reason>";
 *  - neither docker nor podman installed (auto, Linux): "no container
 *    runtime found: ...";
 *  - a bad name: `unknown runtime "x" (from --runtime); use docker,
 *    podman, apple or auto` (from agent.yaml / MOAT_RUNTIME alike).
 * *info is filled in every case (with the engine that was tried).
 */
int		 rt_detect(const char *flag, const char *cfg_runtime,
		    struct rt_info *info, char *err, size_t errlen);

/*
 * The sandbox mode name `moat status` and `moat run` print:
 * "docker+gvisor", "docker", "podman+gvisor", "podman", "apple".
 */
const char	*rt_mode_name(enum rt_engine e, int runsc);

/* ---- container spec ------------------------------------------------- */

struct rt_mount {
	char	*src;		/* host path, absolute */
	char	*dst;		/* container path, absolute */
	int	 readonly;
};

/*
 * A neutral description of one container.  Strings are owned by the spec
 * (rt_spec_free() frees them; env values are wiped).  Zero / NULL / empty
 * means "not set".
 */
struct rt_spec {
	char		*name;		/* --name */
	char		*image;		/* required */
	struct strvec	 command;	/* empty: the image's default */
	struct strvec	 env;		/* KEY=VALUE, one per key */
	struct rt_mount	*mounts;
	size_t		 nmounts;
	struct strvec	 labels;	/* KEY=VALUE */
	char		*network;	/* --network */
	int		 runsc;		/* --runtime runsc (docker/podman) */
	char		*user;		/* "uid:gid" */
	char		*workdir;	/* -w */
	unsigned long long memory;	/* bytes */
	double		 cpus;
	long		 pids_limit;	/* docker/podman only */
	int		 no_new_privileges; /* docker/podman only */
	int		 interactive;	/* -i */
	int		 tty;		/* -t */
	struct strvec	 add_hosts;	/* "host:addr" (docker/podman) */
	int		 remove;	/* --rm */
	int		 pull_never;	/* --pull never (docker/podman): a missing
					 * image fails (125), never pulled */
};

void	rt_spec_init(struct rt_spec *spec);
/* Frees everything the spec owns, wiping env values; spec is reusable
 * after rt_spec_init().  NULL-safe. */
void	rt_spec_free(struct rt_spec *spec);
/* Sets (replacing an earlier value of) KEY in spec->env; copies. */
void	rt_spec_setenv(struct rt_spec *spec, const char *key,
	    const char *value);
/* Removes KEY from spec->env (wiping its value); no-op when absent. */
void	rt_spec_unsetenv(struct rt_spec *spec, const char *key);
/* Appends a mount; copies the strings. */
void	rt_spec_add_mount(struct rt_spec *spec, const char *src,
	    const char *dst, int readonly);
/* Appends label KEY=VALUE; copies. */
void	rt_spec_add_label(struct rt_spec *spec, const char *key,
	    const char *value);

/*
 * Builds the exact command line for `<engine> run ...` into argv (appended
 * to; argv->v[0] is "docker", "podman" or "container") and the
 * environment that CLI must be started with into envp (appended to: the
 * current environment minus the spec's keys, plus the spec's KEY=VALUE
 * pairs).  No environment value ever appears in argv: each variable is
 * passed as "-e KEY" -- except the names the CLI reads itself (see the
 * top of this file), passed as "-e KEY=VALUE" and kept out of envp,
 * where the CLI keeps moat's own value.  Order (docker/podman):
 *   run [--rm] [--pull never] [-i] [-t] --name N [--runtime runsc]
 *   [--security-opt no-new-privileges] [--pids-limit P] [-m BYTES]
 *   [--cpus C] [--user U] [-w DIR] [--network NET] [--label K=V]...
 *   [--add-host H:A]... [-e KEY]... [-v SRC:DST[:ro]]... IMAGE [CMD...]
 * Apple: run [--rm] [-i] [-t] --name N [-m BYTES] [-c CPUS] [--user U]
 *   [-w DIR] [--network NET] [--label K=V]... [-e KEY]...
 *   [-v SRC:DST[:ro]]... IMAGE [CMD...]
 * (no --runtime, --security-opt, --pids-limit or --add-host: the VM is
 * the sandbox; Apple rounds cpus up to a whole number).
 * Returns 0, or -1 with err filled: no image, a key with '=' or empty, a
 * mount that is not absolute or contains ':' or ',', and for Apple a
 * mount whose source is not a directory ("Apple container can only mount
 * directories: /x/file").
 */
int	rt_spec_argv(enum rt_engine e, const struct rt_spec *spec,
	    struct strvec *argv, struct strvec *envp, char *err,
	    size_t errlen);

/* Frees an envp from rt_spec_argv(), wiping every entry (they hold the
 * proxy token).  NULL-safe. */
void	rt_env_free(struct strvec *envp);

/* ---- container lifecycle -------------------------------------------- */

/*
 * Starts `<engine> run ...` for spec (rt_spec_argv()) with stdin/stdout/
 * stderr as given (UTIL_FD_* allowed).  Returns the pid of the CLI; the
 * caller reaps it (its exit status is the agent's: docker and podman use
 * 125 for their own failures, 126/127 for a command that cannot run).
 * -1 with err filled when it could not be started.  Docker with stdin
 * UTIL_FD_NULL, no TTY and a usable socket: the pid is a forked child
 * doing the same over the Engine API (create, attach, wait, start), with
 * the same exit statuses and the daemon's messages as "docker: ..." on
 * err_fd.
 */
pid_t	rt_container_spawn(enum rt_engine e, const struct rt_spec *spec,
	    int in, int out, int err_fd, char *err, size_t errlen);

/*
 * `<engine> stop -t <timeout_s> NAME` (Apple: `container stop -t`...),
 * bounded by timeout_s + RT_QUERY_TIMEOUT_MS.  A container that does not
 * exist is not an error.  0 or -1 (err filled).
 */
int	rt_container_stop(enum rt_engine e, const char *name, int timeout_s,
	    char *err, size_t errlen);

/*
 * `<engine> rm -f NAME` (Apple: `container delete --force NAME`).  A
 * container that does not exist is not an error.  0 or -1.
 */
int	rt_container_remove(enum rt_engine e, const char *name, char *err,
	    size_t errlen);

/*
 * Whether image is in the engine's local store (`<engine> image inspect`):
 * 1 yes, 0 no, -1 cannot tell (Apple, or the query failed).  For the
 * message after a `run --pull never` that failed.
 */
int	rt_image_present(enum rt_engine e, const char *image);

/* ---- per-run network ------------------------------------------------ */

struct rt_network {
	char	name[128];
	char	id[80];
	char	gateway[64];	/* the host's address on it: bind here */
	char	subnet[64];	/* e.g. "172.19.0.0/16" */
	char	bridge[32];	/* host interface, e.g. "br-0123456789ab" */
};

/*
 * Creates an internal (no route out) bridge network NAME labelled with
 * labels (KEY=VALUE, may be NULL) via `docker network create --internal
 * --label ... NAME` and finds its gateway, subnet and bridge interface:
 * for Docker from the kernel (the bridge "br-" + 12 digits of the id
 * the CLI printed, its IPv4 address and mask), else -- and for Podman --
 * with `network inspect`.  Docker and Podman only.  On any failure after
 * creation the network is removed again.  0 or -1 (err filled).
 */
int	rt_network_create(enum rt_engine e, const char *name,
	    const struct strvec *labels, struct rt_network *net, char *err,
	    size_t errlen);

/* `<engine> network rm NAME`; absent is not an error.  0 or -1. */
int	rt_network_remove(enum rt_engine e, const char *name, char *err,
	    size_t errlen);

/*
 * The address an Apple container reaches the host at: the gateway of
 * `container network inspect default`, else "192.168.64.1".
 */
void	rt_apple_gateway(char *buf, size_t len);

/* ---- host firewall (Linux, iptables) -------------------------------- */

/*
 * 1 when this process may change the host firewall (root or
 * CAP_NET_ADMIN, and iptables found), else 0.
 */
int	rt_firewall_capable(void);

/*
 * For traffic arriving on bridge (the per-run network's interface):
 * accept tcp to gateway:port (the proxy), drop everything else addressed
 * to the host, and with ip6tables (when installed) all IPv6 addressed to
 * the host (the bridge has a link-local address).  Uses a chain of its own, jumped to from INPUT, so removal
 * is exact: "MOAT-<run_id>" when run_id ([A-Za-z0-9_-] only) has at most
 * 23 characters, else "MOAT-h" + 22 hex digits of a hash of run_id.
 * Returns 0, or -1 with err saying why and how to get it ("run moat as
 * root or grant CAP_NET_ADMIN"); nothing is left behind on failure.
 */
int	rt_firewall_add(const char *run_id, const char *bridge,
	    const char *gateway, int port, char *err, size_t errlen);

/* Removes the run's chain and its INPUT jump; absent is not an error. */
int	rt_firewall_remove(const char *run_id, char *err, size_t errlen);
/* The same, quicker when bridge (as given to rt_firewall_add()) is
 * known: one batch per family instead of a listing and a batch. */
int	rt_firewall_remove_bridge(const char *run_id, const char *bridge,
	    char *err, size_t errlen);

/* ---- orphans -------------------------------------------------------- */

/*
 * Finds containers and networks labelled moat.run whose moat process is
 * gone (the moat.pid label names no live moat process, or
 * <runs_dir>/<run id>/metadata.json records an "end") and removes them,
 * with their firewall chains when capable.  Containers labelled
 * moat.keep=1 are left alone.  runs_dir may be NULL (pid check only).
 * *nremoved (may be NULL) gets the number of containers + networks
 * removed.  0, or -1 when the engine could not be queried or something
 * could not be removed (err says what; the rest is still done).
 * Docker lists over the daemon's socket when it can (rt_api_*), else
 * `ps -a` / `network ls` with a label filter; Apple (containers only, it
 * has no per-run networks): `container list --all --format json`, then
 * `container delete --force NAME`.
 */
int	rt_cleanup_orphans(enum rt_engine e, const char *runs_dir,
	    int *nremoved, char *err, size_t errlen);

#endif /* MOAT_RUNTIME_H */
