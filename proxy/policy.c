/*
 * proxy/policy: which destinations the agent may reach.
 *
 * The name check (strict allow list) runs before DNS; the address check
 * runs on every address a lookup returned, so that a name which resolves
 * to the user's LAN, the cloud metadata service or this very host is
 * refused whatever the mode.  Both checks run per request: they allocate
 * nothing and only format text when they deny.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

#define OWN_MAX		1024	/* interface addresses kept */

/* An address as raw bytes: 4 for IPv4, 16 for IPv6. */
struct ipaddr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	a[16];
};

struct resolve_ent {
	char		host[HOST_MAX + 1];
	int		port;
	struct ipaddr	ip;
	struct sockaddr_storage ss;
	socklen_t	sslen;
};

struct policy {
	int			 strict;
	struct hostpat		*allow;
	size_t			 nallow;
	int			 allow_line;	/* first entry's line, or 0 */
	struct hostpat		*cred;		/* credentials' hosts */
	size_t			 ncred;
	int			*host_ports;
	size_t			 nhost_ports;
	struct resolve_ent	*res;
	size_t			 nres;
	char			*config;	/* file named in hints */
	struct ipaddr		*own;		/* this host's addresses */
	size_t			 nown;
	size_t			 ownmax;
	int			 have_listener;
	struct ipaddr		 listen_ip;
	int			 listen_port;
};

/* What an address turned out to be, for the decision and the messages. */
struct ipclass_info {
	enum policy_ipclass	 cls;		/* of the effective address */
	const char		*detail;	/* finer range name */
	const char		*form;		/* embedding, or NULL */
	struct ipaddr		 raw;		/* as given */
	struct ipaddr		 inner;		/* embedded IPv4, if form */
	int			 own;		/* one of this host's */
};

static int
sa_to_ip(const struct sockaddr *sa, struct ipaddr *ip, int *port)
{
	memset(ip, 0, sizeof(*ip));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		ip->family = AF_INET;
		memcpy(ip->a, &s4->sin_addr, 4);
		if (port != NULL)
			*port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)sa;

		ip->family = AF_INET6;
		memcpy(ip->a, &s6->sin6_addr, 16);
		if (port != NULL)
			*port = ntohs(s6->sin6_port);
		return 0;
	}
	return -1;
}

static int
ip_eq(const struct ipaddr *x, const struct ipaddr *y)
{
	return x->family == y->family &&
	    memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

static void
ip_text(const struct ipaddr *ip, char *buf, size_t len)
{
	if (inet_ntop(ip->family, ip->a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

static int
ip_unspecified(const struct ipaddr *ip)
{
	static const unsigned char zero[16];

	return memcmp(ip->a, zero, ip->family == AF_INET ? 4 : 16) == 0;
}

/* IPv4 ranges refused by default, most specific first. */
static const struct v4range {
	uint32_t		 net;
	int			 bits;
	enum policy_ipclass	 cls;
	const char		*detail;
} v4ranges[] = {
	{ 0x00000000, 8, IPCLASS_UNSPECIFIED, "unspecified" },
	{ 0x0a000000, 8, IPCLASS_PRIVATE, "private" },
	{ 0x64400000, 10, IPCLASS_CGNAT, "carrier-grade NAT" },
	{ 0x7f000000, 8, IPCLASS_LOOPBACK, "loopback" },
	{ 0xa9fea9fe, 32, IPCLASS_LINKLOCAL, "cloud metadata" },
	{ 0xa9fe0000, 16, IPCLASS_LINKLOCAL, "link-local" },
	{ 0xac100000, 12, IPCLASS_PRIVATE, "private" },
	{ 0xc0000000, 24, IPCLASS_MULTICAST, "IETF protocol assignments" },
	{ 0xc0000200, 24, IPCLASS_MULTICAST, "documentation" },
	{ 0xc0a80000, 16, IPCLASS_PRIVATE, "private" },
	{ 0xc6336400, 24, IPCLASS_MULTICAST, "documentation" },
	{ 0xcb007100, 24, IPCLASS_MULTICAST, "documentation" },
	{ 0xe0000000, 4, IPCLASS_MULTICAST, "multicast" },
	{ 0xffffffff, 32, IPCLASS_MULTICAST, "broadcast" },
	{ 0xf0000000, 4, IPCLASS_MULTICAST, "reserved" },
	/*
	 * 198.18.0.0/15 (benchmarking) stays public on purpose: fake-IP DNS
	 * proxies hand out addresses from it for ordinary public names.
	 */
};

static enum policy_ipclass
classify_v4(const unsigned char *b, const char **detail)
{
	uint32_t	a, mask;
	size_t		i;

	a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	for (i = 0; i < sizeof(v4ranges) / sizeof(v4ranges[0]); i++) {
		mask = (uint32_t)(0xffffffffULL << (32 - v4ranges[i].bits));
		if ((a & mask) == v4ranges[i].net) {
			*detail = v4ranges[i].detail;
			return v4ranges[i].cls;
		}
	}
	*detail = "public";
	return IPCLASS_PUBLIC;
}

/* IPv6 ranges refused by default (after the IPv4 embeddings). */
static const struct v6range {
	unsigned char		 net[6];
	int			 bits;
	enum policy_ipclass	 cls;
	const char		*detail;
} v6ranges[] = {
	{ { 0xff }, 8, IPCLASS_MULTICAST, "multicast" },
	{ { 0xfe, 0x80 }, 10, IPCLASS_LINKLOCAL, "link-local" },
	{ { 0xfe, 0xc0 }, 10, IPCLASS_PRIVATE, "site-local" },
	{ { 0xfc }, 7, IPCLASS_PRIVATE, "unique local" },
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, IPCLASS_PRIVATE,
	    "local-use NAT64" },
	{ { 0x00 }, 8, IPCLASS_MULTICAST, "reserved" },
	{ { 0x01, 0x00 }, 16, IPCLASS_MULTICAST, "discard-only" },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, IPCLASS_MULTICAST,
	    "documentation" },
};

static int
prefix_match(const unsigned char *b, const unsigned char *net, int bits)
{
	int		i;
	unsigned char	m;

	for (i = 0; bits > 0; i++, bits -= 8) {
		m = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((b[i] & m) != net[i])
			return 0;
	}
	return 1;
}

/*
 * Forms that carry an IPv4 address (IPv4-mapped, IPv4-translated,
 * IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) set *form and
 * *inner and are classified by the IPv4 address they reach.
 */
static enum policy_ipclass
classify_v6(const unsigned char *b, const char **detail, const char **form,
    struct ipaddr *inner)
{
	static const unsigned char zero[16];
	static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	enum policy_ipclass	 c;
	const unsigned char	*v4 = NULL;
	size_t			 i;

	if (memcmp(b, zero, 15) == 0 && b[15] <= 1) {
		*detail = b[15] == 0 ? "unspecified" : "loopback";
		return b[15] == 0 ? IPCLASS_UNSPECIFIED : IPCLASS_LOOPBACK;
	}
	if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) {
		*form = "IPv4-mapped";
		v4 = b + 12;
	} else if (memcmp(b, zero, 8) == 0 && b[8] == 0xff && b[9] == 0xff &&
	    b[10] == 0 && b[11] == 0) {
		*form = "IPv4-translated";
		v4 = b + 12;
	} else if (memcmp(b, zero, 12) == 0) {
		*form = "IPv4-compatible";
		v4 = b + 12;
	} else if (memcmp(b, nat64, 12) == 0) {
		*form = "NAT64";
		v4 = b + 12;
	} else if (b[0] == 0x20 && b[1] == 0x02) {
		*form = "6to4";
		v4 = b + 2;
	}
	if (v4 != NULL) {
		inner->family = AF_INET;
		memcpy(inner->a, v4, 4);
		c = classify_v4(v4, detail);
		/* The deprecated IPv4-compatible form has no use at all. */
		if (c == IPCLASS_PUBLIC && memcmp(b, zero, 12) == 0) {
			*detail = "reserved";
			c = IPCLASS_MULTICAST;
		}
		return c;
	}
	for (i = 0; i < sizeof(v6ranges) / sizeof(v6ranges[0]); i++)
		if (prefix_match(b, v6ranges[i].net, v6ranges[i].bits)) {
			*detail = v6ranges[i].detail;
			return v6ranges[i].cls;
		}
	*detail = "public";
	return IPCLASS_PUBLIC;
}

static int
is_own(const struct policy *pol, const struct ipaddr *ip)
{
	size_t i;

	if (pol->have_listener && !ip_unspecified(&pol->listen_ip) &&
	    ip_eq(ip, &pol->listen_ip))
		return 1;
	for (i = 0; i < pol->nown; i++)
		if (ip_eq(ip, &pol->own[i]))
			return 1;
	return 0;
}

/*
 * Whether ip is one of this host's addresses right now: the getifaddrs()
 * snapshot of policy_new() misses addresses gained later (a new IPv6
 * privacy address, a DHCP change, a VPN).  A UDP socket "connected" to ip
 * (no packet is sent) gets ip itself as its source exactly when ip is
 * local.  Only asked for addresses that would otherwise pass as public.
 */
static int
local_now(const struct ipaddr *ip)
{
	struct sockaddr_storage	 ss, me;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	struct ipaddr		 got;
	socklen_t		 len, mlen = sizeof(me);
	int			 fd, r = 0;

	memset(&ss, 0, sizeof(ss));
	if (ip->family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(9);
		memcpy(&s4->sin_addr, ip->a, 4);
		len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(9);
		memcpy(&s6->sin6_addr, ip->a, 16);
		len = sizeof(*s6);
	}
	if ((fd = socket(ip->family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &mlen) == 0 &&
	    sa_to_ip((struct sockaddr *)&me, &got, NULL) == 0 &&
	    ip_eq(&got, ip))
		r = 1;
	close(fd);
	return r;
}

static void
classify(const struct policy *pol, const struct ipaddr *raw,
    struct ipclass_info *ac)
{
	memset(ac, 0, sizeof(*ac));
	ac->raw = *raw;
	if (raw->family == AF_INET)
		ac->cls = classify_v4(raw->a, &ac->detail);
	else
		ac->cls = classify_v6(raw->a, &ac->detail, &ac->form,
		    &ac->inner);
	if (pol != NULL)
		ac->own = is_own(pol, raw) ||
		    (ac->form != NULL && is_own(pol, &ac->inner));
	if (pol != NULL && ac->cls == IPCLASS_PUBLIC && !ac->own)
		ac->own = local_now(raw) ||
		    (ac->form != NULL && local_now(&ac->inner));
	if (ac->cls == IPCLASS_PUBLIC && ac->own) {
		ac->cls = IPCLASS_HOST;
		ac->detail = "this host";
	}
}

enum policy_ipclass
policy_classify(const struct policy *pol, const struct sockaddr *sa)
{
	struct ipclass_info	ac;
	struct ipaddr		ip;

	if (sa_to_ip(sa, &ip, NULL) == -1)
		return IPCLASS_UNSPECIFIED;
	classify(pol, &ip, &ac);
	return ac.cls;
}

const char *
policy_ipclass_name(enum policy_ipclass c)
{
	switch (c) {
	case IPCLASS_PUBLIC:
		return "public";
	case IPCLASS_LOOPBACK:
		return "loopback";
	case IPCLASS_LINKLOCAL:
		return "link-local";
	case IPCLASS_PRIVATE:
		return "private";
	case IPCLASS_CGNAT:
		return "CGNAT";
	case IPCLASS_UNSPECIFIED:
		return "unspecified";
	case IPCLASS_MULTICAST:
		return "multicast/reserved";
	case IPCLASS_HOST:
		return "host's own";
	}
	return "unknown";
}

static void
add_own(struct policy *pol, const struct ipaddr *ip)
{
	if (is_own(pol, ip) || pol->nown >= OWN_MAX)
		return;
	if (pol->nown == pol->ownmax) {
		pol->ownmax = pol->ownmax ? pol->ownmax * 2 : 16;
		pol->own = xrealloc(pol->own, pol->ownmax * sizeof(*pol->own));
	}
	pol->own[pol->nown++] = *ip;
}

void
policy_add_host_addr(struct policy *pol, const struct sockaddr *sa)
{
	struct ipaddr ip;

	if (sa != NULL && sa_to_ip(sa, &ip, NULL) == 0)
		add_own(pol, &ip);
}

static int
load_own(struct policy *pol, char *err, size_t errlen)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) == -1) {
		util_errf(err, errlen, "cannot list this host's addresses: "
		    "%s", strerror(errno));
		return -1;
	}
	for (i = ifa; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL)
			policy_add_host_addr(pol, i->ifa_addr);
	freeifaddrs(ifa);
	return 0;
}

static int
resolve_copy(struct resolve_ent *e, const struct proxy_resolve *r,
    char *err, size_t errlen)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&e->ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&e->ss;
	char			 host[HOST_MAX + 1];

	memset(e, 0, sizeof(*e));
	if (host_normalize(r->host, strnlen(r->host, sizeof(r->host)), host,
	    sizeof(host)) == -1 || r->port < 1 || r->port > 65535) {
		util_errf(err, errlen, "--resolve %.*s:%d: not a valid host "
		    "and port", HOST_MAX, r->host, r->port);
		return -1;
	}
	memcpy(e->host, host, sizeof(e->host));
	e->port = r->port;
	if (inet_pton(AF_INET, r->addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)r->port);
		e->sslen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, r->addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)r->port);
		e->sslen = sizeof(*s6);
	} else {
		util_errf(err, errlen, "--resolve %s:%d:%.63s: \"%.63s\" is "
		    "not a numeric IPv4 or IPv6 address", host, r->port,
		    r->addr, r->addr);
		return -1;
	}
	return sa_to_ip((struct sockaddr *)&e->ss, &e->ip, NULL);
}

struct policy *
policy_new(const struct proxy_opts *opts, char *err, size_t errlen)
{
	struct policy	*pol;
	size_t		 i, j, n;

	pol = xcalloc(1, sizeof(*pol));
	pol->strict = opts->strict;
	if (opts->nallow > 0) {
		pol->allow = xcalloc(opts->nallow, sizeof(*pol->allow));
		memcpy(pol->allow, opts->allow,
		    opts->nallow * sizeof(*pol->allow));
		pol->nallow = opts->nallow;
		if (opts->allow_line != NULL)
			pol->allow_line = opts->allow_line[0];
	}
	for (i = n = 0; i < opts->ncreds; i++)
		n += opts->creds[i].nhosts;
	if (n > 0) {
		pol->cred = xcalloc(n, sizeof(*pol->cred));
		for (i = 0; i < opts->ncreds; i++)
			for (j = 0; j < opts->creds[i].nhosts; j++)
				pol->cred[pol->ncred++] =
				    opts->creds[i].hosts[j];
	}
	if (opts->nhost_ports > 0) {
		pol->host_ports = xcalloc(opts->nhost_ports,
		    sizeof(*pol->host_ports));
		memcpy(pol->host_ports, opts->host_ports,
		    opts->nhost_ports * sizeof(*pol->host_ports));
		pol->nhost_ports = opts->nhost_ports;
	}
	if (opts->nresolve > 0) {
		pol->res = xcalloc(opts->nresolve, sizeof(*pol->res));
		for (i = 0; i < opts->nresolve; i++)
			if (resolve_copy(&pol->res[i], &opts->resolve[i], err,
			    errlen) == -1)
				goto fail;
		pol->nres = opts->nresolve;
	}
	pol->config = xstrdup(opts->config_path != NULL ?
	    opts->config_path : "agent.yaml");
	if (load_own(pol, err, errlen) == -1)
		goto fail;
	return pol;
 fail:
	policy_free(pol);
	return NULL;
}

void
policy_free(struct policy *pol)
{
	if (pol == NULL)
		return;
	free(pol->allow);
	free(pol->cred);
	free(pol->host_ports);
	free(pol->res);
	free(pol->config);
	free(pol->own);
	free(pol);
}

void
policy_set_listener(struct policy *pol, const struct sockaddr *sa,
    socklen_t len)
{
	struct ipaddr	ip;
	int		port;

	(void)len;
	if (sa == NULL || sa_to_ip(sa, &ip, &port) == -1)
		return;
	pol->listen_ip = ip;
	pol->listen_port = port;
	pol->have_listener = 1;
}

/* The pattern a user would add for host:port, as written in agent.yaml. */
static void
suggest_pattern(const char *host, int port, char *buf, size_t len)
{
	struct hostpat p;

	memset(&p, 0, sizeof(p));
	snprintf(p.host, sizeof(p.host), "%s", host);
	p.port = (port == 80 || port == 443) ? 0 : port;
	hostpat_format(&p, buf, len);
}

static void
hint_allow(const struct policy *pol, const char *host, int port,
    char *hint, size_t hlen)
{
	char pat[HOST_MAX + 16];

	if (hint == NULL || hlen == 0)
		return;
	suggest_pattern(host, port, pat, sizeof(pat));
	if (pol->nallow == 0)
		util_errf(hint, hlen, "add network.allow: [\"%s\"] in %s "
		    "(under network:%s)", pat, pol->config,
		    pol->strict ? ", next to policy: strict" : "");
	else if (pol->allow_line > 0)
		util_errf(hint, hlen, "add \"%s\" under network.allow in %s "
		    "(line %d)", pat, pol->config, pol->allow_line);
	else
		util_errf(hint, hlen, "add \"%s\" under network.allow in %s",
		    pat, pol->config);
}

static void
hint_host_port(const struct policy *pol, int port, char *hint, size_t hlen)
{
	if (hint == NULL || hlen == 0)
		return;
	if (pol->nhost_ports == 0)
		util_errf(hint, hlen, "add network.host: [%d] in %s (under "
		    "network:) to let the agent reach port %d on this host",
		    port, pol->config, port);
	else
		util_errf(hint, hlen, "add %d under network.host in %s to "
		    "let the agent reach port %d on this host", port,
		    pol->config, port);
}

static void
set_msg(char *buf, size_t len, const char *s)
{
	if (buf != NULL && len > 0)
		util_errf(buf, len, "%s", s);
}

static int host_port_listed(const struct policy *, int);

/*
 * A network.host port named by "localhost" or by an IP literal that is
 * loopback or one of the host's own addresses: in strict mode the name
 * check lets it through, and policy_check_addr() still insists that every
 * address it is dialled on be loopback or the host's own.  Any other name
 * on that port stays subject to the allow list.
 */
static int
host_port_named(const struct policy *pol, const char *host, int port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	struct ipclass_info	 ac;
	struct ipaddr		 ip;

	if (!host_port_listed(pol, port))
		return 0;
	if (strcmp(host, "localhost") == 0)
		return 1;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		return 0;
	if (sa_to_ip((const struct sockaddr *)&ss, &ip, NULL) == -1)
		return 0;
	classify(pol, &ip, &ac);
	return ac.cls == IPCLASS_LOOPBACK || ac.own;
}

int
policy_check_name(const struct policy *pol, const char *host, int port,
    char *reason, size_t rlen, char *hint, size_t hlen)
{
	size_t i;

	set_msg(reason, rlen, "");
	set_msg(hint, hlen, "");
	if (port < 1 || port > 65535) {
		set_msg(reason, rlen, "invalid port");
		return 0;
	}
	if (!pol->strict)
		return 1;
	if (host_port_named(pol, host, port))
		return 1;
	for (i = 0; i < pol->nallow; i++)
		if (hostpat_match(&pol->allow[i], host, port))
			return 1;
	for (i = 0; i < pol->ncred; i++)
		if (hostpat_match(&pol->cred[i], host, port))
			return 1;
	set_msg(reason, rlen, "not in network.allow");
	hint_allow(pol, host, port, hint, hlen);
	return 0;
}

static const struct resolve_ent *
find_resolve(const struct policy *pol, const char *host, int port)
{
	size_t i;

	if (host == NULL)
		return NULL;
	for (i = 0; i < pol->nres; i++)
		if (pol->res[i].port == port &&
		    strcmp(pol->res[i].host, host) == 0)
			return &pol->res[i];
	return NULL;
}

int
policy_resolve_override(const struct policy *pol, const char *host,
    int port, struct sockaddr_storage *sa, socklen_t *len)
{
	const struct resolve_ent *e;

	if ((e = find_resolve(pol, host, port)) == NULL)
		return 0;
	memcpy(sa, &e->ss, sizeof(*sa));
	*len = e->sslen;
	return 1;
}

static int
host_port_listed(const struct policy *pol, int port)
{
	size_t i;

	for (i = 0; i < pol->nhost_ports; i++)
		if (pol->host_ports[i] == port)
			return 1;
	return 0;
}

/*
 * An exact (not wildcard) allow entry for the address, or for host.  A
 * name only lifts the block on LAN-style addresses (private, CGNAT, ULA):
 * loopback, link-local (cloud metadata), the host's own addresses and the
 * other special classes must be named by their address (or --resolve, or
 * network.host), so that a DNS answer for an allowed name cannot lead the
 * agent to the metadata service or the host's loopback services.
 */
static int
allow_names(const struct policy *pol, const char *host, int port,
    const struct ipclass_info *ac)
{
	char	raw[INET6_ADDRSTRLEN], inner[INET6_ADDRSTRLEN];
	size_t	i;
	int	by_name = !ac->own && (ac->cls == IPCLASS_PRIVATE ||
		    ac->cls == IPCLASS_CGNAT);

	ip_text(&ac->raw, raw, sizeof(raw));
	inner[0] = '\0';
	if (ac->form != NULL)
		ip_text(&ac->inner, inner, sizeof(inner));
	for (i = 0; i < pol->nallow; i++) {
		const struct hostpat *p = &pol->allow[i];

		if (p->wildcard)
			continue;
		if ((by_name && host != NULL && hostpat_match(p, host, port)) ||
		    hostpat_match(p, raw, port) ||
		    (inner[0] != '\0' && hostpat_match(p, inner, port)))
			return 1;
	}
	return 0;
}

int
policy_check_addr(const struct policy *pol, const char *host, int port,
    const struct sockaddr *sa, char *reason, size_t rlen, char *hint,
    size_t hlen)
{
	const struct resolve_ent	*e;
	struct ipclass_info		 ac;
	struct ipaddr			 ip;
	char				 text[INET6_ADDRSTRLEN];
	char				 in4[INET_ADDRSTRLEN];
	const char			*name;
	int				 loop;

	set_msg(reason, rlen, "");
	set_msg(hint, hlen, "");
	if (sa == NULL || sa_to_ip(sa, &ip, NULL) == -1) {
		set_msg(reason, rlen, "unsupported address family");
		return 0;
	}
	classify(pol, &ip, &ac);
	ip_text(&ip, text, sizeof(text));
	/* Connecting to the listener itself would loop through the proxy. */
	loop = pol->have_listener && port == pol->listen_port &&
	    (ip_eq(&ip, &pol->listen_ip) || (ac.form != NULL &&
	    ip_eq(&ac.inner, &pol->listen_ip)) ||
	    (ip_unspecified(&pol->listen_ip) &&
	    (ac.own || ac.cls == IPCLASS_LOOPBACK)));
	if (loop) {
		if (reason != NULL && rlen > 0)
			util_errf(reason, rlen, "the proxy's own listener "
			    "%s%s%s:%d", ip.family == AF_INET6 ? "[" : "",
			    text, ip.family == AF_INET6 ? "]" : "", port);
		return 0;
	}
	if (ac.cls == IPCLASS_PUBLIC)
		return 1;
	if ((e = find_resolve(pol, host, port)) != NULL &&
	    ip_eq(&e->ip, &ip))
		return 1;
	if (allow_names(pol, host, port, &ac))
		return 1;
	if ((ac.cls == IPCLASS_LOOPBACK || ac.own) &&
	    host_port_listed(pol, port))
		return 1;

	if (reason != NULL && rlen > 0) {
		name = policy_ipclass_name(ac.cls);
		if (ac.form != NULL) {
			ip_text(&ac.inner, in4, sizeof(in4));
			util_errf(reason, rlen, "%s address %s (%s %s, %s)",
			    name, text, ac.form, in4, ac.detail);
		} else
			util_errf(reason, rlen, "%s address %s (%s)", name,
			    text, ac.detail);
	}
	if (ac.cls == IPCLASS_LOOPBACK || ac.own)
		hint_host_port(pol, port, hint, hlen);
	else if (host != NULL && (ac.cls == IPCLASS_PRIVATE ||
	    ac.cls == IPCLASS_CGNAT))
		hint_allow(pol, host, port, hint, hlen);
	else {
		/* an embedded IPv4 address is named as itself: shorter, and
		   allow_names() matches it in every embedding */
		if (ac.form != NULL)
			ip_text(&ac.inner, text, sizeof(text));
		hint_allow(pol, text, port, hint, hlen);
	}
	return 0;
}
