/* Unit tests for util/: host names, patterns, spawning, files. */
#include <sys/stat.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static void
test_host_normalize(void)
{
	char out[HOST_MAX + 1];

	CHECK_INT(host_normalize("API.Example.COM.", 16, out, sizeof(out)), 0);
	CHECK_STR(out, "api.example.com");
	CHECK_INT(host_normalize(out, strlen(out), out, sizeof(out)), 0);
	CHECK_STR(out, "api.example.com");
	CHECK_INT(host_normalize("[::FFFF:127.0.0.1]", 18, out, sizeof(out)),
	    0);
	CHECK_STR(out, "::ffff:127.0.0.1");
	CHECK_INT(host_normalize("127.0.0.1", 9, out, sizeof(out)), 0);
	CHECK_STR(out, "127.0.0.1");
	/* forms a resolver would read as IPv4 are refused */
	CHECK_INT(host_normalize("127.1", 5, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("2130706433", 10, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("0x7f.0.0.1", 10, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("a..b", 4, out, sizeof(out)), -1);
	CHECK_INT(host_normalize(".a", 2, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("a b", 3, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("a\0b", 3, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("user@host", 9, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("h\xc3\xa9.com", 7, out, sizeof(out)), -1);
	CHECK_INT(host_normalize("", 0, out, sizeof(out)), -1);
	CHECK_INT(host_normalize(".", 1, out, sizeof(out)), -1);
	CHECK_INT(host_ip_family("10.0.0.1"), 4);
	CHECK_INT(host_ip_family("::1"), 6);
	CHECK_INT(host_ip_family("example.com"), 0);
}

static void
test_authority(void)
{
	char	host[HOST_MAX + 1];
	int	port = 0;

	CHECK_INT(authority_parse("Example.com:443", 15, 1, 0, host,
	    sizeof(host), &port), 0);
	CHECK_STR(host, "example.com");
	CHECK_INT(port, 443);
	CHECK_INT(authority_parse("[::1]:8080", 10, 1, 0, host, sizeof(host),
	    &port), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 8080);
	CHECK_INT(authority_parse("example.com", 11, 0, 80, host,
	    sizeof(host), &port), 0);
	CHECK_INT(port, 80);
	CHECK_INT(authority_parse("example.com", 11, 1, 0, host,
	    sizeof(host), &port), -1);
	CHECK_INT(authority_parse("example.com:0", 13, 1, 0, host,
	    sizeof(host), &port), -1);
	CHECK_INT(authority_parse("example.com:65536", 17, 1, 0, host,
	    sizeof(host), &port), -1);
	CHECK_INT(authority_parse("example.com:+80", 15, 1, 0, host,
	    sizeof(host), &port), -1);
	CHECK_INT(authority_parse("::1:80", 6, 1, 0, host, sizeof(host),
	    &port), -1);
	CHECK_INT(authority_parse("a@b.com:80", 10, 1, 0, host,
	    sizeof(host), &port), -1);
	CHECK_INT(authority_parse("[::1]x", 6, 0, 80, host, sizeof(host),
	    &port), -1);
}

static void
test_hostpat(void)
{
	struct hostpat	p;
	char		err[256], buf[300];

	CHECK_INT(hostpat_parse("api.example.com", &p, err, sizeof(err)), 0);
	CHECK_INT(hostpat_match(&p, "api.example.com", 443), 1);
	CHECK_INT(hostpat_match(&p, "api.example.com", 80), 1);
	CHECK_INT(hostpat_match(&p, "api.example.com", 8443), 0);
	CHECK_INT(hostpat_match(&p, "x.api.example.com", 443), 0);
	CHECK_INT(hostpat_parse("*.Example.com:8443", &p, err, sizeof(err)),
	    0);
	CHECK_INT(hostpat_match(&p, "a.b.example.com", 8443), 1);
	CHECK_INT(hostpat_match(&p, "example.com", 8443), 0);
	CHECK_INT(hostpat_match(&p, "badexample.com", 8443), 0);
	CHECK_INT(hostpat_match(&p, "a.example.com", 443), 0);
	hostpat_format(&p, buf, sizeof(buf));
	CHECK_STR(buf, "*.example.com:8443");
	CHECK_INT(hostpat_parse("[::1]:9000", &p, err, sizeof(err)), 0);
	hostpat_format(&p, buf, sizeof(buf));
	CHECK_STR(buf, "[::1]:9000");

	CHECK_INT(hostpat_parse("https://x.com", &p, err, sizeof(err)), -1);
	CHECK_STR(err, "host pattern \"https://x.com\" must not contain a "
	    "scheme (write just the host, e.g. api.example.com)");
	CHECK_INT(hostpat_parse("x.com/path", &p, err, sizeof(err)), -1);
	CHECK_STR(err, "host pattern \"x.com/path\" must not contain a path");
	CHECK_INT(hostpat_parse("u@x.com", &p, err, sizeof(err)), -1);
	CHECK_INT(hostpat_parse("x .com", &p, err, sizeof(err)), -1);
	CHECK_INT(hostpat_parse("a*.x.com", &p, err, sizeof(err)), -1);
	CHECK_STR(err, "host pattern \"a*.x.com\": '*' is only allowed as a "
	    "leading \"*.\"");
	CHECK_INT(hostpat_parse("*.*.x.com", &p, err, sizeof(err)), -1);
	CHECK_INT(hostpat_parse("*", &p, err, sizeof(err)), -1);
	CHECK_INT(hostpat_parse("*.10.0.0.1", &p, err, sizeof(err)), -1);
	CHECK_INT(hostpat_parse("", &p, err, sizeof(err)), -1);
	CHECK_INT(hostpat_parse("x.com:99999", &p, err, sizeof(err)), -1);
}

static void
test_strvec(void)
{
	struct strvec sv = STRVEC_INIT;

	strvec_push(&sv, "A=1");
	strvec_pushf(&sv, "%s=%d", "B", 2);
	CHECK_INT(sv.n, 2);
	CHECK(sv.v[2] == NULL);
	CHECK_STR(strvec_getenv(&sv, "B"), "2");
	CHECK(strvec_getenv(&sv, "C") == NULL);
	CHECK_INT(strvec_find(&sv, "A=1"), 0);
	strvec_free(&sv);
	CHECK(sv.v == NULL);
}

static void
test_run(void)
{
	char	*out = NULL, *errout = NULL, err[256];
	int	 st = -1;
	char	*cat[] = { "cat", NULL };
	char	*sh[] = { "sh", "-c", "echo oops >&2; exit 3", NULL };
	char	*slow[] = { "sleep", "10", NULL };
	char	*none[] = { "moat-no-such-program", NULL };

	CHECK_INT(util_run(cat, NULL, "hello", 5, &out, &errout, 5000, &st,
	    err, sizeof(err)), 0);
	CHECK_STR(out, "hello");
	CHECK_INT(st, 0);
	free(out);
	free(errout);
	CHECK_INT(util_run(sh, NULL, NULL, 0, &out, &errout, 5000, &st, err,
	    sizeof(err)), 0);
	CHECK_STR(errout, "oops\n");
	CHECK_INT(st, 3);
	free(out);
	free(errout);
	CHECK_INT(util_run(slow, NULL, NULL, 0, NULL, NULL, 200, &st, err,
	    sizeof(err)), 0);
	CHECK_INT(st, 124);
	CHECK_INT(util_run(none, NULL, NULL, 0, NULL, NULL, 200, &st, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "moat-no-such-program: command not found");

	/* moat's passphrase never reaches a child it starts (gh, docker). */
	{
		char *pp[] = { "sh", "-c", "echo ${MOAT_PASSPHRASE-unset} "
		    "${MOAT_T_OTHER-unset}", NULL };

		setenv("MOAT_PASSPHRASE", "s3cret pass", 1);
		setenv("MOAT_T_OTHER", "kept", 1);
		CHECK_INT(util_run(pp, NULL, NULL, 0, &out, NULL, 5000, &st,
		    err, sizeof(err)), 0);
		CHECK_STR(out, "unset kept\n");
		free(out);
		unsetenv("MOAT_PASSPHRASE");
		unsetenv("MOAT_T_OTHER");
	}
}

static void
test_files(void)
{
	char		 dir[] = "/tmp/moat-test-util-XXXXXX", path[256];
	char		 err[512], *data = NULL;
	size_t		 len = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	CHECK_INT(util_mkdir_p(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/a/f", dir);
	CHECK_INT(util_write_atomic(path, "xyz", 3, 0600, err, sizeof(err)),
	    0);
	CHECK_INT(util_read_file(path, 100, &data, &len), 0);
	CHECK_STR(data, "xyz");
	CHECK_INT(len, 3);
	free(data);
	CHECK_INT(util_read_file(path, 2, &data, &len), -1);
	{
		/*
		 * A key file is read whole: no realloc along the way, which
		 * would free a copy of the key without wiping it.
		 */
		char big[3000];

		memset(big, 'k', sizeof(big));
		CHECK_INT(util_write_atomic(path, big, sizeof(big), 0600, err,
		    sizeof(err)), 0);
		CHECK_INT(util_read_file(path, 65536, &data, &len), 0);
		CHECK_INT(len, sizeof(big));
		CHECK(data != NULL && memcmp(data, big, sizeof(big)) == 0);
		CHECK(malloc_usable_size(data) < 2 * sizeof(big));
		free(data);
		CHECK_INT(util_read_file(path, sizeof(big), &data, &len), 0);
		CHECK_INT(len, sizeof(big));
		free(data);
		CHECK_INT(util_read_file(path, sizeof(big) - 1, &data, &len),
		    -1);
		/* not a regular file: grows as it reads */
		CHECK_INT(util_read_file("/proc/self/status", 1 << 20, &data,
		    &len), 0);
		CHECK(len > 0 && strlen(data) == len);
		free(data);
	}
	CHECK_INT(util_check_private(path, 0, err, sizeof(err)), 0);
	chmod(path, 0644);
	CHECK_INT(util_check_private(path, 0, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "are too open");
	CHECK_CONTAINS(err, "chmod 600 ");
	unlink(path);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK_INT(system(path), 0);
}

int
main(void)
{
	RUN(test_host_normalize);
	RUN(test_authority);
	RUN(test_hostpat);
	RUN(test_strvec);
	RUN(test_run);
	RUN(test_files);
	return harness_done();
}
