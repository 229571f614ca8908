/*
 * libFuzzer driver for the response side through the real proxy code
 * (see proxy_seam.h for the seam and the invariants): a request, and the
 * bytes the upstream answers each request with.  Input: byte 0 picks a
 * preset (0: none, plain proxying; 1: an intercepted tunnel to
 * secret.test:443; 2: to evil.test:443), bytes 1..8 choose the split
 * points of both streams, then "<client bytes>|UP|<upstream bytes>"
 * (without "|UP|": a GET inside the tunnel to secret.test, answered by
 * all the bytes).
 * Checked: at most one final response relayed per request, nothing after
 * its framed end (the client stream parses as responses, strictly), the
 * secret never reaches the client.
 */
#include "proxy_seam.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const presets[] = {
	NULL, "secret.test:443", "evil.test:443",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: secret.test\r\n\r\n";
	const uint8_t	*sep, *cb, *ub;
	size_t		 clen, ulen;

	if (size < 9 || size > 65536)
		return 0;
	cb = data + 9;
	clen = size - 9;
	sep = memmem(cb, clen, "|UP|", 4);
	if (sep != NULL) {
		ub = sep + 4;
		ulen = clen - (size_t)(ub - cb);
		clen = (size_t)(sep - cb);
	} else {
		ub = cb;
		ulen = clen;
		cb = (const uint8_t *)get;
		clen = sizeof(get) - 1;
	}
	seam_run(cb, clen, ub, ulen, data + 1,
	    presets[sep == NULL ? 1 : data[0] % 3]);
	return 0;
}
