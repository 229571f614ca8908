/* Unit tests for creds/: validation, encoding, sealing, the store. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "creds.h"
#include "harness.h"
#include "util.h"

static char home[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
home_new(void)
{
	strcpy(home, "/tmp/moat-test-creds-XXXXXX");
	if (mkdtemp(home) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("MOAT_HOME", home, 1);
	unsetenv("MOAT_PASSPHRASE");
}

static void
home_done(void)
{
	nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	unsetenv("MOAT_PASSPHRASE");
}

/* The permission bits of home/rel, or (mode_t)-1 when it is missing. */
static mode_t
mode_of(const char *rel)
{
	struct stat	st;
	char		path[512];

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	if (stat(path, &st) == -1)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static struct creds_record *
custom_record(const char *name, const char *secret)
{
	static const char *const hosts[] = { "api.example.com",
	    "*.example.org:8443" };
	struct creds_record	*r;
	char			 err[256];

	r = creds_record_new(name, err, sizeof(err));
	if (r == NULL || creds_record_add_binding(r, hosts, 2, "X-Token", 0,
	    "token ", err, sizeof(err)) == -1 ||
	    creds_record_set_secret(r, secret, strlen(secret), err,
	    sizeof(err)) == -1) {
		printf("custom_record: %s\n", err);
		exit(1);
	}
	r->created = 1700000000;
	return r;
}

static void
test_names(void)
{
	char err[256];

	CHECK_INT(creds_name_valid("github", err, sizeof(err)), 0);
	CHECK_INT(creds_name_valid("my-api_2", err, sizeof(err)), 0);
	CHECK_INT(creds_name_valid("0abc", err, sizeof(err)), 0);
	CHECK_INT(creds_name_valid("", err, sizeof(err)), -1);
	CHECK_STR(err, "credential name is empty");
	CHECK_INT(creds_name_valid("GitHub", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid credential name \"GitHub\": use lowercase "
	    "letters, digits, '-' and '_', starting with a letter or digit");
	CHECK_INT(creds_name_valid("-x", err, sizeof(err)), -1);
	CHECK_INT(creds_name_valid("_x", err, sizeof(err)), -1);
	CHECK_INT(creds_name_valid("../key", err, sizeof(err)), -1);
	CHECK_INT(creds_name_valid("a/b", err, sizeof(err)), -1);
	CHECK_INT(creds_name_valid("a.enc", err, sizeof(err)), -1);
	CHECK_INT(creds_name_valid("a b", err, sizeof(err)), -1);
	CHECK_INT(creds_name_valid("a\nb", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid credential name \"\": use lowercase "
	    "letters, digits, '-' and '_', starting with a letter or digit");
	CHECK_INT(creds_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaa", err, sizeof(err)), 0);	/* 64 */
	CHECK_INT(creds_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaa", err, sizeof(err)), -1);	/* 65 */
	CHECK_STR(err, "credential name is longer than 64 bytes");
	CHECK(creds_record_new("Bad", err, sizeof(err)) == NULL);
}

static void
test_secret_validation(void)
{
	struct creds_record	*r = creds_record_new("x", NULL, 0);
	char			 err[256], *big;

	CHECK_INT(creds_record_set_secret(r, "", 0, err, sizeof(err)), -1);
	CHECK_STR(err, "the secret is empty");
	CHECK_INT(creds_record_set_secret(r, "ab\rc", 4, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "the secret contains a carriage return (CR) at byte 2; "
	    "it would corrupt the HTTP header, refusing it");
	CHECK_INT(creds_record_set_secret(r, "abc\n", 4, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "the secret contains a line feed (LF) at byte 3; "
	    "it would corrupt the HTTP header, refusing it");
	CHECK_INT(creds_record_set_secret(r, "a\0b", 3, err, sizeof(err)), -1);
	CHECK_STR(err, "the secret contains a NUL byte at byte 1; "
	    "it would corrupt the HTTP header, refusing it");
	CHECK_INT(creds_record_set_secret(r, "\x1b[0m", 4, err, sizeof(err)),
	    -1);
	CHECK_CONTAINS(err, "a control character at byte 0");
	big = xmalloc(CREDS_SECRET_MAX + 1);
	memset(big, 'a', CREDS_SECRET_MAX + 1);
	CHECK_INT(creds_record_set_secret(r, big, CREDS_SECRET_MAX + 1, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "the secret is longer than 16384 bytes");
	CHECK_INT(creds_record_set_secret(r, big, CREDS_SECRET_MAX, err,
	    sizeof(err)), 0);
	CHECK_INT(r->secret_len, CREDS_SECRET_MAX);
	CHECK_INT(r->secret[CREDS_SECRET_MAX], '\0');
	free(big);
	CHECK_INT(creds_record_set_secret(r, "s3cr3t tab\tok", 13, err,
	    sizeof(err)), -1);	/* a tab is a control character too */
	CHECK_INT(creds_record_set_secret(r, "s3cr3t-ok", 9, err,
	    sizeof(err)), 0);
	CHECK_STR((char *)r->secret, "s3cr3t-ok");
	creds_record_free(r);
	creds_record_free(NULL);
}

static void
test_binding_validation(void)
{
	struct creds_record	*r = creds_record_new("x", NULL, 0);
	const char		*h[1];
	char			 err[256];

#define BAD(host, hdr, basic, affix, msg) do {				\
	h[0] = (host);							\
	CHECK_INT(creds_record_add_binding(r, h, 1, (hdr), (basic),	\
	    (affix), err, sizeof(err)), -1);				\
	CHECK_STR(err, (msg));						\
} while (0)
	BAD("https://api.example.com", "Authorization", 0, "Bearer ",
	    "host pattern \"https://api.example.com\" must not contain a "
	    "scheme (write just the host, e.g. api.example.com)");
	h[0] = "api.example.com/v1";
	CHECK_INT(creds_record_add_binding(r, h, 1, "Authorization", 0, "",
	    err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "api.example.com/v1");
	h[0] = "user@api.example.com";
	CHECK_INT(creds_record_add_binding(r, h, 1, "Authorization", 0, "",
	    err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "user@api.example.com");
	h[0] = "api .example.com";
	CHECK_INT(creds_record_add_binding(r, h, 1, "Authorization", 0, "",
	    err, sizeof(err)), -1);
	h[0] = "api.*.example.com";
	CHECK_INT(creds_record_add_binding(r, h, 1, "Authorization", 0, "",
	    err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "api.*.example.com");
	BAD("a.com", "Host", 0, "", "header \"Host\" cannot carry a "
	    "credential");
	BAD("a.com", "content-length", 0, "", "header \"content-length\" "
	    "cannot carry a credential");
	BAD("a.com", "Proxy-Authorization", 0, "", "header "
	    "\"Proxy-Authorization\" cannot carry a credential");
	BAD("a.com", "X Token", 0, "", "invalid header name \"X Token\": "
	    "only letters, digits and !#$%&'*+-.^_`|~ are allowed");
	BAD("a.com", "X:Token", 0, "", "invalid header name \"X:Token\": "
	    "only letters, digits and !#$%&'*+-.^_`|~ are allowed");
	BAD("a.com", "", 0, "", "header name must be 1 to 64 bytes");
	BAD("a.com", "Authorization", 1, "", "Basic user is empty");
	BAD("a.com", "Authorization", 1, "a:b", "Basic user \"a:b\" must not "
	    "contain ':'");
	BAD("a.com", "Authorization", 0, "Bearer\r\n", "prefix must be "
	    "printable ASCII");
	BAD("a.com", "Authorization", 2, "", "unknown header format 2");
#undef BAD
	CHECK_INT(creds_record_add_binding(r, h, 0, "Authorization", 0, "",
	    err, sizeof(err)), -1);
	CHECK_STR(err, "a credential needs at least one host (--host "
	    "PATTERN)");
	CHECK_INT(r->nbindings, 0);
	h[0] = "API.Example.COM";
	CHECK_INT(creds_record_add_binding(r, h, 1, "Authorization", 0, "",
	    err, sizeof(err)), 0);
	CHECK_STR(r->bindings[0].hosts[0].host, "api.example.com");
	creds_record_free(r);
}

static void
test_providers(void)
{
	static const char *const names[] = { "github", "anthropic", "openai",
	    "gemini", "npm" };
	const struct creds_provider	*p;
	struct creds_record		*r;
	struct strvec			 env = STRVEC_INIT;
	const char			*want[] = { "api.github.com",
	    "api.anthropic.com", "api.openai.com",
	    "generativelanguage.googleapis.com", "registry.npmjs.org" };
	const char			*grants[] = { "github", "mine",
	    "anthropic", "github" };
	char				 err[256], *v;
	size_t				 i, n = 0;

	for (i = 0; creds_provider_at(i) != NULL; i++)
		n++;
	CHECK_INT(n, 5);
	CHECK(creds_provider_find("gitlab") == NULL);
	for (i = 0; i < 5; i++) {
		p = creds_provider_find(names[i]);
		CHECK(p != NULL);
		if (p == NULL)
			continue;
		r = creds_record_new(names[i], err, sizeof(err));
		CHECK_INT(creds_record_add_provider(r, p, err, sizeof(err)), 0);
		CHECK_INT(creds_record_set_secret(r, "tok123", 6, err,
		    sizeof(err)), 0);
		CHECK_STR(r->bindings[0].hosts[0].host, want[i]);
		CHECK(hostpat_match(&r->bindings[0].hosts[0], want[i], 443));
		CHECK(!hostpat_match(&r->bindings[0].hosts[0], "evil.com",
		    443));
		CHECK(strstr(p->placeholder, "moat-placeholder") != NULL);
		creds_record_free(r);
	}
	/* exact header values */
	r = creds_record_new("github", err, sizeof(err));
	creds_record_add_provider(r, creds_provider_find("github"), err,
	    sizeof(err));
	creds_record_set_secret(r, "ghp_abc", 7, err, sizeof(err));
	CHECK_INT(r->nbindings, 2);
	CHECK_STR(r->bindings[0].header, "Authorization");
	v = creds_header_value(r, &r->bindings[0], &n);
	CHECK_STR(v, "Bearer ghp_abc");
	CHECK_INT(n, 14);
	sodium_free(v);
	CHECK_STR(r->bindings[1].hosts[0].host, "github.com");
	CHECK_INT(r->bindings[1].basic, 1);
	v = creds_header_value(r, &r->bindings[1], &n);
	/* base64("x-access-token:ghp_abc") */
	CHECK_STR(v, "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2FiYw==");
	CHECK_INT(n, strlen("Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2FiYw=="));
	sodium_free(v);
	creds_record_free(r);

	r = creds_record_new("anthropic", err, sizeof(err));
	creds_record_add_provider(r, creds_provider_find("anthropic"), err,
	    sizeof(err));
	creds_record_set_secret(r, "sk-ant-1", 8, err, sizeof(err));
	CHECK_STR(r->bindings[0].header, "x-api-key");
	v = creds_header_value(r, &r->bindings[0], NULL);
	CHECK_STR(v, "sk-ant-1");
	sodium_free(v);
	creds_record_free(r);
	p = creds_provider_find("gemini");
	CHECK_STR(p->bindings[0].header, "x-goog-api-key");
	p = creds_provider_find("openai");
	CHECK_STR(p->bindings[0].prefix_or_user, "Bearer ");
	p = creds_provider_find("npm");
	CHECK_STR(p->bindings[0].prefix_or_user, "Bearer ");

	creds_placeholder_env(grants, 4, &env);
	CHECK_INT(env.n, 3);
	CHECK_STR(strvec_getenv(&env, "GH_TOKEN"), "moat-placeholder-github");
	CHECK_STR(strvec_getenv(&env, "GITHUB_TOKEN"),
	    "moat-placeholder-github");
	CHECK_STR(strvec_getenv(&env, "ANTHROPIC_API_KEY"),
	    "sk-ant-moat-placeholder");
	strvec_free(&env);
	grants[0] = "openai";
	grants[1] = "gemini";
	grants[2] = "npm";
	creds_placeholder_env(grants, 3, &env);
	CHECK_STR(strvec_getenv(&env, "OPENAI_API_KEY"),
	    "sk-moat-placeholder");
	CHECK_STR(strvec_getenv(&env, "GEMINI_API_KEY"),
	    "moat-placeholder-gemini");
	CHECK_STR(strvec_getenv(&env, "NPM_TOKEN"), "moat-placeholder-npm");
	strvec_free(&env);
}

static void
test_fingerprint(void)
{
	struct creds_record	*a = custom_record("a", "abcdef0123456789");
	struct creds_record	*b = custom_record("b", "abcdef0123456789");
	struct creds_record	*c = custom_record("c", "abcdef0123456788");
	char			 fa[CREDS_FP_LEN + 1], fb[CREDS_FP_LEN + 1];
	char			 fc[CREDS_FP_LEN + 1];

	creds_fingerprint(a, fa);
	creds_fingerprint(b, fb);
	creds_fingerprint(c, fc);
	CHECK_INT(strlen(fa), 8);
	CHECK_INT(strspn(fa, "0123456789abcdef"), 8);
	CHECK_STR(fa, fb);
	CHECK(strcmp(fa, fc) != 0);
	/* a hash, not a prefix of the secret */
	CHECK(strstr("abcdef0123456789", fa) == NULL);
	creds_record_free(a);
	creds_record_free(b);
	creds_record_free(c);
}

static void
test_encode_decode(void)
{
	struct creds_record	*r = custom_record("api", "tok-1"), *d = NULL;
	unsigned char		*buf;
	size_t			 len;
	char			 err[256];

	r->created = -5;	/* any value survives */
	CHECK_INT(creds_record_encode(r, &buf, &len), 0);
	CHECK_INT(creds_record_decode("api", buf, len, &d, err, sizeof(err)),
	    0);
	CHECK(d != NULL && creds_record_equal(r, d));
	CHECK_INT(d->bindings[0].hosts[1].wildcard, 1);
	CHECK_INT(d->bindings[0].hosts[1].port, 8443);
	creds_record_free(d);
	/* every truncation fails cleanly */
	for (size_t i = 0; i < len; i++) {
		CHECK_INT(creds_record_decode("api", buf, i, &d, err,
		    sizeof(err)), -1);
		CHECK(d == NULL);
	}
	CHECK_INT(creds_record_decode("api", buf, 3, &d, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "record is truncated");
	buf[0] = 9;
	CHECK_INT(creds_record_decode("api", buf, len, &d, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "record version 9 is not supported");
	sodium_free(buf);
	/* a record without bindings does not encode */
	d = creds_record_new("x", err, sizeof(err));
	creds_record_set_secret(d, "s", 1, err, sizeof(err));
	CHECK_INT(creds_record_encode(d, &buf, &len), -1);
	creds_record_free(d);
	creds_record_free(r);
}

static void
test_seal_open(void)
{
	struct creds_record	*r = custom_record("api", "tok-1"), *d = NULL;
	unsigned char		 key[CREDS_KEY_LEN], key2[CREDS_KEY_LEN];
	unsigned char		*buf, *buf2;
	size_t			 len, len2;
	char			 err[512];

	randombytes_buf(key, sizeof(key));
	randombytes_buf(key2, sizeof(key2));
	CHECK_INT(creds_seal(key, CREDS_KEY_FILE, r, &buf, &len, err,
	    sizeof(err)), 0);
	CHECK(memmem(buf, len, "tok-1", 5) == NULL);
	CHECK(memmem(buf, len, "api.example.com", 15) == NULL);
	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F", buf, len, &d,
	    err, sizeof(err)), 0);
	CHECK(d != NULL && creds_record_equal(r, d));
	creds_record_free(d);
	/* two seals of one record differ (random nonce) */
	CHECK_INT(creds_seal(key, CREDS_KEY_FILE, r, &buf2, &len2, err,
	    sizeof(err)), 0);
	CHECK_INT(len2, len);
	CHECK(memcmp(buf, buf2, len) != 0);
	free(buf2);

	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "other", "F", buf, len, &d,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "F failed to decrypt: it was modified, truncated, or "
	    "renamed from another credential, or the key changed; revoke and "
	    "grant it again: moat revoke other && moat grant other");
	CHECK_INT(creds_open(key2, CREDS_KEY_FILE, "api", "F", buf, len, &d,
	    err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "F failed to decrypt");
	CHECK_INT(creds_open(key, CREDS_KEY_PASSPHRASE, "api", "F", buf, len,
	    &d, err, sizeof(err)), -1);
	CHECK_STR(err, "F was encrypted with the key file, not a passphrase: "
	    "unset MOAT_PASSPHRASE");
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x01;
		CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F", buf, len,
		    &d, err, sizeof(err)), -1);
		CHECK(d == NULL);
		buf[i] ^= 0x01;
	}
	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F", buf, len - 1,
	    &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "F failed to decrypt");
	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F", buf, 20, &d,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "F is truncated (20 bytes); revoke and grant it again: "
	    "moat revoke api && moat grant api");
	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F", buf, 0, &d,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "F is not a moat credential file");
	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F",
	    (const unsigned char *)"-----BEGIN PGP MESSAGE-----\n", 28, &d,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "F is not a moat credential file");
	buf[8] = 2;
	CHECK_INT(creds_open(key, CREDS_KEY_FILE, "api", "F", buf, len, &d,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "F has format version 2; this moat reads version 1");
	free(buf);
	creds_record_free(r);
}

static void
test_store_round_trip(void)
{
	const struct creds_provider	*p;
	struct creds_record		*r, *d;
	struct strvec			 names = STRVEC_INIT;
	char				 err[1024], secret[64];
	size_t				 i;

	home_new();
	for (i = 0; (p = creds_provider_at(i)) != NULL; i++) {
		r = creds_record_new(p->name, err, sizeof(err));
		CHECK_INT(creds_record_add_provider(r, p, err, sizeof(err)), 0);
		snprintf(secret, sizeof(secret), "secret-for-%s", p->name);
		creds_record_set_secret(r, secret, strlen(secret), err,
		    sizeof(err));
		r->created = 1700000000 + (long long)i;
		CHECK_INT(creds_store(r, err, sizeof(err)), 0);
		CHECK_INT(creds_load(p->name, &d, err, sizeof(err)), 0);
		CHECK(d != NULL && creds_record_equal(r, d));
		creds_record_free(d);
		creds_record_free(r);
		snprintf(secret, sizeof(secret), "credentials/%s.enc",
		    p->name);
		CHECK_INT(mode_of(secret), 0600);
	}
	r = custom_record("my-api", "custom-secret");
	CHECK_INT(creds_store(r, err, sizeof(err)), 0);
	CHECK_INT(creds_load("my-api", &d, err, sizeof(err)), 0);
	CHECK(d != NULL && creds_record_equal(r, d));
	creds_record_free(d);
	creds_record_free(r);
	CHECK_INT(mode_of("credentials"), 0700);
	CHECK_INT(mode_of("key"), 0600);

	CHECK_INT(creds_list(&names, err, sizeof(err)), 0);
	CHECK_INT(names.n, 6);
	if (names.n == 6) {
		CHECK_STR(names.v[0], "anthropic");
		CHECK_STR(names.v[1], "gemini");
		CHECK_STR(names.v[2], "github");
		CHECK_STR(names.v[3], "my-api");
		CHECK_STR(names.v[4], "npm");
		CHECK_STR(names.v[5], "openai");
	}
	strvec_free(&names);

	CHECK_INT(creds_remove("gemini", err, sizeof(err)), 0);
	CHECK_INT(creds_load("gemini", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "no credential \"gemini\" granted; run: moat grant "
	    "gemini");
	CHECK_INT(creds_load("nope", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "no credential \"nope\" granted; run: moat grant nope "
	    "--host PATTERN");
	CHECK_INT(creds_remove("gemini", err, sizeof(err)), -1);
	CHECK_STR(err, "no credential \"gemini\" granted; granted: anthropic, "
	    "github, my-api, npm, openai");
	CHECK_INT(creds_load("../key", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "invalid credential name");
	home_done();

	home_new();
	CHECK_INT(creds_remove("x", err, sizeof(err)), -1);
	CHECK_STR(err, "no credential \"x\" granted; no credentials are "
	    "granted");
	CHECK_INT(creds_list(&names, err, sizeof(err)), 0);
	CHECK_INT(names.n, 0);
	home_done();
}

static void
test_store_permissions(void)
{
	struct creds_record	*r = custom_record("api", "perm-secret"), *d;
	char			 err[1024], path[512], want[2048];

	home_new();
	CHECK_INT(creds_store(r, err, sizeof(err)), 0);

	snprintf(path, sizeof(path), "%s/key", home);
	chmod(path, 0640);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "permissions 0640 for %s are too open: "
	    "it must not be accessible by group or others; fix with: chmod "
	    "600 %s", path, path);
	CHECK_STR(err, want);
	CHECK_INT(creds_store(r, err, sizeof(err)), -1);
	CHECK_STR(err, want);
	chmod(path, 0600);

	snprintf(path, sizeof(path), "%s/credentials/api.enc", home);
	chmod(path, 0604);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "fix with: chmod 600 ");
	CHECK_CONTAINS(err, path);
	chmod(path, 0600);

	snprintf(path, sizeof(path), "%s/credentials", home);
	chmod(path, 0755);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "fix with: chmod 700 ");
	CHECK_INT(creds_store(r, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "fix with: chmod 700 ");
	chmod(path, 0700);

	CHECK_INT(creds_load("api", &d, err, sizeof(err)), 0);
	creds_record_free(d);
	creds_record_free(r);
	home_done();
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, data, len) != (ssize_t)len)
		printf("write_file %s failed\n", path);
	if (fd != -1)
		close(fd);
}

static void
test_store_key_problems(void)
{
	struct creds_record	*r = custom_record("api", "key-secret"), *d;
	char			 err[1024], path[512], want[2048];

	home_new();
	CHECK_INT(creds_store(r, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/key", home);

	write_file(path, "short", 5);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is corrupt: too short, want exactly "
	    "32 bytes (credentials encrypted with it cannot be recovered: "
	    "move it away and grant them again)", path);
	CHECK_STR(err, want);
	write_file(path, "0123456789abcdef0123456789abcdefX", 33);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is corrupt: too long, want exactly 32 bytes");
	/* a different key of the right size */
	write_file(path, "0123456789abcdef0123456789abcdef", 32);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "api.enc failed to decrypt");
	unlink(path);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is missing: the credentials in "
	    "%s/credentials were encrypted with it and cannot be opened; "
	    "revoke and grant them again", path, home);
	CHECK_STR(err, want);
	/* grant makes a new key; the new grant works */
	CHECK_INT(creds_store(r, err, sizeof(err)), 0);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), 0);
	creds_record_free(d);
	creds_record_free(r);
	home_done();
}

static void
test_store_passphrase(void)
{
	struct creds_record	*r = custom_record("api", "pp-secret"), *d;
	char			 err[1024], path[512];

	home_new();
	setenv("MOAT_PASSPHRASE", "correct horse battery staple", 1);
	CHECK_INT(creds_store(r, err, sizeof(err)), 0);
	CHECK_INT(mode_of("key.salt"), 0600);
	CHECK_INT(mode_of("key"), (mode_t)-1);	/* no key file */
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), 0);
	CHECK(d != NULL && creds_record_equal(r, d));
	creds_record_free(d);
	setenv("MOAT_PASSPHRASE", "wrong horse", 1);
	/* a second grant with a mistyped passphrase is refused */
	creds_record_free(r);
	r = custom_record("api2", "pp-secret-2");
	CHECK_INT(creds_store(r, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "MOAT_PASSPHRASE does not open ");
	CHECK_CONTAINS(err, "/credentials/api.enc: use the passphrase the "
	    "other credentials were granted with");
	CHECK_INT(mode_of("credentials/api2.enc"), (mode_t)-1);
	/* regranting the only one with a new passphrase is allowed */
	creds_record_free(r);
	r = custom_record("api", "pp-secret");
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "api.enc failed to decrypt: it was modified, "
	    "truncated, or renamed from another credential, or the "
	    "passphrase (MOAT_PASSPHRASE) changed");
	unsetenv("MOAT_PASSPHRASE");
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "api.enc was encrypted with a passphrase: set "
	    "MOAT_PASSPHRASE");
	setenv("MOAT_PASSPHRASE", "correct horse battery staple", 1);
	snprintf(path, sizeof(path), "%s/key.salt", home);
	unlink(path);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "key.salt is missing");
	setenv("MOAT_PASSPHRASE", "wrong horse", 1);
	CHECK_INT(creds_store(r, err, sizeof(err)), 0);
	CHECK_INT(creds_load("api", &d, err, sizeof(err)), 0);
	creds_record_free(d);
	creds_record_free(r);
	home_done();
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_names);
	RUN(test_secret_validation);
	RUN(test_binding_validation);
	RUN(test_providers);
	RUN(test_fingerprint);
	RUN(test_encode_decode);
	RUN(test_seal_open);
	RUN(test_store_round_trip);
	RUN(test_store_permissions);
	RUN(test_store_key_problems);
	RUN(test_store_passphrase);
	return harness_done();
}
