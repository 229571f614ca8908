/*
 * The per-run host firewall rule: a container on the per-run network
 * reaches the host at the gateway address, so anything the host serves
 * on all interfaces would be reachable.  A chain of the run's own,
 * jumped to from INPUT for the run's bridge, accepts the proxy port and
 * drops the rest.
 */
#include <arpa/inet.h>

#include <ctype.h>
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

/*
 * One family's chain in one atomic `-restore --noflush` batch: declaring
 * the chain creates it, or flushes a leftover of the same name; any old
 * INPUT jump to it is deleted first, so adding twice never duplicates.
 * gateway NULL: drop everything (IPv6).
 */
static int
add_family(const char *path, const char *chain, const char *bridge,
    const char *gateway, const char *port, char *err, size_t errlen)
{
	struct strvec	batch = STRVEC_INIT;
	int		exists, r = -1;

	strvec_pushf(&batch, ":%s - [0:0]", chain);
	if (undo_lines(path, chain, &batch, &exists, err, errlen) == -1)
		goto out;
	if (gateway != NULL)
		strvec_pushf(&batch, "-A %s -p tcp -d %s --dport %s -j ACCEPT",
		    chain, gateway, port);
	strvec_pushf(&batch, "-A %s -j DROP", chain);
	strvec_pushf(&batch, "-I INPUT -i %s -j %s", bridge, chain);
	r = ipt_restore(path, &batch, err, errlen);
 out:
	strvec_free(&batch);
	return r;
}

int
rt_firewall_add(const char *run_id, const char *bridge, const char *gateway,
    int port, char *err, size_t errlen)
{
	char		 chain[32], pbuf[16], e2[256], *path = NULL;
	struct in_addr	 a;
	int		 r = -1;

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
	path = iptables_path();
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	if (add_family(path, chain, bridge, gateway, pbuf, err, errlen) == -1)
		goto out;
	/*
	 * IPv6: the bridge has a link-local address, so a container with
	 * IPv6 on would reach host services on [::] through it; the proxy
	 * is IPv4 only, so everything is dropped.
	 */
	free(path);
	if ((path = xtables_path("ip6tables")) != NULL &&
	    add_family(path, chain, bridge, NULL, pbuf, err, errlen) == -1)
		goto out;
	r = 0;
 out:
	if (r == -1)
		(void)rt_firewall_remove(run_id, e2, sizeof(e2));
	free(path);
	return r;
}

/* Removes chain and the INPUT rules jumping to it: one list, one batch. */
static int
remove_chain(const char *path, const char *chain, char *err, size_t errlen)
{
	struct strvec	batch = STRVEC_INIT;
	int		exists, r = -1;

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
	char	chain[32], *path;
	int	r;

	if (chain_name(run_id, chain, sizeof(chain)) == -1) {
		util_errf(err, errlen, "host firewall rule: bad run id");
		return -1;
	}
	if (!rt_firewall_capable())
		return 0;	/* nothing we could have added */
	path = iptables_path();
	r = remove_chain(path, chain, err, errlen);
	free(path);
	if ((path = xtables_path("ip6tables")) != NULL &&
	    remove_chain(path, chain, err, errlen) == -1)
		r = -1;
	free(path);
	return r;
}
