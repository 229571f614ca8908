/*
 * moat grant / moat revoke through the real moat binary ($MOAT_BIN), each
 * test in its own temporary MOAT_HOME.  The stored result is checked by
 * opening it with the creds library itself.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "creds.h"
#include "harness.h"
#include "util.h"

extern char **environ;

static const char	*moat_bin;
static char		 home[64], ghdir[64];

struct res {
	int	 status;
	char	*out;
	char	*err;
};

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
	strcpy(home, "/tmp/moat-test-grant-XXXXXX");
	strcpy(ghdir, "/tmp/moat-test-gh-XXXXXX");
	if (mkdtemp(home) == NULL || mkdtemp(ghdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	/* for creds_load() in this process */
	setenv("MOAT_HOME", home, 1);
	unsetenv("MOAT_PASSPHRASE");
}

static void
home_done(void)
{
	chmod(home, 0700);
	nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	nftw(ghdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * The environment for moat: ours without anything that could reach a
 * real credential store or gh login, plus MOAT_HOME and extra (may be
 * NULL; NULL-terminated "K=V").
 */
static void
make_env(struct strvec *env, const char *const *extra)
{
	static const char *const drop[] = { "MOAT_HOME=", "MOAT_PASSPHRASE=",
	    "GH_TOKEN=", "GITHUB_TOKEN=", "GH_CONFIG_DIR=", "GH_HOST=",
	    "GH_ENTERPRISE_TOKEN=", "GITHUB_ENTERPRISE_TOKEN=", NULL };
	char	**e;
	size_t	  i;

	for (e = environ; *e != NULL; e++) {
		for (i = 0; drop[i] != NULL; i++)
			if (strncmp(*e, drop[i], strlen(drop[i])) == 0)
				break;
		if (drop[i] == NULL)
			strvec_push(env, *e);
	}
	strvec_pushf(env, "MOAT_HOME=%s", home);
	strvec_pushf(env, "GH_CONFIG_DIR=%s", ghdir);
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		strvec_push(env, extra[i]);
}

/* Runs argv (the program first) with moat's environment plus extra. */
static void
run_argv(struct res *r, struct strvec *argv, const char *const *extra,
    const char *input, size_t len)
{
	struct strvec	env = STRVEC_INIT;
	char		err[256];

	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
	make_env(&env, extra);
	if (util_run(argv->v, env.v, input, len, &r->out, &r->err, 60000,
	    &r->status, err, sizeof(err)) == -1) {
		printf("cannot run %s: %s\n", argv->v[0], err);
		r->status = -1;
	}
	if (r->out == NULL)
		r->out = xstrdup("");
	if (r->err == NULL)
		r->err = xstrdup("");
	strvec_free(argv);
	strvec_free(&env);
}

/* Runs moat with args (NULL-terminated), input on stdin (len bytes). */
static void
run_env(struct res *r, const char *const *extra, const char *input,
    size_t len, const char *const *args)
{
	struct strvec	argv = STRVEC_INIT;
	size_t		i;

	strvec_push(&argv, moat_bin);
	for (i = 0; args[i] != NULL; i++)
		strvec_push(&argv, args[i]);
	run_argv(r, &argv, extra, input, len);
}

static size_t
len_or_0(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

#define RUN_IN(r, input, ...) do {					\
	const char *a_[] = { __VA_ARGS__, NULL };			\
	run_env((r), NULL, (input), len_or_0(input), a_);		\
} while (0)

static void
res_free(struct res *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* The stored secret of name, or "" when it does not load. */
static const char *
stored_secret(const char *name)
{
	static char		 buf[CREDS_SECRET_MAX + 1];
	struct creds_record	*r;
	char			 err[1024];

	buf[0] = '\0';
	if (creds_load(name, &r, err, sizeof(err)) == -1) {
		printf("  creds_load %s: %s\n", name, err);
		return buf;
	}
	memcpy(buf, r->secret, r->secret_len + 1);
	creds_record_free(r);
	return buf;
}

/* 1 when any file under dir contains needle. */
static int
tree_contains(const char *dir, const char *needle)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		 path[1024], *data;
	size_t		 len;
	int		 found = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == -1)
			continue;
		if (S_ISDIR(st.st_mode))
			found = tree_contains(path, needle);
		else if (util_read_file(path, 1 << 20, &data, &len) == 0) {
			found = memmem(data, len, needle,
			    strlen(needle)) != NULL;
			free(data);
		}
	}
	closedir(d);
	return found;
}

/* The number of entries in dir (without . and ..), or -1. */
static int
count_entries(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

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

static void
enc_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/credentials/%s.enc", home, name);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_every_provider(void)
{
	static const struct {
		const char *name, *json;
	} want[] = {
		{ "github", "\"bindings\":[{\"hosts\":[\"api.github.com\"],"
		  "\"header\":\"Authorization\",\"format\":\"prefix\","
		  "\"prefix\":\"Bearer \"},{\"hosts\":[\"github.com\"],"
		  "\"header\":\"Authorization\",\"format\":\"basic\","
		  "\"user\":\"x-access-token\"}]}\n" },
		{ "anthropic", "\"bindings\":[{\"hosts\":"
		  "[\"api.anthropic.com\"],\"header\":\"x-api-key\","
		  "\"format\":\"prefix\",\"prefix\":\"\"}]}\n" },
		{ "openai", "\"bindings\":[{\"hosts\":[\"api.openai.com\"],"
		  "\"header\":\"Authorization\",\"format\":\"prefix\","
		  "\"prefix\":\"Bearer \"}]}\n" },
		{ "gemini", "\"bindings\":[{\"hosts\":"
		  "[\"generativelanguage.googleapis.com\"],\"header\":"
		  "\"x-goog-api-key\",\"format\":\"prefix\",\"prefix\":\"\"}]}"
		  "\n" },
		{ "npm", "\"bindings\":[{\"hosts\":[\"registry.npmjs.org\"],"
		  "\"header\":\"Authorization\",\"format\":\"prefix\","
		  "\"prefix\":\"Bearer \"}]}\n" },
	};
	struct res	r = { 0, NULL, NULL };
	char		secret[64], head[128];
	size_t		i;

	home_new();
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(secret, sizeof(secret), "Zq9-secret-of-%s-7Hx",
		    want[i].name);
		RUN_IN(&r, secret, "grant", want[i].name);
		CHECK_INT(r.status, 0);
		CHECK_CONTAINS(r.out, "granted \"");
		CHECK(strstr(r.out, secret) == NULL);
		CHECK(strstr(r.err, secret) == NULL);
		CHECK_STR(stored_secret(want[i].name), secret);
		RUN_IN(&r, NULL, "grant", "show", want[i].name, "--json");
		CHECK_INT(r.status, 0);
		snprintf(head, sizeof(head), "{\"name\":\"%s\",\"created\":\"",
		    want[i].name);
		CHECK(strncmp(r.out, head, strlen(head)) == 0);
		CHECK_CONTAINS(r.out, want[i].json);
		CHECK(strstr(r.out, secret) == NULL);
		snprintf(head, sizeof(head), "credentials/%s.enc",
		    want[i].name);
		CHECK_INT(mode_of(head), 0600);
	}
	CHECK_INT(mode_of("credentials"), 0700);
	CHECK_INT(mode_of("key"), 0600);
	CHECK_INT(count_entries(home), 2);	/* key, credentials/ */
	RUN_IN(&r, NULL, "grant", "show", "github");
	CHECK_INT(r.status, 0);
	CHECK_CONTAINS(r.out, "\n  api.github.com  Authorization: Bearer "
	    "<secret>\n  github.com  Authorization: Basic "
	    "base64(x-access-token:<secret>)\n");
	RUN_IN(&r, NULL, "grant", "list");
	CHECK_INT(r.status, 0);
	CHECK_CONTAINS(r.out, "anthropic  fingerprint ");
	CHECK_CONTAINS(r.out, "\n  api.anthropic.com  x-api-key: <secret>\n");
	CHECK(strstr(r.out, "gemini") < strstr(r.out, "github"));
	RUN_IN(&r, NULL, "grant", "list", "--json");
	CHECK_INT(r.status, 0);
	CHECK(strncmp(r.out, "[{\"name\":\"anthropic\"", 20) == 0);
	CHECK(strstr(r.out, "},{\"name\":\"gemini\"") != NULL);
	CHECK(strstr(r.out, "}]}]\n") != NULL);
	/* nothing under MOAT_HOME holds any secret in plaintext */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(secret, sizeof(secret), "Zq9-secret-of-%s-7Hx",
		    want[i].name);
		CHECK(!tree_contains(home, secret));
		CHECK(!tree_contains(home, secret + 4));
	}
	res_free(&r);
	home_done();
}

static void
test_custom(void)
{
	struct creds_record	*c;
	struct res		 r = { 0, NULL, NULL };
	char			 err[256];

	home_new();
	RUN_IN(&r, "custom-tok\n", "grant", "my-api", "--host",
	    "api.example.com", "--host", "*.Example.org:8443", "--header",
	    "X-Token", "--prefix", "token ");
	CHECK_INT(r.status, 0);
	CHECK(strncmp(r.out, "granted \"my-api\" (fingerprint ", 30) == 0);
	CHECK_CONTAINS(r.out, ") for api.example.com, *.example.org:8443; "
	    "use it with: moat run --grant my-api\n");
	CHECK_STR(stored_secret("my-api"), "custom-tok");
	CHECK_INT(creds_load("my-api", &c, err, sizeof(err)), 0);
	if (c != NULL) {
		CHECK_INT(c->nbindings, 1);
		CHECK_INT(c->bindings[0].nhosts, 2);
		CHECK_STR(c->bindings[0].header, "X-Token");
		CHECK_STR(c->bindings[0].prefix_or_user, "token ");
		CHECK_INT(c->bindings[0].basic, 0);
		CHECK(hostpat_match(&c->bindings[0].hosts[1], "a.b.example.org",
		    8443));
		CHECK(!hostpat_match(&c->bindings[0].hosts[1], "example.org",
		    8443));
		CHECK(c->created <= (long long)time(NULL) &&
		    c->created > (long long)time(NULL) - 3600);
		creds_record_free(c);
	}
	/* defaults: Authorization, "Bearer " */
	RUN_IN(&r, "d-tok", "grant", "dflt", "--host", "api.d.test");
	CHECK_INT(r.status, 0);
	RUN_IN(&r, NULL, "grant", "show", "dflt", "--json");
	CHECK_CONTAINS(r.out, "\"bindings\":[{\"hosts\":[\"api.d.test\"],"
	    "\"header\":\"Authorization\",\"format\":\"prefix\",\"prefix\":"
	    "\"Bearer \"}]}\n");
	/* Basic */
	RUN_IN(&r, "pw", "grant", "git-host", "--host", "git.example.com",
	    "--basic-user", "bob");
	CHECK_INT(r.status, 0);
	RUN_IN(&r, NULL, "grant", "show", "git-host");
	CHECK_CONTAINS(r.out, "  git.example.com  Authorization: Basic "
	    "base64(bob:<secret>)\n");
	/* granting again replaces */
	RUN_IN(&r, "d-tok-2", "grant", "dflt", "--host", "api.d.test");
	CHECK_INT(r.status, 0);
	CHECK_STR(stored_secret("dflt"), "d-tok-2");
	/* revoke */
	RUN_IN(&r, NULL, "revoke", "dflt");
	CHECK_INT(r.status, 0);
	CHECK_STR(r.out, "revoked \"dflt\"\n");
	CHECK_INT(mode_of("credentials/dflt.enc"), (mode_t)-1);
	RUN_IN(&r, NULL, "revoke", "dflt");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: no credential \"dflt\" granted; granted: "
	    "git-host, my-api\n");
	RUN_IN(&r, NULL, "grant", "show", "dflt");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: no credential \"dflt\" granted; run: moat "
	    "grant dflt --host PATTERN\n");
	RUN_IN(&r, NULL, "grant", "show", "openai");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: no credential \"openai\" granted; run: moat "
	    "grant openai\n");
	res_free(&r);
	home_done();

	home_new();
	RUN_IN(&r, NULL, "grant", "list");
	CHECK_INT(r.status, 0);
	CHECK_STR(r.out, "no credentials granted; add one with: moat grant "
	    "<provider>\n");
	RUN_IN(&r, NULL, "grant", "list", "--json");
	CHECK_STR(r.out, "[]\n");
	RUN_IN(&r, NULL, "revoke", "github");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: no credential \"github\" granted; no "
	    "credentials are granted\n");
	res_free(&r);
	home_done();
}

static void
test_secret_sources(void)
{
	const char	*env[] = { "MY_TOKEN=from-env-tok", NULL };
	const char	*args[] = { "grant", "openai", "--from-env", "MY_TOKEN",
	    NULL };
	const char	*args2[] = { "grant", "openai", "--from-env", "NOPE",
	    NULL };
	struct res	 r = { 0, NULL, NULL };

	home_new();
	/* one trailing newline is stripped, nothing else */
	RUN_IN(&r, "abc\n", "grant", "openai");
	CHECK_INT(r.status, 0);
	CHECK_STR(stored_secret("openai"), "abc");
	RUN_IN(&r, "abc", "grant", "openai");
	CHECK_STR(stored_secret("openai"), "abc");
	RUN_IN(&r, " spaced tok ", "grant", "openai");
	CHECK_INT(r.status, 0);
	CHECK_STR(stored_secret("openai"), " spaced tok ");
	RUN_IN(&r, "abc\n\n", "grant", "openai");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: the secret contains a line feed (LF) at byte "
	    "3; it would corrupt the HTTP header, refusing it\n");
	RUN_IN(&r, "abc\r\n", "grant", "openai");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: the secret contains a carriage return (CR) "
	    "at byte 3; it would corrupt the HTTP header, refusing it\n");
	CHECK_STR(stored_secret("openai"), " spaced tok ");	/* unchanged */
	run_env(&r, env, "ignored", 7, args);
	CHECK_INT(r.status, 0);
	CHECK_STR(stored_secret("openai"), "from-env-tok");
	run_env(&r, env, NULL, 0, args2);
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: environment variable NOPE is not set\n");
	CHECK_STR(stored_secret("openai"), "from-env-tok");
	res_free(&r);
	home_done();
}

static void
test_gh_token(void)
{
	const char	*env[] = { "GH_TOKEN=gho_fromGhCli123", NULL };
	const char	*args[] = { "grant", "github", NULL };
	char		*gh = util_which("gh");
	struct res	 r = { 0, NULL, NULL };

	CHECK(gh != NULL);	/* scripts/packages.txt installs gh */
	free(gh);
	home_new();
	/* stdin empty and not a terminal: gh's token, said on stderr */
	run_env(&r, env, NULL, 0, args);
	CHECK_INT(r.status, 0);
	CHECK_STR(r.err, "no secret on stdin; using the token of the "
	    "logged-in gh CLI (gh auth token)\n");
	CHECK_STR(stored_secret("github"), "gho_fromGhCli123");
	CHECK(strstr(r.out, "gho_fromGhCli123") == NULL);
	/* a secret on stdin wins */
	run_env(&r, env, "explicit", 8, args);
	CHECK_INT(r.status, 0);
	CHECK_STR(stored_secret("github"), "explicit");
	/* gh not logged in: the empty secret is refused */
	run_env(&r, NULL, NULL, 0, args);
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: the secret is empty\n");
	res_free(&r);
	home_done();
}

/*
 * Runs moat on a pseudo-terminal, answering each prompt in turn.  Returns
 * the exit status; *seen gets everything the terminal showed.
 */
static int
run_pty(const char *const *args, const char *const *extra,
    const char *const *prompts, const char *const *answers, char **seen)
{
	struct strvec	 argv = STRVEC_INIT, env = STRVEC_INIT;
	struct pollfd	 pfd;
	char		*buf = xcalloc(1, 65536);
	size_t		 len = 0, next = 0, i;
	long long	 deadline = (long long)time(NULL) + 30;
	int		 master, ws = 0, status = -1;
	ssize_t		 n;
	pid_t		 pid;

	strvec_push(&argv, moat_bin);
	for (i = 0; args[i] != NULL; i++)
		strvec_push(&argv, args[i]);
	make_env(&env, extra);
	if ((pid = forkpty(&master, NULL, NULL, NULL)) == -1) {
		perror("forkpty");
		*seen = buf;
		return -1;
	}
	if (pid == 0) {
		execve(argv.v[0], argv.v, env.v);
		_exit(127);
	}
	strvec_free(&argv);
	strvec_free(&env);
	while ((long long)time(NULL) < deadline && len < 65535) {
		pfd.fd = master;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((n = read(master, buf + len, 65535 - len)) <= 0)
			break;	/* EIO: the child closed the terminal */
		len += (size_t)n;
		buf[len] = '\0';
		if (prompts[next] != NULL && strstr(buf, prompts[next])) {
			if (write(master, answers[next],
			    strlen(answers[next])) < 0)
				break;
			next++;
		}
	}
	/* The terminal closes a moment before the process is reapable. */
	while (waitpid(pid, &ws, WNOHANG) == 0) {
		if ((long long)time(NULL) >= deadline) {
			kill(pid, SIGKILL);
			printf("  moat on the pty did not finish; killed\n");
			waitpid(pid, &ws, 0);
			break;
		}
		usleep(10000);
	}
	if (WIFEXITED(ws))
		status = WEXITSTATUS(ws);
	close(master);
	*seen = buf;
	return status;
}

static void
test_terminal_prompt(void)
{
	const char	*args[] = { "grant", "tty-api", "--host", "t.example",
	    NULL };
	const char	*prompts[] = { "Secret for tty-api (input is hidden): ",
	    NULL };
	const char	*answers[] = { "Pty-Secret-9271\n" };
	const char	*gargs[] = { "grant", "github", NULL };
	const char	*genv[] = { "GH_TOKEN=gho_ttyGhToken55", NULL };
	const char	*gprompts[] = { "Use its token (gh auth token)? [Y/n] ",
	    NULL };
	const char	*gyes[] = { "y\n" };
	const char	*gprompts2[] = { "Use its token (gh auth token)? [Y/n] ",
	    "Secret for github (input is hidden): ", NULL };
	const char	*gno[] = { "n\n", "typed-instead-42\n" };
	char		*seen;

	home_new();
	CHECK_INT(run_pty(args, NULL, prompts, answers, &seen), 0);
	CHECK_CONTAINS(seen, "granted \"tty-api\"");
	CHECK(strstr(seen, "Pty-Secret-9271") == NULL);	/* not echoed */
	CHECK_STR(stored_secret("tty-api"), "Pty-Secret-9271");
	free(seen);
	CHECK_INT(run_pty(gargs, genv, gprompts, gyes, &seen), 0);
	CHECK(strstr(seen, "gho_ttyGhToken55") == NULL);
	CHECK_STR(stored_secret("github"), "gho_ttyGhToken55");
	free(seen);
	CHECK_INT(run_pty(gargs, genv, gprompts2, gno, &seen), 0);
	CHECK(strstr(seen, "typed-instead-42") == NULL);
	CHECK_STR(stored_secret("github"), "typed-instead-42");
	free(seen);
	home_done();
}

static void
test_tampering(void)
{
	struct res	 r = { 0, NULL, NULL };
	char		 a[512], b[512], c[512], t[512], want[1024], *data;
	size_t		 len;
	int		 fd;

	home_new();
	RUN_IN(&r, "tok-a", "grant", "aaa", "--host", "a.example");
	RUN_IN(&r, "tok-b", "grant", "bbb", "--host", "b.example");
	enc_path("aaa", a, sizeof(a));
	enc_path("bbb", b, sizeof(b));
	enc_path("ccc", c, sizeof(c));
	snprintf(t, sizeof(t), "%s/credentials/t.tmp", home);

	/* flip one byte in the middle */
	CHECK_INT(util_read_file(a, 1 << 16, &data, &len), 0);
	data[len / 2] ^= 0x20;
	CHECK_INT(util_write_atomic(a, data, len, 0600, NULL, 0), 0);
	RUN_IN(&r, NULL, "grant", "show", "aaa");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: %s failed to decrypt: it was "
	    "modified, truncated, or renamed from another credential, or the "
	    "key changed; revoke and grant it again: moat revoke aaa && moat "
	    "grant aaa\n", a);
	CHECK_STR(r.err, want);
	data[len / 2] ^= 0x20;
	CHECK_INT(util_write_atomic(a, data, len, 0600, NULL, 0), 0);
	RUN_IN(&r, NULL, "grant", "show", "aaa");
	CHECK_INT(r.status, 0);

	/* truncate */
	CHECK_INT(util_write_atomic(a, data, len - 1, 0600, NULL, 0), 0);
	RUN_IN(&r, NULL, "grant", "show", "aaa");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, want);
	CHECK_INT(util_write_atomic(a, data, 30, 0600, NULL, 0), 0);
	RUN_IN(&r, NULL, "grant", "show", "aaa");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: %s is truncated (30 bytes); "
	    "revoke and grant it again: moat revoke aaa && moat grant aaa\n",
	    a);
	CHECK_STR(r.err, want);
	CHECK_INT(util_write_atomic(a, "", 0, 0600, NULL, 0), 0);
	RUN_IN(&r, NULL, "grant", "show", "aaa");
	snprintf(want, sizeof(want), "moat: %s is not a moat credential "
	    "file\n", a);
	CHECK_STR(r.err, want);
	CHECK_INT(util_write_atomic(a, data, len, 0600, NULL, 0), 0);

	/* swap two files */
	CHECK_INT(rename(a, t), 0);
	CHECK_INT(rename(b, a), 0);
	CHECK_INT(rename(t, b), 0);
	RUN_IN(&r, NULL, "grant", "show", "aaa");
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.err, a);
	CHECK_CONTAINS(r.err, "failed to decrypt");
	RUN_IN(&r, NULL, "grant", "show", "bbb");
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.err, "failed to decrypt");
	/* list shows what it can and names each broken file */
	RUN_IN(&r, "tok-d", "grant", "ddd", "--host", "d.example");
	RUN_IN(&r, NULL, "grant", "list");
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.out, "ddd  fingerprint ");
	CHECK(strstr(r.out, "aaa") == NULL);
	CHECK_CONTAINS(r.err, a);
	CHECK_CONTAINS(r.err, b);
	CHECK_INT(rename(a, t), 0);
	CHECK_INT(rename(b, a), 0);
	CHECK_INT(rename(t, b), 0);
	CHECK_STR(stored_secret("aaa"), "tok-a");

	/* rename */
	CHECK_INT(rename(a, c), 0);
	RUN_IN(&r, NULL, "grant", "show", "ccc");
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.err, c);
	CHECK_CONTAINS(r.err, "failed to decrypt");
	/* a foreign file */
	fd = open(c, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "{\"token\": \"x\"}\n", 15) == 15);
	close(fd);
	RUN_IN(&r, NULL, "grant", "show", "ccc");
	snprintf(want, sizeof(want), "moat: %s is not a moat credential "
	    "file\n", c);
	CHECK_STR(r.err, want);
	free(data);
	res_free(&r);
	home_done();
}

static void
test_concurrent(void)
{
	enum { N = 8 };
	struct res	r = { 0, NULL, NULL };
	char		name[512], secret[32];
	pid_t		pids[N];
	int		i, ws, ok = 0;

	home_new();	/* no key yet: the grants race to create it */
	for (i = 0; i < N; i++) {
		if ((pids[i] = fork()) == 0) {
			snprintf(name, sizeof(name), "c%d", i);
			snprintf(secret, sizeof(secret), "conc-secret-%d", i);
			RUN_IN(&r, secret, "grant", name, "--host",
			    "c.example");
			_exit(r.status == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < N; i++)
		if (pids[i] > 0 && waitpid(pids[i], &ws, 0) == pids[i] &&
		    WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
			ok++;
	CHECK_INT(ok, N);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		snprintf(secret, sizeof(secret), "conc-secret-%d", i);
		CHECK_STR(stored_secret(name), secret);
	}
	snprintf(name, sizeof(name), "%s/credentials", home);
	CHECK_INT(count_entries(name), N);	/* no temporary files */
	CHECK_INT(count_entries(home), 2);
	RUN_IN(&r, NULL, "grant", "list");
	CHECK_INT(r.status, 0);
	res_free(&r);
	home_done();
}

static void
test_bad_input(void)
{
	struct res	 r = { 0, NULL, NULL };
	char		*big;

	home_new();
#define BAD(status_, err_, input, ...) do {				\
	RUN_IN(&r, (input), __VA_ARGS__);				\
	CHECK_INT(r.status, (status_));					\
	CHECK_STR(r.err, (err_));					\
} while (0)
	BAD(1, "moat: the secret is empty\n", NULL, "grant", "openai");
	BAD(1, "moat: the secret is empty\n", "\n", "grant", "openai");
	{
		const char *a[] = { "grant", "openai", NULL };
		run_env(&r, NULL, "ab\0cd", 5, a);
	}
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, "moat: the secret contains a NUL byte at byte 2; it "
	    "would corrupt the HTTP header, refusing it\n");
	big = xmalloc(CREDS_SECRET_MAX + 2);
	memset(big, 'x', CREDS_SECRET_MAX + 1);
	big[CREDS_SECRET_MAX + 1] = '\0';
	BAD(1, "moat: the secret is longer than 16384 bytes\n", big, "grant",
	    "openai");
	big[CREDS_SECRET_MAX] = '\0';
	RUN_IN(&r, big, "grant", "openai");
	CHECK_INT(r.status, 0);
	CHECK_INT(strlen(stored_secret("openai")), CREDS_SECRET_MAX);
	free(big);
	BAD(2, "moat: invalid credential name \"My_API\": use lowercase "
	    "letters, digits, '-' and '_', starting with a letter or digit\n",
	    "t", "grant", "My_API", "--host", "a.example");
	BAD(2, "moat: invalid credential name \"-x\": use lowercase "
	    "letters, digits, '-' and '_', starting with a letter or digit\n",
	    "t", "grant", "--host", "a.example", "--", "-x");
	BAD(2, "moat: unknown provider \"gitlab\" (built-in: github, "
	    "anthropic, openai, gemini, npm); for another API give the hosts "
	    "it is for: moat grant gitlab --host api.example.com [--header "
	    "NAME] [--prefix STR | --basic-user USER]\n", "t", "grant",
	    "gitlab");
	BAD(2, "moat: host pattern \"https://a.example\" must not contain a "
	    "scheme (write just the host, e.g. api.example.com)\n", "t",
	    "grant", "x", "--host", "https://a.example");
	RUN_IN(&r, "t", "grant", "x", "--host", "a.example/path");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "moat: host pattern \"a.example/path\"");
	RUN_IN(&r, "t", "grant", "x", "--host", "me@a.example");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "moat: host pattern \"me@a.example\"");
	RUN_IN(&r, "t", "grant", "x", "--host", "a .example");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "moat: host pattern \"a .example\"");
	RUN_IN(&r, "t", "grant", "x", "--host", "a*.example");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "moat: host pattern \"a*.example\"");
	RUN_IN(&r, "t", "grant", "x", "--host", "a.example", "--host", "*");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "moat: host pattern \"*\"");
	BAD(2, "moat: header \"Host\" cannot carry a credential\n", "t",
	    "grant", "x", "--host", "a.example", "--header", "Host");
	BAD(2, "moat: Basic user \"a:b\" must not contain ':'\n", "t",
	    "grant", "x", "--host", "a.example", "--basic-user", "a:b");
	BAD(2, "moat: --prefix and --basic-user exclude each other\n", "t",
	    "grant", "x", "--host", "a.example", "--prefix", "token ",
	    "--basic-user", "u");
	BAD(2, "moat: --header, --prefix and --basic-user need --host "
	    "PATTERN\n", "t", "grant", "x", "--header", "X-Key");
	BAD(2, "moat: \"github\" is a built-in provider with fixed hosts and "
	    "header; to bind other hosts choose another name, e.g. moat grant "
	    "my-github --host PATTERN\n", "t", "grant", "github", "--host",
	    "ghe.example.com");
	BAD(2, "moat: --json goes with 'moat grant list' or 'moat grant "
	    "show'\n", "t", "grant", "openai", "--json");
	RUN_IN(&r, NULL, "grant");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "usage: moat grant <provider>");
	RUN_IN(&r, NULL, "grant", "show");
	CHECK_INT(r.status, 2);
	RUN_IN(&r, NULL, "grant", "list", "--host", "x");
	CHECK_INT(r.status, 2);
	RUN_IN(&r, NULL, "revoke");
	CHECK_INT(r.status, 2);
	CHECK_CONTAINS(r.err, "usage: moat revoke NAME");
	BAD(1, "moat: invalid credential name \"../key\": use lowercase "
	    "letters, digits, '-' and '_', starting with a letter or digit\n",
	    NULL, "revoke", "../key");
	CHECK_INT(mode_of("key"), 0600);
	/* nothing was written by the refused grants */
	CHECK_INT(mode_of("credentials/x.enc"), (mode_t)-1);
	CHECK_STR(stored_secret("openai") + CREDS_SECRET_MAX - 1, "x");
#undef BAD
	res_free(&r);
	home_done();
}

static void
test_bad_files(void)
{
	struct res	 r = { 0, NULL, NULL };
	char		 path[512], want[2048];
	int		 fd;

	home_new();
	RUN_IN(&r, "tok", "grant", "npm");
	CHECK_INT(r.status, 0);
	snprintf(path, sizeof(path), "%s/key", home);
	/* key readable by group */
	chmod(path, 0640);
	RUN_IN(&r, NULL, "grant", "show", "npm");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: permissions 0640 for %s are too "
	    "open: it must not be accessible by group or others; fix with: "
	    "chmod 600 %s\n", path, path);
	CHECK_STR(r.err, want);
	RUN_IN(&r, "tok2", "grant", "npm");
	CHECK_INT(r.status, 1);
	CHECK_STR(r.err, want);
	chmod(path, 0600);
	/* .enc readable by others */
	enc_path("npm", path, sizeof(path));
	chmod(path, 0644);
	RUN_IN(&r, NULL, "grant", "show", "npm");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: permissions 0644 for %s are too "
	    "open: it must not be accessible by group or others; fix with: "
	    "chmod 600 %s\n", path, path);
	CHECK_STR(r.err, want);
	chmod(path, 0600);
	/* wrong-size key */
	snprintf(path, sizeof(path), "%s/key", home);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "z", 1) == 1);
	close(fd);
	RUN_IN(&r, NULL, "grant", "show", "npm");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: %s is corrupt: too long, want "
	    "exactly 32 bytes (credentials encrypted with it cannot be "
	    "recovered: move it away and grant them again)\n", path);
	CHECK_STR(r.err, want);
	/* missing key */
	unlink(path);
	RUN_IN(&r, NULL, "grant", "show", "npm");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: %s is missing: the credentials in "
	    "%s/credentials were encrypted with it and cannot be opened; "
	    "revoke and grant them again\n", path, home);
	CHECK_STR(r.err, want);
	res_free(&r);
	home_done();
}

/*
 * Runs `moat grant` with MOAT_HOME read-only: a read-only bind mount in
 * a private mount namespace when we are root (root ignores mode bits),
 * else mode 0500.
 */
static void
grant_readonly(struct res *r, const char *name)
{
	const char	*args[] = { "grant", name, "--host", "ro.example",
	    NULL };
	struct strvec	 argv = STRVEC_INIT;
	char		 script[1024];

	if (geteuid() != 0) {
		chmod(home, 0500);
		run_env(r, NULL, "ro-secret", 9, args);
		chmod(home, 0700);
		return;
	}
	snprintf(script, sizeof(script), "mount --bind %s %s && mount -o "
	    "remount,bind,ro %s && exec %s grant %s --host ro.example", home,
	    home, home, moat_bin, name);
	strvec_push(&argv, "unshare");
	strvec_push(&argv, "--mount");
	strvec_push(&argv, "--propagation");
	strvec_push(&argv, "private");
	strvec_push(&argv, "sh");
	strvec_push(&argv, "-c");
	strvec_push(&argv, script);
	run_argv(r, &argv, NULL, "ro-secret", 9);
}

static void
test_readonly_home(void)
{
	struct res	r = { 0, NULL, NULL };
	char		want[1024], dir[512];

	home_new();
	/* empty read-only home: no key can be made */
	grant_readonly(&r, "ro1");
	CHECK_INT(r.status, 1);
	snprintf(want, sizeof(want), "moat: cannot create %s/key: %s\n", home,
	    geteuid() == 0 ? "Read-only file system" : "Permission denied");
	CHECK_STR(r.err, want);
	CHECK_INT(count_entries(home), 0);
	/* a home with a key and credentials/: the file cannot be written */
	RUN_IN(&r, "tok", "grant", "ro0", "--host", "ro.example");
	CHECK_INT(r.status, 0);
	snprintf(dir, sizeof(dir), "%s/credentials", home);
	if (geteuid() != 0)
		chmod(dir, 0500);
	grant_readonly(&r, "ro2");
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.err, "moat: cannot write ");
	CHECK_CONTAINS(r.err, "/credentials/ro2.enc: ");
	chmod(dir, 0700);
	CHECK_INT(count_entries(dir), 1);	/* ro0.enc only */
	CHECK_STR(stored_secret("ro0"), "tok");
	res_free(&r);
	home_done();
}

static void
test_passphrase(void)
{
	const char	*pp[] = { "MOAT_PASSPHRASE=tr0ub4dor&3", NULL };
	const char	*wrong[] = { "MOAT_PASSPHRASE=tr0ub4dor&4", NULL };
	const char	*grant[] = { "grant", "anthropic", NULL };
	const char	*show[] = { "grant", "show", "anthropic", NULL };
	struct res	 r = { 0, NULL, NULL };

	home_new();
	run_env(&r, pp, "pp-tok", 6, grant);
	CHECK_INT(r.status, 0);
	CHECK_INT(mode_of("key.salt"), 0600);
	CHECK_INT(mode_of("key"), (mode_t)-1);
	run_env(&r, pp, NULL, 0, show);
	CHECK_INT(r.status, 0);
	CHECK_CONTAINS(r.out, "api.anthropic.com  x-api-key: <secret>");
	run_env(&r, wrong, NULL, 0, show);
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.err, "anthropic.enc failed to decrypt: ");
	CHECK_CONTAINS(r.err, "or the passphrase (MOAT_PASSPHRASE) changed");
	run_env(&r, NULL, NULL, 0, show);
	CHECK_INT(r.status, 1);
	CHECK_CONTAINS(r.err, "anthropic.enc was encrypted with a "
	    "passphrase: set MOAT_PASSPHRASE\n");
	{
		const char *g2[] = { "grant", "openai", NULL };

		run_env(&r, wrong, "pp-tok-2", 8, g2);
		CHECK_INT(r.status, 1);
		CHECK_CONTAINS(r.err, "moat: MOAT_PASSPHRASE does not open ");
		CHECK_CONTAINS(r.err, "anthropic.enc: use the passphrase the "
		    "other credentials were granted with\n");
		CHECK_INT(mode_of("credentials/openai.enc"), (mode_t)-1);
		run_env(&r, pp, "pp-tok-2", 8, g2);
		CHECK_INT(r.status, 0);
	}
	CHECK(!tree_contains(home, "pp-tok"));
	CHECK(!tree_contains(home, "tr0ub4dor"));
	res_free(&r);
	home_done();
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if ((moat_bin = getenv("MOAT_BIN")) == NULL) {
		printf("MOAT_BIN is not set (run through ctest)\n");
		return 1;
	}
	RUN(test_every_provider);
	RUN(test_custom);
	RUN(test_secret_sources);
	RUN(test_gh_token);
	RUN(test_terminal_prompt);
	RUN(test_tampering);
	RUN(test_concurrent);
	RUN(test_bad_input);
	RUN(test_bad_files);
	RUN(test_readonly_home);
	RUN(test_passphrase);
	return harness_done();
}
