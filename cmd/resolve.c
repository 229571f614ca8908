/* --resolve HOST:PORT:ADDR, shared by moat run and moat proxy. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "proxy.h"
#include "util.h"

/*
 * --resolve HOST:PORT:ADDR as curl takes it; ADDR may be an IPv6 literal,
 * with or without brackets.  0 or -1 (err filled).
 */
int
cmd_parse_resolve(const char *s, struct proxy_resolve *res, char *err,
    size_t errlen)
{
	const char		*c1, *c2, *addr;
	char			 port[8], a[64];
	unsigned char		 buf[sizeof(struct in6_addr)];
	size_t			 alen;
	char			*end;
	long			 p;

	memset(res, 0, sizeof(*res));
	if ((c1 = strchr(s, ':')) == NULL ||
	    (c2 = strchr(c1 + 1, ':')) == NULL)
		goto bad;
	if (host_normalize(s, (size_t)(c1 - s), res->host,
	    sizeof(res->host)) == -1 || (size_t)(c2 - c1 - 1) >= sizeof(port))
		goto bad;
	memcpy(port, c1 + 1, (size_t)(c2 - c1 - 1));
	port[c2 - c1 - 1] = '\0';
	errno = 0;
	p = strtol(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || *end != '\0' || p < 1 ||
	    p > 65535)
		goto bad;
	res->port = (int)p;
	addr = c2 + 1;
	alen = strlen(addr);
	if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']') {
		addr++;
		alen -= 2;
	}
	if (alen == 0 || alen >= sizeof(a))
		goto bad;
	memcpy(a, addr, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, buf) != 1 && inet_pton(AF_INET6, a, buf) != 1)
		goto bad;
	snprintf(res->addr, sizeof(res->addr), "%s", a);
	return 0;
 bad:
	util_errf(err, errlen, "--resolve \"%s\": expected HOST:PORT:ADDR "
	    "with a numeric address, e.g. api.example.com:443:127.0.0.1", s);
	return -1;
}
