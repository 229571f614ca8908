/*
 * proxy internals, shared by the files of proxy/ only.
 *
 * proxy.c	listener, accept, limits, graceful stop, public API
 * conn.c	one client connection: request/response relay, errors, close
 * http.c	header-block checks, llhttp parsing, serialising, auth decode
 * upstream.c	DNS, policy checks on every address, connect
 * tunnel.c	raw relay (CONNECT without interception, after 101)
 * tls.c	TLS interception: client side leaf, verified upstream TLS
 * inject.c	credentials: copies in sodium_malloc memory, injection
 * log.c	network.jsonl and the per-session summary line
 */
#ifndef MOAT_PROXY_INT_H
#define MOAT_PROXY_INT_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <stdint.h>

#include <llhttp.h>

#include "proxy.h"

struct bufferevent;
struct evbuffer;
struct event;
struct evdns_base;
struct evdns_getaddrinfo_request;
struct evconnlistener;
struct evutil_addrinfo;
struct policy;
struct tls_sess;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* Per-direction buffer high-water mark; reading stops above it. */
#define PROXY_HIGH_WATER	(256 * 1024)
/* At most this many checked addresses are kept per destination. */
#define PROXY_MAX_ADDRS		4

/* ---- http.c --------------------------------------------------------- */

struct http_hdr {
	const char	*name;
	size_t		 nlen;
	const char	*val;
	size_t		 vlen;
};

enum body_kind {
	BODY_NONE = 0,
	BODY_CL,	/* Content-Length bytes */
	BODY_CHUNKED,	/* chunked, re-serialised chunk by chunk */
	BODY_EOF,	/* response delimited by the connection's end */
};

/* One parsed message head.  Pointers point into the caller's buffer. */
struct http_msg {
	int		 request;
	int		 method;	/* llhttp_method_t */
	const char	*url;
	size_t		 urllen;
	int		 status;
	const char	*reason;
	size_t		 reasonlen;
	int		 major, minor;
	struct http_hdr	*hdrs;
	size_t		 nhdrs;
	size_t		 maxhdrs;
	enum body_kind	 body;
	uint64_t	 cl;
	int		 has_cl;
	int		 has_te;
	int		 upgrade;	/* Upgrade + Connection: upgrade */
	int		 keepalive;	/* llhttp_should_keep_alive */
	int		 expect_continue;
	size_t		 nhost;		/* number of Host headers */
	const struct http_hdr *host;
};

/* Why a head was refused: an HTTP status and a short reason. */
#define HTTP_WHY_MAX	128

/*
 * Finds the end of a message head in buf[0..len): returns the length of
 * the head including the final CRLFCRLF, 0 when more bytes are needed,
 * or -1 with why filled when the bytes already seen are malformed (a
 * bare CR or LF, a NUL).  Looks at no more than max bytes: a head that
 * would be longer returns -2 (431).  Scanning starts at start (the
 * length already scanned, so a slow client costs linear time).
 */
ssize_t	 http_head_end(const char *buf, size_t len, size_t start,
	    size_t max, char *why, size_t wlen);

/*
 * Checks the raw header block buf[0..len) (a complete head) for the
 * shapes used in request smuggling that llhttp 8.1 accepts, then parses
 * it with llhttp in strict mode into m (m->hdrs must point to maxhdrs
 * entries).  p is initialised here and, on success, left paused right
 * after the head so that a chunked body can be fed to it.  Returns 0, or
 * an HTTP status (400, 414, 431; 502 for a bad response) with why
 * filled.  For a response, req_method is the request's method (HEAD has
 * no body).
 */
int	 http_parse_head(llhttp_t *p, const char *buf, size_t len,
	    int request, int req_method, size_t max_count, size_t uri_max,
	    struct http_msg *m, char *why, size_t wlen);

/* 1 when name is hop-by-hop for m (fixed list or named by Connection). */
int	 http_is_hop(const struct http_msg *m, const char *name, size_t nlen);

/* Case-insensitive comparison of a header name with a C string. */
int	 http_name_is(const char *name, size_t nlen, const char *want);

/*
 * Parses an absolute-form target "http://host[:port]/path?q".  Writes
 * the scheme's default-aware port, the normalised host and the offset of
 * the origin-form part (path, "" meaning "/").  0 or -1 (why filled).
 */
int	 http_parse_absolute(const char *url, size_t len, int *https,
	    char *host, size_t hostlen, int *port, size_t *path_off,
	    char *why, size_t wlen);

/*
 * Decodes a Proxy-Authorization value ("Basic base64(moat:<hex>)" or
 * "Bearer <hex>") and compares it with token in constant time whatever
 * the candidate.  Returns 1 when it matches, else 0.
 */
int	 http_auth_check(const char *val, size_t vlen,
	    const unsigned char token[PROXY_TOKEN_LEN]);

/*
 * The path for the log: the query's values removed ("/a?x=&y="), no
 * fragment, control bytes and quotes escaped later by the log writer.
 */
void	 http_log_path(const char *path, size_t len, char *out,
	    size_t outlen);

/* Reason phrase of a status we generate. */
const char *http_reason(int status);

/* Room for the decimal digits of any unsigned long long. */
#define HTTP_U64_DEC	24
/*
 * Writes the decimal digits of v at the end of t[HTTP_U64_DEC] and
 * returns the index where they start (for Content-Length, log numbers).
 */
size_t	 http_u64_dec(char t[HTTP_U64_DEC], unsigned long long v);

/* ---- upstream.c ----------------------------------------------------- */

/* One destination identity, parsed and normalised once. */
struct dest {
	char		host[HOST_MAX + 1];
	int		port;
	int		tls;		/* upstream speaks TLS (intercepted) */
	struct sockaddr_storage addrs[PROXY_MAX_ADDRS];
	socklen_t	addrlens[PROXY_MAX_ADDRS];
	int		naddrs;
	int		next;		/* next address to try */
	int		checked;	/* addrs passed the policy */
};

/* ---- proxy.c -------------------------------------------------------- */

struct pcred {
	char		*name;
	struct hostpat	*hosts;
	size_t		 nhosts;
	char		*header;
	char		*value;		/* sodium_malloc: the full value */
	size_t		 vlen;
};

struct conn;
TAILQ_HEAD(connq, conn);

struct proxy {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct evconnlistener	*lev;
	struct policy		*pol;
	struct proxy_limits	 lim;
	unsigned char		*token;		/* sodium_malloc */
	/* base64("moat:" + hex token), sodium_malloc: the usual
	 * Proxy-Authorization is compared without decoding it */
	char			*token_b64;
	size_t			 token_b64len;
	char			 addr[64];
	int			 port;
	char			*run_id;
	char			*config_path;
	struct pcred		*creds;
	size_t			 ncreds;
	struct certs_ca		*ca;
	SSL_CTX			*up_ctx;	/* verified upstream TLS */
	SSL_CTX			*mitm_ctx;	/* client-facing TLS */
	struct tls_sess		*sess;		/* upstream sessions (tls.c) */
	int			 logfd;
	uint64_t		 next_id;
	struct connq		 conns;
	int			 nconns;
	int			 stopping;
	struct event		*grace_ev;
	struct event		*done_ev;
	void			(*done)(void *);
	void			*done_arg;
};

/* Called by conn.c when a connection is gone. */
void	 proxy_conn_gone(struct proxy *px);

/* ---- conn.c --------------------------------------------------------- */

enum conn_mode {
	MODE_HTTP = 0,		/* requests (plain, or inside a tunnel) */
	MODE_CONNECTING,	/* CONNECT accepted, dialling upstream */
	MODE_PEEK,		/* 200 sent, waiting for the first byte */
	MODE_HANDSHAKE,		/* client-side TLS handshake */
	MODE_RAW,		/* raw relay both ways */
};

enum rq_state {
	RQ_HEAD = 0,		/* waiting for a request head */
	RQ_UPSTREAM,		/* head parsed, resolving/connecting */
	RQ_BODY,		/* streaming the request body */
	RQ_DONE,		/* request sent; waiting for the response */
};

enum rs_state {
	RS_IDLE = 0,
	RS_HEAD,
	RS_BODY,
};

enum up_state {
	UP_NONE = 0,
	UP_RESOLVING,
	UP_CONNECTING,
	UP_READY,
};

/* What the log line of the current request says. */
struct reqlog {
	struct timespec	 start;
	char		 method[24];
	char		 host[HOST_MAX + 1];
	int		 port;
	char		 path[512];
	int		 status;
	uint64_t	 up;
	uint64_t	 down;
	const char	*decision;
	char		 injected[128];
	char		 error[192];
	int		 logged;
	int		 active;
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct proxy		*px;
	uint64_t		 id;
	char			 client[64];
	struct bufferevent	*cbev;
	struct bufferevent	*ubev;
	int			 ubev_fd;	/* fd ubev does not own */
	struct event		*timer;
	struct event		*peek_ev;	/* MODE_PEEK on the socket */
	enum conn_mode		 mode;
	enum rq_state		 rq;
	enum rs_state		 rs;
	enum up_state		 up;
	struct evdns_getaddrinfo_request *dnsreq;
	int			 dns_in_call;
	int			 dns_done;
	int			 dns_err;
	struct evutil_addrinfo	*dns_ai;

	/* tunnel identity (CONNECT); intercepted: HTTP inside TLS */
	int			 tunnel;
	int			 intercepted;
	struct dest		 tdest;
	char			 up_fail[256];	/* close reason */
	int			 up_fail_status; /* upstream failed early */
	char			 up_fail_msg[512];
	int			 flush_polls;
	/* the destination of the current upstream connection */
	struct dest		 dest;

	/* current request */
	llhttp_t		 rqp;
	llhttp_t		 rsp;
	struct http_msg		 req;
	struct http_msg		 resp;
	char			*head;		/* copy of the request head */
	size_t			 headcap;
	size_t			 headlen;
	size_t			 path_off;	/* origin-form within url */
	int			 req_https;
	enum body_kind		 rqbody;
	uint64_t		 rqleft;
	enum body_kind		 rsbody;
	uint64_t		 rsleft;
	int			 rq_chunk_open;
	int			 rs_chunk_open;
	int			 rs_dechunk;
	int			 req_method;
	int			 req_is_head;	/* this request is a HEAD: our
						 * own error answers get no
						 * body */
	int			 req_upgrade;
	int			 close_after;	/* close once response done */
	int			 client_eof;
	int			 closing;	/* flushing, then close */
	int			 head_timer_armed;
	int			 cin_blocked;
	int			 uin_blocked;
	int			 raw_ceof, raw_ueof;
	unsigned		 raw_activity, raw_seen;
	struct reqlog		 log;

	/* session summary */
	uint64_t		 tot_up, tot_down;
	unsigned		 nreqs;
	char			 last_host[HOST_MAX + 8];
	char			 inj_names[128];
};

void	 conn_accept(struct proxy *px, int fd, const struct sockaddr *sa,
	    socklen_t salen);
/* Tears the connection down now.  reason is logged in the summary. */
void	 conn_close(struct conn *c, const char *reason);
/* Sends an error response (Connection: close), then closes. */
void	 conn_error(struct conn *c, int status, const char *extra_hdrs,
	    const char *fmt, ...) UTIL_PRINTF(4, 5);
/* Once the client's output is flushed, closes. */
void	 conn_flush_close(struct conn *c, const char *reason);
/* Upstream connected (plain TCP or TLS handshake done). */
void	 conn_upstream_ready(struct conn *c);
/* Upstream failed; status is 502/504/403 and msg says why. */
void	 conn_upstream_failed(struct conn *c, int status, const char *hdrs,
	    const char *msg);
/* The drive loops: return -1 when the connection was closed. */
int	 conn_pump(struct conn *c);
int	 conn_resp_pump(struct conn *c);
void	 conn_set_timer(struct conn *c, int ms);
void	 conn_free_upstream(struct conn *c);
/* Close and graceful stop. */
void	 conn_close_idle(struct conn *c);
void	 conn_set_callbacks_http(struct conn *c);

/* ---- upstream.c ----------------------------------------------------- */

/*
 * Resolves (unless d already holds checked addresses), checks the
 * policy and connects c->ubev to d.  The outcome arrives through
 * conn_upstream_ready() or conn_upstream_failed().  Returns -1 when the
 * connection was closed.
 */
int	 upstream_start(struct conn *c, struct dest *d);
void	 upstream_cancel(struct conn *c);

/* ---- tunnel.c ------------------------------------------------------- */

/* Switches c to raw relay; bytes already buffered go first. */
int	 tunnel_start(struct conn *c);

/* ---- tls.c ---------------------------------------------------------- */

int	 tls_init(struct proxy *px, const char *upstream_ca, char *err,
	    size_t errlen);
void	 tls_free(struct proxy *px);
/* Terminates the client's TLS for c->tdest.host.  -1: closed. */
int	 tls_intercept(struct conn *c);
/* Wraps the connected upstream in verified TLS.  -1: closed. */
int	 tls_upstream(struct conn *c);

/* ---- inject.c ------------------------------------------------------- */

int	 inject_init(struct proxy *px, const struct proxy_opts *o, char *err,
	    size_t errlen);
void	 inject_free(struct proxy *px);
/* The credential bound to host:port, or NULL. */
const struct pcred *inject_find(const struct proxy *px, const char *host,
	    int port);

/* ---- log.c ---------------------------------------------------------- */

int	 plog_open(struct proxy *px, const char *path, char *err,
	    size_t errlen);
void	 plog_request(struct conn *c);
void	 plog_session(struct conn *c, const char *reason);

#endif /* MOAT_PROXY_INT_H */
