/* Growable NULL-terminated string vectors for argv and environments. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void
strvec_take(struct strvec *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = xrealloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void
strvec_push(struct strvec *sv, const char *s)
{
	strvec_take(sv, xstrdup(s));
}

void
strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0) {
		fputs("moat: out of memory\n", stderr);
		abort();
	}
	va_end(ap);
	strvec_take(sv, p);
}

void
strvec_free(struct strvec *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

ssize_t
strvec_find(const struct strvec *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return (ssize_t)i;
	return -1;
}

const char *
strvec_getenv(const struct strvec *sv, const char *key)
{
	size_t i, kl = strlen(key);

	for (i = 0; i < sv->n; i++)
		if (strncmp(sv->v[i], key, kl) == 0 && sv->v[i][kl] == '=')
			return sv->v[i] + kl + 1;
	return NULL;
}
