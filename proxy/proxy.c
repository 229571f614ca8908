/*
 * proxy: the listener, accepting, limits, graceful stop and the public
 * API.  Connections live in conn.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <sodium.h>

#include "policy.h"
#include "proxy_int.h"

void
proxy_limits_default(struct proxy_limits *l)
{
	l->header_bytes = 64 * 1024;
	l->header_count = 100;
	l->uri_bytes = 8 * 1024;
	l->header_timeout_ms = 30 * 1000;
	l->idle_timeout_ms = 60 * 1000;
	l->connect_timeout_ms = 10 * 1000;
	l->upstream_timeout_ms = 60 * 1000;
	l->tunnel_idle_timeout_ms = 10 * 60 * 1000;
	l->max_connections = 4096;
	l->grace_ms = 3000;
}

void
proxy_token_hex(const unsigned char *tok, char *out)
{
	sodium_bin2hex(out, 2 * PROXY_TOKEN_LEN + 1, tok, PROXY_TOKEN_LEN);
}

/* px->token_b64: the Basic credential clients send, encoded once. */
static int
token_b64_new(struct proxy *px, char *err, size_t errlen)
{
	char	*plain;
	size_t	 plen = 5 + 2 * PROXY_TOKEN_LEN;
	size_t	 blen = sodium_base64_ENCODED_LEN(plen,
		    sodium_base64_VARIANT_ORIGINAL);

	if ((plain = sodium_malloc(plen + 1)) == NULL ||
	    (px->token_b64 = sodium_malloc(blen)) == NULL) {
		if (plain != NULL)
			sodium_free(plain);
		util_errf(err, errlen, "out of secure memory");
		return -1;
	}
	memcpy(plain, "moat:", 5);
	proxy_token_hex(px->token, plain + 5);
	sodium_bin2base64(px->token_b64, blen, (unsigned char *)plain, plen,
	    sodium_base64_VARIANT_ORIGINAL);
	px->token_b64len = strlen(px->token_b64);
	sodium_free(plain);
	sodium_mprotect_readonly(px->token_b64);
	return 0;
}

static void
fill_limits(struct proxy_limits *dst, const struct proxy_limits *src)
{
	struct proxy_limits d;

	proxy_limits_default(&d);
	*dst = *src;
#define DEF(f) if (dst->f <= 0) dst->f = d.f
	DEF(header_bytes);
	DEF(header_count);
	DEF(uri_bytes);
	DEF(header_timeout_ms);
	DEF(idle_timeout_ms);
	DEF(connect_timeout_ms);
	DEF(upstream_timeout_ms);
	DEF(tunnel_idle_timeout_ms);
	DEF(max_connections);
	DEF(grace_ms);
#undef DEF
}

/* Beyond max_connections: answer 503 without reading, then close. */
static void
refuse_busy(int fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 43\r\n"
	    "Connection: close\r\n\r\n"
	    "moat: too many connections, try again later\n";

	(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct proxy *px = arg;

	(void)lev;
	if (px->stopping) {
		close(fd);
		return;
	}
	if (px->nconns >= px->lim.max_connections) {
		log_debug("proxy: connection limit %d reached",
		    px->lim.max_connections);
		refuse_busy(fd);
		return;
	}
	conn_accept(px, fd, sa, (socklen_t)salen);
}

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	(void)lev;
	(void)arg;
	/* EMFILE and friends: keep going, the next accept may succeed */
	log_warnx("proxy: accept: %s", evutil_socket_error_to_string(e));
}

static int
listen_on(struct proxy *px, const char *addr, int port, int freebind,
    char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	int			 fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		util_errf(err, errlen, "cannot listen on %s:%d: not a numeric "
		    "address", addr, port);
		return -1;
	}
	/*
	 * As evconnlistener_new_bind() would (SO_REUSEADDR, non-blocking,
	 * close-on-exec), plus IP_FREEBIND when asked for.
	 */
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 || setsockopt(fd, SOL_SOCKET,
	    SO_REUSEADDR, &one, sizeof(one)) == -1 || (freebind &&
	    setsockopt(fd, ss.ss_family == AF_INET ? IPPROTO_IP :
	    IPPROTO_IPV6, ss.ss_family == AF_INET ? IP_FREEBIND :
	    IPV6_FREEBIND, &one, sizeof(one)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, 511) == -1 ||
	    (px->lev = evconnlistener_new(px->base, accept_cb, px,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd)) == NULL) {
		util_errf(err, errlen, "cannot listen on %s:%d: %s", addr,
		    port, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(px->lev, accept_error_cb);
	sl = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(px->lev),
	    (struct sockaddr *)&ss, &sl) == -1) {
		util_errf(err, errlen, "getsockname: %s", strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, px->addr, sizeof(px->addr));
		px->port = ntohs(s4->sin_port);
	} else {
		inet_ntop(AF_INET6, &s6->sin6_addr, px->addr,
		    sizeof(px->addr));
		px->port = ntohs(s6->sin6_port);
	}
	policy_set_listener(px->pol, (struct sockaddr *)&ss, sl);
	return 0;
}

static int
dns_init(struct proxy *px, char *err, size_t errlen)
{
	char tmo[32];

	px->dns = evdns_base_new(px->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (px->dns == NULL)	/* no resolv.conf: hosts file only */
		px->dns = evdns_base_new(px->base,
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (px->dns == NULL) {
		util_errf(err, errlen, "cannot start the DNS resolver");
		return -1;
	}
	snprintf(tmo, sizeof(tmo), "%d", px->lim.connect_timeout_ms / 2000 > 0 ?
	    px->lim.connect_timeout_ms / 2000 : 1);
	evdns_base_set_option(px->dns, "timeout:", tmo);
	evdns_base_set_option(px->dns, "attempts:", "2");
	evdns_base_set_option(px->dns, "randomize-case:", "0");
	return 0;
}

struct proxy *
proxy_new(struct event_base *base, const struct proxy_opts *o, char *err,
    size_t errlen)
{
	struct proxy *px;

	if (sodium_init() < 0) {
		util_errf(err, errlen, "libsodium failed to initialise");
		return NULL;
	}
	px = xcalloc(1, sizeof(*px));
	px->base = base;
	px->logfd = -1;
	TAILQ_INIT(&px->conns);
	fill_limits(&px->lim, &o->limits);
	px->run_id = xstrdup(o->run_id ? o->run_id : "");
	px->config_path = o->config_path ? xstrdup(o->config_path) : NULL;
	px->ca = o->ca;
	if ((px->token = sodium_malloc(PROXY_TOKEN_LEN)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		goto fail;
	}
	memcpy(px->token, o->token, PROXY_TOKEN_LEN);
	sodium_mprotect_readonly(px->token);
	if (token_b64_new(px, err, errlen) == -1)
		goto fail;
	if ((px->pol = policy_new(o, err, errlen)) == NULL)
		goto fail;
	if (inject_init(px, o, err, errlen) == -1)
		goto fail;
	if (tls_init(px, o->upstream_ca, err, errlen) == -1)
		goto fail;
	if (dns_init(px, err, errlen) == -1)
		goto fail;
	if (o->log_path != NULL && plog_open(px, o->log_path, err,
	    errlen) == -1)
		goto fail;
	if (listen_on(px, o->listen_addr ? o->listen_addr : "127.0.0.1",
	    o->listen_port, o->listen_freebind, err, errlen) == -1)
		goto fail;
	return px;
 fail:
	proxy_free(px);
	return NULL;
}

int
proxy_port(const struct proxy *px)
{
	return px->port;
}

const char *
proxy_addr(const struct proxy *px)
{
	return px->addr;
}

static void
done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proxy *px = arg;

	(void)fd;
	(void)ev;
	if (px->done != NULL) {
		void (*done)(void *) = px->done;

		px->done = NULL;
		done(px->done_arg);
	}
}

void
proxy_conn_gone(struct proxy *px)
{
	if (px->stopping && px->nconns == 0 && px->done_ev != NULL)
		event_active(px->done_ev, 0, 0);
}

static void
grace_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proxy	*px = arg;
	struct conn	*c;

	(void)fd;
	(void)ev;
	while ((c = TAILQ_FIRST(&px->conns)) != NULL)
		conn_close(c, "proxy stopping");
	proxy_conn_gone(px);
}

void
proxy_shutdown(struct proxy *px, void (*done)(void *), void *arg)
{
	struct conn		*c, *tmp;
	struct timeval		 tv;

	if (px->stopping)
		return;
	px->stopping = 1;
	px->done = done;
	px->done_arg = arg;
	if (px->lev != NULL)
		evconnlistener_disable(px->lev);
	px->done_ev = event_new(px->base, -1, 0, done_cb, px);
	px->grace_ev = evtimer_new(px->base, grace_cb, px);
	tv.tv_sec = px->lim.grace_ms / 1000;
	tv.tv_usec = (px->lim.grace_ms % 1000) * 1000;
	evtimer_add(px->grace_ev, &tv);
	for (c = TAILQ_FIRST(&px->conns); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, entry);
		conn_close_idle(c);
	}
	proxy_conn_gone(px);
}

void
proxy_free(struct proxy *px)
{
	struct conn *c;
	size_t i;

	if (px == NULL)
		return;
	while ((c = TAILQ_FIRST(&px->conns)) != NULL)
		conn_close(c, "proxy freed");
	if (px->lev != NULL)
		evconnlistener_free(px->lev);
	if (px->grace_ev != NULL)
		event_free(px->grace_ev);
	if (px->done_ev != NULL)
		event_free(px->done_ev);
	if (px->dns != NULL)
		evdns_base_free(px->dns, 0);
	tls_free(px);
	inject_free(px);
	policy_free(px->pol);
	if (px->logfd != -1)
		close(px->logfd);
	if (px->token != NULL)
		sodium_free(px->token);
	if (px->token_b64 != NULL)
		sodium_free(px->token_b64);
	free(px->run_id);
	free(px->config_path);
	(void)i;
	free(px);
}
