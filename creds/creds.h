/*
 * creds: the encrypted credential store (`moat grant`, `moat revoke`) and
 * the table of built-in providers.  Links util and libsodium only; callers
 * must have called sodium_init().
 *
 * A credential is a secret plus one or more bindings.  A binding names
 * the host patterns the secret may be sent to, the request header that
 * carries it, and the header value's format: a prefix ("Bearer ", "token ",
 * or empty) followed by the secret, or HTTP Basic with a fixed user,
 * "Basic " base64(user ":" secret).  The binding is chosen on the host at
 * grant time and stored, encrypted, with the secret.
 *
 * Storage: <home>/credentials/<name>.enc (0600, directory 0700), where
 * <home> is util_moat_home() ($MOAT_HOME, else ~/.moat).  Each file is
 * XChaCha20-Poly1305 under a 32-byte key from <home>/key (0600, created on
 * first use), or, when MOAT_PASSPHRASE is set, derived from it with
 * Argon2id and the salt in <home>/key.salt.  The name is bound as
 * associated data, so a renamed, swapped, truncated or edited file fails
 * to open.
 *
 * Secrets: creds_record.secret and every header value returned here live
 * in sodium_malloc memory; creds_record_free() and sodium_free() wipe
 * them.  Nothing in this module logs or prints a secret, and no error
 * message contains one.
 *
 * Ownership: a record (from creds_record_new, creds_load or
 * creds_record_decode) belongs to the caller and everything it points to
 * lives until creds_record_free(); functions taking a record borrow it
 * and copy what they keep.  To hand a credential to the proxy, point the
 * proxy's credential at the record's fields, let proxy_new() copy them,
 * then creds_record_free() the record.  Errors go into err/errlen
 * (which may be NULL/0) and name the file involved.  The store reads
 * MOAT_HOME and MOAT_PASSPHRASE from the environment on each call and
 * keeps no other global state.
 */
#ifndef MOAT_CREDS_H
#define MOAT_CREDS_H

#include <stddef.h>

#include "util.h"

#define CREDS_NAME_MAX		64	/* [a-z0-9][a-z0-9_-]*, bytes */
#define CREDS_SECRET_MAX	16384	/* bytes */
#define CREDS_HEADER_MAX	64	/* header name, bytes */
#define CREDS_AFFIX_MAX		64	/* prefix or Basic user, bytes */
#define CREDS_MAX_BINDINGS	8
#define CREDS_MAX_HOSTS		32	/* per binding */
#define CREDS_FP_LEN		8	/* hex digits of a fingerprint */

struct creds_binding {
	struct hostpat	*hosts;		/* nhosts >= 1 parsed patterns */
	size_t		 nhosts;
	char		*header;	/* e.g. "Authorization" */
	int		 basic;		/* 0: prefix + secret; 1: Basic */
	char		*prefix_or_user; /* prefix (may be ""), or Basic user */
};

struct creds_record {
	char			*name;
	unsigned char		*secret;	/* sodium_malloc, NUL after */
	size_t			 secret_len;
	struct creds_binding	*bindings;	/* nbindings >= 1 */
	size_t			 nbindings;
	long long		 created;	/* Unix time of the grant */
};

/* ---- built-in providers --------------------------------------------- */

struct creds_provider_binding {
	const char	*hosts[4];	/* NULL-terminated patterns */
	const char	*header;
	int		 basic;
	const char	*prefix_or_user;
};

struct creds_provider {
	const char			*name;		/* "github" */
	const char			*title;		/* "GitHub" */
	struct creds_provider_binding	 bindings[2];
	size_t				 nbindings;
	const char			*env[3];	/* NULL-terminated */
	const char			*placeholder;	/* env value */
};

/*
 * The built-in provider called name (github, anthropic, openai, gemini,
 * npm), or NULL.  Static storage.
 */
const struct creds_provider *creds_provider_find(const char *name);
/* The i-th built-in provider, or NULL when i is past the end. */
const struct creds_provider *creds_provider_at(size_t i);

/*
 * Appends "VAR=placeholder" to env for each built-in provider among
 * names[0..n) (e.g. GH_TOKEN=moat-placeholder-github and GITHUB_TOKEN=...
 * for "github").  Names that are not built-in providers add nothing.
 * The values are constants, never secrets.
 */
void	creds_placeholder_env(const char *const *names, size_t n,
	    struct strvec *env);

/* ---- records ---------------------------------------------------------- */

/*
 * 0 when name is [a-z0-9][a-z0-9_-]* and at most CREDS_NAME_MAX bytes,
 * else -1 with err saying why.
 */
int	creds_name_valid(const char *name, char *err, size_t errlen);

/*
 * A new record called name (copied), with no secret, no bindings and
 * created 0; NULL (err filled) when the name is invalid.
 */
struct creds_record *creds_record_new(const char *name, char *err,
	    size_t errlen);
/* Wipes the secret and frees everything.  NULL is a no-op. */
void	creds_record_free(struct creds_record *r);

/*
 * Copies secret into sodium_malloc memory (replacing any earlier one).
 * Refuses an empty secret, one over CREDS_SECRET_MAX, and one holding CR,
 * LF, NUL or another control character (it would split or corrupt the
 * header); the message gives the byte offset, never the byte.  0 or -1.
 */
int	creds_record_set_secret(struct creds_record *r, const void *secret,
	    size_t len, char *err, size_t errlen);

/*
 * Adds a binding: hosts are pattern strings for hostpat_parse(); header an
 * HTTP token that may carry a credential (not Host, Content-Length,
 * Transfer-Encoding, Connection, Proxy-*, ...); prefix_or_user printable
 * ASCII (a Basic user without ':' and not empty).  Everything is copied.
 * 0, or -1 with err naming the bad piece.
 */
int	creds_record_add_binding(struct creds_record *r,
	    const char *const *hosts, size_t nhosts, const char *header,
	    int basic, const char *prefix_or_user, char *err, size_t errlen);
/* Adds every binding of a built-in provider.  0 or -1. */
int	creds_record_add_provider(struct creds_record *r,
	    const struct creds_provider *p, char *err, size_t errlen);

/*
 * The full header value for binding b of r: prefix + secret, or
 * "Basic " base64(user ":" secret).  A NUL-terminated string in
 * sodium_malloc memory (release with sodium_free, which wipes it);
 * *lenp (may be NULL) gets its length.  NULL only on exhaustion.
 */
char	*creds_header_value(const struct creds_record *r,
	    const struct creds_binding *b, size_t *lenp);

/*
 * A short fingerprint of the secret: the first CREDS_FP_LEN hex digits of
 * a BLAKE2b hash (domain-separated).  Reveals no character of the secret.
 */
void	creds_fingerprint(const struct creds_record *r,
	    char out[CREDS_FP_LEN + 1]);

/* ---- the store -------------------------------------------------------- */

/*
 * Encrypts r and writes <home>/credentials/<r->name>.enc atomically,
 * creating the directory (0700) and the key (0600) on first use.  A
 * failure (e.g. read-only home) leaves no partial file.  0 or -1.
 */
int	creds_store(const struct creds_record *r, char *err, size_t errlen);

/*
 * Loads and decrypts one credential into *out (caller frees with
 * creds_record_free).  When it does not exist err reads exactly
 *	no credential "NAME" granted; run: moat grant NAME
 * (for a name that is not a built-in provider it adds "--host ...").
 * A tampered, renamed, truncated or foreign file, a wrong key or
 * passphrase, and a key or file readable by group or others each fail
 * with a message naming the file.  0 or -1.
 */
int	creds_load(const char *name, struct creds_record **out, char *err,
	    size_t errlen);

/*
 * Appends the names of all stored credentials (from the file names, not
 * decrypted), sorted, to names.  0 (also when there are none) or -1.
 */
int	creds_list(struct strvec *names, char *err, size_t errlen);

/*
 * Removes a stored credential.  An unknown name fails with
 *	no credential "NAME" granted; granted: a, b
 * (or "no credentials are granted").  0 or -1.
 */
int	creds_remove(const char *name, char *err, size_t errlen);

/* The path of <home>/credentials/<name>.enc into buf.  0 or -1. */
int	creds_path(const char *name, char *buf, size_t len, char *err,
	    size_t errlen);

/* ---- the file format (exposed for tests and the fuzzer) --------------- */

#define CREDS_KEY_LEN	32

/* Key kinds recorded in the file header. */
#define CREDS_KEY_FILE		1
#define CREDS_KEY_PASSPHRASE	2

/*
 * Serialises r (without its name) into a sodium_malloc buffer.  Returns 0
 * with *out, *outlen, or -1 if r does not validate.  sodium_free *out.
 */
int	creds_record_encode(const struct creds_record *r, unsigned char **out,
	    size_t *outlen);
/*
 * Parses what creds_record_encode produced into a record called name,
 * validating every field as the add/set functions do.  0 or -1 (err).
 */
int	creds_record_decode(const char *name, const unsigned char *buf,
	    size_t len, struct creds_record **out, char *err, size_t errlen);

/*
 * The bytes of a .enc file: header (magic, version, key kind), nonce,
 * ciphertext.  The header and name are the associated data.  seal returns
 * a malloc'd buffer (ciphertext only, nothing secret); open names path in
 * its errors.  0 or -1.
 */
int	creds_seal(const unsigned char key[CREDS_KEY_LEN], int key_kind,
	    const struct creds_record *r, unsigned char **out, size_t *outlen,
	    char *err, size_t errlen);
int	creds_open(const unsigned char key[CREDS_KEY_LEN], int key_kind,
	    const char *name, const char *path, const unsigned char *buf,
	    size_t len, struct creds_record **out, char *err, size_t errlen);

/* 1 when a and b hold the same name, secret, bindings and time, else 0. */
int	creds_record_equal(const struct creds_record *a,
	    const struct creds_record *b);

#endif /* MOAT_CREDS_H */
