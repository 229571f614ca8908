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

/* Runs iptables with args (NULL-terminated, without argv[0]). */
static int
ipt(const char *path, const char *const *args, char **out, char *err,
    size_t errlen)
{
	struct strvec	 argv = STRVEC_INIT;
	char		*errout = NULL, line[320], e2[256];
	int		 status, r = -1;

	strvec_push(&argv, path);
	strvec_push(&argv, "-w");
	strvec_push(&argv, "5");
	for (; *args != NULL; args++)
		strvec_push(&argv, *args);
	if (util_run(argv.v, NULL, NULL, 0, out, &errout, FW_TIMEOUT_MS,
	    &status, e2, sizeof(e2)) == -1) {
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
	(void)rt_firewall_remove(run_id, e2, sizeof(e2));
	{
		const char *mk[] = { "-N", chain, NULL };
		const char *acc[] = { "-A", chain, "-p", "tcp", "-d", gateway,
		    "--dport", pbuf, "-j", "ACCEPT", NULL };
		const char *drop[] = { "-A", chain, "-j", "DROP", NULL };
		const char *jump[] = { "-I", "INPUT", "-i", bridge, "-j",
		    chain, NULL };

		if (ipt(path, mk, NULL, err, errlen) == -1 ||
		    ipt(path, acc, NULL, err, errlen) == -1 ||
		    ipt(path, drop, NULL, err, errlen) == -1 ||
		    ipt(path, jump, NULL, err, errlen) == -1)
			goto out;
		/*
		 * IPv6: the bridge has a link-local address, so a container
		 * with IPv6 on would reach host services on [::] through
		 * it; the proxy is IPv4 only, so everything is dropped.
		 */
		free(path);
		if ((path = xtables_path("ip6tables")) != NULL &&
		    (ipt(path, mk, NULL, err, errlen) == -1 ||
		    ipt(path, drop, NULL, err, errlen) == -1 ||
		    ipt(path, jump, NULL, err, errlen) == -1))
			goto out;
	}
	r = 0;
 out:
	if (r == -1)
		(void)rt_firewall_remove(run_id, e2, sizeof(e2));
	free(path);
	return r;
}

/* Removes chain and the INPUT rules jumping to it with one binary. */
static int
remove_chain(const char *path, const char *chain, char *err, size_t errlen)
{
	char	 jumpto[40], *out = NULL, *line;
	char	*save = NULL, e2[256];
	int	 r = -1, i;

	snprintf(jumpto, sizeof(jumpto), " -j %s", chain);
	{
		const char *list[] = { "-S", "INPUT", NULL };

		if (ipt(path, list, &out, err, errlen) == -1)
			goto out;
	}
	/* Delete every INPUT rule that jumps to the chain (bounded). */
	for (line = strtok_r(out, "\n", &save), i = 0; line != NULL &&
	    i < 64; line = strtok_r(NULL, "\n", &save)) {
		struct strvec	 args = STRVEC_INIT;
		char		*l, *tok, *s2 = NULL;
		size_t		 ll = strlen(line), jl = strlen(jumpto);

		if (strncmp(line, "-A INPUT ", 9) != 0 || ll < jl ||
		    strcmp(line + ll - jl, jumpto) != 0)
			continue;
		i++;
		l = xstrdup(line);
		l[1] = 'D';
		for (tok = strtok_r(l, " ", &s2); tok != NULL;
		    tok = strtok_r(NULL, " ", &s2))
			strvec_push(&args, tok);
		if (ipt(path, (const char *const *)args.v, NULL, e2,
		    sizeof(e2)) == -1)
			log_debug("%s", e2);
		strvec_free(&args);
		free(l);
	}
	{
		const char *flush[] = { "-F", chain, NULL };
		const char *del[] = { "-X", chain, NULL };

		/* An absent chain makes both fail: that is success here. */
		if (ipt(path, flush, NULL, e2, sizeof(e2)) == 0 &&
		    ipt(path, del, NULL, err, errlen) == -1)
			goto out;
	}
	r = 0;
 out:
	free(out);
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
