/*
 * moat proxy: the proxy alone, without a container, for agents run on the
 * host and for tests.  Prints HTTP_PROXY, HTTPS_PROXY and MOAT_CA once
 * listening, then serves until SIGINT/SIGTERM (graceful stop).
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "certs.h"
#include "cmd.h"
#include "config.h"
#include "creds.h"
#include "proxy.h"

#define MAX_ITEMS	64

struct pstate {
	struct proxy_opts	 o;
	struct proxy_credential	 creds[MAX_ITEMS];
	struct hostpat		 cred_hosts[MAX_ITEMS][8];
	char			*cred_strs[MAX_ITEMS][3];
	unsigned char		*secrets[MAX_ITEMS];	/* sodium_malloc */
	struct creds_record	*records[MAX_ITEMS];
	size_t			 nrecords;
	struct proxy_resolve	 resolve[MAX_ITEMS];
	struct hostpat		*allow;
	const char		**allow_text;
	int			*allow_line;
	struct config		*cfg;
	struct certs_ca		*ca;
	char			 tmpdir[PATH_MAX];
	char			 ca_path[PATH_MAX];
	struct event_base	*base;
	struct proxy		*px;
};

static int
parse_listen(const char *s, char *addr, size_t alen, int *port)
{
	const char	*colon = strrchr(s, ':');
	char		*end;
	long		 p;
	size_t		 n;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= alen)
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 ||
	    p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/*
 * NAME:HOSTPATTERN[,HOSTPATTERN...]:HEADER:PREFIX, where a pattern may
 * carry ":PORT", PREFIX holds no ':' and "basic=USER" means Basic with
 * that user.  The
 * secret comes from the environment, MOAT_SECRET_<NAME> (upper case, '-'
 * as '_'), never from argv.
 */
static int
parse_credential(struct pstate *st, size_t i, const char *arg, char *err,
    size_t errlen)
{
	struct proxy_credential	*pc = &st->creds[i];
	char			*s = xstrdup(arg), *f[5], *p, *hosts, *h, *save;
	char			 env[CREDS_NAME_MAX + 16];
	char			*sec;
	size_t			 n = 0, k, nh = 0;
	int			 r = -1;

	/* NAME first; HEADER and PREFIX last: patterns may carry ports */
	f[0] = s;
	if ((p = strchr(s, ':')) != NULL) {
		*p++ = '\0';
		f[1] = p;
		if ((f[3] = strrchr(p, ':')) != NULL) {
			*f[3]++ = '\0';
			if ((f[2] = strrchr(p, ':')) != NULL) {
				*f[2]++ = '\0';
				n = 3;
			}
		}
	}
	if (n != 3 || *f[0] == '\0' || *f[1] == '\0' || *f[2] == '\0') {
		util_errf(err, errlen, "--credential %s: want NAME:HOSTPATTERN:"
		    "HEADER:PREFIX", arg);
		goto out;
	}
	hosts = f[1];
	for (h = strtok_r(hosts, ",", &save); h != NULL;
	    h = strtok_r(NULL, ",", &save)) {
		if (nh >= 8) {
			util_errf(err, errlen, "--credential %s: at most 8 "
			    "host patterns", f[0]);
			goto out;
		}
		if (hostpat_parse(h, &st->cred_hosts[i][nh], err, errlen) ==
		    -1)
			goto out;
		nh++;
	}
	snprintf(env, sizeof(env), "MOAT_SECRET_%s", f[0]);
	for (k = 12; env[k] != '\0'; k++)
		env[k] = env[k] == '-' ? '_' :
		    (char)toupper((unsigned char)env[k]);
	if ((sec = getenv(env)) == NULL || *sec == '\0') {
		util_errf(err, errlen, "--credential %s: set the secret in the "
		    "environment variable %s", f[0], env);
		goto out;
	}
	if ((st->secrets[i] = sodium_malloc(strlen(sec) + 1)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		goto out;
	}
	memcpy(st->secrets[i], sec, strlen(sec) + 1);
	pc->secret = st->secrets[i];
	pc->secret_len = strlen(sec);
	/*
	 * The only copy now is in secure memory: wipe the environment's
	 * (it would otherwise sit in /proc/PID/environ and in a core image
	 * for the proxy's lifetime) and drop the variable.
	 */
	sodium_memzero(sec, strlen(sec));
	unsetenv(env);
	st->cred_strs[i][0] = xstrdup(f[0]);
	st->cred_strs[i][1] = xstrdup(f[2]);
	if (strncmp(f[3], "basic=", 6) == 0) {
		pc->format = PROXY_CRED_BASIC;
		st->cred_strs[i][2] = xstrdup(f[3] + 6);
	} else {
		pc->format = PROXY_CRED_PREFIX;
		st->cred_strs[i][2] = xstrdup(f[3]);
	}
	pc->name = st->cred_strs[i][0];
	pc->header = st->cred_strs[i][1];
	pc->prefix_or_user = st->cred_strs[i][2];
	pc->hosts = st->cred_hosts[i];
	pc->nhosts = nh;
	r = 0;
 out:
	free(s);
	return r;
}

/* --grant NAME: every binding of a stored credential. */
static int
add_grant(struct pstate *st, const char *name, char *err, size_t errlen)
{
	struct creds_record	*rec;
	size_t			 b;

	if (st->nrecords >= MAX_ITEMS) {
		util_errf(err, errlen, "too many --grant");
		return -1;
	}
	if (creds_load(name, &rec, err, errlen) == -1)
		return -1;
	st->records[st->nrecords++] = rec;
	for (b = 0; b < rec->nbindings; b++) {
		struct proxy_credential *pc;

		if (st->o.ncreds >= MAX_ITEMS) {
			util_errf(err, errlen, "too many credentials");
			return -1;
		}
		pc = &st->creds[st->o.ncreds++];
		pc->name = rec->name;
		pc->hosts = rec->bindings[b].hosts;
		pc->nhosts = rec->bindings[b].nhosts;
		pc->header = rec->bindings[b].header;
		pc->format = rec->bindings[b].basic ? PROXY_CRED_BASIC :
		    PROXY_CRED_PREFIX;
		pc->prefix_or_user = rec->bindings[b].prefix_or_user;
		pc->secret = rec->secret;
		pc->secret_len = rec->secret_len;
	}
	return 0;
}

static int
apply_config(struct pstate *st, const char *path, char *err, size_t errlen)
{
	size_t i;

	if ((st->cfg = config_load_file(path, NULL, err, errlen)) == NULL)
		return -1;
	st->o.strict = st->cfg->policy == CONFIG_POLICY_STRICT;
	st->o.config_path = st->cfg->path;
	st->o.host_ports = st->cfg->host_ports;
	st->o.nhost_ports = st->cfg->nhost_ports;
	st->o.nallow = st->cfg->nallow;
	if (st->cfg->nallow > 0) {
		st->allow = xcalloc(st->cfg->nallow, sizeof(*st->allow));
		st->allow_text = xcalloc(st->cfg->nallow, sizeof(char *));
		st->allow_line = xcalloc(st->cfg->nallow, sizeof(int));
		for (i = 0; i < st->cfg->nallow; i++) {
			st->allow[i] = st->cfg->allow[i].pat;
			st->allow_text[i] = st->cfg->allow[i].text;
			st->allow_line[i] = st->cfg->allow[i].line;
		}
	}
	st->o.allow = st->allow;
	st->o.allow_text = st->allow_text;
	st->o.allow_line = st->allow_line;
	return 0;
}

static int
parse_limit(struct proxy_limits *l, const char *s, char *err, size_t errlen)
{
	const char	*eq = strchr(s, '=');
	char		*end;
	long		 v;

	if (eq == NULL)
		goto bad;
	errno = 0;
	v = strtol(eq + 1, &end, 10);
	if (eq[1] == '\0' || *end != '\0' || errno != 0 || v <= 0 ||
	    v > INT_MAX)
		goto bad;
#define LIM(name, field) if ((size_t)(eq - s) == strlen(name) &&	\
	strncmp(s, name, strlen(name)) == 0) { l->field = v; return 0; }
	LIM("header-bytes", header_bytes);
	LIM("header-count", header_count);
	LIM("uri-bytes", uri_bytes);
	LIM("header-timeout-ms", header_timeout_ms);
	LIM("idle-timeout-ms", idle_timeout_ms);
	LIM("connect-timeout-ms", connect_timeout_ms);
	LIM("upstream-timeout-ms", upstream_timeout_ms);
	LIM("tunnel-idle-timeout-ms", tunnel_idle_timeout_ms);
	LIM("max-connections", max_connections);
	LIM("grace-ms", grace_ms);
#undef LIM
 bad:
	util_errf(err, errlen, "--limit %s: want NAME=N with NAME one of "
	    "header-bytes, header-count, uri-bytes, header-timeout-ms, "
	    "idle-timeout-ms, connect-timeout-ms, upstream-timeout-ms, "
	    "tunnel-idle-timeout-ms, max-connections, grace-ms", s);
	return -1;
}

static void
stopped_cb(void *arg)
{
	event_base_loopbreak(arg);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct pstate *st = arg;

	(void)ev;
	log_debug("proxy: signal %d, stopping", (int)sig);
	proxy_shutdown(st->px, stopped_cb, st->base);
}

/* The CA: persisted in --ca-dir, else in memory with its cert in a temp
 * directory that is removed on exit. */
static int
setup_ca(struct pstate *st, const char *ca_dir, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");

	if (ca_dir != NULL) {
		if ((st->ca = certs_ca_load_or_create(ca_dir, err, errlen)) ==
		    NULL)
			return -1;
		snprintf(st->ca_path, sizeof(st->ca_path), "%s/ca.crt",
		    ca_dir);
		return 0;
	}
	if ((st->ca = certs_ca_new_ephemeral(err, errlen)) == NULL)
		return -1;
	snprintf(st->tmpdir, sizeof(st->tmpdir), "%s/moat-proxy-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(st->tmpdir) == NULL) {
		util_errf(err, errlen, "mkdtemp %s: %s", st->tmpdir,
		    strerror(errno));
		st->tmpdir[0] = '\0';
		return -1;
	}
	util_errf(st->ca_path, sizeof(st->ca_path), "%s/ca.crt", st->tmpdir);
	return certs_ca_write_cert(st->ca, st->ca_path, err, errlen);
}

static void
cleanup(struct pstate *st)
{
	size_t i;

	for (i = 0; i < MAX_ITEMS; i++) {
		if (st->secrets[i] != NULL)
			sodium_free(st->secrets[i]);
		free(st->cred_strs[i][0]);
		free(st->cred_strs[i][1]);
		free(st->cred_strs[i][2]);
	}
	for (i = 0; i < st->nrecords; i++)
		creds_record_free(st->records[i]);
	if (st->tmpdir[0] != '\0') {
		(void)unlink(st->ca_path);
		(void)rmdir(st->tmpdir);
	}
	certs_ca_free(st->ca);
	config_free(st->cfg);
	free(st->allow);
	free(st->allow_text);
	free(st->allow_line);
	sodium_memzero(st->o.token, sizeof(st->o.token));
}

int
cmd_proxy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "grant", required_argument, NULL, 'g' },
		{ "resolve", required_argument, NULL, 'r' },
		{ "upstream-ca", required_argument, NULL, 'u' },
		{ "ca-dir", required_argument, NULL, 'C' },
		{ "log", required_argument, NULL, 'L' },
		{ "credential", required_argument, NULL, 'k' },
		{ "limit", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pstate		*st;
	struct proxy		*px = NULL;
	struct event		*sigint = NULL, *sigterm = NULL;
	struct rlimit		 rl = { 0, 0 };
	char			 addr[64] = "127.0.0.1", err[1024], hex[65];
	char			 run_id[17];
	unsigned char		 rid[8];
	const char		*ca_dir = NULL, *config = NULL;
	const char		*grants[MAX_ITEMS], *credargs[MAX_ITEMS];
	size_t			 ngrants = 0, ncredargs = 0, i;
	int			 ch, port = 0, verbose = 0, rc = 1;

	/* secrets live in this process: no core dumps, no ptrace peers */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	st = xcalloc(1, sizeof(*st));
	proxy_limits_default(&st->o.limits);
	while ((ch = getopt_long(argc, argv, "l:c:g:r:u:C:L:k:m:vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (parse_listen(optarg, addr, sizeof(addr), &port) ==
			    -1) {
				log_errx("--listen %s: want ADDR:PORT", optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case 'c':
			config = optarg;
			break;
		case 'g':
		case 'k':
			if ((ch == 'g' ? ngrants : ncredargs) >= MAX_ITEMS) {
				log_errx("too many --%s", ch == 'g' ? "grant" :
				    "credential");
				rc = EXIT_USAGE;
				goto out;
			}
			if (ch == 'g')
				grants[ngrants++] = optarg;
			else
				credargs[ncredargs++] = optarg;
			break;
		case 'r':
			if (st->o.nresolve >= MAX_ITEMS ||
			    cmd_parse_resolve(optarg, &st->resolve[st->o.nresolve],
			    err, sizeof(err)) == -1) {
				log_errx("%s", err);
				rc = EXIT_USAGE;
				goto out;
			}
			st->o.nresolve++;
			break;
		case 'u':
			st->o.upstream_ca = optarg;
			break;
		case 'C':
			ca_dir = optarg;
			break;
		case 'L':
			st->o.log_path = optarg;
			break;
		case 'm':
			if (parse_limit(&st->o.limits, optarg, err,
			    sizeof(err)) == -1) {
				log_errx("%s", err);
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(cmd_usage("proxy"), stdout);
			rc = 0;
			goto out;
		default:
			fputs(cmd_usage("proxy"), stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc) {
		log_errx("proxy: unexpected argument \"%s\"", argv[optind]);
		rc = EXIT_USAGE;
		goto out;
	}
	if (verbose)
		log_init(verbose);
	st->o.resolve = st->resolve;
	if (config != NULL && apply_config(st, config, err,
	    sizeof(err)) == -1) {
		log_errx("%s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	for (i = 0; i < ncredargs; i++) {
		if (st->o.ncreds >= MAX_ITEMS || parse_credential(st,
		    st->o.ncreds, credargs[i], err, sizeof(err)) == -1) {
			log_errx("%s", err);
			rc = EXIT_USAGE;
			goto out;
		}
		st->o.ncreds++;
	}
	if (config != NULL)
		for (i = 0; i < st->cfg->grants.n && ngrants < MAX_ITEMS; i++)
			grants[ngrants++] = st->cfg->grants.v[i];
	for (i = 0; i < ngrants; i++)
		if (add_grant(st, grants[i], err, sizeof(err)) == -1) {
			log_errx("%s", err);
			goto out;
		}
	st->o.creds = st->creds;
	if (setup_ca(st, ca_dir, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		goto out;
	}
	st->o.ca = st->ca;
	randombytes_buf(st->o.token, sizeof(st->o.token));
	randombytes_buf(rid, sizeof(rid));
	sodium_bin2hex(run_id, sizeof(run_id), rid, sizeof(rid));
	st->o.run_id = run_id;
	st->o.listen_addr = addr;
	st->o.listen_port = port;
	signal(SIGPIPE, SIG_IGN);
	if ((st->base = event_base_new()) == NULL) {
		log_errx("cannot create the event loop");
		goto out;
	}
	if ((px = proxy_new(st->base, &st->o, err, sizeof(err))) == NULL) {
		log_errx("%s", err);
		goto out;
	}
	/* the proxy holds its own copies now */
	for (i = 0; i < MAX_ITEMS; i++)
		if (st->secrets[i] != NULL) {
			sodium_free(st->secrets[i]);
			st->secrets[i] = NULL;
		}
	for (i = 0; i < st->nrecords; i++)
		creds_record_free(st->records[i]);
	st->nrecords = 0;
	st->px = px;
	sigint = evsignal_new(st->base, SIGINT, signal_cb, st);
	sigterm = evsignal_new(st->base, SIGTERM, signal_cb, st);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	proxy_token_hex(st->o.token, hex);
	{
		const char *a = proxy_addr(px);
		int v6 = strchr(a, ':') != NULL;

		printf("HTTP_PROXY=http://moat:%s@%s%s%s:%d\n", hex,
		    v6 ? "[" : "", a, v6 ? "]" : "", proxy_port(px));
		printf("HTTPS_PROXY=http://moat:%s@%s%s%s:%d\n", hex,
		    v6 ? "[" : "", a, v6 ? "]" : "", proxy_port(px));
		printf("MOAT_CA=%s\n", st->ca_path);
		fflush(stdout);
	}
	sodium_memzero(hex, sizeof(hex));
	event_base_dispatch(st->base);
	rc = 0;
 out:
	if (px != NULL)
		proxy_free(px);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (st->base != NULL)
		event_base_free(st->base);
	cleanup(st);
	free(st);
	return rc;
}
