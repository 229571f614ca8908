/*
 * proxy/http: message heads.  Our own checks of the raw header block
 * (llhttp 8.1 accepts obs-fold and other shapes used for request
 * smuggling), llhttp in strict mode for the grammar, framing decisions,
 * hop-by-hop headers, absolute-form targets, Proxy-Authorization.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proxy_int.h"

/* tchar from RFC 9110 5.6.2 */
static int
is_tchar(unsigned char c)
{
	if (isalnum(c))
		return c < 0x80;
	return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != '\0';
}

ssize_t
http_head_end(const char *buf, size_t len, size_t start, size_t max,
    char *why, size_t wlen)
{
	size_t	i, n = len < max ? len : max;

	for (i = start; i < n; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch == '\0') {
			util_errf(why, wlen, "NUL byte in the message head");
			return -1;
		}
		if (ch == '\n' && (i == 0 || buf[i - 1] != '\r')) {
			util_errf(why, wlen, "bare LF in the message head");
			return -1;
		}
		if (ch == '\r' && i + 1 < len && buf[i + 1] != '\n') {
			util_errf(why, wlen, "bare CR in the message head");
			return -1;
		}
		if (ch == '\n' && i >= 3 && buf[i - 2] == '\n')
			return (ssize_t)(i + 1);
	}
	if (len >= max) {
		util_errf(why, wlen, "message head larger than %zu bytes",
		    max);
		return -2;
	}
	return 0;
}

/*
 * "METHOD SP target SP HTTP/d.d" or "HTTP/d.d SP ddd SP reason": single
 * spaces, a token method, no control bytes (nor non-ASCII in a request).
 */
static int
check_start_line(const char *s, size_t n, int request, char *why,
    size_t wlen)
{
	const char	*sp1, *sp2, *v;
	size_t		 i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r') {
			util_errf(why, wlen, "bare CR in the start line");
			return -1;
		}
		if (c < 0x20 || c == 0x7f || (request && c >= 0x80)) {
			util_errf(why, wlen, "control byte in the %s line",
			    request ? "request" : "status");
			return -1;
		}
	}
	if ((sp1 = memchr(s, ' ', n)) == NULL || sp1 == s)
		goto bad;
	if ((sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s))) == NULL) {
		if (request)
			goto bad;
		sp2 = s + n;	/* a status line may omit the reason */
	}
	if (sp2 == sp1 + 1)
		goto bad;
	if (request) {
		for (v = s; v < sp1; v++)
			if (!is_tchar((unsigned char)*v))
				goto bad;
		if (memchr(sp2 + 1, ' ', n - (size_t)(sp2 + 1 - s)) != NULL)
			goto bad;
		v = sp2 + 1;
		if (s + n - v != 8)
			goto bad;
	} else {
		v = s;
		if (sp1 - s != 8 || sp2 - sp1 != 4)
			goto bad;
	}
	if (memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		goto bad;
	return 0;
 bad:
	util_errf(why, wlen, "malformed %s line", request ? "request" :
	    "status");
	return -1;
}

/* The raw checks on a complete head: one line at a time. */
static int
check_block(const char *buf, size_t len, int request, size_t max_count,
    char *why, size_t wlen)
{
	const char	*p = buf, *end = buf + len, *eol, *colon;
	size_t		 nlines = 0, ncl = 0, nte = 0;
	int		 first = 1;

	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    eol == p || eol[-1] != '\r') {
			util_errf(why, wlen, "bare LF in the message head");
			return 400;
		}
		if (first && eol - 1 == p) {
			/*
			 * Empty lines before the start line: skipped (RFC 9112
			 * 2.2), as llhttp does; the start line and the fields
			 * after them are still checked.
			 */
			p = eol + 1;
			continue;
		}
		if (eol - 1 == p) {	/* the empty line */
			if (ncl > 0 && nte > 0) {
				util_errf(why, wlen, "both Content-Length and "
				    "Transfer-Encoding");
				return 400;
			}
			if (ncl > 1) {
				util_errf(why, wlen, "several Content-Length "
				    "headers");
				return 400;
			}
			if (nte > 1) {
				util_errf(why, wlen, "Transfer-Encoding other "
				    "than a single chunked");
				return 400;
			}
			return 0;
		}
		if (first) {
			if (check_start_line(p, (size_t)(eol - 1 - p), request,
			    why, wlen) == -1)
				return 400;
			first = 0;
			p = eol + 1;
			continue;
		}
		if (++nlines > max_count) {
			util_errf(why, wlen, "more than %zu header fields",
			    max_count);
			return 431;
		}
		if (*p == ' ' || *p == '\t') {
			util_errf(why, wlen, "obsolete line folding");
			return 400;
		}
		if ((colon = memchr(p, ':', (size_t)(eol - p))) == NULL) {
			util_errf(why, wlen, "header line without a colon");
			return 400;
		}
		if (colon == p) {
			util_errf(why, wlen, "empty header name");
			return 400;
		}
		if (colon[-1] == ' ' || colon[-1] == '\t') {
			util_errf(why, wlen, "whitespace before the colon "
			    "of a header name");
			return 400;
		}
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q)) {
				util_errf(why, wlen, "invalid byte 0x%02x in "
				    "a header name", (unsigned char)*q);
				return 400;
			}
		for (const char *q = colon + 1; q < eol - 1; q++) {
			unsigned char c = (unsigned char)*q;

			if (c == '\r') {
				util_errf(why, wlen, "bare CR in a header "
				    "value");
				return 400;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				util_errf(why, wlen, "control byte 0x%02x in "
				    "a header value", c);
				return 400;
			}
		}
		if (http_name_is(p, (size_t)(colon - p), "content-length"))
			ncl++;
		else if (http_name_is(p, (size_t)(colon - p),
		    "transfer-encoding"))
			nte++;
		p = eol + 1;
	}
	util_errf(why, wlen, "incomplete message head");
	return 400;
}

/* ---- llhttp callbacks for the head ---------------------------------- */

struct pctx {
	struct http_msg	*m;
	const char	*f, *v;
	size_t		 flen, vlen;
	int		 fdone;
	int		 overflow;
};

static void
span(const char **s, size_t *n, const char *at, size_t len)
{
	if (*s == NULL) {
		*s = at;
		*n = len;
	} else
		*n = (size_t)(at + len - *s);
}

static int
cb_url(llhttp_t *p, const char *at, size_t len)
{
	struct pctx *x = p->data;

	span(&x->m->url, &x->m->urllen, at, len);
	return 0;
}

static int
cb_status(llhttp_t *p, const char *at, size_t len)
{
	struct pctx *x = p->data;

	span(&x->m->reason, &x->m->reasonlen, at, len);
	return 0;
}

static int
cb_field(llhttp_t *p, const char *at, size_t len)
{
	struct pctx *x = p->data;

	span(&x->f, &x->flen, at, len);
	return 0;
}

static int
cb_value(llhttp_t *p, const char *at, size_t len)
{
	struct pctx *x = p->data;

	span(&x->v, &x->vlen, at, len);
	return 0;
}

static int
cb_value_complete(llhttp_t *p)
{
	struct pctx	*x = p->data;
	struct http_msg	*m = x->m;
	struct http_hdr	*h;

	if (m->nhdrs >= m->maxhdrs) {
		x->overflow = 1;
		return HPE_USER;
	}
	h = &m->hdrs[m->nhdrs++];
	h->name = x->f;
	h->nlen = x->flen;
	h->val = x->v ? x->v : "";
	h->vlen = x->v ? x->vlen : 0;
	while (h->vlen > 0 && (h->val[h->vlen - 1] == ' ' ||
	    h->val[h->vlen - 1] == '\t'))
		h->vlen--;
	while (h->vlen > 0 && (h->val[0] == ' ' || h->val[0] == '\t')) {
		h->val++;
		h->vlen--;
	}
	x->f = x->v = NULL;
	x->flen = x->vlen = 0;
	return 0;
}

static int
cb_headers_complete(llhttp_t *p)
{
	struct pctx *x = p->data;

	x->fdone = 1;
	return HPE_PAUSED;
}

static const llhttp_settings_t head_settings = {
	.on_url = cb_url,
	.on_status = cb_status,
	.on_header_field = cb_field,
	.on_header_value = cb_value,
	.on_header_value_complete = cb_value_complete,
	.on_headers_complete = cb_headers_complete,
};

int
http_name_is(const char *name, size_t nlen, const char *want)
{
	return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

/* Does the comma-separated list v contain token tok (any case)? */
static int
list_has(const char *v, size_t vlen, const char *tok, size_t toklen)
{
	const char *p = v, *end = v + vlen;

	while (p < end) {
		const char	*s, *e;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		s = p;
		while (p < end && *p != ',')
			p++;
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == toklen && toklen > 0 &&
		    strncasecmp(s, tok, toklen) == 0)
			return 1;
	}
	return 0;
}

static const char *hop_names[] = {
	"connection", "keep-alive", "te", "trailer", "transfer-encoding",
	"upgrade", "proxy-authorization", "proxy-authenticate",
	"proxy-connection", NULL
};

int
http_is_hop(const struct http_msg *m, const char *name, size_t nlen)
{
	size_t i;

	for (i = 0; hop_names[i] != NULL; i++)
		if (http_name_is(name, nlen, hop_names[i]))
			return 1;
	if (nlen >= 6 && strncasecmp(name, "proxy-", 6) == 0)
		return 1;
	for (i = 0; i < m->nhdrs; i++)
		if (http_name_is(m->hdrs[i].name, m->hdrs[i].nlen,
		    "connection") && list_has(m->hdrs[i].val,
		    m->hdrs[i].vlen, name, nlen))
			return 1;
	return 0;
}

/* Semantic checks after llhttp: framing that smuggling relies on. */
static int
check_framing(llhttp_t *p, struct http_msg *m, int req_method, char *why,
    size_t wlen)
{
	const int	 bad = m->request ? 400 : 502;
	size_t		 i, ncl = 0, nte = 0, nconn_up = 0, nupg = 0;
	const struct http_hdr *te = NULL;

	m->nhost = 0;
	m->host = NULL;
	for (i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];

		if (http_name_is(h->name, h->nlen, "content-length"))
			ncl++;
		else if (http_name_is(h->name, h->nlen,
		    "transfer-encoding")) {
			nte++;
			te = h;
		} else if (http_name_is(h->name, h->nlen, "host")) {
			m->nhost++;
			m->host = h;
		} else if (http_name_is(h->name, h->nlen, "connection")) {
			if (list_has(h->val, h->vlen, "upgrade", 7))
				nconn_up++;
		} else if (http_name_is(h->name, h->nlen, "upgrade"))
			nupg++;
		else if (http_name_is(h->name, h->nlen, "expect") &&
		    h->vlen == 12 && strncasecmp(h->val, "100-continue",
		    12) == 0)
			m->expect_continue = 1;
	}
	if (ncl > 0 && nte > 0) {
		util_errf(why, wlen, "both Content-Length and "
		    "Transfer-Encoding");
		return bad;
	}
	if (ncl > 1) {
		util_errf(why, wlen, "several Content-Length headers");
		return bad;
	}
	if (nte > 1 || (te != NULL && !(te->vlen == 7 &&
	    strncasecmp(te->val, "chunked", 7) == 0))) {
		util_errf(why, wlen, "Transfer-Encoding other than a single "
		    "chunked");
		return bad;
	}
	if (m->request && m->nhost > 1) {
		util_errf(why, wlen, "several Host headers");
		return 400;
	}
	if (m->major != 1 || m->minor > 1) {
		util_errf(why, wlen, "unsupported HTTP version %d.%d",
		    m->major, m->minor);
		return bad;
	}
	m->has_te = nte > 0;
	m->has_cl = ncl > 0;
	m->upgrade = nupg == 1 && nconn_up > 0;
	m->keepalive = llhttp_should_keep_alive(p);
	/*
	 * llhttp frames the body: it must read the same framing as these
	 * checks ("chunked<TAB>" passes them, yet llhttp would read the
	 * body raw and the client would get unframed bytes as chunks).
	 */
	if ((te != NULL && !(p->flags & F_CHUNKED)) ||
	    (ncl == 1 && !(p->flags & F_CONTENT_LENGTH))) {
		util_errf(why, wlen, "framing header not understood");
		return bad;
	}
	if (te != NULL)
		m->body = BODY_CHUNKED;
	else if (ncl == 1) {
		m->body = BODY_CL;
		m->cl = p->content_length;
	} else
		m->body = m->request ? BODY_NONE : BODY_EOF;
	if (!m->request) {
		/* RFC 9112 6.3: no body whatever the headers say */
		if (req_method == HTTP_HEAD || m->status == 204 ||
		    m->status == 304 || (m->status >= 100 && m->status < 200))
			m->body = BODY_NONE;
		else if (req_method == HTTP_CONNECT && m->status / 100 == 2)
			m->body = BODY_NONE;
	}
	if (m->body == BODY_CL && m->cl == 0)
		m->body = BODY_NONE;
	return 0;
}

int
http_parse_head(llhttp_t *p, const char *buf, size_t len, int request,
    int req_method, size_t max_count, size_t uri_max, struct http_msg *m,
    char *why, size_t wlen)
{
	struct http_hdr	*hdrs = m->hdrs;
	size_t		 maxhdrs = m->maxhdrs;
	struct pctx	 x;
	llhttp_errno_t	 e;
	int		 r;

	memset(m, 0, sizeof(*m));
	m->hdrs = hdrs;
	m->maxhdrs = maxhdrs;
	m->request = request;
	if ((r = check_block(buf, len, request, max_count, why, wlen)) != 0)
		return request || r == 431 ? r : 502;
	memset(&x, 0, sizeof(x));
	x.m = m;
	llhttp_init(p, request ? HTTP_REQUEST : HTTP_RESPONSE,
	    &head_settings);
	p->data = &x;
	e = llhttp_execute(p, buf, len);
	if (e != HPE_PAUSED || !x.fdone || p->error_pos != buf + len) {
		if (x.overflow) {
			util_errf(why, wlen, "more than %zu header fields",
			    maxhdrs);
			return 431;
		}
		util_errf(why, wlen, "malformed message head (%s)",
		    e == HPE_OK ? "incomplete" : llhttp_errno_name(e));
		return request ? 400 : 502;
	}
	p->data = NULL;
	m->method = p->method;
	m->status = p->status_code;
	m->major = p->http_major;
	m->minor = p->http_minor;
	if (!request && m->status < 100) {
		/* "020" would be relayed as "20": not a status line */
		util_errf(why, wlen, "invalid status code %03d", m->status);
		return 502;
	}
	if (request && m->urllen > uri_max) {
		util_errf(why, wlen, "request target longer than %zu bytes",
		    uri_max);
		return 414;
	}
	if (request && m->urllen == 0) {
		util_errf(why, wlen, "empty request target");
		return 400;
	}
	return check_framing(p, m, req_method, why, wlen);
}

int
http_parse_absolute(const char *url, size_t len, int *https, char *host,
    size_t hostlen, int *port, size_t *path_off, char *why, size_t wlen)
{
	size_t		 skip, i, alen;
	const char	*a;

	if (len >= 7 && strncasecmp(url, "http://", 7) == 0) {
		skip = 7;
		*https = 0;
	} else if (len >= 8 && strncasecmp(url, "https://", 8) == 0) {
		skip = 8;
		*https = 1;
	} else {
		util_errf(why, wlen, "a proxy request needs an absolute "
		    "http:// target");
		return -1;
	}
	a = url + skip;
	for (i = skip; i < len; i++)
		if (url[i] == '/' || url[i] == '?' || url[i] == '#')
			break;
	alen = (size_t)(url + i - a);
	if (memchr(a, '@', alen) != NULL) {
		util_errf(why, wlen, "user information in the request "
		    "target");
		return -1;
	}
	if (i < len && url[i] == '#') {
		util_errf(why, wlen, "fragment in the request target");
		return -1;
	}
	if (memchr(url, '#', len) != NULL) {
		util_errf(why, wlen, "fragment in the request target");
		return -1;
	}
	if (authority_parse(a, alen, 0, *https ? 443 : 80, host, hostlen,
	    port) == -1) {
		util_errf(why, wlen, "invalid host in the request target");
		return -1;
	}
	*path_off = i;
	return 0;
}

/* Constant-time hex decoding of exactly 64 characters into 32 bytes. */
static int
hex32(const char *s, unsigned char out[PROXY_TOKEN_LEN])
{
	unsigned int	bad = 0;
	size_t		i;

	for (i = 0; i < 2 * PROXY_TOKEN_LEN; i++) {
		unsigned int	c = (unsigned char)s[i];
		unsigned int	dig = c - '0', lo = (c | 0x20) - 'a';
		unsigned int	isdig = dig < 10, islo = lo < 6;
		unsigned int	v;

		v = (isdig * dig) | (islo * (lo + 10));
		bad |= (isdig | islo) ^ 1;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return bad ? -1 : 0;
}

int
http_auth_check(const char *val, size_t vlen,
    const unsigned char token[PROXY_TOKEN_LEN])
{
	/* base64 of "moat:" + 64 hex is 92 bytes; allow a little slack */
	char		 dec[128], hex[2 * PROXY_TOKEN_LEN];
	unsigned char	 cand[PROXY_TOKEN_LEN];
	size_t		 declen = 0;
	int		 ok = 1;

	memset(hex, 'x', sizeof(hex));
	memset(cand, 0, sizeof(cand));
	if (vlen > 6 && strncasecmp(val, "Basic ", 6) == 0) {
		const char *b = val + 6;
		size_t blen = vlen - 6;

		while (blen > 0 && *b == ' ') {
			b++;
			blen--;
		}
		if (blen > 4 * (sizeof(dec) / 3) ||
		    sodium_base642bin((unsigned char *)dec, sizeof(dec), b,
		    blen, NULL, &declen, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    declen != 5 + sizeof(hex) ||
		    memcmp(dec, "moat:", 5) != 0)
			ok = 0;
		else
			memcpy(hex, dec + 5, sizeof(hex));
	} else if (vlen > 7 && strncasecmp(val, "Bearer ", 7) == 0) {
		if (vlen - 7 != sizeof(hex))
			ok = 0;
		else
			memcpy(hex, val + 7, sizeof(hex));
	} else
		ok = 0;
	if (hex32(hex, cand) != 0)
		ok = 0;
	/* always compare, so timing does not depend on where it failed */
	if (sodium_memcmp(cand, token, PROXY_TOKEN_LEN) != 0)
		ok = 0;
	sodium_memzero(dec, sizeof(dec));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(cand, sizeof(cand));
	return ok;
}

void
http_log_path(const char *path, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;
	int	in_query = 0, in_value = 0;

	if (outlen == 0)
		return;
	if (len == 0) {
		path = "/";
		len = 1;
	}
	for (i = 0; i < len && o + 1 < outlen; i++) {
		char ch = path[i];

		if (ch == '#')
			break;
		if (ch == '?' && !in_query) {
			in_query = 1;
			out[o++] = ch;
			continue;
		}
		if (in_query) {
			if (ch == '&') {
				in_value = 0;
				out[o++] = ch;
				continue;
			}
			if (in_value)
				continue;
			if (ch == '=')
				in_value = 1;
		}
		out[o++] = ch;
	}
	out[o] = '\0';
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

size_t
http_u64_dec(char t[HTTP_U64_DEC], unsigned long long v)
{
	size_t i = HTTP_U64_DEC;

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && i > 0);
	return i;
}
