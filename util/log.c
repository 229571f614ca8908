/* Logging and allocation helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

static int verbosity;

void
log_init(int v)
{
	verbosity = v;
}

int
log_verbosity(void)
{
	return verbosity;
}

static void vlog(const char *, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(const char *prefix, int with_errno, const char *fmt, va_list ap)
{
	char	msg[2048];
	int	saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno)
		fprintf(stderr, "%s%s: %s\n", prefix, msg, strerror(saved));
	else
		fprintf(stderr, "%s%s\n", prefix, msg);
	fflush(stderr);
	errno = saved;
}

#define LOGFN(name, prefix, with_errno, cond)			\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
	if (!(cond))						\
		return;						\
	va_start(ap, fmt);					\
	vlog(prefix, with_errno, fmt, ap);			\
	va_end(ap);						\
}

LOGFN(log_err, "moat: ", 1, 1)
LOGFN(log_errx, "moat: ", 0, 1)
LOGFN(log_warn, "WARN ", 1, 1)
LOGFN(log_warnx, "WARN ", 0, 1)
LOGFN(log_info, "", 0, 1)
LOGFN(log_debug, "debug: ", 0, verbosity >= 1)

void
util_errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
oom(void)
{
	fputs("moat: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return p;
}

void
util_free_secret_str(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
