/*
 * proxy/inject: the credentials the proxy holds.  Each header value is
 * formatted once ("Bearer <secret>", "Basic base64(user:secret)") into
 * sodium_malloc memory and wiped on free.  conn.c decides when a value
 * may be written (verified intercepted TLS to a bound host, not TRACE).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "proxy_int.h"

/* Headers that frame or route the request can never carry a credential. */
static const char *reserved[] = {
	"host", "content-length", "transfer-encoding", "connection",
	"keep-alive", "te", "trailer", "upgrade", NULL
};

static int
valid_header_name(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0' || strncasecmp(s, "proxy-", 6) == 0)
		return 0;
	for (i = 0; reserved[i] != NULL; i++)
		if (strcasecmp(s, reserved[i]) == 0)
			return 0;
	for (; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~",
		    *s) != NULL))
			return 0;
	return 1;
}

static int
valid_value_bytes(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
copy_one(struct pcred *d, const struct proxy_credential *s, char *err,
    size_t errlen)
{
	const char	*pre = s->prefix_or_user ? s->prefix_or_user : "";
	size_t		 plen = strlen(pre), n;

	if (!valid_header_name(s->header)) {
		util_errf(err, errlen, "credential %s: invalid header name",
		    s->name);
		return -1;
	}
	if (s->secret_len == 0 || !valid_value_bytes(s->secret,
	    s->secret_len) || !valid_value_bytes((const unsigned char *)pre,
	    plen)) {
		util_errf(err, errlen, "credential %s: the secret is empty or "
		    "contains control characters", s->name);
		return -1;
	}
	d->name = xstrdup(s->name);
	d->header = xstrdup(s->header);
	d->nhosts = s->nhosts;
	d->hosts = xcalloc(s->nhosts ? s->nhosts : 1, sizeof(*d->hosts));
	memcpy(d->hosts, s->hosts, s->nhosts * sizeof(*d->hosts));
	if (s->format == PROXY_CRED_BASIC) {
		unsigned char	*raw;
		size_t		 rlen = plen + 1 + s->secret_len;

		n = sodium_base64_encoded_len(rlen,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((raw = sodium_malloc(rlen)) == NULL ||
		    (d->value = sodium_malloc(6 + n)) == NULL) {
			sodium_free(raw);
			util_errf(err, errlen, "out of secure memory");
			return -1;
		}
		memcpy(raw, pre, plen);
		raw[plen] = ':';
		memcpy(raw + plen + 1, s->secret, s->secret_len);
		memcpy(d->value, "Basic ", 6);
		sodium_bin2base64(d->value + 6, n, raw, rlen,
		    sodium_base64_VARIANT_ORIGINAL);
		sodium_free(raw);
		d->vlen = strlen(d->value);
	} else {
		n = plen + s->secret_len;
		if ((d->value = sodium_malloc(n + 1)) == NULL) {
			util_errf(err, errlen, "out of secure memory");
			return -1;
		}
		memcpy(d->value, pre, plen);
		memcpy(d->value + plen, s->secret, s->secret_len);
		d->value[n] = '\0';
		d->vlen = n;
	}
	sodium_mprotect_readonly(d->value);
	return 0;
}

int
inject_init(struct proxy *px, const struct proxy_opts *o, char *err,
    size_t errlen)
{
	size_t i;

	if (o->ncreds == 0)
		return 0;
	px->creds = xcalloc(o->ncreds, sizeof(*px->creds));
	for (i = 0; i < o->ncreds; i++) {
		px->ncreds = i + 1;
		if (copy_one(&px->creds[i], &o->creds[i], err, errlen) == -1)
			return -1;
	}
	return 0;
}

void
inject_free(struct proxy *px)
{
	size_t i;

	for (i = 0; i < px->ncreds; i++) {
		struct pcred *d = &px->creds[i];

		free(d->name);
		free(d->header);
		free(d->hosts);
		if (d->value != NULL)
			sodium_free(d->value);	/* wipes */
	}
	free(px->creds);
	px->creds = NULL;
	px->ncreds = 0;
}

const struct pcred *
inject_find(const struct proxy *px, const char *host, int port)
{
	size_t i, j;

	for (i = 0; i < px->ncreds; i++)
		for (j = 0; j < px->creds[i].nhosts; j++)
			if (hostpat_match(&px->creds[i].hosts[j], host, port))
				return &px->creds[i];
	return NULL;
}
