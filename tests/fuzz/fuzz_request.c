/*
 * libFuzzer driver for request head handling through the real proxy code
 * (proxy/conn.c, http.c, inject.c, policy.c; see proxy_seam.h for the
 * seam and the invariants).  Input: byte 0 picks a preset (0: none, the
 * bytes talk to the proxy listener directly; 1: an intercepted tunnel to
 * secret.test:443, the bound host; 2: to evil.test:443; 3: to
 * secret.test:8443, a port the binding does not cover; 4: to
 * api.wild.test:443), bytes 1..8 choose where the client bytes are split
 * (chunks of 1 + seed[i % 8] bytes), the rest are the client's bytes.
 * Every request is answered "204 No Content".
 */
#include "proxy_seam.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const presets[] = {
	NULL, "secret.test:443", "evil.test:443", "secret.test:8443",
	"api.wild.test:443",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";

	if (size < 9 || size > 65536)
		return 0;
	seam_run(data + 9, size - 9, (const uint8_t *)resp, sizeof(resp) - 1,
	    data + 1, presets[data[0] % 5]);
	return 0;
}
