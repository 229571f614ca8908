/*
 * moat_loadgen: a small HTTP/1.1 load client for the benchmark.
 *
 * Speaks directly to an origin or through a forward proxy: absolute-form
 * plain HTTP, CONNECT tunnels, TLS inside the tunnel (verified against a
 * given CA file, with SNI and host name check).  Keep-alive or one new
 * connection per request, fixed duration and concurrency.  Every response
 * is checked (status, body length or exact body); any failure is counted
 * and makes the exit status non-zero.
 *
 * --hold N opens N connections that each complete one request and then
 * stay idle (for measuring a proxy's memory per idle connection); it
 * prints "HELD N" once all are established and waits for SIGTERM/SIGINT
 * or the duration.
 *
 * --rate R caps a keep-alive load at R requests/s in all (open loop):
 * each of the C connections sends on its own schedule, one request every
 * C/R seconds, and a connection that falls behind sends at once without
 * bursting to catch up.  Without it every connection runs flat out.
 *
 * Latency is measured per request: from writing the request (keep-alive)
 * or from starting the TCP connect (new connection per request) to the
 * last byte of the response.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <llhttp.h>

#define HEAD_MAX	(16 * 1024)	/* a CONNECT response head */
#define REQ_TIMEOUT_S	15		/* every wait has a deadline */
#define URL_MAX		2048
#define NHDR_MAX	16
#define ERRORS_MAX	1000

enum cstate {
	C_CONNECTING,
	C_PROXY_CONNECT,
	C_TLS,
	C_WAITING,	/* request sent, reading the response */
	C_HELD,		/* --hold: one response done, idling */
	C_PACED,	/* --rate: waiting for the next request's turn */
};

struct conn;
TAILQ_HEAD(connq, conn);

struct lg {
	struct event_base	*base;
	SSL_CTX			*ssl_ctx;

	/* target */
	int			 https;
	char			 host[256];
	int			 port;
	char			 path[URL_MAX];
	struct sockaddr_storage	 target_sa;
	socklen_t		 target_salen;

	/* proxy (optional) */
	int			 use_proxy;
	int			 tunnel;	/* CONNECT even for http:// */
	struct sockaddr_storage	 proxy_sa;
	socklen_t		 proxy_salen;
	char			*proxy_auth;	/* "Basic xxx" or NULL */

	/* load shape */
	int			 conc;
	double			 duration;
	double			 warmup;
	int			 newconn;
	long			 hold;		/* 0: load mode */
	long			 max_requests;	/* 0: unlimited */
	long			 rate;		/* req/s in all, 0: no cap */
	double			 pace;		/* s between a conn's requests */

	/* checks */
	int			 expect_status;
	long			 expect_len;	/* -1: any */
	const char		*expect_body;
	size_t			 expect_body_len;

	/* prepared request bytes */
	char			*req;
	size_t			 reqlen;
	char			*connect_req;
	size_t			 connect_reqlen;

	/* state */
	struct connq		 conns;		/* every live connection */
	llhttp_settings_t	 settings;
	int			 measuring;
	int			 stopping;
	long			 started;	/* connections (hold mode) */
	long			 held;
	int			 announced;
	struct timespec		 t_measure;
	struct timespec		 t_end;

	/* results (measured window only) */
	uint64_t		 requests;
	uint64_t		 bytes;
	uint32_t		*lat_us;
	size_t			 nlat;
	size_t			 lat_cap;
	uint64_t		 errors;	/* whole run */
	uint64_t		 total_ok;	/* whole run */
	uint64_t		 retries;	/* reused connection closed */
	char			 first_error[256];

	const char		*label;
	int			 json;
	int			 verbose;
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct lg		*lg;
	struct bufferevent	*bev;
	int			 fd;
	enum cstate		 state;
	llhttp_t		 parser;
	struct timespec		 t_req;
	struct timespec		 t_conn;
	size_t			 body_len;
	int			 body_bad;
	int			 complete;
	unsigned long		 nreq;		/* requests sent on it */
	int			 got_bytes;	/* of the current response */
	struct event		*pace_ev;	/* --rate */
	struct timespec		 t_next;	/* --rate: next request's turn */
};

static volatile sig_atomic_t got_signal;

static void	conn_start(struct lg *);
static void	conn_send_request(struct conn *);
static void	conn_request(struct conn *);

static double
ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void record_error(struct lg *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
record_error(struct lg *lg, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A run that only fails ends soon, whatever its duration. */
	if (++lg->errors >= ERRORS_MAX && !lg->stopping) {
		lg->stopping = 1;
		event_base_loopbreak(lg->base);
	}
	if (lg->first_error[0] == '\0')
		snprintf(lg->first_error, sizeof(lg->first_error), "%s", msg);
	if (lg->verbose && lg->errors <= 20)
		fprintf(stderr, "loadgen: %s\n", msg);
}

static const char *
ssl_error_string(void)
{
	static char buf[200];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static void
conn_free(struct conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->fd != -1)	/* not owned by a bufferevent */
		close(c->fd);
	if (c->pace_ev != NULL)
		event_free(c->pace_ev);
	TAILQ_REMOVE(&c->lg->conns, c, entry);
	free(c);
}

/* Ends this connection; in load mode a replacement starts. */
static void
conn_done(struct conn *c, int replace)
{
	struct lg *lg = c->lg;

	conn_free(c);
	if (replace && !lg->stopping)
		conn_start(lg);
}

static void conn_fail(struct conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	struct lg *lg = c->lg;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!lg->stopping)
		record_error(lg, "%s", msg);
	conn_done(c, lg->hold == 0);
}

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct lg *lg = c->lg;

	if (lg->expect_body != NULL && !c->body_bad) {
		if (c->body_len + len > lg->expect_body_len ||
		    memcmp(lg->expect_body + c->body_len, at, len) != 0)
			c->body_bad = 1;
	}
	c->body_len += len;
	return 0;
}

static int
on_message_complete(llhttp_t *p)
{
	struct conn *c = p->data;

	c->complete = 1;
	return HPE_PAUSED;
}

static void
lat_push(struct lg *lg, uint32_t us)
{
	if (lg->nlat == lg->lat_cap) {
		size_t ncap = lg->lat_cap ? lg->lat_cap * 2 : 65536;
		uint32_t *n = realloc(lg->lat_us, ncap * sizeof(*n));

		if (n == NULL)
			return;
		lg->lat_us = n;
		lg->lat_cap = ncap;
	}
	lg->lat_us[lg->nlat++] = us;
}

/* A whole response arrived: check it, count it, go on. */
static void
response_done(struct conn *c)
{
	struct lg *lg = c->lg;
	struct timespec now;
	char detail[128];
	int status = c->parser.status_code;
	int keep = llhttp_should_keep_alive(&c->parser);

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (status != lg->expect_status) {
		snprintf(detail, sizeof(detail), "%d (expected %d)", status,
		    lg->expect_status);
		conn_fail(c, "unexpected status %s", detail);
		return;
	}
	if (c->body_bad || (lg->expect_body != NULL &&
	    c->body_len != lg->expect_body_len)) {
		conn_fail(c, "response body differs from the expected body");
		return;
	}
	if (lg->expect_len >= 0 && (long)c->body_len != lg->expect_len) {
		snprintf(detail, sizeof(detail), "%zu (expected %ld)",
		    c->body_len, lg->expect_len);
		conn_fail(c, "unexpected body length %s", detail);
		return;
	}
	lg->total_ok++;
	if (lg->measuring && !lg->stopping) {
		const struct timespec *from = lg->newconn ? &c->t_conn :
		    &c->t_req;
		double d = ts_diff(from, &now) * 1e6;

		lg->requests++;
		lg->bytes += c->body_len;
		lat_push(lg, d > UINT32_MAX ? UINT32_MAX : (uint32_t)d);
	}
	if (lg->max_requests > 0 && (long)lg->total_ok >= lg->max_requests)
		lg->stopping = 1;
	if (lg->stopping) {
		conn_done(c, 0);
		if (lg->max_requests > 0)
			event_base_loopbreak(lg->base);
		return;
	}
	if (lg->hold > 0) {
		c->state = C_HELD;
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		lg->held++;
		if (lg->held == lg->hold && !lg->announced) {
			lg->announced = 1;
			printf("HELD %ld\n", lg->held);
			fflush(stdout);
		}
		if (lg->started < lg->hold)
			conn_start(lg);
		return;
	}
	if (lg->newconn || !keep) {
		conn_done(c, 1);
		return;
	}
	llhttp_init(&c->parser, HTTP_RESPONSE, &lg->settings);
	c->parser.data = c;
	conn_request(c);
}

static void
conn_send_request(struct conn *c)
{
	struct lg *lg = c->lg;

	c->state = C_WAITING;
	c->body_len = 0;
	c->body_bad = 0;
	c->complete = 0;
	c->got_bytes = 0;
	c->nreq++;
	clock_gettime(CLOCK_MONOTONIC, &c->t_req);
	bufferevent_write(c->bev, lg->req, lg->reqlen);
}

static void
ts_add(struct timespec *t, double secs)
{
	long ns = t->tv_nsec + (long)((secs - (double)(time_t)secs) * 1e9);

	t->tv_sec += (time_t)secs + ns / 1000000000L;
	t->tv_nsec = ns % 1000000000L;
}

static void
on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	ts_add(&c->t_next, c->lg->pace);
	conn_send_request(c);
}

/* Sends the next request now, or (--rate) at its turn. */
static void
conn_request(struct conn *c)
{
	struct lg *lg = c->lg;
	struct timespec now;
	struct timeval tv;
	double wait;

	if (lg->rate == 0) {
		conn_send_request(c);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	wait = ts_diff(&now, &c->t_next);
	if (wait <= 0) {
		/* Late: go now; more than a turn late: do not burst. */
		if (wait < -lg->pace)
			c->t_next = now;
		ts_add(&c->t_next, lg->pace);
		conn_send_request(c);
		return;
	}
	c->state = C_PACED;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->pace_ev, &tv);
}

/* Feeds buffered input to llhttp; handles each complete response. */
static void
read_response(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		llhttp_errno_t e;
		size_t used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		e = llhttp_execute(&c->parser, v.iov_base, v.iov_len);
		if (e == HPE_PAUSED) {
			used = (size_t)(llhttp_get_error_pos(&c->parser) -
			    (const char *)v.iov_base);
			evbuffer_drain(in, used);
			llhttp_resume(&c->parser);
		} else if (e != HPE_OK) {
			conn_fail(c, "bad response: %s",
			    llhttp_errno_name(e));
			return;
		} else
			evbuffer_drain(in, v.iov_len);
		if (c->complete) {
			if (evbuffer_get_length(in) > 0) {
				conn_fail(c, "bytes after the response");
				return;
			}
			response_done(c);
			return;
		}
	}
}

static void conn_event_cb(struct bufferevent *, short, void *);
static void conn_read_cb(struct bufferevent *, void *);

static void
conn_set_timeouts(struct conn *c)
{
	struct timeval tv = { REQ_TIMEOUT_S, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* Replaces the plain bufferevent on c->fd with a TLS one. */
static void
conn_start_tls(struct conn *c)
{
	struct lg *lg = c->lg;
	SSL *ssl;

	bufferevent_free(c->bev);
	c->bev = NULL;
	if ((ssl = SSL_new(lg->ssl_ctx)) == NULL ||
	    SSL_set_tlsext_host_name(ssl, lg->host) != 1 ||
	    SSL_set1_host(ssl, lg->host) != 1) {
		SSL_free(ssl);
		conn_fail(c, "SSL_new: %s", ssl_error_string());
		return;
	}
	c->bev = bufferevent_openssl_socket_new(lg->base, c->fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		conn_fail(c, "bufferevent_openssl_socket_new failed");
		return;
	}
	c->fd = -1;	/* owned by the bufferevent now */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	c->state = C_TLS;
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	conn_set_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Reads the proxy's answer to CONNECT: must be 200, nothing after it. */
static void
read_connect_response(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end;
	char line[128], *sp;
	size_t n, headlen;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > HEAD_MAX)
			conn_fail(c, "CONNECT response head too large");
		return;
	}
	headlen = (size_t)end.pos + 4;
	n = evbuffer_copyout(in, line, sizeof(line) - 1);
	line[n] = '\0';
	if ((sp = strpbrk(line, "\r\n")) != NULL)
		*sp = '\0';
	if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12 ||
	    strncmp(line + 8, " 200", 4) != 0) {
		conn_fail(c, "CONNECT refused: %s", line);
		return;
	}
	evbuffer_drain(in, headlen);
	if (evbuffer_get_length(in) > 0) {
		conn_fail(c, "bytes after the CONNECT response");
		return;
	}
	if (c->lg->https)
		conn_start_tls(c);
	else
		conn_request(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	switch (c->state) {
	case C_PROXY_CONNECT:
		read_connect_response(c);
		break;
	case C_WAITING:
		c->got_bytes = 1;
		read_response(c);
		break;
	case C_HELD:
	case C_PACED:
		conn_fail(c, "unexpected bytes on an idle connection");
		break;
	default:
		conn_fail(c, "unexpected bytes before the request");
		break;
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct lg *lg = c->lg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == C_TLS) {
			conn_request(c);
			return;
		}
		if (lg->use_proxy && (lg->https || lg->tunnel)) {
			c->state = C_PROXY_CONNECT;
			bufferevent_write(c->bev, lg->connect_req,
			    lg->connect_reqlen);
		} else if (lg->https)
			conn_start_tls(c);
		else
			conn_request(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		conn_fail(c, "timeout%s", c->state == C_CONNECTING ?
		    " connecting" : c->state == C_TLS ? " in TLS handshake" :
		    " waiting for the response");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(c->bev);
		const char *s = "";
		char detail[300], sslerr[200];

		if (e != 0) {
			ERR_error_string_n(e, sslerr, sizeof(sslerr));
			s = sslerr;
		}

		if (*s == '\0')
			s = strerror(EVUTIL_SOCKET_ERROR());
		snprintf(detail, sizeof(detail), "%s: %s",
		    c->state == C_CONNECTING ? "connect" :
		    c->state == C_PROXY_CONNECT ? "CONNECT" :
		    c->state == C_TLS ? "TLS handshake" :
		    c->state == C_HELD || c->state == C_PACED ?
		    "idle connection" : "response", s);
		conn_fail(c, "error in %s", detail);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/*
		 * A peer may close an idle keep-alive connection just as the
		 * next request goes out (tinyproxy closes after each
		 * response): like curl, retry on a new connection when not
		 * one byte of the response came back.
		 */
		if (((c->state == C_WAITING && !c->got_bytes &&
		    c->nreq > 1) || c->state == C_PACED) && lg->hold == 0) {
			lg->retries++;
			conn_done(c, 1);
			return;
		}
		if (c->state == C_WAITING) {
			/* A response delimited by close ends here. */
			if (llhttp_finish(&c->parser) == HPE_OK &&
			    c->complete) {
				response_done(c);
				return;
			}
		}
		conn_fail(c, "connection closed %s", c->state == C_HELD ?
		    "while idle" : "before a complete response");
	}
}

static void
conn_start(struct lg *lg)
{
	struct conn *c;
	const struct sockaddr *sa;
	socklen_t salen;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		record_error(lg, "out of memory");
		return;
	}
	c->lg = lg;
	c->fd = -1;
	TAILQ_INSERT_TAIL(&lg->conns, c, entry);
	lg->started++;
	llhttp_init(&c->parser, HTTP_RESPONSE, &lg->settings);
	c->parser.data = c;
	clock_gettime(CLOCK_MONOTONIC, &c->t_conn);
	if (lg->rate > 0) {
		if ((c->pace_ev = evtimer_new(lg->base, on_pace, c)) == NULL) {
			record_error(lg, "evtimer_new failed");
			conn_free(c);
			return;
		}
		/* The connections' turns spread evenly over one interval. */
		c->t_next = c->t_conn;
		ts_add(&c->t_next, (double)((lg->started - 1) % lg->conc) /
		    (double)lg->rate);
	}
	sa = (const struct sockaddr *)(lg->use_proxy ? &lg->proxy_sa :
	    &lg->target_sa);
	salen = lg->use_proxy ? lg->proxy_salen : lg->target_salen;
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		record_error(lg, "socket: %s", strerror(errno));
		conn_free(c);
		/* Do not spin: the run ends with errors > 0. */
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(lg->base, c->fd, 0);
	if (c->bev == NULL) {
		record_error(lg, "bufferevent_socket_new failed");
		conn_free(c);
		return;
	}
	c->state = C_CONNECTING;
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	conn_set_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) != 0)
		conn_fail(c, "connect: %s", strerror(errno));
}

static void
on_warmup_end(evutil_socket_t fd, short what, void *arg)
{
	struct lg *lg = arg;

	(void)fd;
	(void)what;
	lg->measuring = 1;
	clock_gettime(CLOCK_MONOTONIC, &lg->t_measure);
}

static void
on_run_end(evutil_socket_t fd, short what, void *arg)
{
	struct lg *lg = arg;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &lg->t_end);
	lg->stopping = 1;
	event_base_loopbreak(lg->base);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	got_signal = 1;
	on_run_end(-1, 0, arg);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_ms(const struct lg *lg, double p)
{
	size_t i;

	if (lg->nlat == 0)
		return 0;
	i = (size_t)(p * (double)(lg->nlat - 1) + 0.5);
	return lg->lat_us[i] / 1000.0;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
report(struct lg *lg)
{
	double secs = ts_diff(&lg->t_measure, &lg->t_end);
	double rps, mbs;

	if (secs <= 0)
		secs = 1e-9;
	if (lg->nlat > 0)
		qsort(lg->lat_us, lg->nlat, sizeof(*lg->lat_us), cmp_u32);
	rps = (double)lg->requests / secs;
	mbs = (double)lg->bytes / secs / (1024.0 * 1024.0);
	if (lg->json) {
		printf("{\"label\":");
		json_str(lg->label);
		printf(",\"requests\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
		    "\"rps\":%.1f,\"mib_per_s\":%.2f,\"p50_ms\":%.3f,"
		    "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"retries\":%llu,"
		    "\"total\":%llu,\"first_error\":",
		    (unsigned long long)lg->requests,
		    (unsigned long long)lg->errors, secs, rps, mbs,
		    pct_ms(lg, 0.50), pct_ms(lg, 0.90), pct_ms(lg, 0.99),
		    (unsigned long long)lg->retries,
		    (unsigned long long)lg->total_ok);
		json_str(lg->first_error);
		printf("}\n");
	} else {
		printf("%s rps=%.1f MiB/s=%.2f p50=%.3fms p90=%.3fms "
		    "p99=%.3fms requests=%llu errors=%llu%s%s\n", lg->label,
		    rps, mbs, pct_ms(lg, 0.50), pct_ms(lg, 0.90),
		    pct_ms(lg, 0.99), (unsigned long long)lg->requests,
		    (unsigned long long)lg->errors,
		    lg->first_error[0] ? " first_error=" : "",
		    lg->first_error);
	}
	fflush(stdout);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: moat_loadgen [options] URL\n"
"  -x, --proxy URL        forward proxy http://[user:pass@]host:port\n"
"                         (default: $BENCH_PROXY when set, else direct)\n"
"      --tunnel           CONNECT through the proxy even for http:// URLs\n"
"      --cacert FILE      CA file to verify the origin's certificate\n"
"      --resolve H:P:ADDR connect to ADDR for H:P (direct mode)\n"
"  -c, --concurrency N    connections in parallel (default 8)\n"
"  -d, --duration SECS    measured time (default 5)\n"
"  -w, --warmup SECS      unmeasured time first (default 1)\n"
"  -n, --requests N       stop after N good responses (or the duration)\n"
"      --rate R           at most R requests/s in all, paced per connection\n"
"                         (keep-alive load only)\n"
"      --new-conn         one new connection (and tunnel, TLS) per request\n"
"      --hold N           open N connections, one request each, keep idle\n"
"  -H, --header 'K: V'    extra request header (repeatable)\n"
"      --header-env VAR   extra header 'K: V' read from $VAR (secrets)\n"
"      --status N         expected status (default 200)\n"
"      --expect-len N     expected body length\n"
"      --expect-body STR  expected exact body\n"
"      --label NAME       name in the report\n"
"      --json             report as one JSON object\n"
"  -v, --verbose          print every error\n");
	exit(2);
}

static int
parse_hostport(const char *s, size_t len, char *host, size_t hostlen,
    int *port, int defport)
{
	const char *colon = NULL;
	size_t i, hl;
	char *end;
	long p;

	for (i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	hl = colon ? (size_t)(colon - s) : len;
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (colon == NULL) {
		*port = defport;
		return 0;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || end != s + len || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static int
resolve_to(const char *host, int port, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct addrinfo hints, *res;
	char ports[16];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ports, sizeof(ports), "%d", port);
	if ((r = getaddrinfo(host, ports, &hints, &res)) != 0) {
		fprintf(stderr, "loadgen: cannot resolve %s: %s\n", host,
		    gai_strerror(r));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* http://[user:pass@]host[:port] -> proxy address and auth header. */
static int
parse_proxy(struct lg *lg, const char *url)
{
	const char *p, *at, *end;
	char host[256];
	int port;

	if (strncmp(url, "http://", 7) != 0) {
		fprintf(stderr, "loadgen: proxy URL must start with "
		    "http://\n");
		return -1;
	}
	p = url + 7;
	end = p + strcspn(p, "/");
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL) {
		size_t ulen = (size_t)(at - p);
		size_t blen = 4 * ((ulen + 2) / 3) + 1;
		char *b64 = malloc(blen);

		if (b64 == NULL)
			return -1;
		EVP_EncodeBlock((unsigned char *)b64,
		    (const unsigned char *)p, (int)ulen);
		if (asprintf(&lg->proxy_auth, "Basic %s", b64) == -1)
			lg->proxy_auth = NULL;
		OPENSSL_cleanse(b64, blen);
		free(b64);
		if (lg->proxy_auth == NULL)
			return -1;
		p = at + 1;
	}
	if (parse_hostport(p, (size_t)(end - p), host, sizeof(host), &port,
	    80) == -1) {
		fprintf(stderr, "loadgen: bad proxy address in the proxy "
		    "URL\n");
		return -1;
	}
	if (resolve_to(host, port, &lg->proxy_sa, &lg->proxy_salen) == -1)
		return -1;
	lg->use_proxy = 1;
	return 0;
}

static int
parse_url(struct lg *lg, const char *url)
{
	const char *p, *end;

	if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
		lg->https = 0;
	} else if (strncmp(url, "https://", 8) == 0) {
		p = url + 8;
		lg->https = 1;
	} else
		return -1;
	end = p + strcspn(p, "/?");
	if (parse_hostport(p, (size_t)(end - p), lg->host, sizeof(lg->host),
	    &lg->port, lg->https ? 443 : 80) == -1)
		return -1;
	if (*end == '\0')
		snprintf(lg->path, sizeof(lg->path), "/");
	else if (*end == '?')
		snprintf(lg->path, sizeof(lg->path), "/%s", end);
	else if (strlen(end) >= sizeof(lg->path))
		return -1;
	else
		snprintf(lg->path, sizeof(lg->path), "%s", end);
	return 0;
}

static int
build_requests(struct lg *lg, char **hdrs, int nhdrs)
{
	char authority[300], *buf = NULL, *extra = NULL;
	size_t len = 0, elen = 0;
	FILE *f;
	int defport = lg->https ? 443 : 80, i, absolute;

	if (lg->port == defport)
		snprintf(authority, sizeof(authority), "%s", lg->host);
	else
		snprintf(authority, sizeof(authority), "%s:%d", lg->host,
		    lg->port);
	if ((f = open_memstream(&extra, &elen)) == NULL)
		return -1;
	for (i = 0; i < nhdrs; i++)
		fprintf(f, "%s\r\n", hdrs[i]);
	fclose(f);

	absolute = lg->use_proxy && !lg->https && !lg->tunnel;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	if (absolute)
		fprintf(f, "GET http://%s%s HTTP/1.1\r\n", authority, lg->path);
	else
		fprintf(f, "GET %s HTTP/1.1\r\n", lg->path);
	fprintf(f, "Host: %s\r\nUser-Agent: moat_loadgen\r\n", authority);
	if (absolute && lg->proxy_auth != NULL)
		fprintf(f, "Proxy-Authorization: %s\r\n", lg->proxy_auth);
	fprintf(f, "%s\r\n", extra);
	fclose(f);
	lg->req = buf;
	lg->reqlen = len;

	buf = NULL;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	fprintf(f, "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n", lg->host,
	    lg->port, lg->host, lg->port);
	if (lg->proxy_auth != NULL)
		fprintf(f, "Proxy-Authorization: %s\r\n", lg->proxy_auth);
	fprintf(f, "\r\n");
	fclose(f);
	lg->connect_req = buf;
	lg->connect_reqlen = len;
	free(extra);
	return 0;
}

static int
setup_tls(struct lg *lg, const char *cacert)
{
	if ((lg->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return -1;
	SSL_CTX_set_min_proto_version(lg->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(lg->ssl_ctx, SSL_VERIFY_PEER, NULL);
	/* Every new connection is a full handshake, as for a new client. */
	SSL_CTX_set_session_cache_mode(lg->ssl_ctx, SSL_SESS_CACHE_OFF);
	if (cacert != NULL) {
		if (SSL_CTX_load_verify_locations(lg->ssl_ctx, cacert,
		    NULL) != 1) {
			fprintf(stderr, "loadgen: cannot load CA file %s: "
			    "%s\n", cacert, ssl_error_string());
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(lg->ssl_ctx) != 1)
		return -1;
	return 0;
}

static long
parse_long(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "loadgen: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static double
parse_secs(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0 || v > 86400) {
		fprintf(stderr, "loadgen: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "proxy",	 required_argument, NULL, 'x' },
		{ "tunnel",	 no_argument,	    NULL, 'T' },
		{ "cacert",	 required_argument, NULL, 'C' },
		{ "resolve",	 required_argument, NULL, 'R' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration",	 required_argument, NULL, 'd' },
		{ "warmup",	 required_argument, NULL, 'w' },
		{ "requests",	 required_argument, NULL, 'n' },
		{ "rate",	 required_argument, NULL, 'r' },
		{ "new-conn",	 no_argument,	    NULL, 'N' },
		{ "hold",	 required_argument, NULL, 'O' },
		{ "header",	 required_argument, NULL, 'H' },
		{ "header-env",	 required_argument, NULL, 'E' },
		{ "status",	 required_argument, NULL, 'S' },
		{ "expect-len",	 required_argument, NULL, 'L' },
		{ "expect-body", required_argument, NULL, 'B' },
		{ "label",	 required_argument, NULL, 'l' },
		{ "json",	 no_argument,	    NULL, 'J' },
		{ "verbose",	 no_argument,	    NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct lg lg;
	struct event *ev_warm, *ev_end, *ev_int, *ev_term;
	struct timeval tv;
	const char *proxy = getenv("BENCH_PROXY"), *cacert = NULL;
	const char *resolve = NULL;
	char *hdrs[NHDR_MAX];
	int nhdrs = 0, ch, i;
	long nconn;

	memset(&lg, 0, sizeof(lg));
	TAILQ_INIT(&lg.conns);
	lg.conc = 8;
	lg.duration = 5;
	lg.warmup = 1;
	lg.expect_status = 200;
	lg.expect_len = -1;
	lg.label = "run";
	if (proxy != NULL && *proxy == '\0')
		proxy = NULL;

	while ((ch = getopt_long(argc, argv, "x:c:d:w:n:H:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'x':
			proxy = *optarg ? optarg : NULL;
			break;
		case 'T':
			lg.tunnel = 1;
			break;
		case 'C':
			cacert = optarg;
			break;
		case 'R':
			resolve = optarg;
			break;
		case 'c':
			lg.conc = (int)parse_long(optarg, "concurrency", 1,
			    10000);
			break;
		case 'd':
			lg.duration = parse_secs(optarg, "duration");
			break;
		case 'w':
			lg.warmup = parse_secs(optarg, "warmup");
			break;
		case 'n':
			lg.max_requests = parse_long(optarg, "requests", 1,
			    LONG_MAX);
			break;
		case 'r':
			lg.rate = parse_long(optarg, "rate", 1, 10000000);
			break;
		case 'N':
			lg.newconn = 1;
			break;
		case 'O':
			lg.hold = parse_long(optarg, "hold", 1, 100000);
			break;
		case 'H':
			if (nhdrs == NHDR_MAX || strpbrk(optarg, "\r\n")) {
				fprintf(stderr, "loadgen: bad header\n");
				return 2;
			}
			hdrs[nhdrs++] = optarg;
			break;
		case 'E':
			/* A header that may hold a secret: kept out of argv. */
			if ((optarg = getenv(optarg)) == NULL) {
				fprintf(stderr, "loadgen: --header-env: "
				    "variable not set\n");
				return 2;
			}
			if (nhdrs == NHDR_MAX || strpbrk(optarg, "\r\n")) {
				fprintf(stderr, "loadgen: bad header\n");
				return 2;
			}
			hdrs[nhdrs++] = optarg;
			break;
		case 'S':
			lg.expect_status = (int)parse_long(optarg, "status",
			    100, 599);
			break;
		case 'L':
			lg.expect_len = parse_long(optarg, "length", 0,
			    LONG_MAX);
			break;
		case 'B':
			lg.expect_body = optarg;
			lg.expect_body_len = strlen(optarg);
			break;
		case 'l':
			lg.label = optarg;
			break;
		case 'J':
			lg.json = 1;
			break;
		case 'v':
			lg.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if (lg.rate > 0) {
		if (lg.newconn || lg.hold > 0) {
			fprintf(stderr, "loadgen: --rate works with a "
			    "keep-alive load only\n");
			return 2;
		}
		lg.pace = (double)lg.conc / (double)lg.rate;
		/* An idle turn must stay well inside the read timeout. */
		if (lg.pace > REQ_TIMEOUT_S / 2.0) {
			fprintf(stderr, "loadgen: --rate %ld is too low for "
			    "%d connections (at least %d)\n", lg.rate,
			    lg.conc, (2 * lg.conc + REQ_TIMEOUT_S - 1) /
			    REQ_TIMEOUT_S);
			return 2;
		}
	}
	if (parse_url(&lg, argv[optind]) == -1) {
		fprintf(stderr, "loadgen: bad URL: %s\n", argv[optind]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (proxy != NULL && parse_proxy(&lg, proxy) == -1)
		return 2;
	if (resolve != NULL) {
		char rhost[256], *c1, *c2;
		int rport;

		c1 = strchr(resolve, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL || parse_hostport(resolve,
		    (size_t)(c2 - resolve), rhost, sizeof(rhost), &rport,
		    0) == -1) {
			fprintf(stderr, "loadgen: bad --resolve %s\n",
			    resolve);
			return 2;
		}
		if (strcasecmp(rhost, lg.host) != 0 || rport != lg.port) {
			fprintf(stderr, "loadgen: --resolve %s does not match "
			    "the URL\n", resolve);
			return 2;
		}
		if (resolve_to(c2 + 1, lg.port, &lg.target_sa,
		    &lg.target_salen) == -1)
			return 2;
	} else if (!lg.use_proxy && resolve_to(lg.host, lg.port,
	    &lg.target_sa, &lg.target_salen) == -1)
		return 2;
	if (lg.https && setup_tls(&lg, cacert) == -1)
		return 2;
	if (build_requests(&lg, hdrs, nhdrs) == -1)
		return 2;

	llhttp_settings_init(&lg.settings);
	lg.settings.on_body = on_body;
	lg.settings.on_message_complete = on_message_complete;

	if ((lg.base = event_base_new()) == NULL)
		return 2;
	ev_warm = evtimer_new(lg.base, on_warmup_end, &lg);
	ev_end = evtimer_new(lg.base, on_run_end, &lg);
	ev_int = evsignal_new(lg.base, SIGINT, on_signal, &lg);
	ev_term = evsignal_new(lg.base, SIGTERM, on_signal, &lg);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_term, NULL);
	if (lg.max_requests > 0)
		lg.warmup = 0;
	if (lg.hold > 0 || lg.warmup == 0) {
		lg.measuring = 1;
		clock_gettime(CLOCK_MONOTONIC, &lg.t_measure);
	} else {
		tv.tv_sec = (time_t)lg.warmup;
		tv.tv_usec = (suseconds_t)((lg.warmup - (double)tv.tv_sec) *
		    1e6);
		evtimer_add(ev_warm, &tv);
	}
	{
		double total = lg.duration + (lg.hold > 0 ? 0 : lg.warmup);

		tv.tv_sec = (time_t)total;
		tv.tv_usec = (suseconds_t)((total - (double)tv.tv_sec) * 1e6);
		evtimer_add(ev_end, &tv);
	}
	nconn = lg.hold > 0 ? (lg.hold < lg.conc ? lg.hold : lg.conc) :
	    lg.conc;
	for (i = 0; i < nconn; i++)
		conn_start(&lg);
	event_base_dispatch(lg.base);
	if (lg.t_end.tv_sec == 0)
		clock_gettime(CLOCK_MONOTONIC, &lg.t_end);

	if (lg.hold > 0) {
		if (lg.held < lg.hold) {
			char d[64];

			snprintf(d, sizeof(d), "%ld of %ld", lg.held,
			    lg.hold);
			record_error(&lg, "only %s connections held", d);
		}
		printf("%s held=%ld errors=%llu%s%s\n", lg.label, lg.held,
		    (unsigned long long)lg.errors,
		    lg.first_error[0] ? " first_error=" : "",
		    lg.first_error);
	} else {
		if (lg.max_requests > 0 && (long)lg.total_ok <
		    lg.max_requests && lg.errors == 0)
			record_error(&lg, "only %llu of %ld responses within "
			    "%.0f s (no response: the request or its answer "
			    "is stuck)", (unsigned long long)lg.total_ok,
			    lg.max_requests, lg.duration);
		else if (lg.requests == 0 && lg.errors == 0)
			record_error(&lg, "no request completed in the "
			    "measured time");
		report(&lg);
	}
	while (!TAILQ_EMPTY(&lg.conns))
		conn_free(TAILQ_FIRST(&lg.conns));
	event_free(ev_warm);
	event_free(ev_end);
	event_free(ev_int);
	event_free(ev_term);
	event_base_free(lg.base);
	SSL_CTX_free(lg.ssl_ctx);
	free(lg.lat_us);
	free(lg.req);
	free(lg.connect_req);
	if (lg.proxy_auth != NULL) {
		OPENSSL_cleanse(lg.proxy_auth, strlen(lg.proxy_auth));
		free(lg.proxy_auth);
	}
	return lg.errors == 0 ? 0 : 1;
}
