/*
 * libFuzzer driver for the proxy's Proxy-Authorization check
 * (http_auth_check in proxy/http.c).  The token is random per process, so
 * the fuzzer cannot know it; the driver builds the two valid forms of it
 * and lets the fuzzer edit them.  Input: byte 0 picks the base value
 * (raw input, "Bearer <hex>", "Basic base64(moat:<hex>)", either with the
 * hex in upper case), the rest is an edit script applied to it: pairs of
 * (position, byte) overwrite, a 0xff position byte truncates there.
 * Invariant: http_auth_check accepts exactly the values an independent
 * strict decoder accepts — "Bearer " + 64 hex digits of the token, or
 * "Basic " + spaces + canonical padded base64 of "moat:" + those 64 hex
 * digits (scheme case-insensitive, hex either case) — and nothing else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "proxy_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static unsigned char	token[PROXY_TOKEN_LEN];
static char		hexlo[2 * PROXY_TOKEN_LEN + 1];

static void
init(void)
{
	static int done;

	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	randombytes_buf(token, sizeof(token));
	sodium_bin2hex(hexlo, sizeof(hexlo), token, sizeof(token));
	done = 1;
}

/* 1 when s[0..64) is the token's hex in any mix of case. */
static int
hex_is_token(const char *s, size_t len)
{
	size_t i;

	if (len != 2 * PROXY_TOKEN_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (ch != hexlo[i])
			return 0;
	}
	return 1;
}

static int
b64val(char ch)
{
	const char	*tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/";
	const char	*p;

	if (ch == '\0' || (p = strchr(tab, ch)) == NULL)
		return -1;
	return (int)(p - tab);
}

/* Strict padded base64 decoding with zero pad bits; -1 when invalid. */
static int
b64dec(const char *s, size_t len, unsigned char *out, size_t cap,
    size_t *olen)
{
	size_t		i, o = 0;
	unsigned	v[4];
	int		k, pad;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			int x;

			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad || (x = b64val(s[i + k])) < 0)
				return -1;
			v[k] = (unsigned)x;
		}
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		else if ((v[1] & 15) != 0)
			return -1;
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		else if (pad == 1 && (v[2] & 3) != 0)
			return -1;
	}
	*olen = o;
	return 0;
}

static int
oracle(const char *v, size_t len)
{
	unsigned char	dec[256];
	size_t		dlen;

	if (len > 7 && strncasecmp(v, "Bearer ", 7) == 0)
		return hex_is_token(v + 7, len - 7);
	if (len > 6 && strncasecmp(v, "Basic ", 6) == 0) {
		v += 6;
		len -= 6;
		while (len > 0 && *v == ' ') {
			v++;
			len--;
		}
		if (b64dec(v, len, dec, sizeof(dec), &dlen) == -1)
			return 0;
		return dlen == 5 + 2 * PROXY_TOKEN_LEN &&
		    memcmp(dec, "moat:", 5) == 0 &&
		    hex_is_token((char *)dec + 5, dlen - 5);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 raw[5 + 2 * PROXY_TOKEN_LEN + 1], hex[2 * PROXY_TOKEN_LEN + 1];
	char	*val;
	size_t	 len, cap, i;
	int	 mode, got, want;

	init();
	if (size < 1 || size > 8192)
		return 0;
	mode = data[0] % 5;
	data++;
	size--;
	cap = size + 256;
	val = malloc(cap);
	memcpy(hex, hexlo, sizeof(hex));
	if (mode >= 3)
		for (i = 0; hex[i] != '\0'; i++)
			if (hex[i] >= 'a' && hex[i] <= 'f')
				hex[i] = (char)(hex[i] - 'a' + 'A');
	if (mode == 0) {
		memcpy(val, data, size);
		len = size;
	} else {
		if (mode % 2 == 1)
			len = (size_t)snprintf(val, cap, "Bearer %s", hex);
		else {
			snprintf(raw, sizeof(raw), "moat:%s", hex);
			memcpy(val, "Basic ", 6);
			sodium_bin2base64(val + 6, cap - 6,
			    (unsigned char *)raw, strlen(raw),
			    sodium_base64_VARIANT_ORIGINAL);
			len = strlen(val);
		}
		if (!oracle(val, len) || !http_auth_check(val, len, token))
			abort();	/* the unedited value authenticates */
		for (i = 0; i + 1 < size; i += 2) {
			if (data[i] == 0xff) {
				len = data[i + 1] % (len + 1);
				continue;
			}
			if (data[i] < len)
				val[data[i]] = (char)data[i + 1];
			else if (len < cap)
				val[len++] = (char)data[i + 1];
		}
	}
	got = http_auth_check(val, len, token);
	want = oracle(val, len);
	if (got != want) {
		fprintf(stderr, "fuzz_auth: http_auth_check says %d, the "
		    "strict decoder %d, for %zu bytes: %.*s\n", got, want,
		    len, (int)len, val);
		abort();
	}
	free(val);
	return 0;
}
