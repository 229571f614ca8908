/*
 * moat run: the composition root.  Loads agent.yaml and the grants, picks
 * the engine and the sandbox mode, makes the per-run CA, network, proxy
 * and firewall rule, starts the agent's container, supervises it from one
 * event loop (SIGCHLD, SIGINT, SIGTERM, the container's output) and tears
 * everything down whatever happens, exiting with the agent's status.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "certs.h"
#include "cmd.h"
#include "config.h"
#include "creds.h"
#include "proxy.h"
#include "run_clean.h"
#include "run_record.h"
#include "runtime.h"
#include "sandbox.h"
#include "util.h"

#define STOP_TIMEOUT_S		10	/* docker stop -t */
#define STOP_DEADLINE_S		(STOP_TIMEOUT_S + 20)	/* then SIGKILL */
#define STOP_RETRY_S		2	/* re-issue stop while it runs */
#define DRAIN_DEADLINE_S	5	/* output after the CLI exited */
#define SHUTDOWN_DEADLINE_S	10	/* proxy graceful stop */
#define OUTBUF			16384

struct run_flags {
	struct strvec	 grants;
	struct strvec	 env;		/* -e KEY=VAL */
	struct strvec	 command;	/* after -- */
	struct strvec	 resolve;	/* HOST:PORT:ADDR */
	const char	*image;
	const char	*name;
	const char	*runtime;
	const char	*upstream_ca;
	const char	*path;
	int		 no_sandbox;
	int		 interactive;
	int		 keep;
	int		 verbose;
};

/* One pipe carrying the container's stdout or stderr. */
struct out_pipe {
	struct run	*run;
	struct event	*ev;
	int		 fd;		/* read end, -1 at EOF */
	int		 to;		/* 1 or 2 */
	struct event	*wev;		/* `to` writable; NULL: blocking */
	char		 buf[OUTBUF];	/* read, not yet on the terminal */
	size_t		 off, len;
};

struct run {
	struct event_base	*base;
	struct event		*ev_chld, *ev_int, *ev_term, *ev_hup;
	struct event		*ev_stop_timer, *ev_drain_timer;
	struct config		*cfg;
	struct rt_info		 rt;
	int			 runsc;
	struct run_record	 rec;
	char			 home[PATH_MAX];
	struct certs_ca		*ca;
	struct rt_network	 net;
	int			 have_net;
	pid_t			 netpid;	/* creating the network early */
	int			 netfd;		/* its answer, or -1 */
	int			 have_fw;
	struct proxy		*proxy;
	int			 proxy_done;
	unsigned char		 token[PROXY_TOKEN_LEN];
	char			 token_hex[2 * PROXY_TOKEN_LEN + 1];
	struct rt_spec		 spec;
	int			 have_spec;
	pid_t			 child;		/* the engine's `run` CLI */
	int			 child_status;	/* -1 until it exited */
	pid_t			 stopper;	/* a child running `stop` */
	pid_t			 cleaner;	/* a child removing orphans */
	struct out_pipe		 out[2];
	int			 log_fd;
	int			 signo;		/* first stop signal, or 0 */
	int			 stops;		/* stop requests so far */
	int			 stop_elapsed;	/* seconds since the first */
	int			 drained;	/* gave up waiting for output */
	int			 killed_cli;	/* we SIGKILLed the CLI */
	struct timespec		 t0;		/* when moat run started */
	struct proxy_resolve	*resolve;	/* parsed --resolve */
	size_t			 nresolve;
	int			 keep;		/* --keep */
};

static void	run_teardown(struct run *r);

/* With -v: what happened when, in ms since moat run started. */
static void
stage(const struct run *r, const char *what)
{
	struct timespec	now;
	long long	ms;

	if (log_verbosity() < 1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - r->t0.tv_sec) * 1000 +
	    (now.tv_nsec - r->t0.tv_nsec) / 1000000;
	log_debug("+%lld ms: %s", ms, what);
}

static int
usage_err(void)
{
	fputs(cmd_usage("run"), stderr);
	return EXIT_USAGE;
}

/* ---- flags ---------------------------------------------------------- */

static int
parse_flags(int argc, char **argv, struct run_flags *f)
{
	static const struct option longopts[] = {
		{ "grant", required_argument, NULL, 'g' },
		{ "env", required_argument, NULL, 'e' },
		{ "image", required_argument, NULL, 'I' },
		{ "name", required_argument, NULL, 'N' },
		{ "runtime", required_argument, NULL, 'R' },
		{ "no-sandbox", no_argument, NULL, 'S' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "keep", no_argument, NULL, 'K' },
		{ "resolve", required_argument, NULL, 'r' },
		{ "upstream-ca", required_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch, i, nopt = argc;

	/* Everything after the first "--" is the command, untouched. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			nopt = i;
			for (i++; i < argc; i++)
				strvec_push(&f->command, argv[i]);
			break;
		}
	while ((ch = getopt_long(nopt, argv, "+g:e:iv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'g':
			if (strvec_find(&f->grants, optarg) == -1)
				strvec_push(&f->grants, optarg);
			break;
		case 'e':
			strvec_push(&f->env, optarg);
			break;
		case 'I':
			f->image = optarg;
			break;
		case 'N':
			f->name = optarg;
			break;
		case 'R':
			f->runtime = optarg;
			break;
		case 'S':
			f->no_sandbox = 1;
			break;
		case 'i':
			f->interactive = 1;
			break;
		case 'K':
			f->keep = 1;
			break;
		case 'r':
			strvec_push(&f->resolve, optarg);
			break;
		case 'C':
			f->upstream_ca = optarg;
			break;
		case 'v':
			f->verbose++;
			break;
		default:
			return -1;
		}
	}
	if (optind < nopt)
		f->path = argv[optind++];
	if (optind < nopt) {
		log_errx("unexpected argument \"%s\"; the command goes after "
		    "\"--\" (moat run [flags] [PATH] [-- CMD...])",
		    argv[optind]);
		return -1;
	}
	return 0;
}

static void
flags_free(struct run_flags *f)
{
	strvec_free(&f->grants);
	strvec_free(&f->env);
	strvec_free(&f->command);
	strvec_free(&f->resolve);
}

/* ---- credentials ---------------------------------------------------- */

struct granted {
	struct creds_record	**recs;
	size_t			  nrecs;
	struct proxy_credential	 *pc;
	size_t			  npc;
	struct strvec		  names;
};

/*
 * Loads every grant, agent.yaml's and the flags', before anything starts.
 * A missing one fails with creds' message, which names the exact
 * `moat grant` command to run.
 */
static int
load_grants(const struct config *cfg, const struct run_flags *f,
    struct granted *g, char *err, size_t errlen)
{
	struct creds_record	*cr;
	size_t			 i, b;

	for (i = 0; i < cfg->grants.n; i++)
		if (strvec_find(&g->names, cfg->grants.v[i]) == -1)
			strvec_push(&g->names, cfg->grants.v[i]);
	for (i = 0; i < f->grants.n; i++)
		if (strvec_find(&g->names, f->grants.v[i]) == -1)
			strvec_push(&g->names, f->grants.v[i]);
	if (g->names.n == 0)
		return 0;
	g->recs = xcalloc(g->names.n, sizeof(*g->recs));
	for (i = 0; i < g->names.n; i++) {
		if (creds_load(g->names.v[i], &cr, err, errlen) == -1)
			return -1;
		g->recs[g->nrecs++] = cr;
		g->pc = xrealloc(g->pc,
		    (g->npc + cr->nbindings) * sizeof(*g->pc));
		for (b = 0; b < cr->nbindings; b++) {
			struct proxy_credential	*pc = &g->pc[g->npc++];
			struct creds_binding	*cb = &cr->bindings[b];

			memset(pc, 0, sizeof(*pc));
			pc->name = cr->name;
			pc->hosts = cb->hosts;
			pc->nhosts = cb->nhosts;
			pc->header = cb->header;
			pc->format = cb->basic ? PROXY_CRED_BASIC :
			    PROXY_CRED_PREFIX;
			pc->prefix_or_user = cb->prefix_or_user;
			pc->secret = cr->secret;
			pc->secret_len = cr->secret_len;
		}
	}
	return 0;
}

/* Wipes and frees the decrypted credentials (the proxy has its copy). */
static void
granted_wipe(struct granted *g)
{
	size_t i;

	for (i = 0; i < g->nrecs; i++)
		creds_record_free(g->recs[i]);
	free(g->recs);
	if (g->pc != NULL)
		sodium_memzero(g->pc, g->npc * sizeof(*g->pc));
	free(g->pc);
	g->recs = NULL;
	g->pc = NULL;
	g->nrecs = g->npc = 0;
}

/* ---- the agent's output --------------------------------------------- */

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
check_done(struct run *r)
{
	if (r->child_status >= 0 && r->stopper <= 0 &&
	    ((r->out[0].fd < 0 && r->out[1].fd < 0) || r->drained))
		event_base_loopbreak(r->base);
}

/*
 * Writes what is pending to the terminal without blocking the loop (the
 * proxy lives there too): a slow reader of moat's output pauses reading
 * the container's pipe, which in turn pauses the agent's writes.
 */
static void
flush_term(struct out_pipe *o)
{
	struct pollfd	pfd;
	ssize_t		w;
	size_t		n;

	while (o->off < o->len) {
		pfd.fd = o->to;
		pfd.events = POLLOUT;
		if (o->wev != NULL && poll(&pfd, 1, 0) == 0) {
			if (o->ev != NULL)
				event_del(o->ev);
			event_add(o->wev, NULL);
			return;
		}
		/* POLLOUT on a pipe promises room for PIPE_BUF bytes. */
		n = o->len - o->off;
		if (o->wev != NULL && n > PIPE_BUF)
			n = PIPE_BUF;
		if ((w = write(o->to, o->buf + o->off, n)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;	/* a closed terminal: logs.txt has it all */
		}
		o->off += (size_t)w;
	}
	o->off = o->len = 0;
	if (o->wev != NULL)
		event_del(o->wev);
	if (o->ev != NULL)
		event_add(o->ev, NULL);
}

static void
on_term_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_term(arg);
}

/* Tees the container's output to the terminal and logs.txt, live. */
static void
on_output(evutil_socket_t fd, short what, void *arg)
{
	struct out_pipe	*o = arg;
	ssize_t		 n;

	(void)what;
	if (o->len > 0)
		return;		/* still flushing the last read */
	n = read(fd, o->buf, sizeof(o->buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		event_free(o->ev);
		o->ev = NULL;
		close(o->fd);
		o->fd = -1;
		check_done(o->run);
		return;
	}
	if (o->run->log_fd != -1 &&
	    write_all(o->run->log_fd, o->buf, (size_t)n) == -1) {
		log_warn("logs.txt");
		close(o->run->log_fd);
		o->run->log_fd = -1;
	}
	o->off = 0;
	o->len = (size_t)n;
	flush_term(o);
}

/* ---- supervision ---------------------------------------------------- */

/*
 * Asks the engine to stop the container, from a forked child so the loop
 * keeps serving the proxy while the agent shuts down.
 */
static void
spawn_stopper(struct run *r, int timeout_s)
{
	char	err[512];
	pid_t	pid;

	if (r->stopper > 0 || r->spec.name == NULL)
		return;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return;
	}
	if (pid == 0) {
		int rc = rt_container_stop(r->rt.engine, r->spec.name,
		    timeout_s, err, sizeof(err));
		if (rc == -1)
			log_debug("%s", err);
		_exit(rc == 0 ? 0 : 1);
	}
	r->stopper = pid;
}

/* Kills the engine's CLI and any pending `stop`; teardown does rm -f. */
static void
kill_now(struct run *r)
{
	r->killed_cli = 1;
	kill(r->child, SIGKILL);
	if (r->stopper > 0)
		kill(r->stopper, SIGKILL);
}

static void
on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct run	*r = arg;
	struct timeval	 tv = { STOP_RETRY_S, 0 };

	(void)fd;
	(void)what;
	if (r->child_status >= 0)
		return;
	r->stop_elapsed += STOP_RETRY_S;
	if (r->stop_elapsed >= STOP_DEADLINE_S) {
		log_warnx("the container did not stop in %d s; killing it",
		    STOP_DEADLINE_S);
		kill_now(r);
		return;
	}
	/* The CLI may not have created the container at the first stop. */
	spawn_stopper(r, STOP_TIMEOUT_S);
	evtimer_add(r->ev_stop_timer, &tv);
}

static void
request_stop(struct run *r, int signo)
{
	struct timeval tv = { STOP_RETRY_S, 0 };

	r->stops++;
	if (r->signo == 0)
		r->signo = signo;
	if (r->child <= 0 || r->child_status >= 0)
		return;
	if (r->stops == 1) {
		log_info("moat: %s received; stopping the container",
		    strsignal(signo));
		spawn_stopper(r, STOP_TIMEOUT_S);
		evtimer_add(r->ev_stop_timer, &tv);
	} else if (r->stops == 2) {
		log_info("moat: stopping now");
		kill_now(r);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	request_stop(arg, (int)sig);
}

static void
on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	r->drained = 1;
	check_done(r);
}

/* 1: pid was reaped (*ws valid); -1: it is not our child; 0: running. */
static int
try_reap(pid_t pid, int *ws)
{
	pid_t got;

	while ((got = waitpid(pid, ws, WNOHANG)) == -1 && errno == EINTR)
		;
	if (got == pid)
		return 1;
	return got == -1 ? -1 : 0;
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct run	*r = arg;
	struct timeval	 tv = { DRAIN_DEADLINE_S, 0 };
	int		 ws;

	(void)sig;
	(void)what;
	if (r->stopper > 0 && try_reap(r->stopper, &ws) != 0)
		r->stopper = 0;
	if (r->cleaner > 0 && try_reap(r->cleaner, &ws) != 0)
		r->cleaner = 0;
	if (r->child > 0 && r->child_status < 0) {
		if (try_reap(r->child, &ws) == 1) {
			r->child_status = WIFEXITED(ws) ? WEXITSTATUS(ws) :
			    128 + WTERMSIG(ws);
			evtimer_add(r->ev_drain_timer, &tv);
		}
	}
	check_done(r);
}

static void
on_proxy_done(void *arg)
{
	struct run *r = arg;

	r->proxy_done = 1;
	event_base_loopbreak(r->base);
}

static void
on_shutdown_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	on_proxy_done(arg);
}

/* ---- set-up --------------------------------------------------------- */

/*
 * Removes what runs killed with SIGKILL left behind, from a forked child
 * while this run sets up (it only touches runs whose moat is gone).
 */
static void
spawn_cleaner(struct run *r)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return;
	}
	if (pid == 0) {
		/* Housekeeping: leave the CPU to this run's set-up. */
		(void)setpriority(PRIO_PROCESS, 0, 10);
		if (run_clean_dead(r->home, r->rt.engine, 0) > 0)
			log_info("moat: removed what earlier killed runs left "
			    "behind");
		_exit(0);
	}
	r->cleaner = pid;
}

static void
harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		log_warn("setrlimit(RLIMIT_CORE)");
	signal(SIGPIPE, SIG_IGN);
}

static int
add_signal(struct run *r, struct event **ev, int sig,
    void (*cb)(evutil_socket_t, short, void *))
{
	if ((*ev = evsignal_new(r->base, sig, cb, r)) == NULL ||
	    evsignal_add(*ev, NULL) == -1) {
		log_errx("cannot watch signal %d", sig);
		return -1;
	}
	return 0;
}

/* What the network child sends back. */
struct net_answer {
	int			rc;
	struct rt_network	net;
	char			err[512];
};

static int
net_labels(const struct run *r, char *name, size_t namelen,
    struct strvec *labels)
{
	snprintf(name, namelen, "moat-%s", r->rec.id);
	strvec_pushf(labels, "%s=%s", RT_LABEL_RUN, r->rec.id);
	strvec_pushf(labels, "%s=%ld", RT_LABEL_PID, (long)getpid());
	return 0;
}

/*
 * Starts creating the per-run network in a forked child while this
 * process writes the run record and makes the CA (creating a network is
 * the slowest set-up step).  net_join() collects it.
 */
static void
net_start(struct run *r)
{
	enum rt_engine		 e = r->rt.engine;
	struct net_answer	 a;
	struct strvec		 labels = STRVEC_INIT;
	char			 name[RUN_ID_MAX + 8];
	int			 p[2];
	pid_t			 pid;

	if (e == RT_APPLE || r->rt.desktop || pipe2(p, O_CLOEXEC) == -1)
		return;
	net_labels(r, name, sizeof(name), &labels);
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		strvec_free(&labels);
		return;
	}
	if (pid == 0) {
		/* A terminal's Ctrl-C: finish, so the parent can remove it. */
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGCHLD, SIG_DFL);
		close(p[0]);
		memset(&a, 0, sizeof(a));
		a.rc = rt_network_create(e, name, &labels, &a.net, a.err,
		    sizeof(a.err));
		_exit(write(p[1], &a, sizeof(a)) == (ssize_t)sizeof(a) ? 0 :
		    1);
	}
	close(p[1]);
	strvec_free(&labels);
	r->netpid = pid;
	r->netfd = p[0];
}

/*
 * Waits for the early network child.  Returns 1 with r->net filled and
 * have_net set when it created the network, 0 when there was none or it
 * failed (err filled when errlen > 0).  The network is always owned by
 * r afterwards (teardown removes it).
 */
static int
net_join(struct run *r, char *err, size_t errlen)
{
	struct net_answer	a;
	struct pollfd		pfd;
	time_t			deadline;
	size_t			got = 0;
	ssize_t			n;
	int			ok = 0;

	if (r->netpid <= 0)
		return 0;
	memset(&a, 0, sizeof(a));
	pfd.fd = r->netfd;
	pfd.events = POLLIN;
	/* The child's own queries have deadlines; this is a backstop. */
	deadline = time(NULL) + 3 * RT_QUERY_TIMEOUT_MS / 1000 + 5;
	while (got < sizeof(a) && time(NULL) < deadline) {
		/* SIGCHLD (the cleaner, this child) interrupts poll. */
		if ((n = poll(&pfd, 1, 1000)) <= 0) {
			if (n == 0 || errno == EINTR)
				continue;
			break;
		}
		if ((n = read(r->netfd, (char *)&a + got, sizeof(a) - got)) <=
		    0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	if (got < sizeof(a))
		kill(r->netpid, SIGKILL);
	while (waitpid(r->netpid, NULL, 0) == -1 && errno == EINTR)
		;
	close(r->netfd);
	r->netfd = -1;
	r->netpid = 0;
	a.err[sizeof(a.err) - 1] = '\0';
	if (got == sizeof(a) && a.rc == 0) {
		r->net = a.net;
		r->net.name[sizeof(r->net.name) - 1] = '\0';
		ok = 1;
	} else {
		/* Killed half-way: a network may exist under its name. */
		snprintf(r->net.name, sizeof(r->net.name), "moat-%s",
		    r->rec.id);
		if (errlen > 0)
			util_errf(err, errlen, "%s", got == sizeof(a) ? a.err :
			    "creating the run's network did not finish");
	}
	/* rt_network_create() removes what it created when it fails. */
	r->have_net = ok || got < sizeof(a);
	return ok;
}

/* Where the proxy listens and how the container reaches it. */
static int
setup_network(struct run *r, const char **bind, const char **seen_as,
    char *err, size_t errlen)
{
	static char	apple_gw[64];
	struct strvec	labels = STRVEC_INIT;
	char		name[RUN_ID_MAX + 8];
	int		rc;

	if (r->netpid > 0) {
		if (net_join(r, err, errlen) == 0)
			return -1;
		goto done;
	}
	if (r->rt.engine == RT_APPLE) {
		rt_apple_gateway(apple_gw, sizeof(apple_gw));
		*bind = "0.0.0.0";
		*seen_as = apple_gw;
		return 0;
	}
	if (r->rt.desktop) {
		*bind = "127.0.0.1";
		*seen_as = "host.docker.internal";
		return 0;
	}
	net_labels(r, name, sizeof(name), &labels);
	rc = rt_network_create(r->rt.engine, name, &labels, &r->net, err,
	    errlen);
	strvec_free(&labels);
	if (rc == -1)
		return -1;
	r->have_net = 1;
 done:
	r->rec.network = xstrdup(r->net.name);
	*bind = r->net.gateway;
	*seen_as = r->net.gateway;
	return 0;
}

/* Removes the run's network, retrying while the engine still lists the
 * container's endpoint (its removal is under way), bounded. */
static int
net_rm_retry(const struct run *r, char *err, size_t errlen)
{
	struct timespec	ts = { 0, 20 * 1000000 };
	int		i;

	for (i = 0; i < 250; i++) {	/* 5 s */
		if (rt_network_remove(r->rt.engine, r->net.name, err,
		    errlen) == 0)
			return 0;
		if (strstr(err, "active endpoint") == NULL)
			break;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* The firewall rule, then the network: the synchronous half-way. */
static void
net_fw_remove(struct run *r, int quiet)
{
	char err[1024];

	if (r->have_fw && rt_firewall_remove_bridge(r->rec.id, r->net.bridge,
	    err, sizeof(err)) == -1 && !quiet)
		log_warnx("%s", err);
	r->have_fw = 0;
	if (r->have_net && net_rm_retry(r, err, sizeof(err)) == -1 && !quiet)
		log_warnx("%s", err);
	r->have_net = 0;
}

/*
 * Removes the run's firewall rule and network after moat has exited.
 * The container is gone by now (the engine removed it, or teardown did),
 * so an empty internal network and a rule for a bridge nothing is
 * attached to are all that is left, and removing them is the slowest part
 * of teardown (the network alone ~0.1 s).  A detached child -- its own
 * session, stdio on /dev/null so that `$(moat run ...)` does not wait for
 * it, no other descriptor -- does it; moat returns the agent's status
 * without waiting.  Should the child die first, the network is labelled
 * with this (then dead) moat's pid, and the next `moat run` or `moat
 * clean` removes it and its rule.  Without fork, synchronously.
 */
static void
net_fw_detach(struct run *r)
{
	pid_t	pid;

	if (!r->have_net && !r->have_fw)
		return;
	if ((pid = fork()) == 0) {
		(void)setsid();
		util_child_stdio(UTIL_FD_NULL, UTIL_FD_NULL, UTIL_FD_NULL);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		(void)setpriority(PRIO_PROCESS, 0, 10);
		net_fw_remove(r, 1);
		_exit(0);
	}
	if (pid == -1)
		net_fw_remove(r, 0);
	/* Not waited for: init (or a subreaper) reaps it. */
	r->have_fw = r->have_net = 0;
}

static int
start_proxy(struct run *r, const struct run_flags *f, const char *bind,
    const struct granted *g, char *err, size_t errlen)
{
	struct proxy_opts	 o;
	struct hostpat		*allow = NULL;
	const char		**allow_text = NULL;
	int			*allow_line = NULL;
	char			 log_path[PATH_MAX + 16];
	size_t			 i;
	int			 ret = -1;

	memset(&o, 0, sizeof(o));
	proxy_limits_default(&o.limits);
	o.listen_addr = bind;
	o.listen_port = 0;
	/* Podman (netavark) gives the bridge its address only when the
	 * first container joins: listen on it before it exists. */
	o.listen_freebind = r->rt.engine == RT_PODMAN && r->have_net;
	randombytes_buf(r->token, sizeof(r->token));
	memcpy(o.token, r->token, sizeof(o.token));
	proxy_token_hex(r->token, r->token_hex);
	o.run_id = r->rec.id;
	o.strict = r->cfg->policy == CONFIG_POLICY_STRICT;
	if (r->cfg->nallow > 0) {
		allow = xcalloc(r->cfg->nallow, sizeof(*allow));
		allow_text = xcalloc(r->cfg->nallow, sizeof(*allow_text));
		allow_line = xcalloc(r->cfg->nallow, sizeof(*allow_line));
		for (i = 0; i < r->cfg->nallow; i++) {
			allow[i] = r->cfg->allow[i].pat;
			allow_text[i] = r->cfg->allow[i].text;
			allow_line[i] = r->cfg->allow[i].line;
		}
	}
	o.allow = allow;
	o.allow_text = allow_text;
	o.allow_line = allow_line;
	o.nallow = r->cfg->nallow;
	o.host_ports = r->cfg->host_ports;
	o.nhost_ports = r->cfg->nhost_ports;
	o.resolve = r->resolve;
	o.nresolve = r->nresolve;
	o.creds = g->pc;
	o.ncreds = g->npc;
	o.upstream_ca = f->upstream_ca;
	o.ca = r->ca;
	snprintf(log_path, sizeof(log_path), "%s/network.jsonl", r->rec.dir);
	o.log_path = log_path;
	o.config_path = r->cfg->path;
	if ((r->proxy = proxy_new(r->base, &o, err, errlen)) == NULL)
		goto out;
	ret = 0;
 out:
	sodium_memzero(o.token, sizeof(o.token));
	free(allow);
	free(allow_text);
	free(allow_line);
	return ret;
}

static int
setup_firewall(struct run *r, char *err, size_t errlen)
{
	if (!r->have_net)
		return 0;
	if (!rt_firewall_capable()) {
		log_warnx("host services listening on all interfaces are "
		    "reachable from the agent at %s; run moat as root or "
		    "grant it CAP_NET_ADMIN (with iptables installed) so it "
		    "can block them", r->net.gateway);
		return 0;
	}
	if (rt_firewall_add(r->rec.id, r->net.bridge, r->net.gateway,
	    proxy_port(r->proxy), err, errlen) == -1)
		return -1;
	r->have_fw = 1;
	return 0;
}

static int
open_pipes(struct run *r, int wfd[2])
{
	struct stat	st;
	int		i, p[2];

	for (i = 0; i < 2; i++) {
		if (pipe2(p, O_CLOEXEC) == -1) {
			log_err("pipe");
			return -1;
		}
		util_set_nonblock(p[0]);
		r->out[i].run = r;
		r->out[i].fd = p[0];
		r->out[i].to = i + 1;
		wfd[i] = p[1];
		r->out[i].ev = event_new(r->base, p[0], EV_READ | EV_PERSIST,
		    on_output, &r->out[i]);
		if (r->out[i].ev == NULL || event_add(r->out[i].ev, NULL)) {
			log_errx("cannot watch the container's output");
			return -1;
		}
		/*
		 * Pipes, sockets and terminals get a write event; files and
		 * devices such as /dev/null (epoll refuses them) blocking
		 * writes.
		 */
		if (fstat(i + 1, &st) == 0 && (S_ISFIFO(st.st_mode) ||
		    S_ISSOCK(st.st_mode) || isatty(i + 1)) &&
		    (r->out[i].wev = event_new(r->base, i + 1,
		    EV_WRITE | EV_PERSIST, on_term_writable,
		    &r->out[i])) != NULL) {
			if (event_add(r->out[i].wev, NULL) == -1) {
				event_free(r->out[i].wev);
				r->out[i].wev = NULL;
			} else
				event_del(r->out[i].wev);
		}
	}
	return 0;
}

static char *
run_name(const struct config *cfg, const struct run_flags *f)
{
	const char *slash;

	if (f->name != NULL)
		return xstrdup(f->name);
	if (cfg->name != NULL)
		return xstrdup(cfg->name);
	slash = strrchr(cfg->project_dir, '/');
	return xstrdup(slash && slash[1] ? slash + 1 : cfg->project_dir);
}

static void
fill_sandbox_opts(const struct run *r, const struct run_flags *f,
    struct sandbox_opts *so, const struct strvec *placeholders)
{
	memset(so, 0, sizeof(*so));
	so->engine = r->rt.engine;
	so->run_id = r->rec.id;
	so->run_name = r->rec.name;
	so->moat_pid = getpid();
	so->ca_file = SANDBOX_CA_FILE;
	so->placeholders = placeholders;
	so->extra_env = &f->env;
	so->image = f->image;
	so->command = &f->command;
	so->runsc = r->runsc;
	so->interactive = f->interactive;
	so->is_tty = isatty(STDIN_FILENO);
	so->keep = f->keep;
}

/*
 * Builds the spec once with stand-in proxy values, so that a bad -e or
 * mount fails before anything is created.  0 or -1 (logged).
 */
static int
check_spec(const struct run *r, const struct run_flags *f)
{
	struct sandbox_opts	so;
	struct rt_spec		spec;
	char			err[1024], tok[2 * PROXY_TOKEN_LEN + 1];
	int			ret;

	memset(tok, '0', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	fill_sandbox_opts(r, f, &so, NULL);
	so.ca_dir = r->cfg->project_dir;
	so.proxy_host = "127.0.0.1";
	so.proxy_port = 1;
	so.token_hex = tok;
	ret = sandbox_build_spec(r->cfg, &so, &spec, err, sizeof(err));
	rt_spec_free(&spec);
	if (ret == -1)
		log_errx("%s", err);
	return ret;
}

/*
 * Everything up to a running container.  Returns 0, or an exit status
 * (the caller tears down what was set up).
 */
static int
setup(struct run *r, const struct run_flags *f, struct granted *g)
{
	struct sandbox_opts	 so;
	struct strvec		 placeholders = STRVEC_INIT;
	const char		*bind = NULL, *seen_as = NULL;
	char			 err[4096], project[PATH_MAX];
	char			 path[PATH_MAX + 64], ca_dir[PATH_MAX + 8];
	int			 warn = 0, wfd[2] = { -1, -1 }, ret = 1;
	const char		*cfg_rt;

	if (f->resolve.n > 0) {
		r->resolve = xcalloc(f->resolve.n, sizeof(*r->resolve));
		for (size_t i = 0; i < f->resolve.n; i++)
			if (cmd_parse_resolve(f->resolve.v[i], &r->resolve[i], err,
			    sizeof(err)) == -1) {
				log_errx("%s", err);
				return EXIT_USAGE;
			}
		r->nresolve = f->resolve.n;
	}
	if (realpath(f->path ? f->path : ".", project) == NULL) {
		log_err("%s", f->path ? f->path : ".");
		return EXIT_USAGE;
	}
	if ((r->cfg = config_load(project, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	if (f->upstream_ca != NULL && access(f->upstream_ca, R_OK) == -1) {
		log_err("--upstream-ca %s", f->upstream_ca);
		return EXIT_USAGE;
	}
	/* A missing grant fails before anything starts. */
	if (load_grants(r->cfg, f, g, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return EXIT_USAGE;
	}
	cfg_rt = r->cfg->runtime == CONFIG_RUNTIME_AUTO ? NULL :
	    config_runtime_name(r->cfg->runtime);
	if (rt_detect(f->runtime, cfg_rt, &r->rt, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	stage(r, "engine detected");
	if (sandbox_decide(&r->rt, r->cfg, f->no_sandbox, &r->runsc, &warn,
	    err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	if (warn)
		log_warnx("%s", SANDBOX_WARN_NO_GVISOR);
	run_id_new(r->rec.id, sizeof(r->rec.id));
	if (check_spec(r, f) == -1)
		return EXIT_USAGE;
	net_start(r);
	if (util_moat_home(r->home, sizeof(r->home), err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	spawn_cleaner(r);

	r->rec.name = run_name(r->cfg, f);
	r->rec.project = xstrdup(project);
	r->rec.image = xstrdup(f->image ? f->image : r->cfg->image);
	r->rec.runtime = xstrdup(rt_engine_name(r->rt.engine));
	r->rec.sandbox = xstrdup(rt_mode_name(r->rt.engine, r->runsc));
	r->rec.container = xasprintf("moat-%s", r->rec.id);
	for (size_t i = 0; i < g->names.n; i++)
		strvec_push(&r->rec.grants, g->names.v[i]);
	if (run_record_create(&r->rec, r->home, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		r->rec.dir[0] = '\0';
		return 1;
	}

	/* The per-run CA: its key lives only in this process. */
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", r->rec.dir);
	if (mkdir(ca_dir, 0755) == -1 && errno != EEXIST) {
		log_err("%s", ca_dir);
		return 1;
	}
	if ((r->ca = certs_ca_new_ephemeral(err, sizeof(err))) == NULL) {
		log_errx("%s", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", ca_dir, SANDBOX_CA_FILE);
	if (certs_bundle_write(r->ca, path, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	stage(r, "run record and CA ready");
	if (setup_network(r, &bind, &seen_as, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	stage(r, "network ready");
	if (start_proxy(r, f, bind, g, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	stage(r, "proxy listening");
	granted_wipe(g);
	if (setup_firewall(r, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	stage(r, "firewall rule installed");

	creds_placeholder_env((const char *const *)r->rec.grants.v,
	    r->rec.grants.n, &placeholders);
	fill_sandbox_opts(r, f, &so, &placeholders);
	so.ca_dir = ca_dir;
	so.proxy_host = seen_as;
	so.proxy_port = proxy_port(r->proxy);
	so.token_hex = r->token_hex;
	so.network = r->have_net ? r->net.name : NULL;
	r->have_spec = 1;
	if (sandbox_build_spec(r->cfg, &so, &r->spec, err, sizeof(err)) ==
	    -1) {
		log_errx("%s", err);
		ret = EXIT_USAGE;
		goto out;
	}
	/* Never fetch an image behind the user's back. */
	r->spec.pull_never = 1;

	snprintf(path, sizeof(path), "%s/logs.txt", r->rec.dir);
	if ((r->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1) {
		log_err("%s", path);
		goto out;
	}
	/* A signal that came during set-up: do not start the agent. */
	event_base_loop(r->base, EVLOOP_NONBLOCK);
	if (r->signo != 0) {
		ret = 128 + r->signo;
		goto out;
	}
	fprintf(stderr, "moat: run %s (runtime %s, sandbox %s)\n", r->rec.id,
	    r->rec.runtime, r->rec.sandbox);
	fflush(stderr);
	if (r->spec.tty) {
		/*
		 * The engine's CLI owns the terminal; logs.txt gets the
		 * session from the engine's log before the container goes.
		 */
		r->spec.remove = 0;
		r->child = rt_container_spawn(r->rt.engine, &r->spec,
		    UTIL_FD_INHERIT, UTIL_FD_INHERIT, UTIL_FD_INHERIT, err,
		    sizeof(err));
		r->out[0].fd = r->out[1].fd = -1;
	} else {
		if (open_pipes(r, wfd) == -1)
			goto out;
		r->child = rt_container_spawn(r->rt.engine, &r->spec,
		    r->spec.interactive ? UTIL_FD_INHERIT : UTIL_FD_NULL,
		    wfd[0], wfd[1], err, sizeof(err));
	}
	if (r->child == -1) {
		log_errx("%s", err);
		goto out;
	}
	stage(r, "container started");
	ret = 0;
 out:
	if (wfd[0] != -1)
		close(wfd[0]);
	if (wfd[1] != -1)
		close(wfd[1]);
	strvec_free(&placeholders);
	return ret;
}

/*
 * The engine's CLI failed by itself (125).  With --pull never the usual
 * cause is an image that is not there: say how to get it.
 */
static void
explain_125(const struct run *r)
{
	const char *image = r->spec.image;

	if (image == NULL || rt_image_present(r->rt.engine, image) != 0)
		return;
	log_errx("image %s is not available locally, and moat never pulls "
	    "images by itself: build the agent image with scripts/setup, or "
	    "fetch it with: %s pull %s", image, rt_engine_name(r->rt.engine),
	    image);
}

/* ---- teardown ------------------------------------------------------- */

/*
 * An interactive terminal session bypassed our pipes: copy what the
 * engine logged (`docker logs NAME`, `container logs NAME`) to logs.txt.
 */
static void
save_tty_log(struct run *r)
{
	char	*argv[4], *out = NULL, err[512];
	int	 status = 0;

	argv[0] = r->rt.engine == RT_APPLE ? "container" :
	    (char *)rt_engine_name(r->rt.engine);
	argv[1] = "logs";
	argv[2] = r->spec.name;
	argv[3] = NULL;
	if (util_run(argv, NULL, NULL, 0, &out, NULL, RT_QUERY_TIMEOUT_MS,
	    &status, err, sizeof(err)) == -1)
		log_warnx("cannot copy the session to logs.txt: %s", err);
	else if (status != 0)
		log_warnx("cannot copy the session to logs.txt: %s logs "
		    "exited %d", argv[0], status);
	else if (write_all(r->log_fd, out, strlen(out)) == -1)
		log_warn("logs.txt");
	free(out);
}

/* Undoes whatever setup() did, in reverse.  Safe on a partial set-up. */
static void
run_teardown(struct run *r)
{
	struct event	*deadline;
	struct timeval	 tv = { SHUTDOWN_DEADLINE_S, 0 };
	char		 err[1024];
	int		 i;

	/* Set-up failed while the network was being created. */
	(void)net_join(r, NULL, 0);
	if (r->child > 0 && r->child_status < 0) {
		/* Still running (a set-up step after the spawn failed). */
		r->killed_cli = 1;
		kill(r->child, SIGKILL);
		while (waitpid(r->child, NULL, 0) == -1 && errno == EINTR)
			;
		r->child_status = 137;
	}
	if (r->stopper > 0) {
		while (waitpid(r->stopper, NULL, 0) == -1 && errno == EINTR)
			;
		r->stopper = 0;
	}
	if (r->cleaner > 0) {
		while (waitpid(r->cleaner, NULL, 0) == -1 && errno == EINTR)
			;
		r->cleaner = 0;
	}
	for (i = 0; i < 2; i++) {
		if (r->out[i].ev != NULL)
			event_free(r->out[i].ev);
		if (r->out[i].wev != NULL)
			event_free(r->out[i].wev);
		r->out[i].wev = NULL;
		if (r->out[i].fd > 0)
			close(r->out[i].fd);
		r->out[i].ev = NULL;
		r->out[i].fd = -1;
	}
	if (r->have_spec && r->spec.tty && r->child > 0 && r->log_fd != -1)
		save_tty_log(r);
	/*
	 * With --rm the CLI returns once the engine removed the container,
	 * unless it was stopped early, killed, or failed (125).
	 */
	if (r->have_spec && r->spec.name != NULL && r->child > 0 &&
	    !r->keep && (!r->spec.remove || r->signo != 0 ||
	    r->killed_cli || r->child_status == 125) &&
	    rt_container_remove(r->rt.engine, r->spec.name, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	if (r->proxy != NULL) {
		deadline = evtimer_new(r->base, on_shutdown_deadline, r);
		if (deadline != NULL)
			evtimer_add(deadline, &tv);
		proxy_shutdown(r->proxy, on_proxy_done, r);
		while (!r->proxy_done && deadline != NULL)
			if (event_base_loop(r->base, EVLOOP_ONCE) == -1)
				break;
		if (deadline != NULL)
			event_free(deadline);
		proxy_free(r->proxy);
		r->proxy = NULL;
	}
	certs_ca_free(r->ca);
	r->ca = NULL;
	sodium_memzero(r->token, sizeof(r->token));
	sodium_memzero(r->token_hex, sizeof(r->token_hex));
	if (r->have_spec)
		rt_spec_free(&r->spec);	/* wipes the env: the proxy URL */
	r->have_spec = 0;
	/* Last, with the secrets gone: the rule and the network, now that
	 * nothing is attached to them. */
	net_fw_detach(r);
	stage(r, "torn down");
	if (r->log_fd != -1)
		close(r->log_fd);
	r->log_fd = -1;
}

int
cmd_run(int argc, char **argv)
{
	struct run_flags	 f;
	struct granted		 g;
	struct run		 r;
	char			 err[512];
	int			 ret, status;

	memset(&f, 0, sizeof(f));
	memset(&g, 0, sizeof(g));
	memset(&r, 0, sizeof(r));
	r.child_status = -1;
	r.log_fd = -1;
	r.out[0].fd = r.out[1].fd = -1;
	r.netfd = -1;
	if (parse_flags(argc, argv, &f) == -1) {
		flags_free(&f);
		return usage_err();
	}
	clock_gettime(CLOCK_MONOTONIC, &r.t0);
	log_init(f.verbose);
	r.keep = f.keep;
	harden_process();
	if ((r.base = event_base_new()) == NULL) {
		log_errx("cannot create the event loop");
		flags_free(&f);
		return 1;
	}
	/* Signals are caught from here on: teardown always happens. */
	if (add_signal(&r, &r.ev_int, SIGINT, on_signal) == -1 ||
	    add_signal(&r, &r.ev_term, SIGTERM, on_signal) == -1 ||
	    add_signal(&r, &r.ev_hup, SIGHUP, on_signal) == -1 ||
	    add_signal(&r, &r.ev_chld, SIGCHLD, on_sigchld) == -1 ||
	    (r.ev_stop_timer = evtimer_new(r.base, on_stop_timer,
	    &r)) == NULL ||
	    (r.ev_drain_timer = evtimer_new(r.base, on_drain_timer,
	    &r)) == NULL) {
		ret = 1;
		goto out;
	}
	if ((ret = setup(&r, &f, &g)) == 0) {
		/* A SIGCHLD may have come before the loop. */
		on_sigchld(SIGCHLD, 0, &r);
		if (r.child_status < 0 || r.out[0].fd >= 0 ||
		    r.out[1].fd >= 0)
			event_base_dispatch(r.base);
		stage(&r, "agent exited");
		status = r.child_status;
		if (status == 125 && r.signo == 0 && !r.killed_cli)
			explain_125(&r);
		/* Stopped by a signal: the conventional 128 + signal. */
		ret = r.signo != 0 ? 128 + r.signo : status;
		if (ret < 0)
			ret = 1;
		if (r.keep)
			log_info("moat: kept container %s (remove it with: %s "
			    "rm %s)", r.spec.name, rt_engine_name(r.rt.engine),
			    r.spec.name);
	}
 out:
	granted_wipe(&g);
	strvec_free(&g.names);
	run_teardown(&r);
	if (r.rec.dir[0] != '\0' && run_record_finish(&r.rec, ret, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	run_record_clear(&r.rec);
	config_free(r.cfg);
	free(r.resolve);
	if (r.ev_stop_timer)
		event_free(r.ev_stop_timer);
	if (r.ev_drain_timer)
		event_free(r.ev_drain_timer);
	if (r.ev_int)
		event_free(r.ev_int);
	if (r.ev_term)
		event_free(r.ev_term);
	if (r.ev_hup)
		event_free(r.ev_hup);
	if (r.ev_chld)
		event_free(r.ev_chld);
	event_base_free(r.base);
	flags_free(&f);
	return ret;
}
