/*
 * libFuzzer driver for the .enc decoder (creds_open) and the record
 * decoder inside it (creds_record_decode, which the AEAD otherwise hides
 * from a fuzzer).  Invariants:
 *   - nothing crashes, leaks or reads out of bounds;
 *   - no input opens under a key it was not sealed with (a fresh random
 *     key per process);
 *   - whatever decodes, re-encodes to bytes that decode to an equal
 *     record, and encoding is canonical (encode(decode(e)) == e);
 *   - whatever decodes, seals and opens back to an equal record, and
 *     does not open under another name.
 * The seed corpus (tests/fuzz/corpus/creds/) holds encoded records and
 * .enc files sealed under FUZZ_KEY, which the driver also tries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "creds.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The fixed key the .enc seeds were sealed with: 32 bytes of 'm'. */
#define FUZZ_KEY_BYTE	'm'

static void
check_record(const struct creds_record *r)
{
	static unsigned char	 key[CREDS_KEY_LEN];
	struct creds_record	*d = NULL, *d2 = NULL;
	unsigned char		*enc, *enc2, *sealed;
	size_t			 len, len2, slen;
	char			 err[512];

	randombytes_buf(key, sizeof(key));
	if (creds_record_encode(r, &enc, &len) != 0)
		abort();	/* a decoded record always encodes */
	if (creds_record_decode(r->name, enc, len, &d, err,
	    sizeof(err)) != 0 || !creds_record_equal(r, d))
		abort();
	if (creds_record_encode(d, &enc2, &len2) != 0 || len2 != len ||
	    memcmp(enc, enc2, len) != 0)
		abort();
	sodium_free(enc);
	sodium_free(enc2);
	creds_record_free(d);

	if (creds_seal(key, CREDS_KEY_FILE, r, &sealed, &slen, err,
	    sizeof(err)) != 0)
		abort();
	if (creds_open(key, CREDS_KEY_FILE, r->name, "f", sealed, slen, &d2,
	    err, sizeof(err)) != 0 || !creds_record_equal(r, d2))
		abort();
	creds_record_free(d2);
	d2 = NULL;
	if (creds_open(key, CREDS_KEY_FILE, strcmp(r->name, "fuzz") ? "fuzz" :
	    "other", "f", sealed, slen, &d2, err, sizeof(err)) == 0)
		abort();	/* the name is bound */
	free(sealed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char	 fixed[CREDS_KEY_LEN], fresh[CREDS_KEY_LEN];
	static int		 init;
	struct creds_record	*r = NULL;
	char			 err[512];

	if (!init) {
		if (sodium_init() < 0)
			abort();
		memset(fixed, FUZZ_KEY_BYTE, sizeof(fixed));
		randombytes_buf(fresh, sizeof(fresh));
		init = 1;
	}
	/* Under a key nobody sealed with, nothing opens. */
	if (creds_open(fresh, CREDS_KEY_FILE, "fuzz", "f", data, size, &r,
	    err, sizeof(err)) == 0 || r != NULL)
		abort();
	if (creds_open(fresh, CREDS_KEY_PASSPHRASE, "fuzz", "f", data, size,
	    &r, err, sizeof(err)) == 0 || r != NULL)
		abort();
	/* Under the seeds' key, what opens must behave. */
	err[0] = '\0';
	if (creds_open(fixed, CREDS_KEY_FILE, "fuzz", "f", data, size, &r,
	    err, sizeof(err)) == 0) {
		check_record(r);
		creds_record_free(r);
		r = NULL;
	} else if (err[0] == '\0')
		abort();	/* every failure says why */
	/* The plaintext decoder directly. */
	err[0] = '\0';
	if (creds_record_decode("fuzz", data, size, &r, err,
	    sizeof(err)) == 0) {
		check_record(r);
		creds_record_free(r);
	} else if (r != NULL || err[0] == '\0')
		abort();
	return 0;
}
