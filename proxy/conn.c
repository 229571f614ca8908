/*
 * proxy/conn: one client connection.  Reads request heads, checks the
 * token and the target, hands the destination to upstream.c, re-serialises
 * the request from its parsed form, streams bodies both ways with
 * backpressure, relays responses in order.  Every teardown goes through
 * conn_close() with a reason.
 *
 * Convention: a function returning int returns -1 when the connection was
 * closed or is closing; the caller must not touch it afterwards.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "policy.h"
#include "proxy_int.h"

static void	cread_cb(struct bufferevent *, void *);
static void	cwrite_cb(struct bufferevent *, void *);
static void	cevent_cb(struct bufferevent *, short, void *);
static void	uread_cb(struct bufferevent *, void *);
static void	uwrite_cb(struct bufferevent *, void *);
static void	uevent_cb(struct bufferevent *, short, void *);

/* ---- chunked bodies through llhttp ---------------------------------- */

struct bodyctx {
	struct evbuffer	*out;
	uint64_t	 bytes;
	int		 chunk_open;
	int		 done;
	int		 dechunk;	/* HTTP/1.0 client: data only */
};

static int
bcb_chunk_header(llhttp_t *p)
{
	struct bodyctx *b = p->data;

	if (p->content_length > 0 && !b->dechunk) {
		evbuffer_add_printf(b->out, "%llx\r\n",
		    (unsigned long long)p->content_length);
		b->chunk_open = 1;
	}
	return 0;
}

static int
bcb_body(llhttp_t *p, const char *at, size_t len)
{
	struct bodyctx *b = p->data;

	evbuffer_add(b->out, at, len);
	b->bytes += len;
	return 0;
}

static int
bcb_chunk_complete(llhttp_t *p)
{
	struct bodyctx *b = p->data;

	if (b->chunk_open) {
		evbuffer_add(b->out, "\r\n", 2);
		b->chunk_open = 0;
	}
	return 0;
}

static int
bcb_message_complete(llhttp_t *p)
{
	struct bodyctx *b = p->data;

	/* trailers are dropped: re-serialised from the parsed form */
	if (!b->dechunk)
		evbuffer_add(b->out, "0\r\n\r\n", 5);
	b->done = 1;
	return HPE_PAUSED;
}

static const llhttp_settings_t body_settings = {
	.on_chunk_header = bcb_chunk_header,
	.on_body = bcb_body,
	.on_chunk_complete = bcb_chunk_complete,
	.on_message_complete = bcb_message_complete,
};

/*
 * Feeds chunked bytes from in to the parser p (paused after its head),
 * which writes the re-serialised chunks to out.  Returns 1 when the body
 * is complete, 0 when more is needed, -1 on a framing error (why).
 */
static int
chunked_move(llhttp_t *p, int *chunk_open, int dechunk, struct evbuffer *in,
    struct evbuffer *out, uint64_t *count, char *why, size_t wlen)
{
	struct bodyctx		b;
	struct evbuffer_iovec	v[8];
	int			n, i;
	size_t			used = 0;
	llhttp_errno_t		e = HPE_OK;

	memset(&b, 0, sizeof(b));
	b.out = out;
	b.chunk_open = *chunk_open;
	b.dechunk = dechunk;
	p->settings = (void *)&body_settings;
	p->data = &b;
	if (llhttp_get_errno(p) == HPE_PAUSED)	/* after the head */
		llhttp_resume(p);
	n = evbuffer_peek(in, -1, NULL, v, 8);
	if (n > 8)
		n = 8;
	for (i = 0; i < n && !b.done; i++) {
		const char *d = v[i].iov_base;

		e = llhttp_execute(p, d, v[i].iov_len);
		if (e == HPE_PAUSED) {
			used += (size_t)(p->error_pos - d);
			break;
		}
		if (e != HPE_OK) {
			util_errf(why, wlen, "invalid chunked body (%s)",
			    llhttp_errno_name(e));
			p->data = NULL;
			return -1;
		}
		used += v[i].iov_len;
	}
	*chunk_open = b.chunk_open;
	p->data = NULL;
	evbuffer_drain(in, used);
	*count += b.bytes;
	return b.done ? 1 : 0;
}

/* ---- timers and helpers --------------------------------------------- */

void
conn_set_timer(struct conn *c, int ms)
{
	struct timeval tv;

	if (ms <= 0) {
		evtimer_del(c->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

static struct evbuffer *
cin(struct conn *c)
{
	return bufferevent_get_input(c->cbev);
}

static struct evbuffer *
cout(struct conn *c)
{
	return bufferevent_get_output(c->cbev);
}

static void
fmt_hostport(char *buf, size_t len, const char *host, int port)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", host, port);
	else
		snprintf(buf, len, "%s:%d", host, port);
}

static void
reqlog_begin(struct conn *c)
{
	memset(&c->log, 0, sizeof(c->log));
	clock_gettime(CLOCK_REALTIME, &c->log.start);
	c->log.active = 1;
	c->log.decision = "allow";
}

void
conn_free_upstream(struct conn *c)
{
	upstream_cancel(c);
	if (c->ubev != NULL) {
		bufferevent_free(c->ubev);
		c->ubev = NULL;
	}
	if (c->ubev_fd != -1) {
		close(c->ubev_fd);
		c->ubev_fd = -1;
	}
	c->up = UP_NONE;
	c->uin_blocked = 0;
}

void
conn_close(struct conn *c, const char *reason)
{
	struct proxy *px = c->px;

	if (c->log.active && !c->log.logged) {
		if (c->log.error[0] == '\0')
			util_errf(c->log.error, sizeof(c->log.error), "%s",
			    reason);
		plog_request(c);
	}
	plog_session(c, reason);
	conn_free_upstream(c);
	if (c->peek_ev != NULL)
		event_free(c->peek_ev);
	if (c->cbev != NULL)
		bufferevent_free(c->cbev);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->head);
	free(c->req.hdrs);
	free(c->resp.hdrs);
	TAILQ_REMOVE(&px->conns, c, entry);
	px->nconns--;
	free(c);
	proxy_conn_gone(px);
}

/*
 * Everything written to the client has left: with TLS the filter's
 * output drains into the socket bufferevent's, which must drain too.
 */
static int
flushed(struct conn *c)
{
	struct bufferevent *u;

	if (evbuffer_get_length(cout(c)) != 0)
		return 0;
	u = bufferevent_get_underlying(c->cbev);
	return u == NULL || evbuffer_get_length(bufferevent_get_output(u)) ==
	    0;
}

void
conn_flush_close(struct conn *c, const char *reason)
{
	if (c->cbev == NULL || flushed(c)) {
		conn_close(c, reason);
		return;
	}
	c->closing = 1;
	util_errf(c->up_fail, sizeof(c->up_fail), "%s", reason);
	conn_free_upstream(c);
	bufferevent_disable(c->cbev, EV_READ);
	bufferevent_setwatermark(c->cbev, EV_WRITE, 0, 0);
	bufferevent_setcb(c->cbev, NULL, cwrite_cb, cevent_cb, c);
	bufferevent_enable(c->cbev, EV_WRITE);
	c->flush_polls = 0;
	conn_set_timer(c, 20);
}

void
conn_error(struct conn *c, int status, const char *extra, const char *fmt,
    ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->log.active) {
		c->log.status = status;
		if (c->log.error[0] == '\0')
			util_errf(c->log.error, sizeof(c->log.error), "%s",
			    msg);
	}
	/* A HEAD's answer has the headers a GET's would, and no body. */
	evbuffer_add_printf(cout(c), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n%s\r\n"
	    "%s%s%s", status, http_reason(status), strlen(msg) + 7,
	    extra ? extra : "", c->req_is_head ? "" : "moat: ",
	    c->req_is_head ? "" : msg, c->req_is_head ? "" : "\n");
	if (c->log.active) {
		plog_request(c);
		c->log.logged = 1;
	}
	conn_flush_close(c, msg);
}

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct conn		*c = arg;
	const struct proxy_limits *l = &c->px->lim;

	(void)fd;
	(void)ev;
	if (c->closing) {
		if (flushed(c) || ++c->flush_polls > 250)
			conn_close(c, c->up_fail);
		else
			conn_set_timer(c, 20);
		return;
	}
	switch (c->mode) {
	case MODE_CONNECTING:
		/* c->dest: tdest is only set once the tunnel is open */
		conn_error(c, 504, NULL, "connecting to %s:%d timed out after "
		    "%d ms", c->dest.host, c->dest.port, l->connect_timeout_ms);
		return;
	case MODE_PEEK:
	case MODE_HANDSHAKE:
		conn_close(c, "tunnel: client sent nothing / TLS handshake "
		    "timeout");
		return;
	case MODE_RAW:
		conn_close(c, "tunnel idle timeout");
		return;
	case MODE_HTTP:
		break;
	}
	if (c->rq == RQ_UPSTREAM) {
		conn_error(c, 504, NULL, "connecting to %s:%d timed out after "
		    "%d ms", c->dest.host, c->dest.port,
		    l->connect_timeout_ms);
		return;
	}
	if (c->rs == RS_HEAD) {
		conn_error(c, 504, NULL, "%s:%d did not respond within %d ms",
		    c->dest.host, c->dest.port, l->upstream_timeout_ms);
		return;
	}
	if (c->rq == RQ_HEAD && c->head_timer_armed) {
		reqlog_begin(c);
		snprintf(c->log.method, sizeof(c->log.method), "-");
		conn_error(c, 408, NULL, "request head not received within "
		    "%d ms", l->header_timeout_ms);
		return;
	}
	conn_close(c, "idle timeout");
}

/* Callbacks while serving requests (plain or intercepted). */
void
conn_set_callbacks_http(struct conn *c)
{
	struct timeval tv;

	tv.tv_sec = c->px->lim.tunnel_idle_timeout_ms / 1000;
	tv.tv_usec = (c->px->lim.tunnel_idle_timeout_ms % 1000) * 1000;
	bufferevent_setcb(c->cbev, cread_cb, cwrite_cb, cevent_cb, c);
	bufferevent_setwatermark(c->cbev, EV_READ, 0, PROXY_HIGH_WATER +
	    c->px->lim.header_bytes);
	bufferevent_setwatermark(c->cbev, EV_WRITE, PROXY_HIGH_WATER / 2, 0);
	bufferevent_set_timeouts(c->cbev, NULL, &tv);
	bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
}

void
conn_accept(struct proxy *px, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct conn	*c;
	char		 a[INET6_ADDRSTRLEN];
	int		 one = 1;

	(void)salen;
	c = xcalloc(1, sizeof(*c));
	c->px = px;
	c->id = ++px->next_id;
	c->ubev_fd = -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(c->client, sizeof(c->client), "%s:%d", a,
		    ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(c->client, sizeof(c->client), "[%s]:%d", a,
		    ntohs(s6->sin6_port));
	} else
		snprintf(c->client, sizeof(c->client), "?");
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->cbev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(px->base, timer_cb, c);
	TAILQ_INSERT_TAIL(&px->conns, c, entry);
	px->nconns++;
	if (c->cbev == NULL || c->timer == NULL) {
		if (c->cbev == NULL)
			close(fd);
		conn_close(c, "out of memory");
		return;
	}
	conn_set_callbacks_http(c);
	/* nothing sent yet: a silent close; the first byte arms 408 */
	conn_set_timer(c, px->lim.header_timeout_ms);
}

void
conn_close_idle(struct conn *c)
{
	if (c->mode == MODE_HTTP && c->rq == RQ_HEAD && c->rs == RS_IDLE &&
	    evbuffer_get_length(cin(c)) == 0)
		conn_close(c, "proxy stopping");
	else
		c->close_after = 1;
}

/* ---- sending the request upstream ----------------------------------- */

static int
default_port(const struct conn *c)
{
	return c->dest.tls ? 443 : 80;
}

/*
 * A head is serialised into a stack buffer and added to the output
 * evbuffer in one piece (one copy, one output callback) instead of a few
 * small adds per header.
 */
struct obuf {
	struct evbuffer	*out;
	size_t		 len;
	char		 b[2048];
};

static void
ob_flush(struct obuf *o)
{
	if (o->len > 0)
		evbuffer_add(o->out, o->b, o->len);
	o->len = 0;
}

static void
ob_add(struct obuf *o, const void *p, size_t n)
{
	if (n > sizeof(o->b) - o->len) {
		ob_flush(o);
		if (n > sizeof(o->b)) {
			evbuffer_add(o->out, p, n);
			return;
		}
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void
ob_str(struct obuf *o, const char *s)
{
	ob_add(o, s, strlen(s));
}

static void
ob_u64(struct obuf *o, unsigned long long v)
{
	char	t[HTTP_U64_DEC];
	size_t	i = http_u64_dec(t, v);

	ob_add(o, t + i, sizeof(t) - i);
}

/* "Name: value\r\n" */
static void
ob_hdr(struct obuf *o, const struct http_hdr *h)
{
	if (h->nlen + h->vlen + 4 <= sizeof(o->b) - o->len) {
		char *d = o->b + o->len;

		memcpy(d, h->name, h->nlen);
		d += h->nlen;
		*d++ = ':';
		*d++ = ' ';
		memcpy(d, h->val, h->vlen);
		d += h->vlen;
		*d++ = '\r';
		*d++ = '\n';
		o->len = (size_t)(d - o->b);
		return;
	}
	ob_add(o, h->name, h->nlen);
	ob_add(o, ": ", 2);
	ob_add(o, h->val, h->vlen);
	ob_add(o, "\r\n", 2);
}

/* "Connection: Upgrade\r\nUpgrade: <m's Upgrade value>\r\n" */
static void
ob_upgrade(struct obuf *o, const struct http_msg *m)
{
	size_t	i;

	for (i = 0; i < m->nhdrs; i++)
		if (http_name_is(m->hdrs[i].name, m->hdrs[i].nlen,
		    "upgrade")) {
			ob_add(o, "Connection: Upgrade\r\nUpgrade: ", 30);
			ob_add(o, m->hdrs[i].val, m->hdrs[i].vlen);
			ob_add(o, "\r\n", 2);
		}
}

/* Writes the request head, re-serialised from its parsed form. */
static void
serialise_request(struct conn *c, struct evbuffer *out,
    const struct pcred *cred)
{
	const struct http_msg	*m = &c->req;
	const char		*target = m->url + c->path_off;
	size_t			 tlen = m->urllen - c->path_off, i;
	struct obuf		 o;
	int			 v6 = strchr(c->dest.host, ':') != NULL;

	o.out = out;
	o.len = 0;
	ob_str(&o, llhttp_method_name(m->method));
	if (tlen == 0)
		ob_add(&o, " /", 2);
	else if (target[0] == '?') {
		ob_add(&o, " /", 2);
		ob_add(&o, target, tlen);
	} else {
		ob_add(&o, " ", 1);
		ob_add(&o, target, tlen);
	}
	ob_add(&o, " HTTP/1.1\r\nHost: ", 17);
	if (v6)
		ob_add(&o, "[", 1);
	ob_str(&o, c->dest.host);
	if (v6)
		ob_add(&o, "]", 1);
	if (c->dest.port != default_port(c)) {
		ob_add(&o, ":", 1);
		ob_u64(&o, (unsigned long long)c->dest.port);
	}
	ob_add(&o, "\r\n", 2);
	for (i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];

		if (http_name_is(h->name, h->nlen, "host") ||
		    http_name_is(h->name, h->nlen, "content-length") ||
		    http_is_hop(m, h->name, h->nlen))
			continue;
		if (cred != NULL && http_name_is(h->name, h->nlen,
		    cred->header))
			continue;
		ob_hdr(&o, h);
	}
	if (c->req_upgrade)
		ob_upgrade(&o, m);
	if (m->has_te)
		ob_add(&o, "Transfer-Encoding: chunked\r\n", 28);
	else if (m->has_cl) {
		ob_add(&o, "Content-Length: ", 16);
		ob_u64(&o, (unsigned long long)m->cl);
		ob_add(&o, "\r\n", 2);
	}
	if (cred != NULL) {
		ob_str(&o, cred->header);
		ob_add(&o, ": ", 2);
		/*
		 * The secret goes from its own (sodium) memory to the TLS
		 * layer by reference: no copy of it ever sits in malloc'd
		 * buffers, where it would outlive the request unwiped.  The
		 * value outlives every connection (freed in proxy_free()).
		 */
		ob_flush(&o);
		evbuffer_add_reference(out, cred->value, cred->vlen, NULL,
		    NULL);
		ob_add(&o, "\r\n", 2);
	}
	ob_add(&o, "\r\n", 2);	/* the empty line */
	ob_flush(&o);
}

/* Which credential goes into this request, if any, and why not. */
static const struct pcred *
pick_cred(struct conn *c)
{
	const struct pcred *cred;

	cred = inject_find(c->px, c->dest.host, c->dest.port);
	if (cred == NULL)
		return NULL;
	if (!c->intercepted || !c->dest.tls) {
		util_errf(c->log.error, sizeof(c->log.error), "credential %s "
		    "not injected: plain http", cred->name);
		return NULL;
	}
	if (c->req.method == HTTP_TRACE) {
		util_errf(c->log.error, sizeof(c->log.error), "credential %s "
		    "not injected: TRACE", cred->name);
		return NULL;
	}
	return cred;
}

static int
send_request(struct conn *c)
{
	struct evbuffer		*out = bufferevent_get_output(c->ubev);
	const struct pcred	*cred = pick_cred(c);
	size_t			 before = evbuffer_get_length(out);

	serialise_request(c, out, cred);
	c->log.up += evbuffer_get_length(out) - before;
	if (cred != NULL) {
		snprintf(c->log.injected, sizeof(c->log.injected), "%s",
		    cred->header);
		if (strstr(c->inj_names, cred->header) == NULL &&
		    strlen(c->inj_names) + strlen(cred->header) + 2 <
		    sizeof(c->inj_names)) {
			if (c->inj_names[0] != '\0')
				strcat(c->inj_names, ",");
			strcat(c->inj_names, cred->header);
		}
	}
	c->rqbody = c->req.body;
	c->rqleft = c->req.cl;
	c->rq_chunk_open = 0;
	c->rq = c->rqbody == BODY_NONE ? RQ_DONE : RQ_BODY;
	c->rs = RS_HEAD;
	conn_set_timer(c, c->px->lim.upstream_timeout_ms);
	return conn_pump(c);
}

/*
 * Waits for the client's first byte without reading it, so that a TLS
 * ClientHello is still in the socket for a TLS bufferevent on that
 * socket.  Anything else (or bytes already read) goes the usual way.
 */
static void
peek_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	unsigned char	 b;
	ssize_t		 n;

	(void)ev;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		event_add(c->peek_ev, NULL);
		return;
	}
	event_free(c->peek_ev);
	c->peek_ev = NULL;
	if (c->mode != MODE_PEEK)
		return;
	if (n == 1 && b == 0x16 && evbuffer_get_length(cout(c)) == 0) {
		conn_set_timer(c, 0);
		(void)tls_intercept(c);
		return;
	}
	bufferevent_enable(c->cbev, EV_READ);
}

static void
peek_start(struct conn *c)
{
	int fd = bufferevent_getfd(c->cbev);

	if (fd == -1 || (c->peek_ev = event_new(c->px->base, fd, EV_READ,
	    peek_cb, c)) == NULL)
		return;
	bufferevent_disable(c->cbev, EV_READ);
	event_add(c->peek_ev, NULL);
}

void
conn_upstream_ready(struct conn *c)
{
	struct timeval tv;

	tv.tv_sec = c->px->lim.tunnel_idle_timeout_ms / 1000;
	tv.tv_usec = (c->px->lim.tunnel_idle_timeout_ms % 1000) * 1000;
	c->up = UP_READY;
	bufferevent_setcb(c->ubev, uread_cb, uwrite_cb, uevent_cb, c);
	bufferevent_setwatermark(c->ubev, EV_READ, 0, PROXY_HIGH_WATER +
	    c->px->lim.header_bytes);
	bufferevent_setwatermark(c->ubev, EV_WRITE, PROXY_HIGH_WATER / 2, 0);
	bufferevent_set_timeouts(c->ubev, &tv, &tv);
	bufferevent_enable(c->ubev, EV_READ | EV_WRITE);
	if (c->mode == MODE_CONNECTING) {
		/* CONNECT: the tunnel is open */
		c->tdest = c->dest;
		c->log.status = 200;
		evbuffer_add_printf(cout(c),
		    "HTTP/1.1 200 Connection Established\r\n\r\n");
		c->mode = MODE_PEEK;
		conn_set_timer(c, c->px->lim.idle_timeout_ms);
		if (evbuffer_get_length(cin(c)) > 0)
			cread_cb(c->cbev, c);
		else if (c->px->ca != NULL)
			peek_start(c);
		return;
	}
	if (c->rq == RQ_UPSTREAM)
		(void)send_request(c);
}

void
conn_upstream_failed(struct conn *c, int status, const char *hdrs,
    const char *msg)
{
	if (status == 403)
		c->log.decision = "deny";
	if (c->intercepted && (c->mode == MODE_HANDSHAKE ||
	    (c->mode == MODE_HTTP && c->rq == RQ_HEAD))) {
		/* no request yet: the first one inside gets the answer */
		c->up_fail_status = status;
		util_errf(c->up_fail_msg, sizeof(c->up_fail_msg), "%s", msg);
		conn_free_upstream(c);
		return;
	}
	if (c->mode == MODE_HTTP && c->rs != RS_IDLE && c->rs != RS_HEAD) {
		conn_close(c, msg);
		return;
	}
	conn_error(c, status, hdrs, "%s", msg);
}

/* ---- request heads -------------------------------------------------- */

static int
auth_ok(struct conn *c)
{
	size_t i;

	for (i = 0; i < c->req.nhdrs; i++) {
		const struct http_hdr *h = &c->req.hdrs[i];

		if (!http_name_is(h->name, h->nlen, "proxy-authorization"))
			continue;
		/*
		 * What clients send: "Basic " + the one canonical encoding,
		 * compared in constant time without decoding; any other
		 * form goes through the full check.
		 */
		if (c->px->token_b64 != NULL &&
		    h->vlen == 6 + c->px->token_b64len &&
		    memcmp(h->val, "Basic ", 6) == 0 &&
		    sodium_memcmp(h->val + 6, c->px->token_b64,
		    c->px->token_b64len) == 0)
			return 1;
		return http_auth_check(h->val, h->vlen, c->px->token);
	}
	return 0;
}

static int
need_auth(struct conn *c)
{
	c->log.decision = "deny";
	conn_error(c, 407, "Proxy-Authenticate: Basic realm=\"moat\"\r\n",
	    "proxy authentication required");
	return -1;
}

static int
check_name(struct conn *c, const char *host, int port)
{
	char reason[128], hint[512], hdr[200];

	if (policy_check_name(c->px->pol, host, port, reason, sizeof(reason),
	    hint, sizeof(hint)))
		return 0;
	c->log.decision = "deny";
	snprintf(hdr, sizeof(hdr), "X-Moat-Blocked: %s\r\n", reason);
	conn_error(c, 403, hdr, "blocked %s:%d (%s): %s", host, port,
	    reason, hint);
	return -1;
}

static int
start_connect(struct conn *c, const char *host, int port)
{
	c->mode = MODE_CONNECTING;
	snprintf(c->log.host, sizeof(c->log.host), "%s", host);
	c->log.port = port;
	if (c->tunnel) {
		conn_error(c, 400, NULL, "CONNECT inside a tunnel");
		return -1;
	}
	if (check_name(c, host, port) == -1)
		return -1;
	c->tunnel = 1;
	conn_free_upstream(c);	/* a plain request's upstream, if any */
	memset(&c->dest, 0, sizeof(c->dest));
	snprintf(c->dest.host, sizeof(c->dest.host), "%s", host);
	c->dest.port = port;
	fmt_hostport(c->last_host, sizeof(c->last_host), host, port);
	conn_set_timer(c, c->px->lim.connect_timeout_ms);
	return upstream_start(c, &c->dest);
}

/* Host header or absolute target inside a tunnel must name tdest. */
static int
same_identity(struct conn *c, const char *s, size_t len)
{
	char	host[HOST_MAX + 1];
	int	port;

	if (authority_parse(s, len, 0, c->tdest.tls ? 443 : 80, host,
	    sizeof(host), &port) == -1)
		return 0;
	return strcmp(host, c->tdest.host) == 0 && port == c->tdest.port;
}

static int
handle_request(struct conn *c)
{
	struct http_msg	*m = &c->req;
	char		 why[HTTP_WHY_MAX], host[HOST_MAX + 1];
	int		 r, port, https = 0;
	const char	*u;

	reqlog_begin(c);
	c->req_is_head = 0;
	r = http_parse_head(&c->rqp, c->head, c->headlen, 1, 0,
	    c->px->lim.header_count, c->px->lim.uri_bytes, m, why,
	    sizeof(why));
	if (r == 0 || m->method <= HTTP_SOURCE)
		snprintf(c->log.method, sizeof(c->log.method), "%s",
		    r == 0 ? llhttp_method_name(m->method) : "-");
	if (r != 0) {
		c->log.decision = "deny";
		conn_error(c, r, NULL, "%s", why);
		return -1;
	}
	c->req_method = m->method;
	c->req_is_head = m->method == HTTP_HEAD;
	c->req_upgrade = m->upgrade && m->method == HTTP_GET;
	c->nreqs++;
	if (m->method == HTTP_CONNECT) {
		snprintf(c->log.path, sizeof(c->log.path), "%.*s",
		    (int)(m->urllen < 300 ? m->urllen : 300), m->url);
		if (!auth_ok(c))
			return need_auth(c);
		if (authority_parse(m->url, m->urllen, 1, 0, host,
		    sizeof(host), &port) == -1) {
			conn_error(c, 400, NULL, "CONNECT needs host:port");
			return -1;
		}
		return start_connect(c, host, port);
	}
	u = m->url;
	if (!c->tunnel) {
		if (!auth_ok(c))
			return need_auth(c);
		if (http_parse_absolute(u, m->urllen, &https, host,
		    sizeof(host), &port, &c->path_off, why,
		    sizeof(why)) == -1) {
			conn_error(c, 400, NULL, "%s", why);
			return -1;
		}
		if (https) {
			conn_error(c, 400, NULL, "https:// targets need "
			    "CONNECT");
			return -1;
		}
	} else {
		snprintf(host, sizeof(host), "%s", c->tdest.host);
		port = c->tdest.port;
		if (u[0] == '/')
			c->path_off = 0;
		else if (http_parse_absolute(u, m->urllen, &https, host,
		    sizeof(host), &port, &c->path_off, why,
		    sizeof(why)) == -1) {
			conn_error(c, 400, NULL, "%s", why);
			return -1;
		} else if (strcmp(host, c->tdest.host) != 0 ||
		    port != c->tdest.port || https != c->tdest.tls) {
			conn_error(c, 421, NULL, "request for %s:%d inside a "
			    "tunnel to %s:%d", host, port, c->tdest.host,
			    c->tdest.port);
			return -1;
		}
		if (m->host == NULL && m->minor >= 1) {
			conn_error(c, 400, NULL, "missing Host header");
			return -1;
		}
		if (m->host != NULL && !same_identity(c, m->host->val,
		    m->host->vlen)) {
			conn_error(c, 421, NULL, "Host %.*s does not match "
			    "the tunnel to %s:%d", (int)(m->host->vlen < 100 ?
			    m->host->vlen : 100), m->host->val,
			    c->tdest.host, c->tdest.port);
			return -1;
		}
	}
	snprintf(c->log.host, sizeof(c->log.host), "%s", host);
	c->log.port = port;
	http_log_path(u + c->path_off, m->urllen - c->path_off, c->log.path,
	    sizeof(c->log.path));
	if (check_name(c, host, port) == -1)
		return -1;
	fmt_hostport(c->last_host, sizeof(c->last_host), host, port);
	if (c->up_fail_status != 0) {
		conn_error(c, c->up_fail_status, NULL, "%s", c->up_fail_msg);
		return -1;
	}
	c->rq = RQ_UPSTREAM;
	if (c->up != UP_NONE && strcmp(c->dest.host, host) == 0 &&
	    c->dest.port == port) {
		if (c->up == UP_READY)
			return send_request(c);
		return 0;
	}
	conn_free_upstream(c);
	if (c->tunnel)
		c->dest = c->tdest;	/* checked addresses: no new lookup */
	else {
		memset(&c->dest, 0, sizeof(c->dest));
		snprintf(c->dest.host, sizeof(c->dest.host), "%s", host);
		c->dest.port = port;
	}
	c->dest.next = 0;
	conn_set_timer(c, c->px->lim.connect_timeout_ms);
	return upstream_start(c, &c->dest);
}

/*
 * Finds a complete head at the front of in without copying a large body
 * that follows it: search for the blank line first, then make only the
 * head contiguous and check it.  Without a blank line yet, the bytes so
 * far are checked from scanned on (so a bare LF fails at once).  Returns
 * as http_head_end(), with *bufp pointing at the contiguous head.
 */
static ssize_t
find_head(struct evbuffer *in, size_t max, size_t scanned, const char **bufp,
    char *why, size_t wlen)
{
	struct evbuffer_ptr	 end, p;
	size_t			 len = evbuffer_get_length(in);
	size_t			 n = len < max ? len : max;

	if (evbuffer_ptr_set(in, &end, n, EVBUFFER_PTR_SET) == 0) {
		p = evbuffer_search_range(in, "\r\n\r\n", 4, NULL, &end);
		if (p.pos >= 0)
			n = (size_t)p.pos + 4;
	}
	*bufp = (const char *)evbuffer_pullup(in, (ssize_t)n);
	return http_head_end(*bufp, n, scanned, max, why, wlen);
}

static int
read_head(struct conn *c)
{
	struct evbuffer	*in = cin(c);
	size_t		 len = evbuffer_get_length(in), max, n;
	char		 why[HTTP_WHY_MAX];
	const char	*buf;
	ssize_t		 r;

	if (len == 0) {
		if (c->client_eof) {
			conn_close(c, "client closed");
			return -1;
		}
		return 0;
	}
	if (!c->head_timer_armed) {
		conn_set_timer(c, c->px->lim.header_timeout_ms);
		c->head_timer_armed = 1;
	}
	max = c->px->lim.header_bytes;
	n = len < max ? len : max;
	r = find_head(in, max, c->headlen > 3 ? c->headlen - 3 : 0, &buf,
	    why, sizeof(why));
	if (r < 0) {
		reqlog_begin(c);
		snprintf(c->log.method, sizeof(c->log.method), "-");
		c->log.decision = "deny";
		conn_error(c, r == -2 ? 431 : 400, NULL, "%s", why);
		return -1;
	}
	if (r == 0) {
		c->headlen = n;		/* scanned so far */
		if (c->client_eof) {
			conn_close(c, "client closed in the middle of a "
			    "request head");
			return -1;
		}
		return 0;
	}
	if ((size_t)r > c->headcap) {
		c->headcap = (size_t)r < 1024 ? 1024 : (size_t)r;
		c->head = xrealloc(c->head, c->headcap);
	}
	memcpy(c->head, buf, (size_t)r);
	c->headlen = (size_t)r;
	evbuffer_drain(in, (size_t)r);
	c->head_timer_armed = 0;
	conn_set_timer(c, 0);
	if (c->req.hdrs == NULL) {
		c->req.maxhdrs = c->px->lim.header_count + 1;
		c->req.hdrs = xcalloc(c->req.maxhdrs, sizeof(*c->req.hdrs));
	}
	r = handle_request(c);
	c->headlen = 0;
	return r < 0 ? -1 : 1;
}

/* ---- request bodies ------------------------------------------------- */

/* Stops reading from the client while upstream's output is full. */
static int
up_full(struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->ubev)) >=
	    PROXY_HIGH_WATER) {
		bufferevent_disable(c->cbev, EV_READ);
		c->cin_blocked = 1;
		return 1;
	}
	return 0;
}

static int
move_req_body(struct conn *c)
{
	struct evbuffer	*in = cin(c), *out;
	char		 why[HTTP_WHY_MAX];
	size_t		 n;
	int		 r;

	if (c->up != UP_READY)
		return 0;
	out = bufferevent_get_output(c->ubev);
	if (c->rqbody == BODY_CL) {
		n = evbuffer_get_length(in);
		if (n > c->rqleft)
			n = (size_t)c->rqleft;
		if (n > 0) {
			evbuffer_remove_buffer(in, out, n);
			c->rqleft -= n;
			c->log.up += n;
		}
		if (c->rqleft == 0)
			c->rq = RQ_DONE;
	} else {
		if (evbuffer_get_length(in) == 0)
			return 0;
		r = chunked_move(&c->rqp, &c->rq_chunk_open, 0, in, out,
		    &c->log.up, why, sizeof(why));
		if (r == -1) {
			if (c->rs == RS_HEAD)
				conn_error(c, 400, NULL, "%s", why);
			else
				conn_close(c, why);
			return -1;
		}
		if (r == 1)
			c->rq = RQ_DONE;
	}
	if (c->rq == RQ_BODY && c->client_eof &&
	    evbuffer_get_length(in) == 0) {
		conn_close(c, "client closed in the middle of a request "
		    "body");
		return -1;
	}
	(void)up_full(c);
	return 0;
}

int
conn_pump(struct conn *c)
{
	int r;

	for (;;) {
		if (c->closing || c->mode != MODE_HTTP)
			return c->closing ? -1 : 0;
		switch (c->rq) {
		case RQ_HEAD:
			if (c->rs != RS_IDLE)
				return 0;
			if ((r = read_head(c)) <= 0)
				return r;
			break;
		case RQ_UPSTREAM:
			return 0;
		case RQ_BODY:
			if (c->cin_blocked)
				return 0;
			if (move_req_body(c) == -1)
				return -1;
			if (c->rq == RQ_BODY)
				return 0;
			break;
		case RQ_DONE:
			return 0;
		}
	}
}

/* ---- responses ------------------------------------------------------ */

static void
serialise_response(struct conn *c, struct evbuffer *out, int close_it)
{
	const struct http_msg	*m = &c->resp;
	size_t			 i;
	struct obuf		 o;
	/* 1xx and 204 have no body: no framing headers either */
	int			 nobody = m->status < 200 || m->status == 204;

	o.out = out;
	o.len = 0;
	ob_add(&o, "HTTP/1.1 ", 9);
	ob_u64(&o, (unsigned long long)(m->status < 0 ? 0 : m->status));
	ob_add(&o, " ", 1);
	if (m->reason != NULL)
		ob_add(&o, m->reason, m->reasonlen);
	ob_add(&o, "\r\n", 2);
	for (i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];

		if (http_is_hop(m, h->name, h->nlen) || (nobody &&
		    (http_name_is(h->name, h->nlen, "content-length") ||
		    http_name_is(h->name, h->nlen, "transfer-encoding"))))
			continue;
		ob_hdr(&o, h);
	}
	if (m->status == 101)
		ob_upgrade(&o, m);
	else if (m->has_te && !c->rs_dechunk && !nobody)
		ob_add(&o, "Transfer-Encoding: chunked\r\n", 28);
	if (close_it)
		ob_add(&o, "Connection: close\r\n", 19);
	ob_add(&o, "\r\n", 2);
	ob_flush(&o);
}

static int
response_done(struct conn *c)
{
	c->rs = RS_IDLE;
	c->tot_up += c->log.up;
	c->tot_down += c->log.down;
	plog_request(c);
	c->log.logged = 1;
	c->log.active = 0;
	/* bytes past the framed response were never asked for: they must
	 * not become the next request's response */
	if (!c->resp.keepalive || c->rsbody == BODY_EOF || (c->ubev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(c->ubev)) > 0))
		conn_free_upstream(c);
	if (c->close_after || c->rq != RQ_DONE || c->px->stopping) {
		conn_flush_close(c, c->rq != RQ_DONE ? "response before the "
		    "request body ended" : "done");
		return -1;
	}
	c->rq = RQ_HEAD;
	c->req_is_head = 0;
	c->head_timer_armed = 0;
	conn_set_timer(c, c->px->lim.idle_timeout_ms);
	return conn_pump(c);
}

static int
resp_head(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->ubev);
	size_t		 len = evbuffer_get_length(in), max, before;
	char		 why[HTTP_WHY_MAX];
	const char	*buf;
	ssize_t		 hl;
	int		 r, close_it;

	if (len == 0)
		return 0;
	max = c->px->lim.header_bytes;
	hl = find_head(in, max, 0, &buf, why, sizeof(why));
	if (hl < 0) {
		conn_error(c, 502, NULL, "bad response from %s:%d: %s",
		    c->dest.host, c->dest.port, why);
		return -1;
	}
	if (hl == 0)
		return 0;
	if (c->resp.hdrs == NULL) {
		c->resp.maxhdrs = c->px->lim.header_count + 1;
		c->resp.hdrs = xcalloc(c->resp.maxhdrs, sizeof(*c->resp.hdrs));
	}
	r = http_parse_head(&c->rsp, buf, (size_t)hl, 0, c->req_method,
	    c->px->lim.header_count, 0, &c->resp, why, sizeof(why));
	if (r != 0) {
		conn_error(c, 502, NULL, "bad response from %s:%d: %s",
		    c->dest.host, c->dest.port, why);
		return -1;
	}
	before = evbuffer_get_length(cout(c));
	if (c->resp.status >= 100 && c->resp.status < 200 &&
	    c->resp.status != 101) {
		serialise_response(c, cout(c), 0);
		c->log.down += evbuffer_get_length(cout(c)) - before;
		evbuffer_drain(in, (size_t)hl);
		return 1;	/* the final response follows */
	}
	if (c->resp.status == 101) {
		if (!c->req_upgrade || c->rq != RQ_DONE) {
			conn_error(c, 502, NULL, "unexpected 101 from %s:%d",
			    c->dest.host, c->dest.port);
			return -1;
		}
		serialise_response(c, cout(c), 0);
		c->log.down += evbuffer_get_length(cout(c)) - before;
		c->log.status = 101;
		evbuffer_drain(in, (size_t)hl);
		c->rs = RS_IDLE;
		plog_request(c);
		c->log.logged = 1;
		c->log.active = 0;
		conn_set_timer(c, 0);
		return tunnel_start(c) == -1 ? -1 : 0;
	}
	c->rsbody = c->resp.body;
	c->rsleft = c->resp.cl;
	c->rs_chunk_open = 0;
	/* an HTTP/1.0 client cannot read chunks: data, then the end */
	c->rs_dechunk = c->rsbody == BODY_CHUNKED && c->req.minor == 0;
	close_it = c->rs_dechunk || c->close_after || c->client_eof || c->px->stopping ||
	    !c->req.keepalive || c->rsbody == BODY_EOF;
	if (close_it)
		c->close_after = 1;
	serialise_response(c, cout(c), close_it);
	c->log.down += evbuffer_get_length(cout(c)) - before;
	c->log.status = c->resp.status;
	evbuffer_drain(in, (size_t)hl);
	conn_set_timer(c, 0);
	c->rs = RS_BODY;
	if (c->rsbody == BODY_NONE)
		return response_done(c) == -1 ? -1 : 0;
	return 1;
}

static int
move_resp_body(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->ubev), *out = cout(c);
	char		 why[HTTP_WHY_MAX];
	size_t		 n;
	int		 r;

	switch (c->rsbody) {
	case BODY_CL:
		n = evbuffer_get_length(in);
		if (n > c->rsleft)
			n = (size_t)c->rsleft;
		evbuffer_remove_buffer(in, out, n);
		c->rsleft -= n;
		c->log.down += n;
		if (c->rsleft == 0)
			return response_done(c) == -1 ? -1 : 0;
		break;
	case BODY_EOF:
		n = evbuffer_get_length(in);
		evbuffer_add_buffer(out, in);
		c->log.down += n;
		break;
	case BODY_CHUNKED:
		r = chunked_move(&c->rsp, &c->rs_chunk_open, c->rs_dechunk,
		    in, out, &c->log.down, why, sizeof(why));
		if (r == -1) {
			conn_close(c, why);
			return -1;
		}
		if (r == 1)
			return response_done(c) == -1 ? -1 : 0;
		break;
	case BODY_NONE:
		return response_done(c) == -1 ? -1 : 0;
	}
	if (evbuffer_get_length(out) >= PROXY_HIGH_WATER) {
		bufferevent_disable(c->ubev, EV_READ);
		c->uin_blocked = 1;
	}
	return 0;
}

int
conn_resp_pump(struct conn *c)
{
	int r;

	for (;;) {
		if (c->closing || c->ubev == NULL || c->mode != MODE_HTTP)
			return c->closing ? -1 : 0;
		switch (c->rs) {
		case RS_IDLE:
			if (evbuffer_get_length(bufferevent_get_input(
			    c->ubev)) > 0) {
				/* bytes nobody asked for: drop the upstream */
				conn_free_upstream(c);
			}
			return 0;
		case RS_HEAD:
			if ((r = resp_head(c)) <= 0)
				return r;
			break;
		case RS_BODY:
			if (c->uin_blocked)
				return 0;
			if (move_resp_body(c) == -1)
				return -1;
			if (c->rs == RS_BODY)
				return 0;
			/* response done: the next request may be waiting */
			return 0;
		}
	}
}

/* ---- callbacks ------------------------------------------------------ */

static void
cread_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	switch (c->mode) {
	case MODE_HTTP:
		(void)conn_pump(c);
		return;
	case MODE_PEEK: {
		const unsigned char *b;

		conn_set_timer(c, 0);
		b = evbuffer_pullup(cin(c), 1);
		if (b == NULL)
			return;
		if (b[0] == 0x16 && c->px->ca != NULL) {
			(void)tls_intercept(c);
			return;
		}
		(void)tunnel_start(c);
		return;
	}
	case MODE_CONNECTING:
	case MODE_HANDSHAKE:
	case MODE_RAW:
		/* stays buffered (bounded by the read watermark) */
		return;
	}
}

static void
cwrite_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing) {
		if (flushed(c))
			conn_close(c, c->up_fail[0] ? c->up_fail : "done");
		else
			conn_set_timer(c, 20);
		return;
	}
	if (c->uin_blocked && c->ubev != NULL) {
		c->uin_blocked = 0;
		bufferevent_enable(c->ubev, EV_READ);
		(void)conn_resp_pump(c);
	}
}

static void
cevent_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF && !(what & BEV_EVENT_ERROR) &&
	    !c->closing && c->mode == MODE_HTTP) {
		c->client_eof = 1;
		bufferevent_disable(c->cbev, EV_READ);
		if (c->rq == RQ_HEAD && c->rs == RS_IDLE) {
			(void)conn_pump(c);
			return;
		}
		if (c->rq == RQ_BODY) {
			(void)conn_pump(c);
			return;
		}
		/* keep delivering the response; close afterwards */
		c->close_after = 1;
		return;
	}
	if (what & BEV_EVENT_EOF && !(what & BEV_EVENT_ERROR) &&
	    !c->closing && (c->mode == MODE_CONNECTING ||
	    c->mode == MODE_PEEK) && evbuffer_get_length(cin(c)) > 0) {
		/* half-close before the tunnel is up: relay, then end */
		c->client_eof = 1;
		bufferevent_disable(c->cbev, EV_READ);
		if (c->mode == MODE_PEEK)
			cread_cb(c->cbev, c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, "client write timeout");
	else if (what & BEV_EVENT_EOF)
		conn_close(c, "client closed");
	else
		conn_close(c, "client connection error");
}

static void
uread_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->mode == MODE_PEEK) {
		/* the server speaks first (SSH, SMTP...): not TLS, relay */
		(void)tunnel_start(c);
		return;
	}
	(void)conn_resp_pump(c);
}

static void
uwrite_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->cin_blocked) {
		c->cin_blocked = 0;
		bufferevent_enable(c->cbev, EV_READ);
		(void)conn_pump(c);
	}
}

static void
uevent_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	char		 msg[256];

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->rs == RS_IDLE && c->rq == RQ_HEAD) {
			conn_free_upstream(c);
			return;
		}
		conn_close(c, "upstream idle timeout");
		return;
	}
	if (c->mode == MODE_PEEK || c->mode == MODE_CONNECTING) {
		conn_close(c, "upstream closed before the tunnel was used");
		return;
	}
	/* EOF or error: deliver what has arrived first */
	if (c->rs != RS_IDLE && conn_resp_pump(c) == -1)
		return;
	if (c->rs == RS_BODY && c->rsbody == BODY_EOF) {
		evbuffer_add_buffer(cout(c), bufferevent_get_input(c->ubev));
		c->close_after = 1;
		(void)response_done(c);
		return;
	}
	if (c->rs == RS_IDLE) {
		conn_free_upstream(c);
		if (c->rq == RQ_HEAD && c->client_eof &&
		    evbuffer_get_length(cin(c)) == 0)
			conn_close(c, "client closed");
		return;
	}
	if (c->rs == RS_HEAD) {
		util_errf(msg, sizeof(msg), "%s:%d closed the connection "
		    "without a response", c->dest.host, c->dest.port);
		if (what & BEV_EVENT_ERROR && errno != 0)
			util_errf(msg, sizeof(msg), "connection to %s:%d "
			    "failed: %s", c->dest.host, c->dest.port,
			    strerror(errno));
		conn_error(c, 502, NULL, "%s", msg);
		return;
	}
	conn_close(c, "upstream closed in the middle of a response");
}
