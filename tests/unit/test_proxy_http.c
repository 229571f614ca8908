/*
 * Unit tests for proxy/http.c: the header-block checks that stand between
 * llhttp 8.1 and request smuggling (each rejection pinned, so a parser
 * change cannot loosen them), framing, hop-by-hop headers, absolute-form
 * targets, Proxy-Authorization decoding, log paths.
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "harness.h"
#include "proxy_int.h"

static struct http_hdr	hdrs[101];
static struct http_msg	msg;
static char		why[HTTP_WHY_MAX];

/* Parses a complete request head; returns 0 or the HTTP status. */
static int
req(const char *s)
{
	llhttp_t	p;
	size_t		len = strlen(s);

	memset(&msg, 0, sizeof(msg));
	msg.hdrs = hdrs;
	msg.maxhdrs = 101;
	why[0] = '\0';
	return http_parse_head(&p, s, len, 1, 0, 100, 8192, &msg, why,
	    sizeof(why));
}

static int
resp(const char *s, int method)
{
	llhttp_t	p;

	memset(&msg, 0, sizeof(msg));
	msg.hdrs = hdrs;
	msg.maxhdrs = 101;
	why[0] = '\0';
	return http_parse_head(&p, s, strlen(s), 0, method, 100, 0, &msg,
	    why, sizeof(why));
}

#define GET	"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n"

static void
test_accepts_plain_request(void)
{
	CHECK_INT(req(GET "Accept: */*\r\nX-A:  v  \r\n\r\n"), 0);
	CHECK_INT(msg.method, HTTP_GET);
	CHECK_INT(msg.nhdrs, 3);
	CHECK_INT(msg.hdrs[2].vlen, 1);
	CHECK(memcmp(msg.hdrs[2].val, "v", 1) == 0);
	CHECK_INT(msg.body, BODY_NONE);
	CHECK(msg.keepalive);
	CHECK_INT(req("POST http://a.test/ HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 12\r\n\r\n"), 0);
	CHECK_INT(msg.body, BODY_CL);
	CHECK_INT(msg.cl, 12);
	CHECK_INT(req("POST http://a.test/ HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 0);
	CHECK_INT(msg.body, BODY_CHUNKED);
	CHECK_INT(req("GET http://a.test/ HTTP/1.0\r\n\r\n"), 0);
	CHECK(!msg.keepalive);
}

/* Every smuggling shape: 400 with a reason. */
static void
test_rejects_smuggling_shapes(void)
{
	CHECK_INT(req(GET "X-A: 1\r\n continued\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "obsolete line folding");
	CHECK_INT(req(GET "X-A: 1\r\n\tcontinued\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "obsolete line folding");
	CHECK_INT(req(GET "X-A: 1\rX-B: 2\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "bare");
	CHECK_INT(req(GET "X-A: 1\nX-B: 2\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "bare LF");
	CHECK_INT(req(GET ": empty\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "empty header name");
	CHECK_INT(req(GET "Content-Length : 5\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "whitespace before the colon");
	CHECK_INT(req(GET "Transfer-Encoding\t: chunked\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "whitespace before the colon");
	CHECK_INT(req(GET "X-A: a\x01z\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "control byte");
	CHECK_INT(req(GET "X-A: a\x7fz\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "control byte");
	CHECK_INT(req(GET "X\x01Y: a\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "header name");
	CHECK_INT(req(GET "X(Y): a\r\n\r\n"), 400);
	CHECK_INT(req(GET "no colon here\r\n\r\n"), 400);
	CHECK_INT(req(GET "Content-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "both Content-Length and Transfer-Encoding");
	CHECK_INT(req(GET "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"),
	    400);
	CHECK_CONTAINS(why, "several Content-Length");
	CHECK_INT(req(GET "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	    400);
	CHECK_INT(req(GET "Content-Length: 5, 5\r\n\r\n"), 400);
	CHECK_INT(req(GET "Content-Length: -1\r\n\r\n"), 400);
	CHECK_INT(req(GET "Content-Length: 0x10\r\n\r\n"), 400);
	CHECK_INT(req(GET "Transfer-Encoding: gzip, chunked\r\n\r\n"), 400);
	CHECK_CONTAINS(why, "Transfer-Encoding other than");
	CHECK_INT(req(GET "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400);
	CHECK_INT(req(GET "Transfer-Encoding: identity\r\n\r\n"), 400);
	CHECK_INT(req(GET "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400);
	CHECK_INT(req(GET "Transfer-Encoding: xchunked\r\n\r\n"), 400);
	CHECK_INT(req("GET http://a.test/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
	    "\r\n"), 400);
	CHECK_CONTAINS(why, "several Host");
	CHECK_INT(req("GET http://a.test/\x01 HTTP/1.1\r\n\r\n"), 400);
	CHECK_INT(req("GET http://a.test/ HTTP/2.0\r\n\r\n"), 400);
	CHECK_INT(req("GET  http://a.test/ HTTP/1.1\r\n\r\n"), 400);
	CHECK_INT(req("G@T http://a.test/ HTTP/1.1\r\n\r\n"), 400);
}

static void
test_head_end(void)
{
	const char *ok = "GET / HTTP/1.1\r\nA: b\r\n\r\nBODY";

	CHECK_INT(http_head_end(ok, strlen(ok), 0, 1000, why, sizeof(why)),
	    strlen(ok) - 4);
	CHECK_INT(http_head_end(ok, 10, 0, 1000, why, sizeof(why)), 0);
	/* resumed scanning gives the same answer */
	CHECK_INT(http_head_end(ok, strlen(ok), 17, 1000, why, sizeof(why)),
	    strlen(ok) - 4);
	CHECK_INT(http_head_end("GET / HTTP/1.1\nA: b\n\n", 21, 0, 1000, why,
	    sizeof(why)), -1);
	CHECK_CONTAINS(why, "bare LF");
	CHECK_INT(http_head_end("GET / HTTP/1.1\rA", 16, 0, 1000, why,
	    sizeof(why)), -1);
	CHECK_CONTAINS(why, "bare CR");
	CHECK_INT(http_head_end("GET /\0 HTTP/1.1\r\n\r\n", 19, 0, 1000, why,
	    sizeof(why)), -1);
	CHECK_CONTAINS(why, "NUL");
	/* too long: 431 */
	CHECK_INT(http_head_end("GET / HTTP/1.1\r\nA: bbbbbbbbbbbbbbbbbbb", 36,
	    0, 30, why, sizeof(why)), -2);
}

static void
test_limits(void)
{
	char	big[12000];
	size_t	i, o;

	o = (size_t)snprintf(big, sizeof(big), "GET http://a.test/");
	for (i = 0; i < 8200; i++)
		big[o++] = 'a';
	o += (size_t)snprintf(big + o, sizeof(big) - o, " HTTP/1.1\r\n\r\n");
	CHECK_INT(req(big), 414);
	o = (size_t)snprintf(big, sizeof(big), "GET http://a.test/ HTTP/1.1"
	    "\r\n");
	for (i = 0; i < 101; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "X-%zu: v\r\n",
		    i);
	snprintf(big + o, sizeof(big) - o, "\r\n");
	CHECK_INT(req(big), 431);
	CHECK_CONTAINS(why, "more than 100 header fields");
}

static void
test_response_framing(void)
{
	CHECK_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
	    HTTP_GET), 0);
	CHECK_INT(msg.body, BODY_CL);
	CHECK_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
	    HTTP_HEAD), 0);
	CHECK_INT(msg.body, BODY_NONE);
	CHECK_INT(resp("HTTP/1.1 204 No Content\r\n\r\n", HTTP_GET), 0);
	CHECK_INT(msg.body, BODY_NONE);
	CHECK_INT(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n"
	    "\r\n", HTTP_GET), 0);
	CHECK_INT(msg.body, BODY_NONE);
	CHECK_INT(resp("HTTP/1.1 200 OK\r\n\r\n", HTTP_GET), 0);
	CHECK_INT(msg.body, BODY_EOF);
	CHECK_INT(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", HTTP_GET), 0);
	CHECK_INT(msg.body, BODY_CHUNKED);
	CHECK_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", HTTP_GET), 502);
	CHECK_INT(resp("HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n",
	    HTTP_GET), 502);
}

static void
test_hop_by_hop(void)
{
	CHECK_INT(req(GET "Connection: close, X-Secret-Hop\r\n"
	    "X-Secret-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
	    "Proxy-Authorization: Basic x\r\nProxy-Connection: keep-alive\r\n"
	    "Proxy-Foo: 1\r\nX-End: 1\r\n\r\n"), 0);
	CHECK(http_is_hop(&msg, "X-Secret-Hop", 12));
	CHECK(http_is_hop(&msg, "x-secret-hop", 12));
	CHECK(http_is_hop(&msg, "Keep-Alive", 10));
	CHECK(http_is_hop(&msg, "TE", 2));
	CHECK(http_is_hop(&msg, "Proxy-Authorization", 19));
	CHECK(http_is_hop(&msg, "Proxy-Connection", 16));
	CHECK(http_is_hop(&msg, "Proxy-Foo", 9));
	CHECK(http_is_hop(&msg, "Upgrade", 7));
	CHECK(http_is_hop(&msg, "Transfer-Encoding", 17));
	CHECK(!http_is_hop(&msg, "X-End", 5));
	CHECK(!http_is_hop(&msg, "Authorization", 13));
}

static void
test_absolute_targets(void)
{
	char	host[HOST_MAX + 1];
	int	port, https;
	size_t	off;

#define ABS(u) http_parse_absolute(u, strlen(u), &https, host, \
	sizeof(host), &port, &off, why, sizeof(why))
	CHECK_INT(ABS("http://Example.COM./a?b=c"), 0);
	CHECK_STR(host, "example.com");
	CHECK_INT(port, 80);
	CHECK_INT(off, 19);
	CHECK_INT(https, 0);
	CHECK_INT(ABS("http://[::1]:8080"), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 8080);
	CHECK_INT(ABS("HTTPS://a.test/x"), 0);
	CHECK_INT(port, 443);
	CHECK_INT(https, 1);
	CHECK_INT(ABS("/relative"), -1);
	CHECK_INT(ABS("http://user:pw@a.test/"), -1);
	CHECK_CONTAINS(why, "user information");
	CHECK_INT(ABS("http://a.test:0/"), -1);
	CHECK_INT(ABS("http://a.test:99999/"), -1);
	CHECK_INT(ABS("http://a.test/#frag"), -1);
	CHECK_INT(ABS("ftp://a.test/"), -1);
	CHECK_INT(ABS("http://a b/"), -1);
	CHECK_INT(ABS("http://127.1/"), -1);
#undef ABS
}

static void
test_auth(void)
{
	unsigned char	tok[PROXY_TOKEN_LEN];
	char		hex[65], v[200], b64[160], raw[80];

	randombytes_buf(tok, sizeof(tok));
	proxy_token_hex(tok, hex);
	snprintf(v, sizeof(v), "Bearer %s", hex);
	CHECK(http_auth_check(v, strlen(v), tok));
	snprintf(raw, sizeof(raw), "moat:%s", hex);
	sodium_bin2base64(b64, sizeof(b64), (unsigned char *)raw,
	    strlen(raw), sodium_base64_VARIANT_ORIGINAL);
	snprintf(v, sizeof(v), "Basic %s", b64);
	CHECK(http_auth_check(v, strlen(v), tok));
	snprintf(v, sizeof(v), "basic %s", b64);
	CHECK(http_auth_check(v, strlen(v), tok));
	/* wrong user */
	snprintf(raw, sizeof(raw), "mo4t:%s", hex);
	sodium_bin2base64(b64, sizeof(b64), (unsigned char *)raw,
	    strlen(raw), sodium_base64_VARIANT_ORIGINAL);
	snprintf(v, sizeof(v), "Basic %s", b64);
	CHECK(!http_auth_check(v, strlen(v), tok));
	/* one digit off, last position */
	hex[63] = hex[63] == '0' ? '1' : '0';
	snprintf(v, sizeof(v), "Bearer %s", hex);
	CHECK(!http_auth_check(v, strlen(v), tok));
	hex[63] = 'g';
	snprintf(v, sizeof(v), "Bearer %s", hex);
	CHECK(!http_auth_check(v, strlen(v), tok));
	/* short, long, empty, other schemes */
	proxy_token_hex(tok, hex);
	snprintf(v, sizeof(v), "Bearer %.63s", hex);
	CHECK(!http_auth_check(v, strlen(v), tok));
	snprintf(v, sizeof(v), "Bearer %s0", hex);
	CHECK(!http_auth_check(v, strlen(v), tok));
	CHECK(!http_auth_check("", 0, tok));
	CHECK(!http_auth_check("Basic ", 6, tok));
	CHECK(!http_auth_check("Basic !!!!", 10, tok));
	snprintf(v, sizeof(v), "Digest %s", hex);
	CHECK(!http_auth_check(v, strlen(v), tok));
	/* an all-zero candidate never matches a random token */
	memset(hex, '0', 64);
	snprintf(v, sizeof(v), "Bearer %.64s", hex);
	CHECK(!http_auth_check(v, strlen(v), tok) ||
	    sodium_is_zero(tok, sizeof(tok)));
}

static void
test_log_path(void)
{
	char out[128];

	http_log_path("/a/b?token=s3cret&x=1&flag", 26, out, sizeof(out));
	CHECK_STR(out, "/a/b?token=&x=&flag");
	http_log_path("", 0, out, sizeof(out));
	CHECK_STR(out, "/");
	http_log_path("/p#frag", 7, out, sizeof(out));
	CHECK_STR(out, "/p");
	http_log_path("/p?a=1=2", 8, out, sizeof(out));
	CHECK_STR(out, "/p?a=");
}

/*
 * Listening on an address the host does not have (yet): refused, unless
 * IP_FREEBIND is asked for, as moat run does for Podman, whose bridge
 * gets its gateway address only when the first container joins.
 * 192.0.2.1 is TEST-NET-1: never a local address, and nothing is sent.
 */
static void
test_listen_freebind(void)
{
	struct event_base	*base = event_base_new();
	struct proxy_opts	 o;
	struct proxy		*px;
	char			 err[512];

	memset(&o, 0, sizeof(o));
	proxy_limits_default(&o.limits);
	o.listen_addr = "192.0.2.1";
	px = proxy_new(base, &o, err, sizeof(err));
	CHECK(px == NULL);
	CHECK_STR(err, "cannot listen on 192.0.2.1:0: Cannot assign "
	    "requested address");
	o.listen_freebind = 1;
	px = proxy_new(base, &o, err, sizeof(err));
	CHECK(px != NULL);
	if (px != NULL) {
		CHECK(proxy_port(px) > 0);
		proxy_free(px);
	}
	event_base_free(base);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_accepts_plain_request);
	RUN(test_rejects_smuggling_shapes);
	RUN(test_head_end);
	RUN(test_limits);
	RUN(test_response_framing);
	RUN(test_hop_by_hop);
	RUN(test_absolute_targets);
	RUN(test_auth);
	RUN(test_log_path);
	RUN(test_listen_freebind);
	return harness_done();
}
