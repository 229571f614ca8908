/*
 * proxy/tls: TLS interception.  The client's TLS is terminated with a
 * leaf for the CONNECT host (certs/), the upstream is a new TLS
 * connection to that same host: TLS >= 1.2, SNI and certificate name from
 * the CONNECT authority only, verified against the system roots plus
 * --upstream-ca (never moat's own CA), no partial wildcards, no
 * renegotiation, ALPN http/1.1 only.  Upstream sessions are resumed only
 * with the exact host:port whose verified handshake issued them (never
 * across hosts), each at most once and for at most TLS_SESS_AGE seconds;
 * the client side never resumes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "certs.h"
#include "proxy_int.h"

static const unsigned char alpn_h1[] = "\x08http/1.1";

/*
 * Upstream session cache: a few single-use sessions per destination,
 * keyed by the normalised "host:port" that was verified when the session
 * was issued.  A resumed handshake skips parsing and verifying the
 * certificate chain again (most of a new tunnel's cost); the key exchange
 * stays ephemeral (OpenSSL clients offer psk_dhe_ke only).
 */
#define TLS_SESS_DESTS	64	/* destinations remembered (LRU) */
#define TLS_SESS_PER	4	/* sessions kept per destination */
#define TLS_SESS_AGE	300	/* seconds a session may be resumed */

struct tls_sess_dest {
	char		 key[HOST_MAX + 8];
	SSL_SESSION	*s[TLS_SESS_PER];
	int		 n;
	uint64_t	 used;
};

struct tls_sess {
	struct tls_sess_dest	d[TLS_SESS_DESTS];
	uint64_t		clock;
};

static void
sess_key(const struct dest *d, char *key, size_t len)
{
	snprintf(key, len, "%s:%d", d->host, d->port);
}

static struct tls_sess_dest *
sess_find(struct tls_sess *ts, const char *key, int create)
{
	struct tls_sess_dest	*e, *lru = NULL;
	int			 i;

	for (i = 0; i < TLS_SESS_DESTS; i++) {
		e = &ts->d[i];
		if (e->key[0] != '\0' && strcmp(e->key, key) == 0) {
			e->used = ++ts->clock;
			return e;
		}
		if (lru == NULL || e->used < lru->used)
			lru = e;
	}
	if (!create)
		return NULL;
	while (lru->n > 0)
		SSL_SESSION_free(lru->s[--lru->n]);
	snprintf(lru->key, sizeof(lru->key), "%s", key);
	lru->used = ++ts->clock;
	return lru;
}

/* SSL ex_data: the "host:port" an upstream SSL was verified for. */
static int sess_key_idx = -1;

static void
sess_key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

/* A new session from a verified upstream: kept for its own host only. */
static int
sess_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_sess		*ts = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct tls_sess_dest	*e;
	const char		*key = SSL_get_ex_data(ssl, sess_key_idx);
	SSL_SESSION		*dup;

	if (ts == NULL || key == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK ||
	    SSL_get0_peer_certificate(ssl) == NULL ||
	    !SSL_SESSION_is_resumable(sess))
		return 0;
	e = sess_find(ts, key, 1);
	if (e->n == TLS_SESS_PER) {
		/* the oldest goes */
		SSL_SESSION_free(e->s[0]);
		memmove(&e->s[0], &e->s[1], (TLS_SESS_PER - 1) *
		    sizeof(e->s[0]));
		e->n--;
	}
	/*
	 * A copy: OpenSSL marks the connection's current session not
	 * resumable when the SSL is freed without a close_notify, a rule
	 * TLS >= 1.1 dropped.
	 */
	if ((dup = SSL_SESSION_dup(sess)) == NULL)
		return 0;
	if ((long)SSL_SESSION_get_timeout(dup) > TLS_SESS_AGE)
		SSL_SESSION_set_timeout(dup, TLS_SESS_AGE);
	e->s[e->n++] = dup;
	return 0;	/* sess itself stays OpenSSL's */
}

/* The newest unexpired session for key, removed from the cache, or NULL. */
static SSL_SESSION *
sess_take(struct tls_sess *ts, const char *key)
{
	struct tls_sess_dest	*e;
	SSL_SESSION		*s;
	time_t			 now = time(NULL);

	if ((e = sess_find(ts, key, 0)) == NULL)
		return NULL;
	while (e->n > 0) {
		s = e->s[--e->n];
		e->s[e->n] = NULL;
		if (SSL_SESSION_is_resumable(s) &&
		    now >= (time_t)SSL_SESSION_get_time(s) &&
		    now - (time_t)SSL_SESSION_get_time(s) < TLS_SESS_AGE &&
		    now - (time_t)SSL_SESSION_get_time(s) <
		    (time_t)SSL_SESSION_get_timeout(s))
			return s;
		SSL_SESSION_free(s);
	}
	return NULL;
}

static void
sess_free_all(struct tls_sess *ts)
{
	int	i;

	if (ts == NULL)
		return;
	for (i = 0; i < TLS_SESS_DESTS; i++)
		while (ts->d[i].n > 0)
			SSL_SESSION_free(ts->d[i].s[--ts->d[i].n]);
	free(ts);
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned int n = in[i];

		if (i + 1 + n > inlen)
			break;
		if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	/* h2 only: refuse cleanly rather than speak HTTP/1.1 to it */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
ssl_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* The OpenSSL reason a TLS bufferevent failed with. */
static void
bev_errstr(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long le = bufferevent_get_openssl_error(bev);

	if (le != 0)
		ERR_error_string_n(le, buf, len);
	else
		snprintf(buf, len, "connection error");
	ERR_clear_error();
}

/*
 * The system's root certificates are parsed at the first upstream TLS
 * handshake rather than at start-up: parsing the ~150 of a distribution
 * bundle is most of the proxy's start-up time, and many runs never
 * connect upstream.  The trust set (system roots plus --upstream-ca) and
 * the checks are the same either way.
 */
static int roots_idx = -1;

static void
up_roots(SSL_CTX *ctx)
{
	if (SSL_CTX_get_ex_data(ctx, roots_idx) != NULL)
		return;
	(void)SSL_CTX_set_ex_data(ctx, roots_idx, ctx);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		/* fewer roots only make verification fail, never pass */
		log_warnx("proxy: cannot load the system root certificates");
		ERR_clear_error();
	}
}

int
tls_init(struct proxy *px, const char *upstream_ca, char *err,
    size_t errlen)
{
	char e[256];

	px->up_ctx = SSL_CTX_new(TLS_client_method());
	if (px->up_ctx == NULL)
		goto sslfail;
	SSL_CTX_set_min_proto_version(px->up_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(px->up_ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/* sessions go to our own per-destination cache only */
	px->sess = xcalloc(1, sizeof(*px->sess));
	if (sess_key_idx == -1 && (sess_key_idx = SSL_get_ex_new_index(0,
	    NULL, NULL, NULL, sess_key_free)) == -1)
		goto sslfail;
	SSL_CTX_set_app_data(px->up_ctx, px->sess);
	SSL_CTX_set_session_cache_mode(px->up_ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(px->up_ctx, sess_new_cb);
	/* idle tunnels should not hold two 16 KiB record buffers each */
	SSL_CTX_set_mode(px->up_ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(px->up_ctx, SSL_VERIFY_PEER, NULL);
	/* the system roots: at the first upstream handshake (up_roots) */
	if (roots_idx == -1 && (roots_idx = SSL_CTX_get_ex_new_index(0, NULL,
	    NULL, NULL, NULL)) == -1)
		goto sslfail;
	if (upstream_ca != NULL && SSL_CTX_load_verify_locations(px->up_ctx,
	    upstream_ca, NULL) != 1) {
		ssl_errstr(e, sizeof(e));
		util_errf(err, errlen, "cannot load the upstream CA file %s: "
		    "%s", upstream_ca, e);
		return -1;
	}
	X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(px->up_ctx),
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_CTX_set_alpn_protos(px->up_ctx, alpn_h1,
	    sizeof(alpn_h1) - 1) != 0)
		goto sslfail;
	if (px->ca == NULL)
		return 0;
	px->mitm_ctx = SSL_CTX_new(TLS_server_method());
	if (px->mitm_ctx == NULL)
		goto sslfail;
	SSL_CTX_set_min_proto_version(px->mitm_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(px->mitm_ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(px->mitm_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(px->mitm_ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_num_tickets(px->mitm_ctx, 0);
	SSL_CTX_set_alpn_select_cb(px->mitm_ctx, alpn_select, NULL);
	return 0;
 sslfail:
	ssl_errstr(e, sizeof(e));
	util_errf(err, errlen, "TLS setup failed: %s", e);
	return -1;
}

void
tls_free(struct proxy *px)
{
	SSL_CTX_free(px->up_ctx);
	SSL_CTX_free(px->mitm_ctx);
	px->up_ctx = px->mitm_ctx = NULL;
	sess_free_all(px->sess);
	px->sess = NULL;
}

/* ---- upstream ------------------------------------------------------- */

static void
up_hs_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	char		 msg[512], e[256];
	long		 v;

	if (what & BEV_EVENT_CONNECTED) {
		conn_upstream_ready(c);
		return;
	}
	v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (v != X509_V_OK)
		util_errf(msg, sizeof(msg), "certificate for %s failed "
		    "verification: %s", c->dest.host,
		    X509_verify_cert_error_string(v));
	else if (what & BEV_EVENT_ERROR) {
		bev_errstr(bev, e, sizeof(e));
		util_errf(msg, sizeof(msg), "TLS handshake with %s:%d failed: "
		    "%s", c->dest.host, c->dest.port, e);
	} else
		util_errf(msg, sizeof(msg), "%s:%d closed the connection "
		    "during the TLS handshake", c->dest.host, c->dest.port);
	conn_upstream_failed(c, 502, NULL, msg);
}

int
tls_upstream(struct conn *c)
{
	struct bufferevent	*bev;
	SSL			*ssl;
	int			 fd = c->ubev_fd;
	char			 msg[300];

	up_roots(c->px->up_ctx);
	if ((ssl = SSL_new(c->px->up_ctx)) == NULL)
		goto fail;
	if (host_ip_family(c->dest.host) == 0) {
		if (SSL_set_tlsext_host_name(ssl, c->dest.host) != 1 ||
		    SSL_set1_host(ssl, c->dest.host) != 1)
			goto fail;
	} else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    c->dest.host) != 1)
		goto fail;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (c->px->sess != NULL) {
		SSL_SESSION	*sess;
		char		 key[HOST_MAX + 8], *k;

		sess_key(&c->dest, key, sizeof(key));
		k = xstrdup(key);
		if (SSL_set_ex_data(ssl, sess_key_idx, k) != 1) {
			free(k);
			goto fail;
		}
		sess = sess_take(c->px->sess, key);

		if (sess != NULL) {
			(void)SSL_set_session(ssl, sess);
			SSL_SESSION_free(sess);
		}
	}
	/* the plain bufferevent does not own fd: hand it to the TLS one */
	bufferevent_free(c->ubev);
	c->ubev = NULL;
	bev = bufferevent_openssl_socket_new(c->px->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		/* fd is still ours (c->ubev_fd), ssl is not owned */
		SSL_free(ssl);
		util_errf(msg, sizeof(msg), "cannot start TLS to %s",
		    c->dest.host);
		conn_upstream_failed(c, 502, NULL, msg);
		return -1;
	}
	c->ubev = bev;
	c->ubev_fd = -1;
	c->up = UP_CONNECTING;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, NULL, NULL, up_hs_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
 fail:
	SSL_free(ssl);
	util_errf(msg, sizeof(msg), "cannot set up TLS to %s", c->dest.host);
	conn_upstream_failed(c, 502, NULL, msg);
	return -1;
}

/* ---- client side ---------------------------------------------------- */

static void
client_hs_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	const char	*sni;
	char		 host[HOST_MAX + 1], e[256];

	if (what & BEV_EVENT_CONNECTED) {
		c->mode = MODE_HTTP;
		c->rq = RQ_HEAD;
		c->rs = RS_IDLE;
		conn_set_callbacks_http(c);
		conn_set_timer(c, c->px->lim.header_timeout_ms);
		c->head_timer_armed = 1;
		sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		if (sni != NULL && (host_normalize(sni, strlen(sni), host,
		    sizeof(host)) == -1 || strcmp(host, c->tdest.host) != 0)) {
			conn_error(c, 421, NULL, "TLS server name %.100s does "
			    "not match the tunnel to %s:%d", sni,
			    c->tdest.host, c->tdest.port);
			return;
		}
		(void)conn_pump(c);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		bev_errstr(bev, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "client closed");
	{
		char reason[300];

		snprintf(reason, sizeof(reason), "client TLS handshake "
		    "failed: %s", e);
		conn_close(c, reason);
	}
}

/* Both kinds of client TLS: log the CONNECT, start the upstream TLS. */
static int
intercept_started(struct conn *c)
{
	c->intercepted = 1;
	c->mode = MODE_HANDSHAKE;
	/* the CONNECT itself is logged now; each request inside, later */
	plog_request(c);
	c->log.logged = 1;
	c->log.active = 0;
	bufferevent_setcb(c->cbev, NULL, NULL, client_hs_event, c);
	conn_set_timer(c, c->px->lim.header_timeout_ms);
	/* upstream TLS handshake in parallel with the client's */
	c->tdest.tls = c->dest.tls = 1;
	(void)tls_upstream(c);	/* a failure is kept for the first request */
	bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
	return 0;
}

int
tls_intercept(struct conn *c)
{
	struct bufferevent	*bev, *under;
	SSL			*ssl;
	char			 err[256];

	if ((ssl = SSL_new(c->px->mitm_ctx)) == NULL) {
		conn_close(c, "SSL_new failed");
		return -1;
	}
	if (certs_ssl_use_leaf(c->px->ca, ssl, c->tdest.host, err,
	    sizeof(err)) == -1) {
		SSL_free(ssl);
		conn_close(c, err);
		return -1;
	}
	if (evbuffer_get_length(bufferevent_get_input(c->cbev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0) {
		/*
		 * The ClientHello is still in the socket (peeked): TLS
		 * directly on the socket, one copy less than a filter.
		 */
		int fd = bufferevent_getfd(c->cbev);

		bufferevent_setfd(c->cbev, -1);
		bufferevent_free(c->cbev);
		c->cbev = NULL;
		bev = bufferevent_openssl_socket_new(c->px->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL) {
			SSL_free(ssl);
			close(fd);
			conn_close(c, "cannot start TLS with the client");
			return -1;
		}
		c->cbev = bev;
		return intercept_started(c);
	}
	/*
	 * Bytes already buffered: the filter reads them first.  Deferred
	 * callbacks: the handshake may start (and fail) inside these calls,
	 * and c must still be valid when they return.
	 */
	under = c->cbev;
	bev = bufferevent_openssl_filter_new(c->px->base, under, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		conn_close(c, "cannot start TLS with the client");
		return -1;
	}
	/* the filter writes into under: bound it, or memory is not */
	bufferevent_setwatermark(under, EV_WRITE, PROXY_HIGH_WATER / 2,
	    PROXY_HIGH_WATER);
	bufferevent_setwatermark(under, EV_READ, 0, PROXY_HIGH_WATER);
	c->cbev = bev;
	return intercept_started(c);
}
