/*
 * The seam the request/response fuzz drivers drive the real proxy
 * through: proxy/conn.c is compiled into the driver (so that its static
 * read callbacks can be called), with the real http.c, inject.c and
 * policy.c; only the parts that touch the network are replaced:
 *   upstream_start	records the destination; the driver then "connects"
 *			(a bufferevent on no socket) with conn_upstream_ready
 *   tls_intercept	the handshake succeeds at once (the 0x16 byte is
 *			consumed), the rest of the client bytes are the
 *			decrypted stream, as tls.c's handshake callback does
 *   tunnel_start	the connection turns into a raw relay (not parsed)
 *   plog_*		nothing (the log writer has no invariant here)
 * No event loop runs: the driver moves bytes into the client's input
 * buffer (split at fuzzer-chosen points) and calls cread_cb, reads what
 * conn.c wrote to the upstream's output buffer, feeds upstream bytes into
 * the upstream's input buffer and calls uread_cb.
 *
 * The proxy holds a fixed token (32 bytes of 0x11; the token itself is
 * fuzzed by fuzz_auth) and one credential, bound to secret.test and
 * *.wild.test, whose secret is random per process (the fuzzer cannot
 * produce it).  Invariants checked on every request relayed upstream:
 *   - the serialised head is complete and re-parses (http_parse_head, the
 *     strict parser) to the same method, origin-form target, end-to-end
 *     headers in order, framing, and one Host naming the destination;
 *   - it holds no Proxy-Authorization, nor any proxy-* header;
 *   - the secret appears exactly once when the bytes go to a bound host
 *     over an intercepted TLS tunnel (not TRACE), else never;
 *   - a request inside a tunnel goes to the tunnel's destination only.
 * On the client side: the secret never appears; the proxy's output is a
 * well-formed sequence of responses (strict llhttp), at most one final
 * response per request the upstream answered (one more only when the
 * connection is closing), and nothing after a response's framed end.
 */
#ifndef MOAT_FUZZ_PROXY_SEAM_H
#define MOAT_FUZZ_PROXY_SEAM_H

#include "conn.c"

#include <fcntl.h>
#include <stdint.h>

#include <sodium.h>

#define SEAM_FAIL(what)	seam_fail(what, __LINE__)
#define SEAM_MAX_STEPS	256
#define SEAM_CAP	(1u << 20)

struct seam_buf {
	char	*b;
	size_t	 len;
};

static struct {
	struct event_base	*base;
	struct proxy		 px;
	unsigned char		 secret[32];
	char			 secret_hex[65];
	char			 value[80];	/* "Bearer " + hex */
	size_t			 vlen;
	int			 ca_dummy;
	/* per input */
	struct conn		*c;
	int			 gone;
	int			 up_pending;
	struct dest		 up_dest;
	int			 raw;
	struct seam_buf		 up;		/* bytes sent upstream */
	struct seam_buf		 cl;		/* bytes sent to the client */
	size_t			 cl_parse_from;	/* after 200 Established */
	int			 cl_parse;	/* parse cl as responses */
	llhttp_t		 rp;
	llhttp_settings_t	 rps;
	size_t			 rp_done;	/* bytes of cl parsed */
	int			 rp_final;	/* final responses seen */
	int			 rp_in_body;
	int			 rp_head_method;
	int			 feeds;
	int			 injected;
} S;

static void
seam_fail(const char *what, int line)
{
	fprintf(stderr, "proxy seam: invariant violated at line %d: %s\n",
	    line, what);
	abort();
}

/* ---- the replaced network parts ------------------------------------- */

int
upstream_start(struct conn *c, struct dest *d)
{
	(void)c;
	d->checked = 1;
	S.up_dest = *d;
	S.up_pending = 1;
	return 0;
}

void
upstream_cancel(struct conn *c)
{
	(void)c;
	S.up_pending = 0;
}

int
tunnel_start(struct conn *c)
{
	c->mode = MODE_RAW;
	S.raw = 1;
	S.cl_parse = 0;
	return 0;
}

int
tls_intercept(struct conn *c)
{
	evbuffer_drain(cin(c), 1);
	c->intercepted = 1;
	plog_request(c);
	c->log.logged = 1;
	c->log.active = 0;
	c->tdest.tls = c->dest.tls = 1;
	c->mode = MODE_HTTP;
	c->rq = RQ_HEAD;
	c->rs = RS_IDLE;
	conn_set_callbacks_http(c);
	conn_set_timer(c, c->px->lim.header_timeout_ms);
	c->head_timer_armed = 1;
	/* responses inside the tunnel are parsed from here on */
	S.cl_parse = 1;
	S.cl_parse_from = S.cl.len + evbuffer_get_length(cout(c));
	llhttp_init(&S.rp, HTTP_RESPONSE, &S.rps);
	S.rp_in_body = 0;
	return conn_pump(c);
}

int
tls_upstream(struct conn *c)
{
	(void)c;
	return 0;
}

void
plog_request(struct conn *c)
{
	(void)c;
}

void
plog_session(struct conn *c, const char *reason)
{
	(void)c;
	(void)reason;
}

void
proxy_conn_gone(struct proxy *px)
{
	(void)px;
	S.gone = 1;
}

/* ---- helpers -------------------------------------------------------- */

/*
 * A socket bufferevent freezes the end of its input and the start of its
 * output (only its own I/O moves them); the seam plays that I/O.
 */
static void
seam_add(struct evbuffer *b, const void *d, size_t n)
{
	evbuffer_unfreeze(b, 0);
	if (evbuffer_add(b, d, n) != 0)
		abort();
	evbuffer_freeze(b, 0);
}

static void
buf_take(struct seam_buf *sb, struct evbuffer *from)
{
	size_t n = evbuffer_get_length(from);

	if (n == 0)
		return;
	if (sb->len + n > SEAM_CAP) {
		evbuffer_unfreeze(from, 1);
		evbuffer_drain(from, n);	/* bounded; checked already */
		evbuffer_freeze(from, 1);
		return;
	}
	sb->b = realloc(sb->b, sb->len + n + 1);
	evbuffer_unfreeze(from, 1);
	if (evbuffer_remove(from, sb->b + sb->len, n) != (int)n)
		abort();
	evbuffer_freeze(from, 1);
	sb->len += n;
	sb->b[sb->len] = '\0';
}

/*
 * Counts needle in hay with a plain loop: libFuzzer intercepts memmem()
 * and memcmp() and would add the secret to its dictionary, so that the
 * fuzzer could echo it back and "leak" it itself.
 */
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
static size_t
count_mem(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	size_t	n = 0, i, j;

	for (i = 0; i + nlen <= hlen; i++) {
		for (j = 0; j < nlen && hay[i + j] == needle[j]; j++)
			;
		n += j == nlen;
	}
	return n;
}

static int
bound_host(const char *host, int port)
{
	size_t n = strlen(host);

	if (port != 80 && port != 443)
		return 0;
	return strcmp(host, "secret.test") == 0 ||
	    (n > 10 && strcmp(host + n - 10, ".wild.test") == 0);
}

/* ---- the client-side response parser ----------------------------- */

static int
rp_headers_complete(llhttp_t *p)
{
	int s = p->status_code;

	S.rp_in_body = 1;
	if (s >= 200 || s == 101)
		S.rp_final++;
	/*
	 * RFC 9112 6.3: 1xx, 204 and 304 have no body whatever the headers
	 * say (llhttp would read a body of Content-Length bytes after a 204:
	 * the proxy must not leave room for that reading).  HEAD is not
	 * special-cased: the proxy's own error responses carry a body even
	 * for HEAD (they close the connection), so answers to HEAD are
	 * parsed as if to GET.
	 */
	if (s < 200 || s == 204 || s == 304)
		return 1;
	return 0;
}

static int
rp_message_complete(llhttp_t *p)
{
	(void)p;
	S.rp_in_body = 0;
	return 0;
}

static void
rp_run(void)
{
	llhttp_errno_t e;

	if (!S.cl_parse || S.cl.len <= S.rp_done)
		return;
	if (S.rp_done < S.cl_parse_from)
		S.rp_done = S.cl_parse_from;
	if (S.cl.len <= S.rp_done)
		return;
	e = llhttp_execute(&S.rp, S.cl.b + S.rp_done, S.cl.len - S.rp_done);
	if (e == HPE_PAUSED_UPGRADE) {
		S.cl_parse = 0;		/* a 101: raw bytes follow */
		return;
	}
	if (e != HPE_OK) {
		fprintf(stderr, "client stream: %s at offset %zu: %s\n",
		    llhttp_errno_name(e), S.rp_done, S.cl.b + S.cl_parse_from);
		SEAM_FAIL("proxy output to the client is not a well-formed "
		    "response sequence");
	}
	S.rp_done = S.cl.len;
}

/* ---- per-request invariants --------------------------------------- */

/* Checks the bytes relayed upstream for the request in c->req. */
static void
check_upstream(struct conn *c)
{
	static struct http_hdr	 hdrs[256];
	struct http_msg		 m2;
	const struct http_msg	*m = &c->req;
	llhttp_t		 p;
	char			 why[HTTP_WHY_MAX], host[HOST_MAX + 16];
	const char		*t;
	size_t			 tl, i, j, want;
	ssize_t			 hl;
	int			 r, cred;

	if (S.up.len == 0)
		return;
	hl = http_head_end(S.up.b, S.up.len, 0, SEAM_CAP, why, sizeof(why));
	if (hl <= 0) {
		fprintf(stderr, "upstream bytes: %s (%s)\n", S.up.b, why);
		SEAM_FAIL("serialised request head incomplete or malformed");
	}
	memset(&m2, 0, sizeof(m2));
	m2.hdrs = hdrs;
	m2.maxhdrs = 256;
	r = http_parse_head(&p, S.up.b, (size_t)hl, 1, 0, 255, SEAM_CAP, &m2,
	    why, sizeof(why));
	if (r != 0) {
		fprintf(stderr, "upstream head: %.*s\n(%d %s)\n", (int)hl,
		    S.up.b, r, why);
		SEAM_FAIL("serialised request head does not re-parse");
	}
	if (m2.method != m->method)
		SEAM_FAIL("method changed");
	t = m->url + c->path_off;
	tl = m->urllen - c->path_off;
	if (tl == 0 ? !(m2.urllen == 1 && m2.url[0] == '/') :
	    t[0] == '?' ? !(m2.urllen == tl + 1 && m2.url[0] == '/' &&
	    memcmp(m2.url + 1, t, tl) == 0) : !(m2.urllen == tl &&
	    memcmp(m2.url, t, tl) == 0))
		SEAM_FAIL("request target changed");
	if (m2.nhost != 1)
		SEAM_FAIL("not exactly one Host header upstream");
	if (S.up_dest.port == (c->dest.tls ? 443 : 80))
		snprintf(host, sizeof(host), strchr(S.up_dest.host, ':') ?
		    "[%s]" : "%s", S.up_dest.host);
	else
		snprintf(host, sizeof(host), strchr(S.up_dest.host, ':') ?
		    "[%s]:%d" : "%s:%d", S.up_dest.host, S.up_dest.port);
	if (m2.host->vlen != strlen(host) ||
	    memcmp(m2.host->val, host, m2.host->vlen) != 0)
		SEAM_FAIL("upstream Host does not name the destination");
	if (c->tunnel && (strcmp(S.up_dest.host, c->tdest.host) != 0 ||
	    S.up_dest.port != c->tdest.port))
		SEAM_FAIL("request inside a tunnel sent elsewhere");
	for (i = 0; i < m2.nhdrs; i++)
		if (m2.hdrs[i].nlen >= 6 &&
		    strncasecmp(m2.hdrs[i].name, "proxy-", 6) == 0)
			SEAM_FAIL("a proxy-* header (Proxy-Authorization) "
			    "relayed upstream");
	if (m2.has_te != m->has_te || m2.has_cl != (m->has_cl &&
	    !m->has_te) || (m2.has_cl && m2.cl != m->cl))
		SEAM_FAIL("framing changed");
	cred = c->intercepted && c->dest.tls && m->method != HTTP_TRACE &&
	    bound_host(S.up_dest.host, S.up_dest.port);
	/* end-to-end headers in order, same values */
	for (i = j = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];

		if (http_name_is(h->name, h->nlen, "host") ||
		    http_name_is(h->name, h->nlen, "content-length") ||
		    http_is_hop(m, h->name, h->nlen) ||
		    (cred && http_name_is(h->name, h->nlen,
		    "authorization")))
			continue;
		for (; j < m2.nhdrs; j++)
			if (m2.hdrs[j].nlen == h->nlen &&
			    memcmp(m2.hdrs[j].name, h->name, h->nlen) == 0 &&
			    m2.hdrs[j].vlen == h->vlen &&
			    memcmp(m2.hdrs[j].val, h->val, h->vlen) == 0)
				break;
		if (j == m2.nhdrs)
			SEAM_FAIL("an end-to-end header was lost or changed");
		j++;
	}
	want = cred ? 1 : 0;
	if (count_mem(S.up.b, S.up.len, S.secret_hex, 64) != want) {
		fprintf(stderr, "upstream (%s:%d, intercepted %d, want %zu): "
		    "%.*s\n", S.up_dest.host, S.up_dest.port, c->intercepted,
		    want, (int)hl, S.up.b);
		SEAM_FAIL("secret count upstream is wrong");
	}
	if (cred) {
		size_t n = 0;

		S.injected++;
		for (i = 0; i < m2.nhdrs; i++)
			if (http_name_is(m2.hdrs[i].name, m2.hdrs[i].nlen,
			    "authorization")) {
				n++;
				if (m2.hdrs[i].vlen != S.vlen ||
				    count_mem(m2.hdrs[i].val, S.vlen,
				    S.value, S.vlen) != 1) {
					fprintf(stderr, "injected: %.*s\n",
					    (int)m2.hdrs[i].vlen,
					    m2.hdrs[i].val);
					SEAM_FAIL("injected value wrong");
				}
			}
		if (n != 1)
			SEAM_FAIL("not exactly one Authorization header");
	}
}

/* ---- setup and driving ---------------------------------------------- */

static void
seam_init(void)
{
	static struct hostpat		 hp[2];
	struct proxy_opts		 o;
	struct proxy_credential		 cr;
	char				 err[256];

	if (S.base != NULL)
		return;
	if (sodium_init() < 0)
		abort();
	event_set_log_callback(NULL);
	if ((S.base = event_base_new()) == NULL)
		abort();
	randombytes_buf(S.secret, sizeof(S.secret));
	sodium_bin2hex(S.secret_hex, sizeof(S.secret_hex), S.secret, 32);
	S.vlen = (size_t)snprintf(S.value, sizeof(S.value), "Bearer %s",
	    S.secret_hex);
	if (hostpat_parse("secret.test", &hp[0], err, sizeof(err)) == -1 ||
	    hostpat_parse("*.wild.test", &hp[1], err, sizeof(err)) == -1)
		SEAM_FAIL(err);
	memset(&o, 0, sizeof(o));
	memset(&cr, 0, sizeof(cr));
	cr.name = "test";
	cr.hosts = hp;
	cr.nhosts = 2;
	cr.header = "Authorization";
	cr.format = PROXY_CRED_PREFIX;
	cr.prefix_or_user = "Bearer ";
	cr.secret = (unsigned char *)S.secret_hex;
	cr.secret_len = 64;
	o.creds = &cr;
	o.ncreds = 1;
	S.px.base = S.base;
	/* proxy.c's defaults, smaller heads so the fuzzer reaches limits */
	S.px.lim.header_bytes = 16 * 1024;
	S.px.lim.header_count = 100;
	S.px.lim.uri_bytes = 4096;
	S.px.lim.header_timeout_ms = 30 * 1000;
	S.px.lim.idle_timeout_ms = 60 * 1000;
	S.px.lim.connect_timeout_ms = 10 * 1000;
	S.px.lim.upstream_timeout_ms = 60 * 1000;
	S.px.lim.tunnel_idle_timeout_ms = 10 * 60 * 1000;
	S.px.lim.max_connections = 4096;
	S.px.lim.grace_ms = 3000;
	S.px.logfd = -1;
	S.px.ca = (struct certs_ca *)&S.ca_dummy;	/* never used */
	TAILQ_INIT(&S.px.conns);
	if ((S.px.token = malloc(PROXY_TOKEN_LEN)) == NULL)
		abort();
	memset(S.px.token, 0x11, PROXY_TOKEN_LEN);
	/* proxy.c's fast path for the usual Basic header (token_b64_new) */
	{
		char	plain[5 + 2 * PROXY_TOKEN_LEN + 1];
		size_t	blen = sodium_base64_ENCODED_LEN(sizeof(plain) - 1,
			    sodium_base64_VARIANT_ORIGINAL);

		memcpy(plain, "moat:", 5);
		sodium_bin2hex(plain + 5, sizeof(plain) - 5, S.px.token,
		    PROXY_TOKEN_LEN);
		if ((S.px.token_b64 = malloc(blen)) == NULL)
			abort();
		sodium_bin2base64(S.px.token_b64, blen, (unsigned char *)plain,
		    sizeof(plain) - 1, sodium_base64_VARIANT_ORIGINAL);
		S.px.token_b64len = strlen(S.px.token_b64);
	}
	if ((S.px.pol = policy_new(&o, err, sizeof(err))) == NULL ||
	    inject_init(&S.px, &o, err, sizeof(err)) == -1)
		SEAM_FAIL(err);
}

/* Moves what conn.c wrote into S.up/S.cl and checks the client side. */
static void
collect(void)
{
	struct conn *c = S.c;

	if (S.gone)
		return;
	if (c->ubev != NULL)
		buf_take(&S.up, bufferevent_get_output(c->ubev));
	if (c->cbev != NULL)
		buf_take(&S.cl, cout(c));
	rp_run();
}

/*
 * Runs the connection until it waits for client bytes.  upstream gives
 * the bytes an upstream answers each request with (split by chunk()).
 */
static void
seam_settle(const uint8_t *upb, size_t uplen, const uint8_t *seed)
{
	struct conn	*c = S.c;
	int		 steps;

	for (steps = 0; steps < SEAM_MAX_STEPS && !S.gone; steps++) {
		collect();
		if (S.gone)
			return;
		if (S.up_pending && c->mode != MODE_RAW) {
			S.up_pending = 0;
			if (c->ubev == NULL) {
				c->ubev = bufferevent_socket_new(S.base, -1,
				    BEV_OPT_CLOSE_ON_FREE);
				if (c->ubev == NULL)
					abort();
			}
			c->up = UP_READY;
			conn_upstream_ready(c);
			continue;
		}
		if (c->mode == MODE_HTTP && !c->closing && c->ubev != NULL &&
		    c->rs == RS_HEAD && c->rq == RQ_DONE) {
			struct evbuffer	*in;
			size_t		 off = 0, k = 0, n;
			int		 before = S.rp_final, closing;

			check_upstream(c);
			S.up.len = 0;
			S.rp_head_method = c->req_method;
			S.feeds++;
			in = bufferevent_get_input(c->ubev);
			while (!S.gone && c->ubev != NULL &&
			    off < uplen && k < 64) {
				n = 1 + seed[k % 8];
				if (n > uplen - off)
					n = uplen - off;
				seam_add(in, upb + off, n);
				off += n;
				k++;
				uread_cb(c->ubev, c);
				collect();
				if (!S.gone)
					in = c->ubev ? bufferevent_get_input(
					    c->ubev) : NULL;
			}
			if (!S.gone && c->ubev != NULL && c->rs != RS_IDLE) {
				/* the upstream closes */
				uevent_cb(c->ubev, BEV_EVENT_EOF |
				    BEV_EVENT_READING, c);
				collect();
			}
			closing = S.gone || c->closing;
			if (S.rp_final - before > (closing ? 2 : 1))
				SEAM_FAIL("more than one response relayed for "
				    "one request");
			continue;
		}
		break;
	}
}

/*
 * One input: client bytes (delivered in chunks of 1 + seed[i % 8]
 * bytes), each request answered with upb.  preset: 0 none, else a
 * CONNECT + TLS handshake to preset_target first.
 */
static void
seam_run(const uint8_t *cb, size_t clen, const uint8_t *upb, size_t uplen,
    const uint8_t seed[8], const char *preset)
{
	struct sockaddr_in	 sin;
	int			 sv[2];
	size_t			 off = 0, k = 0, n;
	char			 pre[256];

	seam_init();
	/* the bytes cannot hold the secret: if they do, it came from us */
	if (count_mem((const char *)cb, clen, S.secret_hex, 64) != 0 ||
	    count_mem((const char *)upb, uplen, S.secret_hex, 64) != 0)
		return;
	memset(&S.c, 0, sizeof(S) - offsetof(__typeof__(S), c));
	llhttp_settings_init(&S.rps);
	S.rps.on_headers_complete = rp_headers_complete;
	S.rps.on_message_complete = rp_message_complete;
	llhttp_init(&S.rp, HTTP_RESPONSE, &S.rps);
	S.rp_head_method = HTTP_GET;
	S.cl_parse = 1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	close(sv[1]);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(40000);
	conn_accept(&S.px, sv[0], (struct sockaddr *)&sin, sizeof(sin));
	if (S.gone)
		return;
	S.c = TAILQ_LAST(&S.px.conns, connq);
	if (preset != NULL) {
		n = (size_t)snprintf(pre, sizeof(pre), "CONNECT %s HTTP/1.1\r\n"
		    "Proxy-Authorization: Bearer %0*d\r\n\r\n\x16", preset, 64,
		    0);
		/* the token is 32 bytes of 0x11: "1111...", not "0000..." */
		memset(strstr(pre, "Bearer ") + 7, '1', 64);
		seam_add(cin(S.c), pre, n);
		cread_cb(S.c->cbev, S.c);
		seam_settle(upb, uplen, seed);
		if (!S.gone)
			cread_cb(S.c->cbev, S.c);	/* the 0x16 */
		seam_settle(upb, uplen, seed);
	}
	while (!S.gone && off < clen && k < 4096) {
		n = 1 + seed[k % 8];
		if (n > clen - off)
			n = clen - off;
		if (S.c->cbev == NULL || S.c->mode == MODE_RAW)
			break;
		seam_add(bufferevent_get_input(S.c->cbev), cb + off, n);
		off += n;
		k++;
		cread_cb(S.c->cbev, S.c);
		seam_settle(upb, uplen, seed);
	}
	if (!S.gone && !S.c->closing && S.c->mode == MODE_HTTP &&
	    S.c->rq == RQ_HEAD && S.c->rs == RS_IDLE) {
		/* the client closes */
		cevent_cb(S.c->cbev, BEV_EVENT_EOF | BEV_EVENT_READING, S.c);
		seam_settle(upb, uplen, seed);
	}
	collect();
	if (!S.gone) {
		if (S.c->mode == MODE_HTTP && !S.c->closing &&
		    S.c->rs == RS_HEAD && S.c->ubev != NULL)
			check_upstream(S.c);
		conn_close(S.c, "fuzz input done");
	}
	if (count_mem(S.cl.b ? S.cl.b : "", S.cl.len, S.secret_hex, 64) != 0)
		SEAM_FAIL("the secret reached the client");
	/* libevent finalises freed bufferevents (closing fds) in the loop */
	event_base_loop(S.base, EVLOOP_NONBLOCK);
	if (fcntl(sv[0], F_GETFD) != -1)
		SEAM_FAIL("the client socket is still open after the "
		    "connection was freed");
	if (S.cl_parse && S.rp_done == S.cl.len &&
	    llhttp_finish(&S.rp) != HPE_OK && !S.rp_in_body)
		SEAM_FAIL("proxy output ends in the middle of a response "
		    "head");
	if (getenv("SEAM_VERBOSE") != NULL)
		fprintf(stderr, "seam: %d request(s) relayed, %d with the "
		    "secret, %d final response(s) to the client, %zu client "
		    "bytes\n", S.feeds, S.injected, S.rp_final, S.cl.len);
	free(S.up.b);
	free(S.cl.b);
	S.up.b = S.cl.b = NULL;
}

#endif /* MOAT_FUZZ_PROXY_SEAM_H */
