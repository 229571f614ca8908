/* Unit tests for proxy/policy: address classes, embeddings, exceptions. */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ifaddrs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "policy.h"

static struct sockaddr_storage ss_buf;

/* A sockaddr for a numeric address and port (static storage). */
static const struct sockaddr *
sa(const char *addr, int port)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss_buf;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	} else {
		printf("bad test address %s\n", addr);
		abort();
	}
	return (const struct sockaddr *)&ss_buf;
}

static struct policy *
mkpol(const struct proxy_opts *o)
{
	char		 err[256] = "";
	struct policy	*p = policy_new(o, err, sizeof(err));

	if (p == NULL) {
		printf("policy_new: %s\n", err);
		abort();
	}
	return p;
}

/* policy_check_addr with the reason written into a static buffer. */
static char reason[256], hint[512];

static int
addr_ok(const struct policy *p, const char *host, const char *addr,
    int port)
{
	return policy_check_addr(p, host, port, sa(addr, port), reason,
	    sizeof(reason), hint, sizeof(hint));
}

static void
test_classes(void)
{
	struct proxy_opts	 o;
	struct policy		*p;
	static const struct {
		const char		*addr;
		enum policy_ipclass	 cls;
	} t[] = {
		{ "8.8.8.8", IPCLASS_PUBLIC },
		{ "1.1.1.1", IPCLASS_PUBLIC },
		{ "198.18.0.1", IPCLASS_PUBLIC },
		{ "127.0.0.1", IPCLASS_LOOPBACK },
		{ "127.255.0.9", IPCLASS_LOOPBACK },
		{ "::1", IPCLASS_LOOPBACK },
		{ "169.254.169.254", IPCLASS_LINKLOCAL },
		{ "169.254.0.1", IPCLASS_LINKLOCAL },
		{ "fe80::1", IPCLASS_LINKLOCAL },
		{ "febf::1", IPCLASS_LINKLOCAL },
		{ "10.1.2.3", IPCLASS_PRIVATE },
		{ "172.16.0.1", IPCLASS_PRIVATE },
		{ "172.31.255.255", IPCLASS_PRIVATE },
		{ "172.32.0.1", IPCLASS_PUBLIC },
		{ "172.15.255.255", IPCLASS_PUBLIC },
		{ "192.168.1.1", IPCLASS_PRIVATE },
		{ "fc00::1", IPCLASS_PRIVATE },
		{ "fd12:3456::1", IPCLASS_PRIVATE },
		{ "fec0::1", IPCLASS_PRIVATE },
		{ "100.64.0.1", IPCLASS_CGNAT },
		{ "100.127.255.254", IPCLASS_CGNAT },
		{ "100.128.0.1", IPCLASS_PUBLIC },
		{ "0.0.0.0", IPCLASS_UNSPECIFIED },
		{ "0.1.2.3", IPCLASS_UNSPECIFIED },
		{ "::", IPCLASS_UNSPECIFIED },
		{ "224.0.0.1", IPCLASS_MULTICAST },
		{ "239.255.255.250", IPCLASS_MULTICAST },
		{ "240.0.0.1", IPCLASS_MULTICAST },
		{ "255.255.255.255", IPCLASS_MULTICAST },
		{ "192.0.2.1", IPCLASS_MULTICAST },
		{ "ff02::1", IPCLASS_MULTICAST },
		{ "2001:db8::1", IPCLASS_MULTICAST },
		{ "100::1", IPCLASS_MULTICAST },
		{ "2606:4700:4700::1111", IPCLASS_PUBLIC },
		/* every embedding of a refused IPv4 address is refused */
		{ "::ffff:127.0.0.1", IPCLASS_LOOPBACK },
		{ "::ffff:10.1.2.3", IPCLASS_PRIVATE },
		{ "::ffff:169.254.169.254", IPCLASS_LINKLOCAL },
		{ "::ffff:0:10.1.2.3", IPCLASS_PRIVATE },
		{ "::10.1.2.3", IPCLASS_PRIVATE },
		{ "::127.0.0.1", IPCLASS_LOOPBACK },
		{ "::8.8.8.8", IPCLASS_MULTICAST },	/* deprecated form */
		{ "64:ff9b::7f00:1", IPCLASS_LOOPBACK },
		{ "64:ff9b::a9fe:a9fe", IPCLASS_LINKLOCAL },
		{ "64:ff9b::6440:1", IPCLASS_CGNAT },
		{ "64:ff9b::808:808", IPCLASS_PUBLIC },
		{ "64:ff9b:1::1", IPCLASS_PRIVATE },
		{ "2002:c0a8:101::1", IPCLASS_PRIVATE },
		{ "2002:7f00:1::", IPCLASS_LOOPBACK },
		{ "2002:a9fe:a9fe::1", IPCLASS_LINKLOCAL },
		{ "2002:0:1::", IPCLASS_UNSPECIFIED },
		{ "2002:e000:1::", IPCLASS_MULTICAST },
		{ "2002:808:808::1", IPCLASS_PUBLIC },
		{ "::ffff:8.8.8.8", IPCLASS_PUBLIC },
	};
	size_t i;

	memset(&o, 0, sizeof(o));
	p = mkpol(&o);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum policy_ipclass c = policy_classify(p, sa(t[i].addr, 443));

		if (c != t[i].cls) {
			printf("  %s: %s, want %s\n", t[i].addr,
			    policy_ipclass_name(c),
			    policy_ipclass_name(t[i].cls));
			CHECK(c == t[i].cls);
		}
		/* the class decides the permissive verdict */
		CHECK_INT(addr_ok(p, "x.example.com", t[i].addr, 443),
		    t[i].cls == IPCLASS_PUBLIC);
	}
	CHECK_STR(policy_ipclass_name(IPCLASS_CGNAT), "CGNAT");
	CHECK_STR(policy_ipclass_name(IPCLASS_HOST), "host's own");
	policy_free(p);
	policy_free(NULL);
}

static void
test_messages(void)
{
	struct proxy_opts	 o;
	struct policy		*p;

	memset(&o, 0, sizeof(o));
	p = mkpol(&o);
	CHECK_INT(addr_ok(p, "lan.example.com", "10.1.2.3", 443), 0);
	CHECK_STR(reason, "private address 10.1.2.3 (private)");
	CHECK_STR(hint, "add network.allow: [\"lan.example.com\"] in "
	    "agent.yaml (under network:)");
	CHECK_INT(addr_ok(p, "meta.example.com", "169.254.169.254", 80), 0);
	CHECK_STR(reason, "link-local address 169.254.169.254 "
	    "(cloud metadata)");
	CHECK_INT(addr_ok(p, "x.example.com", "100.64.1.1", 443), 0);
	CHECK_STR(reason, "CGNAT address 100.64.1.1 (carrier-grade NAT)");
	CHECK_INT(addr_ok(p, "x.example.com", "::ffff:10.1.2.3", 443), 0);
	CHECK_STR(reason, "private address ::ffff:10.1.2.3 "
	    "(IPv4-mapped 10.1.2.3, private)");
	CHECK_INT(addr_ok(p, "x.example.com", "::ffff:0:a01:203", 443), 0);
	CHECK_STR(reason, "private address ::ffff:0:a01:203 "
	    "(IPv4-translated 10.1.2.3, private)");
	CHECK_INT(addr_ok(p, "x.example.com", "::a01:203", 443), 0);
	CHECK_STR(reason, "private address ::10.1.2.3 "
	    "(IPv4-compatible 10.1.2.3, private)");
	CHECK_INT(addr_ok(p, "x.example.com", "64:ff9b::a9fe:a9fe", 443), 0);
	CHECK_STR(reason, "link-local address 64:ff9b::a9fe:a9fe "
	    "(NAT64 169.254.169.254, cloud metadata)");
	CHECK_INT(addr_ok(p, "x.example.com", "2002:7f00:1::", 8443), 0);
	CHECK_STR(reason, "loopback address 2002:7f00:1:: "
	    "(6to4 127.0.0.1, loopback)");
	CHECK_STR(hint, "add network.host: [8443] in agent.yaml (under "
	    "network:) to let the agent reach port 8443 on this host");
	CHECK_INT(addr_ok(p, "x.example.com", "fd00::5", 8443), 0);
	CHECK_STR(reason, "private address fd00::5 (unique local)");
	CHECK_STR(hint, "add network.allow: [\"x.example.com:8443\"] in "
	    "agent.yaml (under network:)");
	CHECK_INT(addr_ok(p, NULL, "fd00::5", 8443), 0);
	CHECK_STR(hint, "add network.allow: [\"[fd00::5]:8443\"] in "
	    "agent.yaml (under network:)");
	CHECK_INT(addr_ok(p, "x.example.com", "255.255.255.255", 80), 0);
	CHECK_STR(reason, "multicast/reserved address 255.255.255.255 "
	    "(broadcast)");
	CHECK_INT(addr_ok(p, "x.example.com", "0.0.0.0", 80), 0);
	CHECK_STR(reason, "unspecified address 0.0.0.0 (unspecified)");
	/* an allowed address leaves both messages empty */
	CHECK_INT(addr_ok(p, "x.example.com", "8.8.8.8", 443), 1);
	CHECK_STR(reason, "");
	CHECK_STR(hint, "");
	/* NULL/0-sized buffers are fine */
	CHECK_INT(policy_check_addr(p, "x", 80, sa("10.0.0.1", 80), NULL, 0,
	    NULL, 0), 0);
	policy_free(p);
}

static void
test_strict_names(void)
{
	struct proxy_opts	 o;
	struct proxy_credential	 cred;
	struct policy		*p;
	struct hostpat		 allow[3], credhost;
	const int		 lines[] = { 7, 8, 9 };
	char			 err[256];

	CHECK_INT(hostpat_parse("api.example.com", &allow[0], err,
	    sizeof(err)), 0);
	CHECK_INT(hostpat_parse("*.example.org", &allow[1], err,
	    sizeof(err)), 0);
	CHECK_INT(hostpat_parse("internal.test:8080", &allow[2], err,
	    sizeof(err)), 0);
	CHECK_INT(hostpat_parse("api.github.com", &credhost, err,
	    sizeof(err)), 0);
	memset(&cred, 0, sizeof(cred));
	cred.name = "github";
	cred.hosts = &credhost;
	cred.nhosts = 1;
	memset(&o, 0, sizeof(o));
	o.strict = 1;
	o.allow = allow;
	o.allow_line = lines;
	o.nallow = 3;
	o.creds = &cred;
	o.ncreds = 1;
	o.config_path = "/p/agent.yaml";
	p = mkpol(&o);
#define NAME_OK(h, port) policy_check_name(p, h, port, reason,		\
	    sizeof(reason), hint, sizeof(hint))
	CHECK_INT(NAME_OK("api.example.com", 443), 1);
	CHECK_INT(NAME_OK("api.example.com", 80), 1);
	CHECK_INT(NAME_OK("a.b.example.org", 443), 1);
	CHECK_INT(NAME_OK("internal.test", 8080), 1);
	CHECK_INT(NAME_OK("api.github.com", 443), 1);	/* credential */
	CHECK_INT(NAME_OK("example.org", 443), 0);	/* not the apex */
	CHECK_STR(reason, "not in network.allow");
	CHECK_STR(hint, "add \"example.org\" under network.allow in "
	    "/p/agent.yaml (line 7)");
	CHECK_INT(NAME_OK("api.example.com", 8443), 0);
	CHECK_STR(hint, "add \"api.example.com:8443\" under network.allow "
	    "in /p/agent.yaml (line 7)");
	CHECK_INT(NAME_OK("internal.test", 443), 0);
	CHECK_INT(NAME_OK("github.com", 443), 0);
	CHECK_INT(NAME_OK("2606:4700::1", 8443), 0);
	CHECK_STR(hint, "add \"[2606:4700::1]:8443\" under network.allow in "
	    "/p/agent.yaml (line 7)");
	CHECK_INT(NAME_OK("api.example.com", 0), 0);
	CHECK_STR(reason, "invalid port");
	/* strict never lets a wildcard reach a private address */
	CHECK_INT(addr_ok(p, "db.example.org", "10.0.0.5", 443), 0);
	CHECK_STR(hint, "add \"db.example.org\" under network.allow in "
	    "/p/agent.yaml (line 7)");
	policy_free(p);

	/* strict without any allow list */
	memset(&o, 0, sizeof(o));
	o.strict = 1;
	p = mkpol(&o);
	CHECK_INT(NAME_OK("evil.example", 443), 0);
	CHECK_STR(reason, "not in network.allow");
	CHECK_STR(hint, "add network.allow: [\"evil.example\"] in agent.yaml "
	    "(under network:, next to policy: strict)");
	policy_free(p);

	/* permissive: every name passes step 1 */
	memset(&o, 0, sizeof(o));
	p = mkpol(&o);
	CHECK_INT(NAME_OK("anything.example", 1), 1);
	CHECK_STR(reason, "");
	policy_free(p);
#undef NAME_OK
}

static void
test_allow_exceptions(void)
{
	struct proxy_opts	 o;
	struct policy		*p;
	struct hostpat		 allow[4];
	const char		*pats[] = { "db.internal:5432", "*.lan",
	    "10.0.0.7:5432", "[fd00::9]" };
	char			 err[256];
	size_t			 i;

	for (i = 0; i < 4; i++)
		CHECK_INT(hostpat_parse(pats[i], &allow[i], err, sizeof(err)),
		    0);
	memset(&o, 0, sizeof(o));
	o.allow = allow;
	o.nallow = 4;
	p = mkpol(&o);
	/* an exact entry naming the host: LAN addresses, that port only */
	CHECK_INT(addr_ok(p, "db.internal", "10.0.0.5", 5432), 1);
	CHECK_INT(addr_ok(p, "db.internal", "100.64.1.1", 5432), 1);
	CHECK_INT(addr_ok(p, "db.internal", "fd00::5", 5432), 1);
	/*
	 * ... but not loopback, link-local (metadata) or unspecified: a DNS
	 * answer for an allowed name must not lead there; those need the
	 * address itself, --resolve or network.host.
	 */
	CHECK_INT(addr_ok(p, "db.internal", "127.0.0.1", 5432), 0);
	CHECK_STR(reason, "loopback address 127.0.0.1 (loopback)");
	CHECK_INT(addr_ok(p, "db.internal", "169.254.169.254", 5432), 0);
	CHECK_INT(addr_ok(p, "db.internal", "::ffff:169.254.169.254", 5432),
	    0);
	CHECK_INT(addr_ok(p, "db.internal", "0.0.0.0", 5432), 0);
	CHECK_INT(addr_ok(p, "db.internal", "10.0.0.5", 5433), 0);
	CHECK_STR(hint, "add \"db.internal:5433\" under network.allow in "
	    "agent.yaml");
	/* a wildcard entry is no exception */
	CHECK_INT(addr_ok(p, "nas.lan", "192.168.1.20", 443), 0);
	/* an entry naming the address, in any embedding */
	CHECK_INT(addr_ok(p, "whatever.example", "10.0.0.7", 5432), 1);
	CHECK_INT(addr_ok(p, "whatever.example", "::ffff:10.0.0.7", 5432),
	    1);
	CHECK_INT(addr_ok(p, "whatever.example", "10.0.0.7", 443), 0);
	CHECK_INT(addr_ok(p, "whatever.example", "10.0.0.8", 5432), 0);
	CHECK_INT(addr_ok(p, "v6.example", "fd00::9", 443), 1);
	CHECK_INT(addr_ok(p, "v6.example", "fd00::9", 8443), 0);
	policy_free(p);
}

/* A non-loopback IPv4 address of this machine, or 0. */
static int
some_own_v4(char *buf, size_t len)
{
	struct ifaddrs	*ifa, *i;
	int		 found = 0;

	if (getifaddrs(&ifa) == -1)
		return 0;
	for (i = ifa; i != NULL && !found; i = i->ifa_next) {
		const struct sockaddr_in *s4;

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		s4 = (const struct sockaddr_in *)i->ifa_addr;
		if ((ntohl(s4->sin_addr.s_addr) >> 24) == 127)
			continue;
		inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)len);
		found = 1;
	}
	freeifaddrs(ifa);
	return found;
}

static void
test_host_ports(void)
{
	struct proxy_opts	 o;
	struct policy		*p;
	const int		 ports[] = { 8080 };
	char			 own[INET_ADDRSTRLEN], mapped[64];
	struct sockaddr_in	 pub;

	memset(&o, 0, sizeof(o));
	o.host_ports = ports;
	o.nhost_ports = 1;
	p = mkpol(&o);
	CHECK_INT(addr_ok(p, "localhost", "127.0.0.1", 8080), 1);
	CHECK_INT(addr_ok(p, "localhost", "::1", 8080), 1);
	CHECK_INT(addr_ok(p, "localhost", "::ffff:127.0.0.1", 8080), 1);
	CHECK_INT(addr_ok(p, "localhost", "127.0.0.1", 8081), 0);
	CHECK_STR(reason, "loopback address 127.0.0.1 (loopback)");
	CHECK_STR(hint, "add 8081 under network.host in agent.yaml to let "
	    "the agent reach port 8081 on this host");
	/* a network.host port is not a way into the LAN */
	CHECK_INT(addr_ok(p, "nas.lan", "192.168.77.77", 8080), 0);
	CHECK_INT(addr_ok(p, "meta", "169.254.169.254", 8080), 0);

	/* the host's own addresses, found by getifaddrs */
	if (some_own_v4(own, sizeof(own))) {
		CHECK_INT(addr_ok(p, "me.example", own, 8081), 0);
		CHECK_INT(addr_ok(p, "me.example", own, 8080), 1);
		snprintf(mapped, sizeof(mapped), "::ffff:%s", own);
		CHECK_INT(addr_ok(p, "me.example", mapped, 8080), 1);
	} else
		printf("  (no non-loopback IPv4 address here)\n");

	/* a public address of this host becomes IPCLASS_HOST */
	memset(&pub, 0, sizeof(pub));
	pub.sin_family = AF_INET;
	inet_pton(AF_INET, "8.8.4.4", &pub.sin_addr);
	CHECK_INT(policy_classify(p, sa("8.8.4.4", 443)), IPCLASS_PUBLIC);
	policy_add_host_addr(p, (struct sockaddr *)&pub);
	CHECK_INT(policy_classify(p, sa("8.8.4.4", 443)), IPCLASS_HOST);
	CHECK_INT(policy_classify(p, sa("64:ff9b::808:404", 443)),
	    IPCLASS_HOST);
	CHECK_INT(addr_ok(p, "me.example", "8.8.4.4", 443), 0);
	CHECK_STR(reason, "host's own address 8.8.4.4 (this host)");
	CHECK_STR(hint, "add 443 under network.host in agent.yaml to let "
	    "the agent reach port 443 on this host");
	CHECK_INT(addr_ok(p, "me.example", "8.8.4.4", 8080), 1);
	policy_free(p);

	/*
	 * Strict mode: a network.host port is reachable by "localhost" or a
	 * loopback/own address literal without an allow entry; a public
	 * literal or another name on that port still needs one.
	 */
	o.strict = 1;
	p = mkpol(&o);
	CHECK_INT(policy_check_name(p, "127.0.0.1", 8080, reason,
	    sizeof(reason), hint, sizeof(hint)), 1);
	CHECK_INT(policy_check_name(p, "localhost", 8080, reason,
	    sizeof(reason), hint, sizeof(hint)), 1);
	CHECK_INT(policy_check_name(p, "::1", 8080, reason, sizeof(reason),
	    hint, sizeof(hint)), 1);
	if (some_own_v4(own, sizeof(own)))
		CHECK_INT(policy_check_name(p, own, 8080, reason,
		    sizeof(reason), hint, sizeof(hint)), 1);
	CHECK_INT(policy_check_name(p, "127.0.0.1", 8081, reason,
	    sizeof(reason), hint, sizeof(hint)), 0);
	CHECK_INT(policy_check_name(p, "8.8.8.8", 8080, reason,
	    sizeof(reason), hint, sizeof(hint)), 0);
	CHECK_STR(reason, "not in network.allow");
	CHECK_INT(policy_check_name(p, "db.example.com", 8080, reason,
	    sizeof(reason), hint, sizeof(hint)), 0);
	CHECK_INT(policy_check_name(p, "10.1.2.3", 8080, reason,
	    sizeof(reason), hint, sizeof(hint)), 0);
	policy_free(p);
}

static void
test_listener(void)
{
	struct proxy_opts	 o;
	struct policy		*p;
	const int		 ports[] = { 3128 };
	struct sockaddr_in	 l;
	char			 own[INET_ADDRSTRLEN];

	memset(&o, 0, sizeof(o));
	o.host_ports = ports;
	o.nhost_ports = 1;
	p = mkpol(&o);
	memset(&l, 0, sizeof(l));
	l.sin_family = AF_INET;
	l.sin_port = htons(3128);
	inet_pton(AF_INET, "127.0.0.1", &l.sin_addr);
	policy_set_listener(p, (struct sockaddr *)&l, sizeof(l));
	/* never the proxy itself, even on a network.host port */
	CHECK_INT(addr_ok(p, "localhost", "127.0.0.1", 3128), 0);
	CHECK_STR(reason, "the proxy's own listener 127.0.0.1:3128");
	CHECK_STR(hint, "");
	CHECK_INT(addr_ok(p, "localhost", "::ffff:127.0.0.1", 3128), 0);
	CHECK_INT(addr_ok(p, "localhost", "127.0.0.2", 3128), 1);

	/* listening on 0.0.0.0: every own address on that port loops */
	inet_pton(AF_INET, "0.0.0.0", &l.sin_addr);
	policy_set_listener(p, (struct sockaddr *)&l, sizeof(l));
	CHECK_INT(addr_ok(p, "localhost", "127.0.0.2", 3128), 0);
	CHECK_STR(reason, "the proxy's own listener 127.0.0.2:3128");
	CHECK_INT(addr_ok(p, "localhost", "::1", 3128), 0);
	CHECK_STR(reason, "the proxy's own listener [::1]:3128");
	if (some_own_v4(own, sizeof(own)))
		CHECK_INT(addr_ok(p, "me", own, 3128), 0);

	/* the listener's address counts as this host's */
	inet_pton(AF_INET, "9.9.9.9", &l.sin_addr);
	policy_set_listener(p, (struct sockaddr *)&l, sizeof(l));
	CHECK_INT(policy_classify(p, sa("9.9.9.9", 443)), IPCLASS_HOST);
	CHECK_INT(addr_ok(p, "x.example", "9.9.9.9", 443), 0);
	CHECK_STR(reason, "host's own address 9.9.9.9 (this host)");
	policy_free(p);
}

static void
test_resolve(void)
{
	struct proxy_opts	 o;
	struct policy		*p;
	struct proxy_resolve	 r[2];
	struct sockaddr_storage	 ss;
	socklen_t		 len = 0;
	char			 err[256], buf[64];

	memset(r, 0, sizeof(r));
	snprintf(r[0].host, sizeof(r[0].host), "local.test");
	r[0].port = 9000;
	snprintf(r[0].addr, sizeof(r[0].addr), "127.0.0.1");
	snprintf(r[1].host, sizeof(r[1].host), "v6.test");
	r[1].port = 443;
	snprintf(r[1].addr, sizeof(r[1].addr), "::1");
	memset(&o, 0, sizeof(o));
	o.resolve = r;
	o.nresolve = 2;
	p = mkpol(&o);
	CHECK_INT(policy_resolve_override(p, "local.test", 9000, &ss, &len),
	    1);
	CHECK_INT(len, sizeof(struct sockaddr_in));
	CHECK_INT(ss.ss_family, AF_INET);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9000);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf,
	    sizeof(buf));
	CHECK_STR(buf, "127.0.0.1");
	CHECK_INT(policy_check_addr(p, "local.test", 9000,
	    (struct sockaddr *)&ss, reason, sizeof(reason), hint,
	    sizeof(hint)), 1);
	CHECK_INT(policy_resolve_override(p, "local.test", 9001, &ss, &len),
	    0);
	CHECK_INT(policy_resolve_override(p, "other.test", 9000, &ss, &len),
	    0);
	CHECK_INT(policy_resolve_override(p, "v6.test", 443, &ss, &len), 1);
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	/* the exception covers that host, port and address only */
	CHECK_INT(addr_ok(p, "local.test", "127.0.0.2", 9000), 0);
	CHECK_INT(addr_ok(p, "local.test", "127.0.0.1", 9001), 0);
	CHECK_INT(addr_ok(p, "other.test", "127.0.0.1", 9000), 0);
	CHECK_INT(addr_ok(p, "v6.test", "::1", 443), 1);
	policy_free(p);

	snprintf(r[1].addr, sizeof(r[1].addr), "localhost");
	CHECK(policy_new(&o, err, sizeof(err)) == NULL);
	CHECK_STR(err, "--resolve v6.test:443:localhost: \"localhost\" is not "
	    "a numeric IPv4 or IPv6 address");
}

/*
 * An address this host gains after the policy was built (a new IPv6
 * privacy address, a DHCP change, a VPN) is still this host's own: in a
 * network namespace of the test's own, 1.2.3.4 and 2001:4860::77 are put
 * on lo after policy_new().
 */
static void
test_own_addr_added_later(void)
{
	struct proxy_opts	 o;
	pid_t			 pid;
	int			 st = -1;

	pid = fork();
	if (pid == 0) {
		struct policy	*p;
		int		 bad = 0;

		if (unshare(CLONE_NEWNET) == -1 ||
		    system("ip link set lo up") != 0)
			_exit(77);
		memset(&o, 0, sizeof(o));
		p = mkpol(&o);
		if (addr_ok(p, "me.example", "1.2.3.4", 443) != 1)
			bad |= 1;
		if (system("ip addr add 1.2.3.4/32 dev lo") != 0)
			_exit(77);
		if (addr_ok(p, "me.example", "1.2.3.4", 443) != 0 ||
		    strcmp(reason, "host's own address 1.2.3.4 (this host)") !=
		    0)
			bad |= 2;
		if (addr_ok(p, "me.example", "::ffff:1.2.3.4", 443) != 0)
			bad |= 4;
		if (addr_ok(p, "me.example", "1.2.3.5", 443) != 1)
			bad |= 8;
		if (system("ip -6 addr add 2001:4860::77/128 dev lo nodad "
		    "2>/dev/null") == 0) {
			if (addr_ok(p, "me.example", "2001:4860::77", 443) != 0)
				bad |= 16;
			if (addr_ok(p, "me.example", "2001:4860::78", 443) != 1)
				bad |= 32;
		}
		policy_free(p);
		_exit(bad);
	}
	CHECK(pid > 0);
	if (pid > 0)
		waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("  (skipped: no network namespace here)\n");
		return;
	}
	CHECK_INT(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}

int
main(void)
{
	RUN(test_classes);
	RUN(test_messages);
	RUN(test_strict_names);
	RUN(test_allow_exceptions);
	RUN(test_host_ports);
	RUN(test_listener);
	RUN(test_resolve);
	RUN(test_own_addr_added_later);
	return harness_done();
}
