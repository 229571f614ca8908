/*
 * The credential store: the key (file or passphrase), sealing records
 * into .enc files, and the files under <home>/credentials.
 *
 * .enc file: "MOATCRED" u8 version u8 key_kind | 24-byte nonce |
 * XChaCha20-Poly1305 ciphertext of creds_record_encode().  The associated
 * data is the 10-byte header followed by the credential's name.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "creds.h"

#define MAGIC		"MOATCRED"
#define MAGIC_LEN	8
#define FILE_VERSION	1
#define HDR_LEN		(MAGIC_LEN + 2)
#define NONCE_LEN	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN		crypto_aead_xchacha20poly1305_ietf_ABYTES
#define FILE_MIN	(HDR_LEN + NONCE_LEN + TAG_LEN)
#define FILE_MAX	(64 * 1024)
#define SALT_LEN	crypto_pwhash_SALTBYTES

/* ---- sealing ---------------------------------------------------------- */

static void
make_header(unsigned char hdr[HDR_LEN], int key_kind)
{
	memcpy(hdr, MAGIC, MAGIC_LEN);
	hdr[MAGIC_LEN] = FILE_VERSION;
	hdr[MAGIC_LEN + 1] = (unsigned char)key_kind;
}

/* The associated data: header || name, in a malloc'd buffer. */
static unsigned char *
make_ad(const unsigned char hdr[HDR_LEN], const char *name, size_t *adlen)
{
	size_t		 n = strlen(name);
	unsigned char	*ad = xmalloc(HDR_LEN + n);

	memcpy(ad, hdr, HDR_LEN);
	memcpy(ad + HDR_LEN, name, n);
	*adlen = HDR_LEN + n;
	return ad;
}

int
creds_seal(const unsigned char key[CREDS_KEY_LEN], int key_kind,
    const struct creds_record *r, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	unsigned char		*pt = NULL, *buf, *ad;
	size_t			 ptlen, adlen;
	unsigned long long	 clen;

	*out = NULL;
	*outlen = 0;
	if (creds_record_encode(r, &pt, &ptlen) == -1) {
		util_errf(err, errlen, "credential \"%s\" is not valid",
		    r->name);
		return -1;
	}
	buf = xmalloc(HDR_LEN + NONCE_LEN + ptlen + TAG_LEN);
	make_header(buf, key_kind);
	randombytes_buf(buf + HDR_LEN, NONCE_LEN);
	ad = make_ad(buf, r->name, &adlen);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + HDR_LEN + NONCE_LEN,
	    &clen, pt, ptlen, ad, adlen, NULL, buf + HDR_LEN, key);
	free(ad);
	sodium_free(pt);
	*out = buf;
	*outlen = HDR_LEN + NONCE_LEN + (size_t)clen;
	return 0;
}

int
creds_open(const unsigned char key[CREDS_KEY_LEN], int key_kind,
    const char *name, const char *path, const unsigned char *buf, size_t len,
    struct creds_record **out, char *err, size_t errlen)
{
	unsigned char		*pt = NULL, *ad;
	size_t			 adlen;
	unsigned long long	 ptlen;
	char			 why[256];
	int			 r;

	*out = NULL;
	if (len < MAGIC_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
		util_errf(err, errlen, "%s is not a moat credential file",
		    path);
		return -1;
	}
	if (len < FILE_MIN) {
		util_errf(err, errlen, "%s is truncated (%zu bytes); revoke "
		    "and grant it again: moat revoke %s && moat grant %s",
		    path, len, name, name);
		return -1;
	}
	if (buf[MAGIC_LEN] != FILE_VERSION) {
		util_errf(err, errlen, "%s has format version %u; this moat "
		    "reads version %d", path, buf[MAGIC_LEN], FILE_VERSION);
		return -1;
	}
	if (buf[MAGIC_LEN + 1] != CREDS_KEY_FILE &&
	    buf[MAGIC_LEN + 1] != CREDS_KEY_PASSPHRASE) {
		util_errf(err, errlen, "%s is not a moat credential file "
		    "(unknown key kind %u)", path, buf[MAGIC_LEN + 1]);
		return -1;
	}
	if (buf[MAGIC_LEN + 1] != key_kind) {
		if (key_kind == CREDS_KEY_FILE)
			util_errf(err, errlen, "%s was encrypted with a "
			    "passphrase: set MOAT_PASSPHRASE", path);
		else
			util_errf(err, errlen, "%s was encrypted with the key "
			    "file, not a passphrase: unset MOAT_PASSPHRASE",
			    path);
		return -1;
	}
	if ((pt = sodium_malloc(len - FILE_MIN + 1)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		return -1;
	}
	ad = make_ad(buf, name, &adlen);
	r = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL,
	    buf + HDR_LEN + NONCE_LEN, len - HDR_LEN - NONCE_LEN, ad, adlen,
	    buf + HDR_LEN, key);
	free(ad);
	if (r != 0) {
		util_errf(err, errlen, "%s failed to decrypt: it was modified, "
		    "truncated, or renamed from another credential, or the %s "
		    "changed; revoke and grant it again: moat revoke %s && "
		    "moat grant %s", path, key_kind == CREDS_KEY_FILE ?
		    "key" : "passphrase (MOAT_PASSPHRASE)", name, name);
		sodium_free(pt);
		return -1;
	}
	r = creds_record_decode(name, pt, (size_t)ptlen, out, why,
	    sizeof(why));
	sodium_free(pt);
	if (r == -1) {
		util_errf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

/* ---- paths and keys --------------------------------------------------- */

static int
home_path(const char *leaf, char *buf, size_t len, char *err, size_t errlen)
{
	char home[PATH_MAX];

	if (util_moat_home(home, sizeof(home), err, errlen) == -1)
		return -1;
	if (snprintf(buf, len, "%s%s%s", home, *leaf ? "/" : "", leaf) >=
	    (int)len) {
		util_errf(err, errlen, "%s/%s: path too long", home, leaf);
		return -1;
	}
	return 0;
}

int
creds_path(const char *name, char *buf, size_t len, char *err, size_t errlen)
{
	char leaf[CREDS_NAME_MAX + 32];

	if (creds_name_valid(name, err, errlen) == -1)
		return -1;
	snprintf(leaf, sizeof(leaf), "credentials/%s.enc", name);
	return home_path(leaf, buf, len, err, errlen);
}

/*
 * Reads a private file of exactly want bytes into out.  The permission
 * check comes first so a group-readable key is never used.
 */
static int
read_exact(const char *path, unsigned char *out, size_t want, char *err,
    size_t errlen)
{
	unsigned char	extra;
	size_t		off = 0;
	ssize_t		n;
	int		fd;

	if (util_check_private(path, 0, err, errlen) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		util_errf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (off < want) {
		if ((n = read(fd, out + off, want - off)) < 0 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off == want)
		while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
			;
	else
		n = 0;
	close(fd);
	if (off != want || n != 0) {
		sodium_memzero(out, want);
		util_errf(err, errlen, "%s is corrupt: %s, want exactly %zu "
		    "bytes (credentials encrypted with it cannot be "
		    "recovered: move it away and grant them again)", path,
		    off != want ? "too short" : "too long", want);
		return -1;
	}
	return 0;
}

/*
 * Creates path holding want random bytes unless it exists.  The bytes go
 * to a temporary file that is fsync'd and then link()ed into place, so
 * two processes racing here agree on one complete file and a reader
 * never sees a partial one.
 */
static int
create_random_file(const char *path, size_t want, char *err, size_t errlen)
{
	unsigned char	*rnd;
	char		 tmp[PATH_MAX];
	unsigned char	 tag[6];
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, ret = -1;

	randombytes_buf(tag, sizeof(tag));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%02x%02x%02x%02x%02x%02x",
	    path, tag[0], tag[1], tag[2], tag[3], tag[4], tag[5]) >=
	    (int)sizeof(tmp)) {
		util_errf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((rnd = sodium_malloc(want)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		return -1;
	}
	randombytes_buf(rnd, want);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		util_errf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		goto out;
	}
	while (off < want) {
		if ((n = write(fd, rnd + off, want - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	if (off != want || fsync(fd) == -1) {
		util_errf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (link(tmp, path) == -1 && errno != EEXIST) {
		util_errf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		goto out;
	}
	ret = 0;
 out:
	if (fd != -1)
		unlink(tmp);
	sodium_free(rnd);
	return ret;
}

static int
env_key_kind(void)
{
	const char *pass = getenv("MOAT_PASSPHRASE");

	return pass != NULL && *pass != '\0' ? CREDS_KEY_PASSPHRASE :
	    CREDS_KEY_FILE;
}

/*
 * Fills key (CREDS_KEY_LEN bytes) and *kind.  With create, a missing key
 * file or salt is made (for grant); without, it is an error (for load).
 */
static int
get_key(int create, unsigned char *key, int *kind, char *err, size_t errlen)
{
	char		 home[PATH_MAX], path[PATH_MAX + 16];
	unsigned char	 salt[SALT_LEN];
	const char	*pass = getenv("MOAT_PASSPHRASE");
	int		 use_pass = pass != NULL && *pass != '\0';

	if (util_moat_home(home, sizeof(home), err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", home,
	    use_pass ? "key.salt" : "key");
	if (create && util_mkdir_p(home, 0700) == -1) {
		util_errf(err, errlen, "cannot create %s: %s", home,
		    strerror(errno));
		return -1;
	}
	if (access(path, F_OK) == -1) {
		if (errno != ENOENT) {
			util_errf(err, errlen, "%s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (!create) {
			util_errf(err, errlen, "%s is missing: the credentials "
			    "in %s/credentials were encrypted with it and "
			    "cannot be opened; revoke and grant them again",
			    path, home);
			return -1;
		}
		if (create_random_file(path, use_pass ? SALT_LEN :
		    CREDS_KEY_LEN, err, errlen) == -1)
			return -1;
	}
	if (!use_pass) {
		*kind = CREDS_KEY_FILE;
		return read_exact(path, key, CREDS_KEY_LEN, err, errlen);
	}
	*kind = CREDS_KEY_PASSPHRASE;
	if (read_exact(path, salt, sizeof(salt), err, errlen) == -1)
		return -1;
	if (crypto_pwhash(key, CREDS_KEY_LEN, pass, strlen(pass), salt,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		util_errf(err, errlen, "cannot derive a key from "
		    "MOAT_PASSPHRASE: out of memory");
		return -1;
	}
	return 0;
}

/* ---- the store -------------------------------------------------------- */

/*
 * With a passphrase nothing tells a typo from a new passphrase, so a
 * grant first opens one existing passphrase-sealed credential (other
 * than name): a mistyped MOAT_PASSPHRASE is refused instead of silently
 * starting a second, incompatible set.
 */
static int
passphrase_matches(const unsigned char *key, const char *name, char *err,
    size_t errlen)
{
	struct strvec		 names = STRVEC_INIT;
	struct creds_record	*r;
	char			 path[PATH_MAX], *buf, why[8];
	size_t			 i, len;
	int			 ret = 0, tried = 0;

	if (creds_list(&names, err, errlen) == -1)
		return -1;
	for (i = 0; i < names.n && !tried; i++) {
		if (strcmp(names.v[i], name) == 0 ||
		    creds_path(names.v[i], path, sizeof(path), why,
		    sizeof(why)) == -1 ||
		    util_read_file(path, FILE_MAX, &buf, &len) == -1)
			continue;
		if (len >= FILE_MIN && memcmp(buf, MAGIC, MAGIC_LEN) == 0 &&
		    buf[MAGIC_LEN + 1] == CREDS_KEY_PASSPHRASE) {
			tried = 1;
			if (creds_open(key, CREDS_KEY_PASSPHRASE, names.v[i],
			    path, (unsigned char *)buf, len, &r, why,
			    sizeof(why)) == 0)
				creds_record_free(r);
			else {
				util_errf(err, errlen, "MOAT_PASSPHRASE does "
				    "not open %s: use the passphrase the "
				    "other credentials were granted with",
				    path);
				ret = -1;
			}
		}
		free(buf);
	}
	strvec_free(&names);
	return ret;
}

int
creds_store(const struct creds_record *r, char *err, size_t errlen)
{
	char		 dir[PATH_MAX], path[PATH_MAX];
	unsigned char	*key = NULL, *buf = NULL;
	size_t		 len;
	int		 kind, ret = -1;

	if (creds_path(r->name, path, sizeof(path), err, errlen) == -1 ||
	    home_path("credentials", dir, sizeof(dir), err, errlen) == -1)
		return -1;
	if ((key = sodium_malloc(CREDS_KEY_LEN)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		return -1;
	}
	if (get_key(1, key, &kind, err, errlen) == -1)
		goto out;
	if (util_mkdir_p(dir, 0700) == -1) {
		util_errf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if (util_check_private(dir, 1, err, errlen) == -1)
		goto out;
	if (kind == CREDS_KEY_PASSPHRASE &&
	    passphrase_matches(key, r->name, err, errlen) == -1)
		goto out;
	if (creds_seal(key, kind, r, &buf, &len, err, errlen) == -1)
		goto out;
	if (util_write_atomic(path, buf, len, 0600, err, errlen) == -1)
		goto out;
	ret = 0;
 out:
	free(buf);
	sodium_free(key);
	return ret;
}

static void
not_granted(const char *name, char *err, size_t errlen)
{
	if (creds_provider_find(name) != NULL)
		util_errf(err, errlen, "no credential \"%s\" granted; run: "
		    "moat grant %s", name, name);
	else
		util_errf(err, errlen, "no credential \"%s\" granted; run: "
		    "moat grant %s --host PATTERN", name, name);
}

int
creds_load(const char *name, struct creds_record **out, char *err,
    size_t errlen)
{
	char		 dir[PATH_MAX], path[PATH_MAX];
	unsigned char	*key = NULL;
	char		*buf = NULL;
	size_t		 len = 0;
	int		 kind, ret = -1;

	*out = NULL;
	if (creds_path(name, path, sizeof(path), err, errlen) == -1 ||
	    home_path("credentials", dir, sizeof(dir), err, errlen) == -1)
		return -1;
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		not_granted(name, err, errlen);
		return -1;
	}
	if (util_check_private(dir, 1, err, errlen) == -1 ||
	    util_check_private(path, 0, err, errlen) == -1)
		return -1;
	if (util_read_file(path, FILE_MAX, &buf, &len) == -1) {
		if (errno == EFBIG)
			util_errf(err, errlen, "%s is not a moat credential "
			    "file (larger than %d bytes)", path, FILE_MAX);
		else
			util_errf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
		return -1;
	}
	if ((key = sodium_malloc(CREDS_KEY_LEN)) == NULL) {
		util_errf(err, errlen, "out of secure memory");
		goto out;
	}
	/*
	 * A file sealed with the other kind of key: let creds_open say so
	 * (it checks the header before using the zero key) rather than
	 * complaining about a missing key file or salt.
	 */
	kind = env_key_kind();
	if (len >= HDR_LEN && memcmp(buf, MAGIC, MAGIC_LEN) == 0 &&
	    (unsigned char)buf[MAGIC_LEN + 1] != kind) {
		sodium_memzero(key, CREDS_KEY_LEN);
		creds_open(key, kind, name, path, (unsigned char *)buf, len,
		    out, err, errlen);
		goto out;
	}
	if (get_key(0, key, &kind, err, errlen) == -1)
		goto out;
	if (creds_open(key, kind, name, path, (unsigned char *)buf, len, out,
	    err, errlen) == -1)
		goto out;
	ret = 0;
 out:
	free(buf);
	if (key != NULL)
		sodium_free(key);
	return ret;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
creds_list(struct strvec *names, char *err, size_t errlen)
{
	char		 dir[PATH_MAX], name[CREDS_NAME_MAX + 1], e[8];
	struct dirent	*de;
	DIR		*d;
	size_t		 n, first = names->n;

	if (home_path("credentials", dir, sizeof(dir), err, errlen) == -1)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		util_errf(err, errlen, "cannot read %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n <= 4 || n - 4 > CREDS_NAME_MAX ||
		    strcmp(de->d_name + n - 4, ".enc") != 0)
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		if (creds_name_valid(name, e, sizeof(e)) == 0)
			strvec_push(names, name);
	}
	closedir(d);
	if (names->n > first)
		qsort(names->v + first, names->n - first, sizeof(char *),
		    cmp_str);
	return 0;
}

int
creds_remove(const char *name, char *err, size_t errlen)
{
	struct strvec	 names = STRVEC_INIT;
	char		 path[PATH_MAX], *list;
	size_t		 i, len = 1;

	if (creds_path(name, path, sizeof(path), err, errlen) == -1)
		return -1;
	if (unlink(path) == 0)
		return 0;
	if (errno != ENOENT) {
		util_errf(err, errlen, "cannot remove %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (creds_list(&names, err, errlen) == -1)
		return -1;
	if (names.n == 0) {
		util_errf(err, errlen, "no credential \"%s\" granted; no "
		    "credentials are granted", name);
		strvec_free(&names);
		return -1;
	}
	for (i = 0; i < names.n; i++)
		len += strlen(names.v[i]) + 2;
	list = xcalloc(1, len);
	for (i = 0; i < names.n; i++) {
		if (i > 0)
			strcat(list, ", ");
		strcat(list, names.v[i]);
	}
	util_errf(err, errlen, "no credential \"%s\" granted; granted: %s",
	    name, list);
	free(list);
	strvec_free(&names);
	return -1;
}
