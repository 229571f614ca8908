/*
 * sandbox: the policy for the agent's box.  Decides whether gVisor is used
 * (required on Linux unless turned off) and builds the runtime spec: the
 * workspace and CA mounts, the proxy environment with the run's token, the
 * CA trust variables, placeholders, limits, the network and the user.
 * Links util, config and runtime (spec and engine types only: nothing here
 * runs a program).
 */
#ifndef MOAT_SANDBOX_H
#define MOAT_SANDBOX_H

#include <sys/types.h>

#include "config.h"
#include "runtime.h"
#include "util.h"

/* Where things live inside the container. */
#define SANDBOX_WORKSPACE	"/workspace"
#define SANDBOX_CA_DIR		"/etc/moat-ca"
#define SANDBOX_CA_FILE		"ca-bundle.pem"	/* default bundle name */
#define SANDBOX_PIDS_LIMIT	1024
#define SANDBOX_NO_PROXY	"localhost,127.0.0.1,::1"

/* Printed by the caller (log_warnx) when the sandbox is off on Linux. */
#define SANDBOX_WARN_NO_GVISOR \
	"running without gVisor sandbox - reduced isolation"

/*
 * Decides whether the container runs under gVisor.  rt is the detected
 * engine; cfg may be NULL (sandbox on); no_sandbox is the --no-sandbox
 * flag, which wins over agent.yaml `sandbox:`.
 *  - Linux, docker/podman, sandbox on, gVisor available: *runsc = 1.
 *  - Linux, sandbox on, gVisor missing: -1 with err =
 *      "gVisor (runsc) is required but not available\n"
 *      "\n"
 *      "Install it:\n  ...steps...\n"
 *      "\n"
 *      "To bypass (reduced isolation): moat run --no-sandbox"
 *  - Linux, sandbox off: *runsc = 0, *warn = 1 (the caller prints
 *    "WARN " SANDBOX_WARN_NO_GVISOR).
 *  - Apple, or any engine on a non-Linux host (Docker Desktop): *runsc =
 *    0, *warn = 0; the flag has no effect.
 * Returns 0 or -1.
 */
int	sandbox_decide(const struct rt_info *rt, const struct config *cfg,
	    int no_sandbox, int *runsc, int *warn, char *err, size_t errlen);

/* Everything sandbox_build_spec() needs besides agent.yaml.  Borrowed. */
struct sandbox_opts {
	enum rt_engine		 engine;	/* not RT_AUTO */
	const char		*run_id;	/* required */
	const char		*run_name;	/* label moat.name; may be NULL */
	pid_t			 moat_pid;	/* label moat.pid; 0: getpid() */
	const char		*workspace;	/* host dir; NULL: project dir */
	const char		*ca_dir;	/* host dir with the bundle */
	const char		*ca_file;	/* bundle file name in ca_dir;
						 * NULL: SANDBOX_CA_FILE */
	const char		*proxy_host;	/* as the container sees it:
						 * gateway IP, host.docker.internal,
						 * vmnet gateway */
	int			 proxy_port;
	const char		*token_hex;	/* the run's proxy token */
	const struct strvec	*placeholders;	/* KEY=VALUE; may be NULL */
	const struct strvec	*extra_env;	/* -e KEY=VAL; may be NULL */
	const char		*image;		/* --image; NULL: agent.yaml */
	const struct strvec	*command;	/* -- CMD; NULL/empty: agent.yaml */
	const char		*network;	/* per-run network; may be NULL */
	const struct strvec	*add_hosts;	/* "host:addr"; may be NULL */
	int			 runsc;		/* from sandbox_decide() */
	int			 interactive;	/* -i (or agent.yaml) */
	int			 is_tty;	/* moat's stdin is a terminal */
	int			 keep;		/* --keep: no --rm, moat.keep=1 */
};

/*
 * Builds spec (initialised here; the caller rt_spec_free()s it, also on
 * failure) from cfg and o:
 *  - name "moat-<run id>"; labels moat.run=<id>, moat.pid=<pid>,
 *    moat.name=<run name> (when given), moat.keep=1 with keep; --rm
 *    unless keep;
 *  - image: o->image, else cfg->image; command: o->command, else
 *    cfg->command;
 *  - mounts: workspace at /workspace (also the working directory), the
 *    agent.yaml mounts, o->ca_dir read-only at /etc/moat-ca;
 *  - env, later entries winning: placeholders, agent.yaml env, -e flags;
 *    then HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy =
 *    http://moat:<token>@<proxy host>:<port> (IPv6 in brackets),
 *    NO_PROXY/no_proxy = SANDBOX_NO_PROXY, NODE_USE_ENV_PROXY=1, and
 *    SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE,
 *    NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO = /etc/moat-ca/<ca file>;
 *    agent.yaml env or -e naming one of the proxy variables is an error
 *    ("-e HTTPS_PROXY: moat sets the proxy variables; they cannot be
 *    overridden"); a -e without '=' is an error;
 *  - on Linux with docker/podman: user "<uid>:<gid>" of the workspace
 *    owner; no-new-privileges; pids limit 1024; --runtime runsc when
 *    o->runsc; memory and cpus from agent.yaml; the network o->network;
 *  - interactive: -i when o->interactive or cfg->interactive, -t too when
 *    o->is_tty.
 *  - agent.yaml mounts (the agent can write agent.yaml): each source is
 *    resolved (realpath; the resolved path is what gets mounted) and must
 *    exist and be a file or directory (no sockets, e.g. docker.sock, no
 *    devices); it must not be, hold or sit inside /proc, /sys, /dev,
 *    /run, /var/run, /boot, /etc, /var/lib/docker, /var/lib/containers,
 *    moat's home, or $HOME's .ssh, .gnupg, .aws, .azure, .config,
 *    .docker, .kube, .netrc, .git-credentials, .npmrc, .pypirc,
 *    .password-store, .local/share/keyrings ("/" and $HOME itself are
 *    thus refused): "agent.yaml:9: mount source /x (which resolves to /)
 *    would expose /proc, which moat never mounts into the container";
 *  - the workspace must not be moat's home, hold it or sit inside it.
 * Returns 0, or -1 with err filled (a missing workspace, a mount onto
 * /workspace, /etc/moat-ca or anything in the container's /proc, /sys or
 * /dev, a refused mount source, a bad -e).
 */
int	sandbox_build_spec(const struct config *cfg,
	    const struct sandbox_opts *o, struct rt_spec *spec, char *err,
	    size_t errlen);

/*
 * 1 when key is a proxy variable (HTTP_PROXY, HTTPS_PROXY, NO_PROXY,
 * ALL_PROXY, in any case), which nobody but moat may set, else 0.
 */
int	sandbox_is_proxy_var(const char *key);

#endif /* MOAT_SANDBOX_H */
