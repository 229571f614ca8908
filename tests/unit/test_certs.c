/*
 * Unit tests for certs/: the CA, leaf minting and verification, the LRU
 * cache, persistence and its permission checks, the bundle, and a real
 * TLS handshake on loopback checked by curl and openssl s_client.
 *
 * Includes certs.c to reach ca_generate() (a CA that expires soon).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include "../../certs/certs.c"

#include "harness.h"

static char tmpdir[256];

static void
rm_rf(const char *path)
{
	char *argv[] = { "rm", "-rf", (char *)path, NULL };
	char  err[256];
	int   status;

	util_run(argv, NULL, NULL, 0, NULL, NULL, 30000, &status, err,
	    sizeof(err));
}

/* X509_verify_cert of leaf against ca alone, for a TLS server. */
static int
verify(X509 *ca, X509 *leaf, const char *host, const char *ip)
{
	X509_STORE	*st = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int		 r;

	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER);
	if (host != NULL)
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	if (ip != NULL)
		X509_VERIFY_PARAM_set1_ip_asc(vp, ip);
	r = X509_verify_cert(ctx);
	if (r != 1)
		printf("  verify: %s\n", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return r;
}

static int
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* Seconds from a to b. */
static long
tdiff(const ASN1_TIME *a, const ASN1_TIME *b)
{
	int day = 0, sec = 0;

	if (ASN1_TIME_diff(&day, &sec, a, b) != 1)
		return LONG_MIN;
	return (long)day * DAY_SECS + sec;
}

static int
serial_bits(X509 *x)
{
	BIGNUM	*bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	int	 n = BN_num_bits(bn);

	BN_free(bn);
	return n;
}

static void
test_ca_extensions(void)
{
	struct certs_ca	*ca;
	X509		*x;
	ASN1_TIME	*now = ASN1_TIME_set(NULL, time(NULL));
	char		 err[256] = "";

	ca = certs_ca_new_ephemeral(err, sizeof(err));
	CHECK(ca != NULL);
	if (ca == NULL) {
		printf("  %s\n", err);
		return;
	}
	x = certs_ca_cert(ca);
	CHECK_INT(X509_get_version(x), X509_VERSION_3);
	CHECK(X509_get_extension_flags(x) & EXFLAG_CA);
	CHECK_INT(X509_get_pathlen(x), 0);
	CHECK_INT(ext_critical(x, NID_basic_constraints), 1);
	CHECK_INT(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	CHECK_INT(ext_critical(x, NID_key_usage), 1);
	CHECK(X509_get0_subject_key_id(x) != NULL);
	CHECK_INT(EVP_PKEY_get_id(X509_get0_pubkey(x)), EVP_PKEY_EC);
	CHECK_INT(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 256);
	CHECK(serial_bits(x) >= 64);
	CHECK_INT(X509_check_issued(x, x), X509_V_OK);
	/* validity: back-dated an hour, CERTS_EPHEMERAL_DAYS ahead */
	CHECK(labs(tdiff(X509_get0_notBefore(x), now) - BACKDATE_SECS) < 120);
	CHECK(labs(tdiff(now, X509_get0_notAfter(x)) -
	    CERTS_EPHEMERAL_DAYS * DAY_SECS) < 120);
	ASN1_TIME_free(now);
	certs_ca_free(ca);
	certs_ca_free(NULL);
}

static void
test_leaf(void)
{
	struct certs_ca	*ca;
	X509		*x, *y, *z;
	AUTHORITY_KEYID	*akid;
	STACK_OF(GENERAL_NAME) *san;
	ASN1_TIME	*now = ASN1_TIME_set(NULL, time(NULL));
	char		 err[256] = "";

	if ((ca = certs_ca_new_ephemeral(err, sizeof(err))) == NULL) {
		CHECK(ca != NULL);
		return;
	}
	x = certs_leaf_cert(ca, "api.example.com", err, sizeof(err));
	CHECK(x != NULL);
	if (x == NULL)
		goto out;
	CHECK_INT(verify(certs_ca_cert(ca), x, "api.example.com", NULL), 1);
	CHECK_INT(X509_check_host(x, "api.example.com", 0, 0, NULL), 1);
	CHECK_INT(X509_check_host(x, "example.com", 0, 0, NULL), 0);
	CHECK_INT(X509_check_host(x, "evil.api.example.com", 0, 0, NULL), 0);
	CHECK_INT(verify(certs_ca_cert(ca), x, "other.example.com", NULL), 0);
	/* exactly one SAN, a DNS name */
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1 &&
	    sk_GENERAL_NAME_value(san, 0)->type == GEN_DNS);
	GENERAL_NAMES_free(san);
	CHECK(!(X509_get_extension_flags(x) & EXFLAG_CA));
	CHECK_INT(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	CHECK_INT(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	CHECK_INT(ext_critical(x, NID_key_usage), 1);
	akid = X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL);
	CHECK(akid != NULL && akid->keyid != NULL &&
	    ASN1_OCTET_STRING_cmp(akid->keyid,
	    X509_get0_subject_key_id(certs_ca_cert(ca))) == 0);
	AUTHORITY_KEYID_free(akid);
	CHECK(serial_bits(x) >= 64);
	CHECK(labs(tdiff(X509_get0_notBefore(x), now) - BACKDATE_SECS) < 120);
	CHECK(labs(tdiff(now, X509_get0_notAfter(x)) -
	    CERTS_LEAF_DAYS * DAY_SECS) < 120);

	/* one leaf key for every host; fresh serials */
	y = certs_leaf_cert(ca, "10.0.0.1", err, sizeof(err));
	CHECK(y != NULL);
	if (y == NULL)
		goto out;
	CHECK_INT(EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(y)), 1);
	CHECK_INT(EVP_PKEY_eq(X509_get0_pubkey(x), certs_leaf_key(ca)), 1);
	CHECK(ca->leaf_pub != NULL);	/* the fast path for minting */
	CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
	    X509_get0_serialNumber(y)) != 0);
	/* an IP literal gets an IP SAN, not a DNS one */
	CHECK_INT(X509_check_ip_asc(y, "10.0.0.1", 0), 1);
	CHECK_INT(X509_check_ip_asc(y, "10.0.0.2", 0), 0);
	CHECK_INT(X509_check_host(y, "10.0.0.1", 0, 0, NULL), 0);
	CHECK_INT(verify(certs_ca_cert(ca), y, NULL, "10.0.0.1"), 1);
	z = certs_leaf_cert(ca, "[::1]", err, sizeof(err));
	CHECK(z != NULL && X509_check_ip_asc(z, "::1", 0) == 1);
	CHECK(z != NULL && verify(certs_ca_cert(ca), z, NULL, "::1") == 1);
	/* names are normalised before the lookup */
	CHECK(certs_leaf_cert(ca, "API.Example.COM.", err, sizeof(err)) == x);
	CHECK(certs_leaf_cert(ca, "bad host", err, sizeof(err)) == NULL);
	CHECK_STR(err, "cannot mint a certificate for an invalid host name");
	CHECK(certs_leaf_cert(ca, "", err, sizeof(err)) == NULL);
	/* a 200-byte name has no room in CN but still gets its SAN */
	{
		char	 longname[HOST_MAX + 1];
		X509	*l;

		snprintf(longname, sizeof(longname), "%.60s.%.60s.%.60s.%s",
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
		    "example.com");
		l = certs_leaf_cert(ca, longname, err, sizeof(err));
		CHECK(l != NULL &&
		    verify(certs_ca_cert(ca), l, longname, NULL) == 1);
	}
 out:
	ASN1_TIME_free(now);
	certs_ca_free(ca);
}

static void
test_leaf_within_ca(void)
{
	struct certs_ca	*ca;
	X509		*x;
	char		 err[256] = "";

	/* a CA with one day left: leaves end when it does, not later */
	if ((ca = ca_generate(1, err, sizeof(err))) == NULL) {
		CHECK(ca != NULL);
		return;
	}
	x = certs_leaf_cert(ca, "api.example.com", err, sizeof(err));
	CHECK(x != NULL);
	if (x != NULL) {
		CHECK_INT(ASN1_TIME_compare(X509_get0_notAfter(x),
		    X509_get0_notAfter(certs_ca_cert(ca))), 0);
		CHECK_INT(verify(certs_ca_cert(ca), x, "api.example.com",
		    NULL), 1);
	}
	certs_ca_free(ca);
}

static void
test_cache(void)
{
	struct certs_ca	*ca;
	X509		*a, *b, *c, *d;
	ASN1_INTEGER	*sb;
	char		 err[256] = "";
	char		 name[64];
	int		 i;

	if ((ca = certs_ca_new_ephemeral(err, sizeof(err))) == NULL) {
		CHECK(ca != NULL);
		return;
	}
	CHECK_INT(certs_cache_count(ca), 0);
	certs_set_cache_size(ca, 3);
	a = certs_leaf_cert(ca, "a.test", err, sizeof(err));
	b = certs_leaf_cert(ca, "b.test", err, sizeof(err));
	c = certs_leaf_cert(ca, "c.test", err, sizeof(err));
	CHECK(a != NULL && b != NULL && c != NULL);
	if (a == NULL || b == NULL || c == NULL)
		goto out;
	sb = ASN1_INTEGER_dup(X509_get0_serialNumber(b));
	CHECK_INT(certs_cache_count(ca), 3);
	/* a hit returns the same certificate and makes it the most recent */
	CHECK(certs_leaf_cert(ca, "a.test", err, sizeof(err)) == a);
	CHECK_INT(certs_cache_count(ca), 3);
	/* so d evicts b, the least recently used */
	d = certs_leaf_cert(ca, "d.test", err, sizeof(err));
	CHECK(d != NULL);
	CHECK_INT(certs_cache_count(ca), 3);
	CHECK(certs_leaf_cert(ca, "a.test", err, sizeof(err)) == a);
	CHECK(certs_leaf_cert(ca, "c.test", err, sizeof(err)) == c);
	CHECK(certs_leaf_cert(ca, "d.test", err, sizeof(err)) == d);
	b = certs_leaf_cert(ca, "b.test", err, sizeof(err));
	CHECK(b != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(b), sb) !=
	    0);	/* minted again */
	ASN1_INTEGER_free(sb);
	CHECK_INT(certs_cache_count(ca), 3);
	/* shrinking evicts at once; 0 keeps one */
	certs_set_cache_size(ca, 1);
	CHECK_INT(certs_cache_count(ca), 1);
	CHECK(certs_leaf_cert(ca, "b.test", err, sizeof(err)) == b);
	certs_set_cache_size(ca, 0);
	CHECK_INT(certs_cache_count(ca), 1);
	/* growing rehashes: every entry is still found */
	certs_set_cache_size(ca, 5000);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "h%d.test", i);
		CHECK(certs_leaf_cert(ca, name, err, sizeof(err)) != NULL);
	}
	CHECK_INT(certs_cache_count(ca), 301);
	a = certs_leaf_cert(ca, "h7.test", err, sizeof(err));
	certs_set_cache_size(ca, 200);
	CHECK_INT(certs_cache_count(ca), 200);
	CHECK(certs_leaf_cert(ca, "h7.test", err, sizeof(err)) == a);
	CHECK_INT(certs_cache_count(ca), 200);
	/* the default bound */
	certs_set_cache_size(ca, CERTS_CACHE_DEFAULT);
	for (i = 0; i < CERTS_CACHE_DEFAULT + 10; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		if (certs_leaf_cert(ca, name, err, sizeof(err)) == NULL) {
			CHECK(0);
			break;
		}
	}
	CHECK_INT(certs_cache_count(ca), CERTS_CACHE_DEFAULT);
 out:
	certs_ca_free(ca);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static void
test_persist(void)
{
	struct certs_ca	*ca, *ca2;
	char		 dir[512], dir2[512], key[600], crt[600], key2[600];
	char		 crt2[600], err[2048] = "", want[2048];
	X509		*leaf;

	snprintf(dir, sizeof(dir), "%s/home/proxy/ca", tmpdir);
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
	ca = certs_ca_load_or_create(dir, err, sizeof(err));
	CHECK(ca != NULL);
	if (ca == NULL) {
		printf("  %s\n", err);
		return;
	}
	CHECK_INT(mode_of(dir), 0700);
	CHECK_INT(mode_of(key), 0600);
	CHECK_INT(mode_of(crt), 0644);
	{
		ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));

		CHECK(labs(tdiff(now, X509_get0_notAfter(certs_ca_cert(ca))) -
		    CERTS_PERSIST_DAYS * DAY_SECS) < 120);
		ASN1_TIME_free(now);
	}

	/* reloads identically, and its leaves verify against the file */
	ca2 = certs_ca_load_or_create(dir, err, sizeof(err));
	CHECK(ca2 != NULL);
	if (ca2 != NULL) {
		X509 *f = NULL;

		CHECK_INT(pem_read(crt, NULL, &f, err, sizeof(err)), 0);

		CHECK_INT(X509_cmp(certs_ca_cert(ca), certs_ca_cert(ca2)), 0);
		CHECK_INT(EVP_PKEY_eq(ca->key, ca2->key), 1);
		leaf = certs_leaf_cert(ca2, "api.example.com", err,
		    sizeof(err));
		CHECK(f != NULL && leaf != NULL &&
		    verify(f, leaf, "api.example.com", NULL) == 1);
		X509_free(f);
		certs_ca_free(ca2);
	}
	certs_ca_free(ca);

	/* a key others can read is refused, saying how to fix it */
	chmod(key, 0644);
	CHECK(certs_ca_load_or_create(dir, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "permissions 0644 for %s are too open: "
	    "it must not be accessible by group or others; fix with: "
	    "chmod 600 %s", key, key);
	CHECK_STR(err, want);
	chmod(key, 0640);
	CHECK(certs_ca_load_or_create(dir, err, sizeof(err)) == NULL);
	CHECK_CONTAINS(err, "permissions 0640 for ");
	chmod(key, 0600);

	/* a directory others can write to is refused */
	chmod(dir, 0777);
	CHECK(certs_ca_load_or_create(dir, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "permissions 0777 for %s are too open: "
	    "others could replace the CA in it; fix with: chmod 700 %s", dir,
	    dir);
	CHECK_STR(err, want);
	chmod(dir, 0700);

	/* a key from another CA */
	snprintf(dir2, sizeof(dir2), "%s/other", tmpdir);
	snprintf(key2, sizeof(key2), "%s/ca.key", dir2);
	snprintf(crt2, sizeof(crt2), "%s/ca.crt", dir2);
	ca2 = certs_ca_load_or_create(dir2, err, sizeof(err));
	CHECK(ca2 != NULL);
	certs_ca_free(ca2);
	CHECK_INT(rename(key2, key), 0);
	CHECK(certs_ca_load_or_create(dir, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s does not match %s: remove both to "
	    "create a new CA", key, crt);
	CHECK_STR(err, want);

	/* one of the pair without the other */
	CHECK(certs_ca_load_or_create(dir2, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s exists but %s does not: restore it, "
	    "or remove %s to create a new CA", crt2, key2, crt2);
	CHECK_STR(err, want);

	/* garbage in the key file */
	CHECK_INT(util_write_atomic(key, "not a key\n", 10, 0600, err,
	    sizeof(err)), 0);
	CHECK(certs_ca_load_or_create(dir, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s: not an unencrypted PEM private key",
	    key);
	CHECK_STR(err, want);
	CHECK_INT(ERR_peek_error(), 0);
}

/* Number of certificates in a PEM file. */
static int
count_certs(const char *path)
{
	STACK_OF(X509_INFO)	*s;
	BIO			*b = BIO_new_file(path, "r");
	int			 i, n = 0;

	if (b == NULL)
		return -1;
	s = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	for (i = 0; s != NULL && i < sk_X509_INFO_num(s); i++)
		if (sk_X509_INFO_value(s, i)->x509 != NULL)
			n++;
	sk_X509_INFO_pop_free(s, X509_INFO_free);
	BIO_free(b);
	return n;
}

static void
test_bundle(void)
{
	struct certs_ca	*ca;
	char		 path[PATH_MAX + 16], crt[PATH_MAX + 16], err[512] = "";
	char		*roots = NULL, *bundle = NULL, *pem = NULL;
	size_t		 rlen = 0, blen = 0, plen = 0;
	int		 nroots;

	if ((ca = certs_ca_new_ephemeral(err, sizeof(err))) == NULL) {
		CHECK(ca != NULL);
		return;
	}
	snprintf(path, sizeof(path), "%s/bundle.pem", tmpdir);
	snprintf(crt, sizeof(crt), "%s/ca.crt", tmpdir);
	CHECK_INT(certs_ca_write_cert(ca, crt, err, sizeof(err)), 0);
	CHECK_INT(mode_of(crt), 0644);
	CHECK_INT(count_certs(crt), 1);
	CHECK_INT(certs_bundle_write(ca, path, err, sizeof(err)), 0);
	CHECK_INT(mode_of(path), 0644);
	nroots = count_certs(CERTS_SYSTEM_ROOTS);
	CHECK(nroots > 10);
	CHECK_INT(count_certs(path), nroots + 1);
	CHECK_INT(util_read_file(CERTS_SYSTEM_ROOTS, ROOTS_MAX, &roots,
	    &rlen), 0);
	CHECK_INT(util_read_file(path, ROOTS_MAX, &bundle, &blen), 0);
	CHECK_INT(util_read_file(crt, ROOTS_MAX, &pem, &plen), 0);
	/* the system roots verbatim, then the moat CA */
	CHECK(roots != NULL && bundle != NULL && pem != NULL &&
	    blen >= rlen + plen && memcmp(bundle, roots, rlen) == 0 &&
	    memcmp(bundle + blen - plen, pem, plen) == 0);
	free(roots);
	free(bundle);
	free(pem);

	/* roots without a final newline still give a valid PEM file */
	snprintf(crt, sizeof(crt), "%s/roots-nonl.pem", tmpdir);
	CHECK_INT(util_write_atomic(crt, "# x", 3, 0644, err, sizeof(err)),
	    0);
	CHECK_INT(certs_bundle_write_from(ca, crt, path, err, sizeof(err)), 0);
	CHECK_INT(count_certs(path), 1);
	CHECK_INT(certs_bundle_write_from(ca, "/nonexistent/roots.pem", path,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "cannot read the system CA roots /nonexistent/roots.pem:"
	    " No such file or directory");
	certs_ca_free(ca);
}

/* ---- a real TLS server on loopback, real clients --------------------- */

static int
listen_loopback(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * Accepts one connection (waiting at most 20 s), completes a TLS
 * handshake with the leaf for host, reads the request head and sends
 * reply (if any), then closes.  Returns 1 when the handshake completed.
 */
static int
serve_one(struct certs_ca *ca, int lfd, const char *host, const char *reply)
{
	struct pollfd	 pfd = { lfd, POLLIN, 0 };
	struct timeval	 tv = { 10, 0 };
	SSL_CTX		*ctx = NULL;
	SSL		*ssl = NULL;
	char		 buf[4096], err[256];
	size_t		 off = 0;
	int		 fd = -1, n, ok = 0;

	if (poll(&pfd, 1, 20000) != 1 ||
	    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	ssl = SSL_new(ctx);
	if (certs_ssl_use_leaf(ca, ssl, host, err, sizeof(err)) == -1) {
		printf("  certs_ssl_use_leaf: %s\n", err);
		goto out;
	}
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		goto out;
	ok = 1;
	/* the request head, bounded in size and (by SO_RCVTIMEO) in time */
	while (reply != NULL && off < sizeof(buf) - 1 &&
	    (n = SSL_read(ssl, buf + off, (int)(sizeof(buf) - 1 - off))) > 0) {
		off += (size_t)n;
		buf[off] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	if (reply != NULL)
		SSL_write(ssl, reply, (int)strlen(reply));
	else
		SSL_read(ssl, buf, sizeof(buf));	/* until the client ends */
	SSL_shutdown(ssl);
 out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return ok;
}

/* Waits up to 30 s for pid; kills it after that.  Exit status or -1. */
static int
reap(pid_t pid)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	int		i, st;

	for (i = 0; i < 3000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/*
 * Runs a client argv against a one-connection TLS server presenting the
 * leaf for host; *handshake says whether the handshake completed, out
 * gets the client's output.  Returns the client's exit status.
 */
static int
client_run(struct certs_ca *ca, int lfd, const char *host, char **argv,
    const char *reply, int *handshake, char **out)
{
	char	path[PATH_MAX + 16], err[256];
	pid_t	pid;
	int	fd, st;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/client.out", tmpdir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	pid = util_spawn(argv, NULL, UTIL_FD_NULL, fd, fd, err, sizeof(err));
	close(fd);
	if (pid == -1) {
		printf("  spawn %s: %s\n", argv[0], err);
		return -1;
	}
	*handshake = serve_one(ca, lfd, host, reply);
	st = reap(pid);
	util_read_file(path, 1 << 20, out, NULL);
	return st;
}

/* curl (no proxy, 20 s at most) for url, trusting cacert. */
static int
curl_run(struct certs_ca *ca, int lfd, const char *host, const char *cacert,
    const char *resolve, const char *url, const char *reply, int *hs,
    char **out)
{
	char	*argv[16];
	int	 n = 0;

	argv[n++] = "curl";
	argv[n++] = "-sS";
	argv[n++] = "--noproxy";
	argv[n++] = "*";
	argv[n++] = "--max-time";
	argv[n++] = "20";
	argv[n++] = "--cacert";
	argv[n++] = (char *)cacert;
	if (resolve != NULL) {
		argv[n++] = "--resolve";
		argv[n++] = (char *)resolve;
	}
	argv[n++] = (char *)url;
	argv[n] = NULL;
	return client_run(ca, lfd, host, argv, reply, hs, out);
}

static void
test_tls_e2e(void)
{
	struct certs_ca	*ca;
	char		 bundle[PATH_MAX + 16], url[128], res[128], conn[64];
	char		 err[256] = "", *out = NULL;
	const char	*reply = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
	    "Connection: close\r\n\r\nhello\n";
	int		 lfd, port, hs = 0, st;

	if ((ca = certs_ca_new_ephemeral(err, sizeof(err))) == NULL) {
		CHECK(ca != NULL);
		return;
	}
	snprintf(bundle, sizeof(bundle), "%s/e2e-bundle.pem", tmpdir);
	CHECK_INT(certs_bundle_write(ca, bundle, err, sizeof(err)), 0);
	if ((lfd = listen_loopback(&port)) == -1) {
		CHECK(lfd != -1);
		certs_ca_free(ca);
		return;
	}
	snprintf(url, sizeof(url), "https://api.example.com:%d/", port);
	snprintf(res, sizeof(res), "api.example.com:%d:127.0.0.1", port);
	st = curl_run(ca, lfd, "api.example.com", bundle, res, url, reply,
	    &hs, &out);
	CHECK_INT(st, 0);
	CHECK_INT(hs, 1);
	CHECK_STR(out, "hello\n");
	free(out);
	/* the same server for another name: curl refuses it (exit 60) */
	st = curl_run(ca, lfd, "other.example.com", bundle, res, url, reply,
	    &hs, &out);
	/* curl checks the name after the handshake: only its verdict */
	CHECK_INT(st, 60);
	CHECK_CONTAINS(out, "api.example.com");
	free(out);
	/* without the moat CA in the bundle, nothing verifies */
	st = curl_run(ca, lfd, "api.example.com", CERTS_SYSTEM_ROOTS, res, url,
	    reply, &hs, &out);
	CHECK_INT(st, 60);
	free(out);
	/* an IP literal: the IP SAN */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
	st = curl_run(ca, lfd, "127.0.0.1", bundle, NULL, url, reply, &hs,
	    &out);
	CHECK_INT(st, 0);
	CHECK_STR(out, "hello\n");
	free(out);
	/* openssl s_client: chain [leaf, CA], SNI, hostname check */
	snprintf(conn, sizeof(conn), "127.0.0.1:%d", port);
	{
		char *argv[] = { "openssl", "s_client", "-connect", conn,
		    "-servername", "git.example.org", "-verify_hostname",
		    "git.example.org", "-verify_return_error", "-CAfile",
		    bundle, "-showcerts", NULL };

		st = client_run(ca, lfd, "git.example.org", argv, NULL, &hs,
		    &out);
		CHECK_INT(st, 0);
		CHECK_INT(hs, 1);
		CHECK_CONTAINS(out, "Verify return code: 0 (ok)");
		CHECK_CONTAINS(out, " 0 s:O = moat, CN = git.example.org");
		CHECK_CONTAINS(out, " 1 s:O = moat, CN = moat CA ");
		free(out);
	}
	{
		char *argv[] = { "openssl", "s_client", "-connect", conn,
		    "-servername", "git.example.org", "-verify_hostname",
		    "git.example.org", "-verify_return_error", "-CAfile",
		    bundle, NULL };

		st = client_run(ca, lfd, "gitlab.example.org", argv, NULL, &hs,
		    &out);
		CHECK(st != 0);
		CHECK_INT(hs, 0);
		CHECK_CONTAINS(out, "hostname mismatch");
		free(out);
	}
	close(lfd);
	certs_ca_free(ca);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/moat-certs-XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	RUN(test_ca_extensions);
	RUN(test_leaf);
	RUN(test_leaf_within_ca);
	RUN(test_cache);
	RUN(test_persist);
	RUN(test_bundle);
	RUN(test_tls_e2e);
	rm_rf(tmpdir);
	return harness_done();
}
