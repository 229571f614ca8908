/*
 * Credential records: validation, the plaintext encoding stored inside a
 * .enc file, header values and fingerprints.
 *
 * Encoding (integers big-endian), version 1:
 *	u8 version, u64 created, u32 secret_len, secret,
 *	u8 nbindings, then per binding:
 *	  u8 basic, u8 header_len, header, u8 affix_len, affix,
 *	  u8 nhosts, then per host: u16 len, pattern text
 * Decoding refuses anything the add/set functions would refuse, and
 * trailing bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "creds.h"

#define ENCODING_VERSION	1
#define PATTERN_TEXT_MAX	(HOST_MAX + 16)

static int	printable(const char *, size_t);

int
creds_name_valid(const char *name, char *err, size_t errlen)
{
	size_t i, len = strlen(name);

	if (len == 0) {
		util_errf(err, errlen, "credential name is empty");
		return -1;
	}
	if (len > CREDS_NAME_MAX) {
		util_errf(err, errlen, "credential name is longer than %d "
		    "bytes", CREDS_NAME_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '-' || c == '_'))
			continue;
		util_errf(err, errlen, "invalid credential name \"%.*s\": use "
		    "lowercase letters, digits, '-' and '_', starting with a "
		    "letter or digit", printable(name, len) ? (int)len : 0,
		    name);
		return -1;
	}
	return 0;
}

struct creds_record *
creds_record_new(const char *name, char *err, size_t errlen)
{
	struct creds_record *r;

	if (creds_name_valid(name, err, errlen) == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->name = xstrdup(name);
	return r;
}

static void
binding_clear(struct creds_binding *b)
{
	free(b->hosts);
	free(b->header);
	free(b->prefix_or_user);
	memset(b, 0, sizeof(*b));
}

void
creds_record_free(struct creds_record *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->secret != NULL)
		sodium_free(r->secret);	/* wipes */
	for (i = 0; i < r->nbindings; i++)
		binding_clear(&r->bindings[i]);
	free(r->bindings);
	free(r->name);
	free(r);
}

static int
secret_valid(const unsigned char *s, size_t len, char *err, size_t errlen)
{
	size_t i;

	if (len == 0) {
		util_errf(err, errlen, "the secret is empty");
		return -1;
	}
	if (len > CREDS_SECRET_MAX) {
		util_errf(err, errlen, "the secret is longer than %d bytes",
		    CREDS_SECRET_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		const char *what;

		if (s[i] >= 0x20 && s[i] != 0x7f)
			continue;
		if (s[i] == '\r')
			what = "a carriage return (CR)";
		else if (s[i] == '\n')
			what = "a line feed (LF)";
		else if (s[i] == '\0')
			what = "a NUL byte";
		else
			what = "a control character";
		util_errf(err, errlen, "the secret contains %s at byte %zu; "
		    "it would corrupt the HTTP header, refusing it", what, i);
		return -1;
	}
	return 0;
}

int
creds_record_set_secret(struct creds_record *r, const void *secret,
    size_t len, char *err, size_t errlen)
{
	unsigned char *s;

	if (secret_valid(secret, len, err, errlen) == -1)
		return -1;
	if ((s = sodium_malloc(len + 1)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		return -1;
	}
	memcpy(s, secret, len);
	s[len] = '\0';
	if (r->secret != NULL)
		sodium_free(r->secret);
	r->secret = s;
	r->secret_len = len;
	return 0;
}

/* Headers a credential must never replace: they frame or route requests. */
static const char *const forbidden_headers[] = {
	"host", "content-length", "transfer-encoding", "connection",
	"upgrade", "te", "trailer", "keep-alive", "expect", "cookie",
	"proxy-authorization", "proxy-connection", "proxy-authenticate",
};

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 when s[0..len) is printable ASCII, so it may be quoted in a message. */
static int
printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
header_valid(const char *h, size_t len, char *err, size_t errlen)
{
	size_t i;

	if (len == 0 || len > CREDS_HEADER_MAX) {
		util_errf(err, errlen, "header name must be 1 to %d bytes",
		    CREDS_HEADER_MAX);
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)h[i])) {
			util_errf(err, errlen, "invalid header name \"%.*s\": "
			    "only letters, digits and !#$%%&'*+-.^_`|~ are "
			    "allowed", printable(h, len) ? (int)len : 0, h);
			return -1;
		}
	for (i = 0; i < sizeof(forbidden_headers) /
	    sizeof(forbidden_headers[0]); i++)
		if (strlen(forbidden_headers[i]) == len &&
		    strncasecmp(h, forbidden_headers[i], len) == 0) {
			util_errf(err, errlen, "header \"%.*s\" cannot carry a "
			    "credential", (int)len, h);
			return -1;
		}
	return 0;
}

static int
affix_valid(const char *s, size_t len, int basic, char *err, size_t errlen)
{
	const char	*what = basic ? "Basic user" : "prefix";
	size_t		 i;

	if (len > CREDS_AFFIX_MAX) {
		util_errf(err, errlen, "%s is longer than %d bytes", what,
		    CREDS_AFFIX_MAX);
		return -1;
	}
	if (basic && len == 0) {
		util_errf(err, errlen, "Basic user is empty");
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e) {
			util_errf(err, errlen, "%s must be printable ASCII",
			    what);
			return -1;
		}
		if (basic && c == ':') {
			util_errf(err, errlen, "Basic user \"%.*s\" must not "
			    "contain ':'", (int)len, s);
			return -1;
		}
	}
	return 0;
}

int
creds_record_add_binding(struct creds_record *r, const char *const *hosts,
    size_t nhosts, const char *header, int basic, const char *prefix_or_user,
    char *err, size_t errlen)
{
	struct creds_binding	 b;
	size_t			 i;

	memset(&b, 0, sizeof(b));
	if (r->nbindings >= CREDS_MAX_BINDINGS) {
		util_errf(err, errlen, "more than %d bindings",
		    CREDS_MAX_BINDINGS);
		return -1;
	}
	if (nhosts == 0) {
		util_errf(err, errlen, "a credential needs at least one host "
		    "(--host PATTERN)");
		return -1;
	}
	if (nhosts > CREDS_MAX_HOSTS) {
		util_errf(err, errlen, "more than %d host patterns",
		    CREDS_MAX_HOSTS);
		return -1;
	}
	if (basic != 0 && basic != 1) {
		util_errf(err, errlen, "unknown header format %d", basic);
		return -1;
	}
	if (header_valid(header, strlen(header), err, errlen) == -1 ||
	    affix_valid(prefix_or_user, strlen(prefix_or_user), basic, err,
	    errlen) == -1)
		return -1;
	b.hosts = xcalloc(nhosts, sizeof(*b.hosts));
	for (i = 0; i < nhosts; i++) {
		if (hostpat_parse(hosts[i], &b.hosts[i], err, errlen) == -1) {
			free(b.hosts);
			return -1;
		}
	}
	b.nhosts = nhosts;
	b.header = xstrdup(header);
	b.basic = basic;
	b.prefix_or_user = xstrdup(prefix_or_user);
	r->bindings = xrealloc(r->bindings,
	    (r->nbindings + 1) * sizeof(*r->bindings));
	r->bindings[r->nbindings++] = b;
	return 0;
}

char *
creds_header_value(const struct creds_record *r,
    const struct creds_binding *b, size_t *lenp)
{
	unsigned char	*pair;
	char		*v;
	size_t		 alen = strlen(b->prefix_or_user), plen, vlen;

	if (!b->basic) {
		vlen = alen + r->secret_len;
		if ((v = sodium_malloc(vlen + 1)) == NULL)
			return NULL;
		memcpy(v, b->prefix_or_user, alen);
		memcpy(v + alen, r->secret, r->secret_len);
		v[vlen] = '\0';
		if (lenp)
			*lenp = vlen;
		return v;
	}
	plen = alen + 1 + r->secret_len;
	if ((pair = sodium_malloc(plen)) == NULL)
		return NULL;
	memcpy(pair, b->prefix_or_user, alen);
	pair[alen] = ':';
	memcpy(pair + alen + 1, r->secret, r->secret_len);
	vlen = 6 + sodium_base64_ENCODED_LEN(plen,
	    sodium_base64_VARIANT_ORIGINAL);
	if ((v = sodium_malloc(vlen)) == NULL) {
		sodium_free(pair);
		return NULL;
	}
	memcpy(v, "Basic ", 6);
	sodium_bin2base64(v + 6, vlen - 6, pair, plen,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_free(pair);
	if (lenp)
		*lenp = strlen(v);
	return v;
}

void
creds_fingerprint(const struct creds_record *r, char out[CREDS_FP_LEN + 1])
{
	static const unsigned char key[] = "moat credential fingerprint 1";
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), r->secret, r->secret_len, key,
	    sizeof(key) - 1);
	sodium_bin2hex(out, CREDS_FP_LEN + 1, h, CREDS_FP_LEN / 2);
}

/* ---- encoding --------------------------------------------------------- */

struct wbuf {
	unsigned char	*p;
	size_t		 len, cap;
};

static void
put(struct wbuf *w, const void *d, size_t n)
{
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void
put_be(struct wbuf *w, uint64_t v, size_t n)
{
	unsigned char	b[8];
	size_t		i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	put(w, b, n);
}

/* Checks a record the way decoding would; returns 0 or -1. */
static int
record_valid(const struct creds_record *r, char *err, size_t errlen)
{
	const struct creds_binding	*b;
	size_t				 i;

	if (creds_name_valid(r->name, err, errlen) == -1 ||
	    secret_valid(r->secret, r->secret_len, err, errlen) == -1)
		return -1;
	if (r->nbindings == 0 || r->nbindings > CREDS_MAX_BINDINGS) {
		util_errf(err, errlen, "a credential needs 1 to %d bindings",
		    CREDS_MAX_BINDINGS);
		return -1;
	}
	for (i = 0; i < r->nbindings; i++) {
		b = &r->bindings[i];
		if (b->nhosts == 0 || b->nhosts > CREDS_MAX_HOSTS ||
		    (b->basic != 0 && b->basic != 1)) {
			util_errf(err, errlen, "invalid binding");
			return -1;
		}
		if (header_valid(b->header, strlen(b->header), err,
		    errlen) == -1 || affix_valid(b->prefix_or_user,
		    strlen(b->prefix_or_user), b->basic, err, errlen) == -1)
			return -1;
	}
	return 0;
}

int
creds_record_encode(const struct creds_record *r, unsigned char **out,
    size_t *outlen)
{
	struct wbuf	 w;
	char		 pat[PATTERN_TEXT_MAX], err[8];
	size_t		 i, j, n;

	*out = NULL;
	*outlen = 0;
	if (record_valid(r, err, sizeof(err)) == -1)
		return -1;
	w.cap = 1 + 8 + 4 + r->secret_len + 1;
	for (i = 0; i < r->nbindings; i++)
		w.cap += 4 + strlen(r->bindings[i].header) +
		    strlen(r->bindings[i].prefix_or_user) +
		    r->bindings[i].nhosts * (2 + PATTERN_TEXT_MAX);
	if ((w.p = sodium_malloc(w.cap)) == NULL)
		return -1;
	w.len = 0;
	put_be(&w, ENCODING_VERSION, 1);
	put_be(&w, (uint64_t)r->created, 8);
	put_be(&w, r->secret_len, 4);
	put(&w, r->secret, r->secret_len);
	put_be(&w, r->nbindings, 1);
	for (i = 0; i < r->nbindings; i++) {
		const struct creds_binding *b = &r->bindings[i];

		put_be(&w, (uint64_t)b->basic, 1);
		n = strlen(b->header);
		put_be(&w, n, 1);
		put(&w, b->header, n);
		n = strlen(b->prefix_or_user);
		put_be(&w, n, 1);
		put(&w, b->prefix_or_user, n);
		put_be(&w, b->nhosts, 1);
		for (j = 0; j < b->nhosts; j++) {
			hostpat_format(&b->hosts[j], pat, sizeof(pat));
			n = strlen(pat);
			put_be(&w, n, 2);
			put(&w, pat, n);
		}
	}
	*out = w.p;
	*outlen = w.len;
	return 0;
}

struct rbuf {
	const unsigned char	*p;
	size_t			 len, off;
};

static int
get_be(struct rbuf *rb, size_t n, uint64_t *v)
{
	size_t i;

	if (rb->len - rb->off < n)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = (*v << 8) | rb->p[rb->off++];
	return 0;
}

/* A length-prefixed string copied into a malloc'd NUL-terminated buffer. */
static int
get_str(struct rbuf *rb, size_t lenbytes, char **out, size_t *outlen)
{
	uint64_t n;

	if (get_be(rb, lenbytes, &n) == -1 || rb->len - rb->off < n)
		return -1;
	if (memchr(rb->p + rb->off, '\0', n) != NULL)
		return -1;
	*out = xstrndup((const char *)rb->p + rb->off, n);
	*outlen = n;
	rb->off += n;
	return 0;
}

int
creds_record_decode(const char *name, const unsigned char *buf, size_t len,
    struct creds_record **out, char *err, size_t errlen)
{
	struct creds_record	*r;
	struct rbuf		 rb = { buf, len, 0 };
	uint64_t		 v, nb, nh = 0;
	char			**hosts = NULL, *header = NULL, *affix = NULL;
	size_t			 i, j, n, hlen, alen;
	int			 basic, ret = -1;

	*out = NULL;
	if ((r = creds_record_new(name, err, errlen)) == NULL)
		return -1;
	if (get_be(&rb, 1, &v) == -1)
		goto trunc;
	if (v != ENCODING_VERSION) {
		util_errf(err, errlen, "record version %u is not supported",
		    (unsigned)v);
		goto out;
	}
	if (get_be(&rb, 8, &v) == -1)
		goto trunc;
	r->created = (long long)v;
	if (get_be(&rb, 4, &v) == -1)
		goto trunc;
	if (v > CREDS_SECRET_MAX || rb.len - rb.off < v) {
		util_errf(err, errlen, "record has a bad secret length");
		goto out;
	}
	if (creds_record_set_secret(r, rb.p + rb.off, (size_t)v, err,
	    errlen) == -1)
		goto out;
	rb.off += (size_t)v;
	if (get_be(&rb, 1, &nb) == -1)
		goto trunc;
	if (nb == 0 || nb > CREDS_MAX_BINDINGS) {
		util_errf(err, errlen, "record has %u bindings", (unsigned)nb);
		goto out;
	}
	for (i = 0; i < nb; i++) {
		if (get_be(&rb, 1, &v) == -1)
			goto trunc;
		if (v > 1) {
			util_errf(err, errlen, "record has an unknown header "
			    "format");
			goto out;
		}
		basic = (int)v;
		if (get_str(&rb, 1, &header, &hlen) == -1 ||
		    get_str(&rb, 1, &affix, &alen) == -1 ||
		    get_be(&rb, 1, &nh) == -1)
			goto trunc;
		if (nh == 0 || nh > CREDS_MAX_HOSTS) {
			util_errf(err, errlen, "record has %u host patterns",
			    (unsigned)nh);
			goto out;
		}
		hosts = xcalloc(nh, sizeof(*hosts));
		for (j = 0; j < nh; j++)
			if (get_str(&rb, 2, &hosts[j], &n) == -1)
				goto trunc;
		if (creds_record_add_binding(r, (const char *const *)hosts,
		    nh, header, basic, affix, err, errlen) == -1)
			goto out;
		for (j = 0; j < nh; j++)
			free(hosts[j]);
		free(hosts);
		hosts = NULL;
		free(header);
		free(affix);
		header = affix = NULL;
	}
	if (rb.off != rb.len) {
		util_errf(err, errlen, "record has %zu trailing bytes",
		    rb.len - rb.off);
		goto out;
	}
	*out = r;
	r = NULL;
	ret = 0;
	goto out;
 trunc:
	util_errf(err, errlen, "record is truncated");
 out:
	if (hosts != NULL) {
		for (j = 0; j < nh; j++)
			free(hosts[j]);
		free(hosts);
	}
	free(header);
	free(affix);
	creds_record_free(r);
	return ret;
}

static int
hostpat_equal(const struct hostpat *a, const struct hostpat *b)
{
	return strcmp(a->host, b->host) == 0 && a->wildcard == b->wildcard &&
	    a->port == b->port;
}

int
creds_record_equal(const struct creds_record *a, const struct creds_record *b)
{
	size_t i, j;

	if (strcmp(a->name, b->name) != 0 || a->created != b->created ||
	    a->secret_len != b->secret_len || a->nbindings != b->nbindings)
		return 0;
	if (a->secret_len > 0 &&
	    sodium_memcmp(a->secret, b->secret, a->secret_len) != 0)
		return 0;
	for (i = 0; i < a->nbindings; i++) {
		const struct creds_binding *x = &a->bindings[i];
		const struct creds_binding *y = &b->bindings[i];

		if (x->nhosts != y->nhosts || x->basic != y->basic ||
		    strcmp(x->header, y->header) != 0 ||
		    strcmp(x->prefix_or_user, y->prefix_or_user) != 0)
			return 0;
		for (j = 0; j < x->nhosts; j++)
			if (!hostpat_equal(&x->hosts[j], &y->hosts[j]))
				return 0;
	}
	return 1;
}
