/*
 * proxy/upstream: from a destination identity to a connected socket.
 * --resolve overrides and IP literals need no lookup; names are resolved
 * asynchronously (evdns), every address is checked with the policy, and
 * only checked addresses are dialled, never looked up again.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "policy.h"
#include "proxy_int.h"

static int	connect_next(struct conn *c);

static void
deny(struct conn *c, const char *host, int port, const char *reason,
    const char *hint)
{
	char hdr[200], msg[768];

	snprintf(hdr, sizeof(hdr), "X-Moat-Blocked: %s\r\n", reason);
	util_errf(msg, sizeof(msg), "blocked %s:%d (%s): %s", host, port,
	    reason, hint);
	conn_upstream_failed(c, 403, hdr, msg);
}

/* Keeps the addresses of ai that pass the policy.  -1: denied (closed). */
static int
check_addrs(struct conn *c, struct dest *d, struct evutil_addrinfo *ai)
{
	char	reason[128] = "", hint[512] = "";
	char	r1[128] = "", h1[512] = "";

	d->naddrs = 0;
	for (; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (!policy_check_addr(c->px->pol, d->host, d->port,
		    ai->ai_addr, reason, sizeof(reason), hint,
		    sizeof(hint))) {
			if (r1[0] == '\0') {
				snprintf(r1, sizeof(r1), "%s", reason);
				snprintf(h1, sizeof(h1), "%s", hint);
			}
			continue;
		}
		if (d->naddrs < PROXY_MAX_ADDRS) {
			memcpy(&d->addrs[d->naddrs], ai->ai_addr,
			    ai->ai_addrlen);
			d->addrlens[d->naddrs] = (socklen_t)ai->ai_addrlen;
			d->naddrs++;
		}
	}
	if (d->naddrs == 0) {
		deny(c, d->host, d->port, r1[0] ? r1 : "no usable address",
		    h1[0] ? h1 : "the name has no IPv4 or IPv6 address");
		return -1;
	}
	d->checked = 1;
	d->next = 0;
	return 0;
}

static int
dns_process(struct conn *c, int err, struct evutil_addrinfo *ai)
{
	struct dest	*d = &c->dest;
	char		 msg[512];
	int		 r;

	c->dnsreq = NULL;
	if (err != 0) {
		util_errf(msg, sizeof(msg), "cannot resolve %s: %s", d->host,
		    evutil_gai_strerror(err));
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		conn_upstream_failed(c, 502, NULL, msg);
		return -1;
	}
	r = check_addrs(c, d, ai);
	evutil_freeaddrinfo(ai);
	if (r == -1)
		return -1;
	return connect_next(c);
}

static void
dns_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct conn *c = arg;

	if (err == EVUTIL_EAI_CANCEL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	if (c->dns_in_call) {
		/* answered before evdns_getaddrinfo() returned */
		c->dns_done = 1;
		c->dns_err = err;
		c->dns_ai = ai;
		return;
	}
	(void)dns_process(c, err, ai);
}

void
upstream_cancel(struct conn *c)
{
	if (c->dnsreq != NULL) {
		struct evdns_getaddrinfo_request *r = c->dnsreq;

		c->dnsreq = NULL;
		evdns_getaddrinfo_cancel(r);
	}
}

static void
connect_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->dest.tls) {
			(void)tls_upstream(c);
			return;
		}
		conn_upstream_ready(c);
		return;
	}
	util_errf(c->up_fail, sizeof(c->up_fail), "cannot connect to %s:%d: "
	    "%s", c->dest.host, c->dest.port, e ? strerror(e) :
	    "connection failed");
	conn_free_upstream(c);
	(void)connect_next(c);
}

/* Dials the next checked address; when none is left, 502. */
static int
connect_next(struct conn *c)
{
	struct dest	*d = &c->dest;
	struct bufferevent *bev;
	int		 fd, one = 1, i;

	while ((i = d->next) < d->naddrs) {
		d->next++;
		fd = socket(d->addrs[i].ss_family, SOCK_STREAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			util_errf(c->up_fail, sizeof(c->up_fail), "socket: %s",
			    strerror(errno));
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if ((bev = bufferevent_socket_new(c->px->base, fd, 0)) ==
		    NULL) {
			close(fd);
			continue;
		}
		c->ubev = bev;
		c->ubev_fd = fd;
		c->up = UP_CONNECTING;
		bufferevent_setcb(bev, NULL, NULL, connect_event_cb, c);
		if (bufferevent_socket_connect(bev,
		    (struct sockaddr *)&d->addrs[i], (int)d->addrlens[i]) ==
		    0)
			return 0;
		util_errf(c->up_fail, sizeof(c->up_fail), "cannot connect to "
		    "%s:%d: %s", d->host, d->port, strerror(errno));
		conn_free_upstream(c);
	}
	conn_upstream_failed(c, 502, NULL, c->up_fail[0] ? c->up_fail :
	    "no address to connect to");
	return -1;
}

int
upstream_start(struct conn *c, struct dest *d)
{
	struct evutil_addrinfo	 hints, ai;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 port[8];
	struct evdns_getaddrinfo_request *req;

	c->up_fail[0] = '\0';
	if (d->checked)
		return connect_next(c);
	memset(&ss, 0, sizeof(ss));
	memset(&ai, 0, sizeof(ai));
	if (policy_resolve_override(c->px->pol, d->host, d->port, &ss, &sl) ||
	    host_ip_family(d->host) != 0) {
		if (host_ip_family(d->host) == 4 && ss.ss_family == 0) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			inet_pton(AF_INET, d->host, &s4->sin_addr);
			sl = sizeof(*s4);
		} else if (ss.ss_family == 0) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, d->host, &s6->sin6_addr);
			sl = sizeof(*s6);
		}
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)d->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)d->port);
		ai.ai_family = ss.ss_family;
		ai.ai_addr = (struct sockaddr *)&ss;
		ai.ai_addrlen = sl;
		if (check_addrs(c, d, &ai) == -1)
			return -1;
		return connect_next(c);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%d", d->port);
	c->up = UP_RESOLVING;
	c->dns_in_call = 1;
	c->dns_done = 0;
	req = evdns_getaddrinfo(c->px->dns, d->host, port, &hints, dns_cb, c);
	c->dns_in_call = 0;
	if (c->dns_done)
		return dns_process(c, c->dns_err, c->dns_ai);
	c->dnsreq = req;
	return 0;
}
