/*
 * libFuzzer driver for destination identity: host_normalize,
 * host_ip_family, authority_parse, hostpat_parse/hostpat_match (util) and
 * policy_classify (proxy/policy).  Input: two port bytes, then
 * "<pattern>\n<host or authority>".  Invariants (abort on violation):
 *   - host_normalize is idempotent and its output only holds [a-z0-9-_.:]
 *     (':' for IPv6 literals), at most 253 bytes;
 *   - host_ip_family agrees with a strict inet_pton re-parse of the
 *     normalised text, and an IPv6 literal is in canonical inet_ntop form;
 *   - the class policy_classify gives an IPv4 address is the class of its
 *     IPv4-mapped, NAT64 and 6to4 forms; loopback, RFC 1918, link-local,
 *     CGNAT, 0/8, multicast/reserved, ::1, ::, fe80::/10, fc00::/7 and
 *     ff00::/8 are never "public";
 *   - authority_parse yields a normalised host and a port 1..65535, and
 *     the re-formatted authority parses back to the same pair;
 *   - a parsed pattern formats back to itself; a wildcard never matches
 *     its apex; an exact pattern matches only its own host; a pattern
 *     without a port matches only 80 and 443.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FAIL(what)	fail(what, __LINE__)

static void
fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_authority: invariant violated at line %d: %s\n",
	    line, what);
	abort();
}

static struct policy *
get_policy(void)
{
	static struct policy	*pol;
	struct proxy_opts	 o;
	char			 err[256];

	if (pol == NULL) {
		memset(&o, 0, sizeof(o));
		if ((pol = policy_new(&o, err, sizeof(err))) == NULL)
			FAIL(err);
	}
	return pol;
}

static enum policy_ipclass
class4(const unsigned char a[4])
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	memcpy(&s.sin_addr, a, 4);
	return policy_classify(get_policy(), (struct sockaddr *)&s);
}

static enum policy_ipclass
class6(const unsigned char a[16])
{
	struct sockaddr_in6 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	memcpy(&s.sin6_addr, a, 16);
	return policy_classify(get_policy(), (struct sockaddr *)&s);
}

/* Ranges that must never be "public", from the RFCs, not from policy.c. */
static int
v4_special(const unsigned char a[4])
{
	return a[0] == 127 || a[0] == 10 || a[0] == 0 ||
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	    (a[0] == 192 && a[1] == 168) ||
	    (a[0] == 169 && a[1] == 254) ||
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||
	    a[0] >= 224;
}

static void
check_v4(const unsigned char a[4])
{
	unsigned char		 m[16];
	enum policy_ipclass	 c = class4(a);

	if (v4_special(a) && c == IPCLASS_PUBLIC)
		FAIL("special-use IPv4 address classified public");
	/* ::ffff:a.b.c.d */
	memset(m, 0, sizeof(m));
	m[10] = m[11] = 0xff;
	memcpy(m + 12, a, 4);
	if (class6(m) != c)
		FAIL("IPv4-mapped form classified differently");
	/* 64:ff9b::a.b.c.d */
	memset(m, 0, sizeof(m));
	m[1] = 0x64;
	m[2] = 0xff;
	m[3] = 0x9b;
	memcpy(m + 12, a, 4);
	if (class6(m) != c)
		FAIL("NAT64 form classified differently");
	/* 2002:aabb:ccdd:: */
	memset(m, 0, sizeof(m));
	m[0] = 0x20;
	m[1] = 0x02;
	memcpy(m + 2, a, 4);
	if (class6(m) != c)
		FAIL("6to4 form classified differently");
}

static void
check_v6(const unsigned char a[16])
{
	static const unsigned char zero[16];
	enum policy_ipclass c = class6(a);

	if (c != IPCLASS_PUBLIC)
		return;
	if (memcmp(a, zero, 15) == 0 && a[15] <= 1)
		FAIL(":: or ::1 classified public");
	if (a[0] == 0xff || (a[0] & 0xfe) == 0xfc ||
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		FAIL("multicast, ULA or link-local IPv6 classified public");
	if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff &&
	    v4_special(a + 12))
		FAIL("IPv4-mapped special address classified public");
}

/* host is normalised; checks the family against a strict re-parse. */
static void
check_ip(const char *host)
{
	unsigned char	a[16];
	char		back[INET6_ADDRSTRLEN];
	int		fam = host_ip_family(host), v4, v6;

	v4 = inet_pton(AF_INET, host, a) == 1;
	if (v4) {
		if (fam != 4)
			FAIL("inet_pton IPv4 not classified as IPv4");
		check_v4(a);
	}
	v6 = inet_pton(AF_INET6, host, a) == 1;
	if (v6) {
		if (fam != 6)
			FAIL("inet_pton IPv6 not classified as IPv6");
		if (inet_ntop(AF_INET6, a, back, sizeof(back)) == NULL ||
		    strcmp(back, host) != 0)
			FAIL("IPv6 literal not in canonical form");
		check_v6(a);
	}
	if (!v4 && !v6 && fam != 0)
		FAIL("name classified as an IP literal");
}

static void
check_normalize(const char *in, size_t len)
{
	char		 out[HOST_MAX + 1], out2[HOST_MAX + 1];
	const char	*p;

	if (host_normalize(in, len, out, sizeof(out)) == -1)
		return;
	if (out[0] == '\0' || strlen(out) > 253)
		FAIL("normalised host empty or longer than 253");
	for (p = out; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == ':'))
			FAIL("normalised host holds a byte outside "
			    "[a-z0-9-_.:]");
	if (strchr(out, ':') != NULL && host_ip_family(out) != 6)
		FAIL("':' in a normalised name that is not IPv6");
	if (host_normalize(out, strlen(out), out2, sizeof(out2)) == -1 ||
	    strcmp(out, out2) != 0)
		FAIL("host_normalize not idempotent");
	check_ip(out);
}

static void
check_authority(const char *in, size_t len)
{
	char	host[HOST_MAX + 1], host2[HOST_MAX + 1], norm[HOST_MAX + 1];
	char	buf[HOST_MAX + 16];
	int	port, port2;

	if (authority_parse(in, len, 0, 443, host, sizeof(host), &port) == -1)
		return;
	if (port < 1 || port > 65535)
		FAIL("authority port out of range");
	if (host_normalize(host, strlen(host), norm, sizeof(norm)) == -1 ||
	    strcmp(host, norm) != 0)
		FAIL("authority host not normalised");
	snprintf(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	if (authority_parse(buf, strlen(buf), 1, 0, host2, sizeof(host2),
	    &port2) == -1 || strcmp(host, host2) != 0 || port != port2)
		FAIL("re-formatted authority does not parse back");
	check_ip(host);
}

static void
check_pattern(const char *pat, const char *hostin, size_t hostlen, int port)
{
	struct hostpat	p, p2;
	char		err[256], fmt[HOST_MAX + 32], host[HOST_MAX + 1];
	size_t		hl, pl;

	if (hostpat_parse(pat, &p, err, sizeof(err)) == -1)
		return;
	hostpat_format(&p, fmt, sizeof(fmt));
	if (hostpat_parse(fmt, &p2, err, sizeof(err)) == -1 ||
	    strcmp(p.host, p2.host) != 0 || p.wildcard != p2.wildcard ||
	    p.port != p2.port)
		FAIL("formatted pattern does not parse back to itself");
	if (p.wildcard && (hostpat_match(&p, p.host, 443) ||
	    hostpat_match(&p, p.host, 80) || (p.port != 0 &&
	    hostpat_match(&p, p.host, p.port))))
		FAIL("wildcard pattern matches its apex");
	if (host_normalize(hostin, hostlen, host, sizeof(host)) == -1)
		return;
	if (!hostpat_match(&p, host, port))
		return;
	if (p.port == 0 ? (port != 80 && port != 443) : port != p.port)
		FAIL("pattern matched a port it does not name");
	hl = strlen(host);
	pl = strlen(p.host);
	if (p.wildcard) {
		if (hl <= pl + 1 || host[hl - pl - 1] != '.' ||
		    strcmp(host + hl - pl, p.host) != 0)
			FAIL("wildcard matched a host outside its domain");
	} else if (strcmp(host, p.host) != 0)
		FAIL("exact pattern matched another host");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*buf, *nl;
	const char	*host;
	size_t		 hostlen;
	int		 port;

	if (size < 2 || size > 4096)
		return 0;
	port = (data[0] << 8 | data[1]) % 65536;
	buf = malloc(size - 1);
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	if ((nl = memchr(buf, '\n', size - 2)) != NULL) {
		*nl = '\0';
		host = nl + 1;
		hostlen = size - 2 - (size_t)(host - buf);
	} else {
		host = buf;
		hostlen = size - 2;
	}
	check_normalize(host, hostlen);
	check_authority(host, hostlen);
	if (nl != NULL) {
		check_normalize(buf, strlen(buf));
		check_pattern(buf, host, hostlen, port);
	}
	free(buf);
	return 0;
}
