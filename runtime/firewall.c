/*
 * The per-run host firewall rule: a container on the per-run network
 * reaches the host at the gateway address, so anything the host serves
 * on all interfaces would be reachable.  A chain of the run's own,
 * jumped to from INPUT for the run's bridge, accepts the proxy port and
 * drops the rest.
 */
#include <sys/wait.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "runtime.h"
#include "rt_private.h"

#define FW_TIMEOUT_MS	10000
#define CAP_NET_ADMIN_BIT	12

/* "iptables" or "ip6tables": on PATH, else in the usual places. */
static char *
xtables_path(const char *name)
{
	static const char *dirs[] = { "/usr/sbin", "/sbin", "/usr/bin" };
	char	*p, buf[64];
	size_t	 i;

	if ((p = util_which(name)) != NULL)
		return p;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", dirs[i], name);
		if ((p = util_which(buf)) != NULL)
			return p;
	}
	return NULL;
}

static char *
iptables_path(void)
{
	return xtables_path("iptables");
}

static int
has_net_admin(void)
{
	char			*data = NULL, *p;
	size_t			 len;
	unsigned long long	 caps;
	int			 r = 0;

	if (geteuid() == 0)
		return 1;
	if (util_read_file("/proc/self/status", 1 << 16, &data, &len) == -1)
		return 0;
	if ((p = strstr(data, "\nCapEff:")) != NULL) {
		caps = strtoull(p + 8, NULL, 16);
		r = (caps >> CAP_NET_ADMIN_BIT) & 1;
	}
	free(data);
	return r;
}

int
rt_firewall_capable(void)
{
	char *p;

	if (!rt_host_is_linux() || !has_net_admin())
		return 0;
	if ((p = iptables_path()) == NULL)
		return 0;
	free(p);
	return 1;
}

/*
 * The run's chain: "MOAT-<run id>" when the id fits iptables' 28-byte
 * chain names, else "MOAT-h" + 22 hex digits of a BLAKE2b hash of the
 * id (run ids share long prefixes, so truncating could collide).
 * -1 for an unusable id.
 */
static int
chain_name(const char *run_id, char *buf, size_t len)
{
	unsigned char	h[11];
	size_t		i, n;

	if (run_id == NULL || *run_id == '\0')
		return -1;
	for (i = 0; run_id[i] != '\0'; i++)
		if (!isalnum((unsigned char)run_id[i]) && run_id[i] != '-' &&
		    run_id[i] != '_')
			return -1;
	if (i <= 23) {
		snprintf(buf, len, "MOAT-%s", run_id);
		return 0;
	}
	crypto_generichash(h, sizeof(h), (const unsigned char *)run_id, i,
	    NULL, 0);
	n = (size_t)snprintf(buf, len, "MOAT-h");
	for (i = 0; i < sizeof(h) && n + 3 <= len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%02x", h[i]);
	return 0;
}

/*
 * Runs path (iptables or ip6tables) with args (NULL-terminated, without
 * argv[0]); with input, feeds it on stdin (iptables-restore).
 */
static int
ipt_run(const char *path, const char *const *args, const char *input,
    char **out, char *err, size_t errlen)
{
	struct strvec	 argv = STRVEC_INIT;
	char		*errout = NULL, line[320], e2[256];
	int		 status, r = -1;

	strvec_push(&argv, path);
	strvec_push(&argv, "-w");
	strvec_push(&argv, "5");
	for (; *args != NULL; args++)
		strvec_push(&argv, *args);
	if (util_run(argv.v, NULL, input, input ? strlen(input) : 0, out,
	    &errout, FW_TIMEOUT_MS, &status, e2, sizeof(e2)) == -1) {
		util_errf(err, errlen, "iptables: %s", e2);
		goto out;
	}
	if (status != 0) {
		rt_first_line(errout, line, sizeof(line));
		util_errf(err, errlen, "iptables: %s", *line ? line :
		    "failed");
		goto out;
	}
	r = 0;
 out:
	free(errout);
	strvec_free(&argv);
	return r;
}

/*
 * Reads the filter table (`iptables -S`, one call) and appends to batch
 * the restore lines that delete chain's INPUT jumps (at most 64);
 * *exists says whether the chain is there.
 */
static int
undo_lines(const char *path, const char *chain, struct strvec *batch,
    int *exists, char *err, size_t errlen)
{
	const char	*list[] = { "-S", NULL };
	char		 jumpto[40], newchain[40], *out = NULL, *line;
	char		*save = NULL;
	size_t		 ll, jl;
	int		 i = 0;

	*exists = 0;
	if (ipt_run(path, list, NULL, &out, err, errlen) == -1)
		return -1;
	snprintf(jumpto, sizeof(jumpto), " -j %s", chain);
	snprintf(newchain, sizeof(newchain), "-N %s", chain);
	jl = strlen(jumpto);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, newchain) == 0) {
			*exists = 1;
			continue;
		}
		ll = strlen(line);
		if (i >= 64 || strncmp(line, "-A INPUT ", 9) != 0 ||
		    ll < jl || strcmp(line + ll - jl, jumpto) != 0)
			continue;
		line[1] = 'D';
		strvec_push(batch, line);
		i++;
	}
	free(out);
	return 0;
}

/* Feeds batch (lines for the filter table) to <path>-restore --noflush:
 * one atomic transaction. */
static int
ipt_restore(const char *path, const struct strvec *batch, char *err,
    size_t errlen)
{
	const char	*args[] = { "--noflush", NULL };
	char		*rpath, *text, *p;
	size_t		 len, n, i;
	int		 r;

	if ((rpath = xtables_path(strstr(path, "ip6tables") != NULL ?
	    "ip6tables-restore" : "iptables-restore")) == NULL) {
		util_errf(err, errlen, "iptables: iptables-restore not found");
		return -1;
	}
	len = sizeof("*filter\nCOMMIT\n");
	for (i = 0; i < batch->n; i++)
		len += strlen(batch->v[i]) + 1;
	p = text = xmalloc(len);
	memcpy(p, "*filter\n", 8);
	p += 8;
	for (i = 0; i < batch->n; i++) {
		n = strlen(batch->v[i]);
		memcpy(p, batch->v[i], n);
		p += n;
		*p++ = '\n';
	}
	memcpy(p, "COMMIT\n", sizeof("COMMIT\n"));
	r = ipt_run(rpath, args, text, NULL, err, errlen);
	free(text);
	free(rpath);
	return r;
}

static int
bridge_ok(const char *s)
{
	const char *p;

	if (s == NULL || *s == '\0' || *s == '-' || strlen(s) > 15)
		return 0;
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
		    *p != '.')
			return 0;
	return 1;
}

/* The chain's rules after its declaration line, then the INPUT jump. */
static void
chain_rules(struct strvec *batch, const char *chain, const char *bridge,
    const char *gateway, const char *port)
{
	if (gateway != NULL)
		strvec_pushf(batch, "-A %s -p tcp -d %s --dport %s -j ACCEPT",
		    chain, gateway, port);
	strvec_pushf(batch, "-A %s -j DROP", chain);
	strvec_pushf(batch, "-I INPUT -i %s -j %s", bridge, chain);
}

/*
 * One family's chain in one atomic `-restore --noflush` batch.  First
 * without listing the table (the listing costs as much as the batch):
 * "-N" fails the whole batch when the chain already exists -- a
 * leftover, or a second add.  Then declaring the chain flushes it and
 * any old INPUT jump to it is deleted first, so adding twice never
 * duplicates.  gateway NULL: drop everything (IPv6).
 */
static int
add_family(const char *path, const char *chain, const char *bridge,
    const char *gateway, const char *port, char *err, size_t errlen)
{
	struct strvec	batch = STRVEC_INIT;
	char		e2[256];
	int		exists, r;

	strvec_pushf(&batch, "-N %s", chain);
	chain_rules(&batch, chain, bridge, gateway, port);
	r = ipt_restore(path, &batch, e2, sizeof(e2));
	strvec_free(&batch);
	if (r == 0)
		return 0;
	strvec_pushf(&batch, ":%s - [0:0]", chain);
	if ((r = undo_lines(path, chain, &batch, &exists, err, errlen)) == 0) {
		chain_rules(&batch, chain, bridge, gateway, port);
		r = ipt_restore(path, &batch, err, errlen);
	}
	strvec_free(&batch);
	return r;
}

/* What one family's batch does: add the chain, or remove it. */
struct fw_job {
	const char	*chain;
	const char	*bridge;	/* remove: NULL when unknown */
	const char	*gateway;	/* add: NULL for IPv6 (drop all) */
	const char	*port;
	int		 add;
};

static int remove_chain(const char *, const char *, const char *, char *,
    size_t);

static int
fw_job_run(const char *path, const struct fw_job *j, char *err,
    size_t errlen)
{
	if (j->add)
		return add_family(path, j->chain, j->bridge, j->gateway,
		    j->port, err, errlen);
	return remove_chain(path, j->chain, j->bridge, err, errlen);
}

/*
 * Runs v4 with iptables and v6 with ip6tables (when installed) at the
 * same time: IPv6 in a forked child whose message comes back over a
 * pipe.  Each is one transaction; 0 when both succeeded, else -1 with the
 * first failure in err.
 */
static int
fw_both(const struct fw_job *v4, const struct fw_job *v6, char *err,
    size_t errlen)
{
	char	*p4, *p6, e6[256];
	size_t	 got = 0;
	ssize_t	 n;
	pid_t	 pid = -1;
	int	 fds[2], st, r4, r6 = 0;

	e6[0] = '\0';
	p4 = iptables_path();
	p6 = xtables_path("ip6tables");
	if (p6 != NULL && pipe2(fds, O_CLOEXEC) == 0) {
		if ((pid = fork()) == 0) {
			/* Not the caller's SIGCHLD handler (moat run's). */
			signal(SIGCHLD, SIG_DFL);
			close(fds[0]);
			if (fw_job_run(p6, v6, e6, sizeof(e6)) == 0)
				_exit(0);
			(void)!write(fds[1], e6, strlen(e6));
			_exit(1);
		}
		close(fds[1]);
		if (pid == -1)
			close(fds[0]);
	}
	r4 = p4 == NULL ? -1 : fw_job_run(p4, v4, err, errlen);
	if (p4 == NULL)
		util_errf(err, errlen, "iptables: not found");
	if (pid > 0) {
		while (got < sizeof(e6) - 1 && ((n = read(fds[0], e6 + got,
		    sizeof(e6) - 1 - got)) > 0 || (n == -1 && errno == EINTR)))
			if (n > 0)
				got += (size_t)n;
		e6[got] = '\0';
		close(fds[0]);
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			;
		r6 = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		if (r6 == -1 && e6[0] == '\0')
			snprintf(e6, sizeof(e6), "ip6tables: failed");
	} else if (p6 != NULL)
		r6 = fw_job_run(p6, v6, e6, sizeof(e6));
	if (r4 == 0 && r6 == -1)
		util_errf(err, errlen, "%s", e6);
	free(p4);
	free(p6);
	return r4 == 0 && r6 == 0 ? 0 : -1;
}

int
rt_firewall_add(const char *run_id, const char *bridge, const char *gateway,
    int port, char *err, size_t errlen)
{
	char		 chain[32], pbuf[16], e2[256];
	struct in_addr	 a;
	int		 r;

	if (chain_name(run_id, chain, sizeof(chain)) == -1 ||
	    !bridge_ok(bridge) || gateway == NULL ||
	    inet_pton(AF_INET, gateway, &a) != 1 || port < 1 ||
	    port > 65535) {
		util_errf(err, errlen, "host firewall rule: bad run id, "
		    "bridge, gateway or port");
		return -1;
	}
	if (!rt_firewall_capable()) {
		util_errf(err, errlen, "cannot add the host firewall rule "
		    "(needs root or CAP_NET_ADMIN, and iptables): services "
		    "on this host listening on all interfaces are reachable "
		    "from the agent; run moat as root or grant it "
		    "CAP_NET_ADMIN (sudo setcap cap_net_admin+ep $(which "
		    "moat)) to block them");
		return -1;
	}
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	/*
	 * IPv6: the bridge has a link-local address, so a container with
	 * IPv6 on would reach host services on [::] through it; the proxy
	 * is IPv4 only, so everything is dropped.
	 */
	{
		struct fw_job v4 = { chain, bridge, gateway, pbuf, 1 };
		struct fw_job v6 = { chain, bridge, NULL, pbuf, 1 };

		r = fw_both(&v4, &v6, err, errlen);
	}
	if (r == -1)
		(void)rt_firewall_remove(run_id, e2, sizeof(e2));
	return r;
}

/*
 * Removes chain and the INPUT rules jumping to it.  With bridge (what
 * rt_firewall_add() installed is known): one batch deleting exactly that,
 * which fails as a whole when anything differs; then, and without bridge:
 * one list, one batch.
 */
static int
remove_chain(const char *path, const char *chain, const char *bridge,
    char *err, size_t errlen)
{
	struct strvec	batch = STRVEC_INIT;
	char		e2[256];
	int		exists, r = -1;

	if (bridge != NULL && bridge_ok(bridge)) {
		strvec_pushf(&batch, "-D INPUT -i %s -j %s", bridge, chain);
		strvec_pushf(&batch, "-F %s", chain);
		strvec_pushf(&batch, "-X %s", chain);
		r = ipt_restore(path, &batch, e2, sizeof(e2));
		strvec_free(&batch);
		if (r == 0)
			return 0;
	}
	if (undo_lines(path, chain, &batch, &exists, err, errlen) == -1)
		goto out;
	if (exists) {
		strvec_pushf(&batch, "-F %s", chain);
		strvec_pushf(&batch, "-X %s", chain);
	}
	r = batch.n == 0 ? 0 : ipt_restore(path, &batch, err, errlen);
 out:
	strvec_free(&batch);
	return r;
}

int
rt_firewall_remove(const char *run_id, char *err, size_t errlen)
{
	return rt_firewall_remove_bridge(run_id, NULL, err, errlen);
}

int
rt_firewall_remove_bridge(const char *run_id, const char *bridge, char *err,
    size_t errlen)
{
	struct fw_job	v4, v6;
	char		chain[32];

	if (chain_name(run_id, chain, sizeof(chain)) == -1) {
		util_errf(err, errlen, "host firewall rule: bad run id");
		return -1;
	}
	if (!rt_firewall_capable())
		return 0;	/* nothing we could have added */
	memset(&v4, 0, sizeof(v4));
	v4.chain = chain;
	v4.bridge = bridge;
	v6 = v4;
	return fw_both(&v4, &v6, err, errlen);
}
