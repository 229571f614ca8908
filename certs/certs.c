/*
 * certs: the CA (ephemeral or persisted), leaf minting with one shared
 * leaf key, the LRU leaf cache, and the CA bundle for containers.
 */
#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certs.h"

#define DAY_SECS	86400L
#define BACKDATE_SECS	3600L		/* clock skew allowance */
#define KEYFILE_MAX	(64 * 1024)
#define ROOTS_MAX	(32 * 1024 * 1024)
#define BUCKETS_MIN	16
#define BUCKETS_MAX	65536

enum { EXT_BC, EXT_KU, EXT_EKU, EXT_AKI, EXT_N };

struct leaf {
	struct leaf	*hnext;		/* hash chain */
	struct leaf	*prev, *next;	/* LRU: head is the most recent */
	uint64_t	 hash;
	X509		*cert;
	char		 host[HOST_MAX + 1];
};

struct certs_ca {
	EVP_PKEY	*key;
	X509		*cert;
	time_t		 not_after;
	EVP_PKEY	*leaf_key;
	EVP_PKEY	*leaf_pub;	/* its public half, for leaves */
	X509_EXTENSION	*ext[EXT_N];	/* the same in every leaf */
	struct leaf	**buckets;
	size_t		 nbuckets;	/* a power of two */
	struct leaf	*head, *tail;
	size_t		 count, max;
};

static const char *const roots_paths[] = {
	CERTS_SYSTEM_ROOTS,
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/ssl/cert.pem",
};

/* err = "what: <the last OpenSSL error>"; clears OpenSSL's error queue. */
static void
ossl_errf(char *err, size_t errlen, const char *what)
{
	unsigned long	e = ERR_peek_last_error();
	char		buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		util_errf(err, errlen, "%s: %s", what, buf);
	} else
		util_errf(err, errlen, "%s", what);
	ERR_clear_error();
}

static const EVP_MD *
sign_md(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_id(key);

	return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL :
	    EVP_sha256();
}

/* 127 random bits: positive, and never shortened in DER. */
static int
set_random_serial(X509 *x)
{
	unsigned char	 b[16];
	BIGNUM		*bn = NULL;
	int		 r = -1;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		goto out;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	r = 0;
 out:
	BN_free(bn);
	return r;
}

static X509_EXTENSION *
make_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;

	memset(&ctx, 0, sizeof(ctx));
	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	return X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
}

static int
add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509_EXTENSION	*e;
	int		 r;

	if ((e = make_ext(issuer, x, nid, value)) == NULL)
		return -1;
	r = X509_add_ext(x, e, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(e);
	return r;
}

static EVP_PKEY *
p256_new(char *err, size_t errlen)
{
	EVP_PKEY *k;

	if ((k = EVP_EC_gen("P-256")) == NULL)
		ossl_errf(err, errlen, "cannot generate a P-256 key");
	return k;
}

/* A self-signed CA certificate for key, valid from an hour ago. */
static X509 *
ca_cert_new(EVP_PKEY *key, long days, char *err, size_t errlen)
{
	X509		*x;
	X509_NAME	*n;
	unsigned char	 id[4];
	char		 cn[64];

	if ((x = X509_new()) == NULL || RAND_bytes(id, sizeof(id)) != 1)
		goto fail;
	snprintf(cn, sizeof(cn), "moat CA %02x%02x%02x%02x", id[0], id[1],
	    id[2], id[3]);
	n = X509_get_subject_name(x);
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_random_serial(x) == -1 ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"moat", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECS) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), days * DAY_SECS) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    add_ext(x, x, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") == -1 ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ==
	    -1 ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") == -1 ||
	    X509_sign(x, key, sign_md(key)) <= 0)
		goto fail;
	return x;
 fail:
	ossl_errf(err, errlen, "cannot create the CA certificate");
	X509_free(x);
	return NULL;
}

/*
 * OpenSSL 3.0 puts a provider key into a certificate by running an
 * encoder and then a decoder, about 0.5 ms each time: most of the cost
 * of a leaf.  A key of the legacy type is copied in directly, so the leaf
 * key's public half is converted once (d2i_PublicKey downgrades a
 * provider EC key).  NULL when that fails: leaves then use the slow path.
 */
static EVP_PKEY *
fast_pubkey(EVP_PKEY *key)
{
	EVP_PKEY		*pub = NULL;
	unsigned char		*pt = NULL;
	const unsigned char	*p;
	size_t			 len;

	if ((len = EVP_PKEY_get1_encoded_public_key(key, &pt)) == 0 ||
	    (pub = EVP_PKEY_dup(key)) == NULL)
		goto fail;
	p = pt;
	if (d2i_PublicKey(EVP_PKEY_EC, &pub, &p, (long)len) == NULL ||
	    EVP_PKEY_eq(pub, key) != 1)
		goto fail;
	OPENSSL_free(pt);
	return pub;
 fail:
	ERR_clear_error();
	EVP_PKEY_free(pub);
	OPENSSL_free(pt);
	return NULL;
}

/*
 * Everything derived from the CA: its expiry, the leaf key, the
 * extensions every leaf carries (built once, copied into each leaf).
 */
static int
ca_init(struct certs_ca *ca, char *err, size_t errlen)
{
	const ASN1_OCTET_STRING	*ski;
	AUTHORITY_KEYID		*akid = NULL;
	struct tm		 tm;
	int			 r = -1;

	ca->max = CERTS_CACHE_DEFAULT;
	ca->nbuckets = 2048;
	ca->buckets = xcalloc(ca->nbuckets, sizeof(*ca->buckets));
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(ca->cert), &tm) != 1) {
		ossl_errf(err, errlen, "cannot read the CA's expiry");
		goto out;
	}
	ca->not_after = timegm(&tm);
	if ((ca->leaf_key = p256_new(err, errlen)) == NULL)
		goto out;
	ca->leaf_pub = fast_pubkey(ca->leaf_key);
	ca->ext[EXT_BC] = make_ext(ca->cert, NULL, NID_basic_constraints,
	    "critical,CA:FALSE");
	ca->ext[EXT_KU] = make_ext(ca->cert, NULL, NID_key_usage,
	    "critical,digitalSignature");
	ca->ext[EXT_EKU] = make_ext(ca->cert, NULL, NID_ext_key_usage,
	    "serverAuth");
	if ((ski = X509_get0_subject_key_id(ca->cert)) != NULL) {
		if ((akid = AUTHORITY_KEYID_new()) == NULL ||
		    (akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL)
			goto ossl;
		ca->ext[EXT_AKI] = X509V3_EXT_i2d(NID_authority_key_identifier,
		    0, akid);
		if (ca->ext[EXT_AKI] == NULL)
			goto ossl;
	}
	if (ca->ext[EXT_BC] == NULL || ca->ext[EXT_KU] == NULL ||
	    ca->ext[EXT_EKU] == NULL)
		goto ossl;
	r = 0;
	goto out;
 ossl:
	ossl_errf(err, errlen, "cannot prepare leaf extensions");
 out:
	AUTHORITY_KEYID_free(akid);
	return r;
}

static struct certs_ca *
ca_new(EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
	struct certs_ca *ca = xcalloc(1, sizeof(*ca));

	ca->key = key;
	ca->cert = cert;
	if (ca_init(ca, err, errlen) == -1) {
		certs_ca_free(ca);
		return NULL;
	}
	return ca;
}

/* A CA of the given validity, in memory only. */
static struct certs_ca *
ca_generate(long days, char *err, size_t errlen)
{
	EVP_PKEY	*key;
	X509		*cert;

	if ((key = p256_new(err, errlen)) == NULL)
		return NULL;
	if ((cert = ca_cert_new(key, days, err, errlen)) == NULL) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return ca_new(key, cert, err, errlen);
}

struct certs_ca *
certs_ca_new_ephemeral(char *err, size_t errlen)
{
	return ca_generate(CERTS_EPHEMERAL_DAYS, err, errlen);
}

/* PEM of the CA certificate in a malloc'd buffer. */
static char *
cert_pem(X509 *x, size_t *len, char *err, size_t errlen)
{
	BIO	*b;
	BUF_MEM	*bm = NULL;
	char	*s = NULL;

	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(b, x) != 1 || BIO_get_mem_ptr(b, &bm) != 1) {
		ossl_errf(err, errlen, "cannot encode the CA certificate");
		goto out;
	}
	s = xmalloc(bm->length + 1);
	memcpy(s, bm->data, bm->length);
	s[bm->length] = '\0';
	*len = bm->length;
 out:
	BIO_free(b);
	return s;
}

/* Writes the private key as unencrypted PKCS#8 PEM, mode 0600. */
static int
key_write(EVP_PKEY *key, const char *path, char *err, size_t errlen)
{
	BIO	*b;
	BUF_MEM	*bm = NULL;
	int	 r = -1;

	if ((b = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    BIO_get_mem_ptr(b, &bm) != 1) {
		ossl_errf(err, errlen, "cannot encode the CA key");
		goto out;
	}
	r = util_write_atomic(path, bm->data, bm->length, 0600, err, errlen);
	OPENSSL_cleanse(bm->data, bm->length);
 out:
	BIO_free(b);
	return r;
}

int
certs_ca_write_cert(struct certs_ca *ca, const char *path, char *err,
    size_t errlen)
{
	char	*pem;
	size_t	 len = 0;
	int	 r;

	if ((pem = cert_pem(ca->cert, &len, err, errlen)) == NULL)
		return -1;
	r = util_write_atomic(path, pem, len, 0644, err, errlen);
	free(pem);
	return r;
}

/* Never asks for a passphrase: an encrypted key is an error. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/*
 * Reads one PEM object from path: the private key into *key when key is
 * not NULL, else the certificate into *cert.  The file's bytes are wiped
 * after parsing.  0, or -1 with err.
 */
static int
pem_read(const char *path, EVP_PKEY **key, X509 **cert, char *err,
    size_t errlen)
{
	BIO	*b = NULL;
	char	*data = NULL;
	size_t	 len = 0;
	int	 ok;

	if (util_read_file(path, KEYFILE_MAX, &data, &len) == -1) {
		util_errf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL)
		ok = 0;
	else if (key != NULL)
		ok = (*key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase,
		    NULL)) != NULL;
	else
		ok = (*cert = PEM_read_bio_X509(b, NULL, no_passphrase,
		    NULL)) != NULL;
	if (!ok)
		util_errf(err, errlen, "%s: %s", path, key != NULL ?
		    "not an unencrypted PEM private key" :
		    "not a PEM certificate");
	ERR_clear_error();
	BIO_free(b);
	OPENSSL_cleanse(data, len);
	free(data);
	return ok ? 0 : -1;
}

static struct certs_ca *
ca_load(const char *kpath, const char *cpath, char *err, size_t errlen)
{
	EVP_PKEY	*key = NULL;
	X509		*cert = NULL;

	if (util_check_private(kpath, 0, err, errlen) == -1)
		return NULL;
	if (pem_read(kpath, &key, NULL, err, errlen) == -1)
		return NULL;
	if (pem_read(cpath, NULL, &cert, err, errlen) == -1)
		goto fail;
	if (X509_check_private_key(cert, key) != 1) {
		util_errf(err, errlen, "%s does not match %s: remove both to "
		    "create a new CA", kpath, cpath);
		goto fail;
	}
	if (X509_check_ca(cert) == 0) {
		util_errf(err, errlen, "%s is not a CA certificate", cpath);
		goto fail;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		util_errf(err, errlen, "%s has expired: remove %s and %s to "
		    "create a new CA (and trust the new ca.crt)", cpath, cpath,
		    kpath);
		goto fail;
	}
	ERR_clear_error();
	return ca_new(key, cert, err, errlen);
 fail:
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	return NULL;
}

/* 1 if path exists, 0 if not, -1 on another error (err filled). */
static int
exists(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	util_errf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

struct certs_ca *
certs_ca_load_or_create(const char *dir, char *err, size_t errlen)
{
	struct certs_ca	*ca;
	struct stat	 st;
	char		 kpath[PATH_MAX], cpath[PATH_MAX];
	int		 hk, hc;

	if (snprintf(kpath, sizeof(kpath), "%s/ca.key", dir) >=
	    (int)sizeof(kpath) || snprintf(cpath, sizeof(cpath), "%s/ca.crt",
	    dir) >= (int)sizeof(cpath)) {
		util_errf(err, errlen, "%s: path too long", dir);
		return NULL;
	}
	if (util_mkdir_p(dir, 0700) == -1 || stat(dir, &st) == -1) {
		util_errf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		util_errf(err, errlen, "%s: not a directory", dir);
		return NULL;
	}
	if ((st.st_mode & 022) != 0) {
		util_errf(err, errlen, "permissions %04o for %s are too open: "
		    "others could replace the CA in it; fix with: chmod 700 %s",
		    (unsigned)(st.st_mode & 07777), dir, dir);
		return NULL;
	}
	if ((hk = exists(kpath, err, errlen)) == -1 ||
	    (hc = exists(cpath, err, errlen)) == -1)
		return NULL;
	if (hk && hc)
		return ca_load(kpath, cpath, err, errlen);
	if (hk || hc) {
		util_errf(err, errlen, "%s exists but %s does not: restore it, "
		    "or remove %s to create a new CA", hk ? kpath : cpath,
		    hk ? cpath : kpath, hk ? kpath : cpath);
		return NULL;
	}
	if ((ca = ca_generate(CERTS_PERSIST_DAYS, err, errlen)) == NULL)
		return NULL;
	if (key_write(ca->key, kpath, err, errlen) == -1)
		goto fail;
	if (certs_ca_write_cert(ca, cpath, err, errlen) == -1) {
		unlink(kpath);
		goto fail;
	}
	return ca;
 fail:
	certs_ca_free(ca);
	return NULL;
}

int
certs_bundle_write_from(struct certs_ca *ca, const char *roots_path,
    const char *path, char *err, size_t errlen)
{
	char	*roots = NULL, *pem = NULL, *buf;
	size_t	 rlen = 0, plen = 0, n;
	int	 r = -1;

	if (roots_path != NULL &&
	    util_read_file(roots_path, ROOTS_MAX, &roots, &rlen) == -1) {
		util_errf(err, errlen, "cannot read the system CA roots %s: %s",
		    roots_path, strerror(errno));
		return -1;
	}
	if ((pem = cert_pem(ca->cert, &plen, err, errlen)) == NULL)
		goto out;
	buf = xmalloc(rlen + 1 + plen);
	memcpy(buf, roots != NULL ? roots : "", rlen);
	n = rlen;
	if (n > 0 && buf[n - 1] != '\n')
		buf[n++] = '\n';
	memcpy(buf + n, pem, plen);
	n += plen;
	r = util_write_atomic(path, buf, n, 0644, err, errlen);
	free(buf);
 out:
	free(roots);
	free(pem);
	return r;
}

int
certs_bundle_write(struct certs_ca *ca, const char *path, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(roots_paths) / sizeof(roots_paths[0]); i++)
		if (access(roots_paths[i], R_OK) == 0)
			return certs_bundle_write_from(ca, roots_paths[i],
			    path, err, errlen);
	log_warnx("no system CA roots found (looked for %s and others): %s "
	    "holds only the moat CA, so requests that bypass the proxy will "
	    "fail TLS verification", CERTS_SYSTEM_ROOTS, path);
	return certs_bundle_write_from(ca, NULL, path, err, errlen);
}

/* ---- leaves ----------------------------------------------------------- */

/* The SAN: an IP address for an IP literal, else a DNS name. */
static int
add_san(X509 *x, const char *host)
{
	GENERAL_NAMES		*gens;
	GENERAL_NAME		*gn = NULL;
	ASN1_OCTET_STRING	*os = NULL;
	ASN1_IA5STRING		*s = NULL;
	unsigned char		 ip[16];
	int			 fam = host_ip_family(host), r = -1;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL ||
	    (gn = GENERAL_NAME_new()) == NULL)
		goto out;
	if (fam != 0) {
		if (inet_pton(fam == 4 ? AF_INET : AF_INET6, host, ip) != 1 ||
		    (os = ASN1_OCTET_STRING_new()) == NULL ||
		    ASN1_OCTET_STRING_set(os, ip, fam == 4 ? 4 : 16) != 1)
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
		os = NULL;
	} else {
		if ((s = ASN1_IA5STRING_new()) == NULL ||
		    ASN1_STRING_set(s, host, -1) != 1)
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_DNS, s);
		s = NULL;
	}
	if (sk_GENERAL_NAME_push(gens, gn) <= 0)
		goto out;
	gn = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto out;
	r = 0;
 out:
	ASN1_OCTET_STRING_free(os);
	ASN1_IA5STRING_free(s);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return r;
}

/* One signature: the key, the issuer and the fixed extensions are ready. */
static X509 *
leaf_mint(struct certs_ca *ca, const char *host, char *err, size_t errlen)
{
	X509		*x;
	X509_NAME	*n;
	time_t		 now = time(NULL), until;
	size_t		 i;

	until = now + CERTS_LEAF_DAYS * DAY_SECS;
	if (until > ca->not_after)
		until = ca->not_after;
	if ((x = X509_new()) == NULL)
		goto fail;
	n = X509_get_subject_name(x);
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_random_serial(x) == -1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"moat", -1, -1, 0) != 1)
		goto fail;
	/*
	 * CN is at most 64 bytes, and an IP literal has none (clients that
	 * fall back to CN must not read it as a DNS name): the SAN is what
	 * clients check.
	 */
	if (strlen(host) <= 64 && host_ip_family(host) == 0 &&
	    X509_NAME_add_entry_by_txt(n, "CN",
	    MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0) != 1)
		goto fail;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECS) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), until) == NULL ||
	    X509_set_pubkey(x, ca->leaf_pub != NULL ? ca->leaf_pub :
	    ca->leaf_key) != 1 || add_san(x, host) == -1)
		goto fail;
	for (i = 0; i < EXT_N; i++)
		if (ca->ext[i] != NULL && X509_add_ext(x, ca->ext[i], -1) != 1)
			goto fail;
	if (X509_sign(x, ca->key, sign_md(ca->key)) <= 0)
		goto fail;
	return x;
 fail:
	ossl_errf(err, errlen, "cannot mint a leaf certificate");
	X509_free(x);
	return NULL;
}

static uint64_t
host_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static void
lru_unlink(struct certs_ca *ca, struct leaf *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		ca->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	else
		ca->tail = l->prev;
	l->prev = l->next = NULL;
}

static void
lru_push_front(struct certs_ca *ca, struct leaf *l)
{
	l->prev = NULL;
	l->next = ca->head;
	if (ca->head != NULL)
		ca->head->prev = l;
	ca->head = l;
	if (ca->tail == NULL)
		ca->tail = l;
}

static void
leaf_evict(struct certs_ca *ca, struct leaf *l)
{
	struct leaf **pp = &ca->buckets[l->hash & (ca->nbuckets - 1)];

	while (*pp != NULL && *pp != l)
		pp = &(*pp)->hnext;
	if (*pp != NULL)
		*pp = l->hnext;
	lru_unlink(ca, l);
	X509_free(l->cert);
	free(l);
	ca->count--;
}

X509 *
certs_leaf_cert(struct certs_ca *ca, const char *host, char *err,
    size_t errlen)
{
	struct leaf	*l;
	char		 name[HOST_MAX + 1];
	uint64_t	 h;
	size_t		 b;
	X509		*x;

	if (host == NULL || host_normalize(host, strlen(host), name,
	    sizeof(name)) == -1) {
		util_errf(err, errlen, "cannot mint a certificate for an "
		    "invalid host name");
		return NULL;
	}
	h = host_hash(name);
	b = h & (ca->nbuckets - 1);
	for (l = ca->buckets[b]; l != NULL; l = l->hnext)
		if (l->hash == h && strcmp(l->host, name) == 0) {
			if (l != ca->head) {
				lru_unlink(ca, l);
				lru_push_front(ca, l);
			}
			return l->cert;
		}
	if ((x = leaf_mint(ca, name, err, errlen)) == NULL)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	memcpy(l->host, name, sizeof(l->host));
	l->hash = h;
	l->cert = x;
	l->hnext = ca->buckets[b];
	ca->buckets[b] = l;
	lru_push_front(ca, l);
	ca->count++;
	while (ca->count > ca->max && ca->tail != NULL && ca->tail != l)
		leaf_evict(ca, ca->tail);
	return x;
}

int
certs_ssl_use_leaf(struct certs_ca *ca, SSL *ssl, const char *host,
    char *err, size_t errlen)
{
	X509 *x;

	if ((x = certs_leaf_cert(ca, host, err, errlen)) == NULL)
		return -1;
	if (SSL_use_certificate(ssl, x) != 1 ||
	    SSL_use_PrivateKey(ssl, ca->leaf_key) != 1 ||
	    SSL_clear_chain_certs(ssl) != 1 ||
	    SSL_add1_chain_cert(ssl, ca->cert) != 1) {
		ossl_errf(err, errlen, "cannot install the leaf certificate");
		return -1;
	}
	return 0;
}

EVP_PKEY *
certs_leaf_key(struct certs_ca *ca)
{
	return ca->leaf_key;
}

void
certs_set_cache_size(struct certs_ca *ca, size_t n)
{
	struct leaf	**nb, *l;
	size_t		  nbuckets = BUCKETS_MIN;

	ca->max = n == 0 ? 1 : n;
	while (nbuckets < ca->max * 2 && nbuckets < BUCKETS_MAX)
		nbuckets *= 2;
	while (ca->count > ca->max)
		leaf_evict(ca, ca->tail);
	if (nbuckets == ca->nbuckets)
		return;
	nb = xcalloc(nbuckets, sizeof(*nb));
	for (l = ca->head; l != NULL; l = l->next) {
		l->hnext = nb[l->hash & (nbuckets - 1)];
		nb[l->hash & (nbuckets - 1)] = l;
	}
	free(ca->buckets);
	ca->buckets = nb;
	ca->nbuckets = nbuckets;
}

size_t
certs_cache_count(const struct certs_ca *ca)
{
	return ca->count;
}

X509 *
certs_ca_cert(struct certs_ca *ca)
{
	return ca->cert;
}

void
certs_ca_free(struct certs_ca *ca)
{
	size_t i;

	if (ca == NULL)
		return;
	while (ca->tail != NULL)
		leaf_evict(ca, ca->tail);
	free(ca->buckets);
	for (i = 0; i < EXT_N; i++)
		X509_EXTENSION_free(ca->ext[i]);
	EVP_PKEY_free(ca->leaf_pub);
	EVP_PKEY_free(ca->leaf_key);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca);
}
