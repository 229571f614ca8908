/*
 * Host names, authorities and host patterns.  One strict normalisation,
 * shared by the config loader, the credential store and the proxy, so that
 * the name a policy was written for is the name that gets matched.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int
all_numeric_label(const char *l, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return 0;
	if (n > 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
		for (i = 2; i < n; i++)
			if (!isxdigit((unsigned char)l[i]))
				return 0;
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)l[i]))
			return 0;
	return 1;
}

int
host_normalize(const char *in, size_t inlen, char *out, size_t outlen)
{
	char		 tmp[HOST_MAX + 2];
	unsigned char	 a6[16];
	struct in_addr	 a4;
	size_t		 i, lab = 0;
	const char	*last;

	/* tmp holds inlen bytes and a NUL */
	if (inlen == 0 || inlen > sizeof(tmp) - 1)
		return -1;
	if (in[0] == '[') {
		if (inlen < 3 || in[inlen - 1] != ']')
			return -1;
		memcpy(tmp, in + 1, inlen - 2);
		tmp[inlen - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, a6) != 1)
			return -1;
		return inet_ntop(AF_INET6, a6, out, (socklen_t)outlen) ? 0 : -1;
	}
	memcpy(tmp, in, inlen);
	tmp[inlen] = '\0';
	if (memchr(in, '\0', inlen) != NULL)
		return -1;
	if (strchr(tmp, ':') != NULL) {
		if (inet_pton(AF_INET6, tmp, a6) != 1)
			return -1;
		return inet_ntop(AF_INET6, a6, out, (socklen_t)outlen) ? 0 : -1;
	}
	if (tmp[inlen - 1] == '.')
		tmp[--inlen] = '\0';
	if (inlen == 0 || inlen > 253 || inlen + 1 > outlen)
		return -1;
	if (inet_pton(AF_INET, tmp, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) ? 0 : -1;
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)tmp[i];
		if (c == '.') {
			if (lab == 0)
				return -1;
			lab = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c == '_') || c >= 0x80)
			return -1;
		if (++lab > 63)
			return -1;
		tmp[i] = (char)tolower(c);
	}
	if (lab == 0)
		return -1;
	/* "127.1", "0x7f.1", "2130706433": resolvers read these as IPv4. */
	last = strrchr(tmp, '.');
	last = last ? last + 1 : tmp;
	if (all_numeric_label(last, strlen(last)))
		return -1;
	memcpy(out, tmp, inlen + 1);
	return 0;
}

int
host_ip_family(const char *host)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, host, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, a) == 1)
		return 6;
	return 0;
}

static int
parse_port(const char *s, size_t n, int *port)
{
	size_t	i;
	long	v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int
authority_parse(const char *s, size_t len, int need_port, int default_port,
    char *host, size_t hostlen, int *port)
{
	const char	*hend, *colon = NULL;
	size_t		 i;

	if (len == 0)
		return -1;
	if (s[0] == '[') {
		if ((hend = memchr(s, ']', len)) == NULL)
			return -1;
		hend++;
		if (hend < s + len) {
			if (*hend != ':')
				return -1;
			colon = hend;
		}
	} else {
		for (i = 0; i < len; i++)
			if (s[i] == ':') {
				if (colon != NULL)
					return -1;
				colon = s + i;
			}
		hend = colon ? colon : s + len;
	}
	if (colon != NULL) {
		if (parse_port(colon + 1, (size_t)(s + len - colon - 1),
		    port) == -1)
			return -1;
	} else {
		if (need_port)
			return -1;
		*port = default_port;
	}
	return host_normalize(s, (size_t)(hend - s), host, hostlen);
}

int
hostpat_parse(const char *s, struct hostpat *p, char *err, size_t errlen)
{
	const char	*h = s;
	size_t		 i, len;

	memset(p, 0, sizeof(*p));
	if (s == NULL || *s == '\0') {
		util_errf(err, errlen, "empty host pattern");
		return -1;
	}
	if (strstr(s, "://") != NULL) {
		util_errf(err, errlen, "host pattern \"%s\" must not contain "
		    "a scheme (write just the host, e.g. api.example.com)", s);
		return -1;
	}
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '/') {
			util_errf(err, errlen, "host pattern \"%s\" must not "
			    "contain a path", s);
			return -1;
		}
		if (c == '@') {
			util_errf(err, errlen, "host pattern \"%s\" must not "
			    "contain '@'", s);
			return -1;
		}
		if (isspace(c) || c < 0x20 || c == 0x7f) {
			util_errf(err, errlen, "host pattern \"%s\" must not "
			    "contain whitespace or control characters", s);
			return -1;
		}
		if (c == '*' && !(i == 0 && s[1] == '.')) {
			util_errf(err, errlen, "host pattern \"%s\": '*' is "
			    "only allowed as a leading \"*.\"", s);
			return -1;
		}
	}
	if (s[0] == '*') {
		p->wildcard = 1;
		h = s + 2;
	}
	len = strlen(h);
	if (authority_parse(h, len, 0, 0, p->host, sizeof(p->host),
	    &p->port) == -1) {
		util_errf(err, errlen, "host pattern \"%s\" is not a valid "
		    "host name or address with an optional :port", s);
		return -1;
	}
	if (p->wildcard && host_ip_family(p->host) != 0) {
		util_errf(err, errlen, "host pattern \"%s\": a wildcard "
		    "cannot apply to an IP address", s);
		return -1;
	}
	return 0;
}

int
hostpat_match(const struct hostpat *p, const char *host, int port)
{
	size_t hl, pl;

	if (p->port != 0 ? port != p->port : (port != 80 && port != 443))
		return 0;
	if (!p->wildcard)
		return strcmp(p->host, host) == 0;
	hl = strlen(host);
	pl = strlen(p->host);
	return hl > pl + 1 && host[hl - pl - 1] == '.' &&
	    strcmp(host + hl - pl, p->host) == 0;
}

void
hostpat_format(const struct hostpat *p, char *buf, size_t len)
{
	int v6 = host_ip_family(p->host) == 6;

	if (p->port)
		snprintf(buf, len, "%s%s%s%s:%d", p->wildcard ? "*." : "",
		    v6 ? "[" : "", p->host, v6 ? "]" : "", p->port);
	else
		snprintf(buf, len, "%s%s%s%s", p->wildcard ? "*." : "",
		    v6 ? "[" : "", p->host, v6 ? "]" : "");
}
