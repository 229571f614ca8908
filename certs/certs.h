/*
 * certs: moat's certificate authority and the per-host leaf certificates
 * the proxy presents when it intercepts TLS.
 *
 * The CA is EC P-256 with CA:TRUE, pathlen 0, keyCertSign|cRLSign and a
 * subject key id.  By default it lives only in memory for one run; with a
 * directory it is persisted (ca.crt 0644, ca.key 0600, directory 0700).
 * Leaves share one P-256 key per CA object, so minting one is a single
 * signature; they sit in a bounded LRU cache keyed by host name.
 *
 * Not thread-safe: one CA object belongs to one event loop.
 */
#ifndef MOAT_CERTS_H
#define MOAT_CERTS_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"

struct certs_ca;

#define CERTS_CACHE_DEFAULT	1024	/* leaves kept */
#define CERTS_EPHEMERAL_DAYS	30	/* validity of a per-run CA */
#define CERTS_PERSIST_DAYS	3650	/* validity of a persisted CA */
#define CERTS_LEAF_DAYS		7	/* never beyond the CA's notAfter */
#define CERTS_SYSTEM_ROOTS	"/etc/ssl/certs/ca-certificates.crt"

/*
 * A fresh CA whose private key exists only in this process's memory.
 * NULL with err on failure.
 */
struct certs_ca	*certs_ca_new_ephemeral(char *err, size_t errlen);

/*
 * Loads dir/ca.crt and dir/ca.key, or creates them (dir created 0700,
 * ca.key 0600 written before ca.crt 0644, both atomically) when neither
 * exists.  Refuses a key file that group or others can access, or that
 * another user owns, with a message saying how to fix it ("chmod 600
 * ..."); a group/world-writable directory; a key that does not match the
 * certificate; a certificate that is not a CA or has expired; one file of
 * the pair without the other.  NULL with err on failure.
 */
struct certs_ca	*certs_ca_load_or_create(const char *dir, char *err,
		    size_t errlen);

/* Writes the CA certificate (PEM) to path atomically, mode 0644.  0/-1. */
int		 certs_ca_write_cert(struct certs_ca *ca, const char *path,
		    char *err, size_t errlen);

/*
 * Writes the bundle a container trusts: the system roots
 * (CERTS_SYSTEM_ROOTS, or the first of the other usual locations that
 * exists) followed by the moat CA, atomically, mode 0644.  Without any
 * system roots file it warns and writes the moat CA alone.  0/-1.
 */
int		 certs_bundle_write(struct certs_ca *ca, const char *path,
		    char *err, size_t errlen);
/* The same with an explicit roots file (NULL: none).  0/-1. */
int		 certs_bundle_write_from(struct certs_ca *ca,
		    const char *roots_path, const char *path, char *err,
		    size_t errlen);

/*
 * Installs on ssl the certificate, key and chain [leaf, CA] for host: a
 * DNS name (normalised here again; SAN DNS) or an IP literal (SAN IP).
 * Takes the leaf from the cache, minting it on a miss.  0, or -1 with err
 * (an invalid host name, an OpenSSL failure).  ssl keeps its own
 * references: later evictions do not affect it.
 */
int		 certs_ssl_use_leaf(struct certs_ca *ca, SSL *ssl,
		    const char *host, char *err, size_t errlen);

/*
 * The cached (or newly minted) leaf for host.  Borrowed: valid until it
 * is evicted or the CA is freed; X509_up_ref() it to keep it longer.
 */
X509		*certs_leaf_cert(struct certs_ca *ca, const char *host,
		    char *err, size_t errlen);
/* The key shared by every leaf of this CA.  Borrowed. */
EVP_PKEY	*certs_leaf_key(struct certs_ca *ca);

/* Bounds the leaf cache (n == 0 counts as 1); evicts at once if needed. */
void		 certs_set_cache_size(struct certs_ca *ca, size_t n);
size_t		 certs_cache_count(const struct certs_ca *ca);

/* The CA certificate.  Borrowed. */
X509		*certs_ca_cert(struct certs_ca *ca);

/* Frees the CA, its keys and every cached leaf.  NULL-safe. */
void		 certs_ca_free(struct certs_ca *ca);

#endif /* MOAT_CERTS_H */
