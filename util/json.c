/* A small recursive-descent JSON reader with a depth limit. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

struct parser {
	const char	*s;
	size_t		 len, off;
	char		*err;
	size_t		 errlen;
};

static struct json *parse_value(struct parser *p, int depth);

static void
skip_ws(struct parser *p)
{
	while (p->off < p->len && (p->s[p->off] == ' ' ||
	    p->s[p->off] == '\t' || p->s[p->off] == '\n' ||
	    p->s[p->off] == '\r'))
		p->off++;
}

static struct json *
fail(struct parser *p, const char *what)
{
	util_errf(p->err, p->errlen, "%s at byte %zu", what, p->off);
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
read_hex4(struct parser *p, unsigned *out)
{
	unsigned	v = 0;
	int		i, h;

	if (p->len - p->off < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((h = hexval((unsigned char)p->s[p->off + i])) < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	p->off += 4;
	*out = v;
	return 0;
}

static void
put_utf8(char *buf, size_t *n, unsigned cp)
{
	if (cp < 0x80)
		buf[(*n)++] = (char)cp;
	else if (cp < 0x800) {
		buf[(*n)++] = (char)(0xc0 | cp >> 6);
		buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		buf[(*n)++] = (char)(0xe0 | cp >> 12);
		buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		buf[(*n)++] = (char)(0xf0 | cp >> 18);
		buf[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* p->off is just past the opening quote.  Returns a malloc'd string. */
static char *
parse_string(struct parser *p)
{
	char	*buf;
	size_t	 n = 0;

	/* Unescaped output is never longer than the input. */
	buf = xmalloc(p->len - p->off + 1);
	while (p->off < p->len) {
		unsigned char c = (unsigned char)p->s[p->off++];
		unsigned cp, lo;

		if (c == '"') {
			buf[n] = '\0';
			return buf;
		}
		if (c < 0x20)
			break;
		if (c != '\\') {
			buf[n++] = (char)c;
			continue;
		}
		if (p->off >= p->len)
			break;
		c = (unsigned char)p->s[p->off++];
		switch (c) {
		case '"': case '\\': case '/':
			buf[n++] = (char)c;
			break;
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u':
			if (read_hex4(p, &cp) == -1)
				goto bad;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p->len - p->off < 6 ||
				    p->s[p->off] != '\\' ||
				    p->s[p->off + 1] != 'u')
					goto bad;
				p->off += 2;
				if (read_hex4(p, &lo) == -1 || lo < 0xdc00 ||
				    lo > 0xdfff)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000)
				goto bad;
			if (cp == 0)
				goto bad;	/* no NUL inside C strings */
			put_utf8(buf, &n, cp);
			break;
		default:
			goto bad;
		}
	}
 bad:
	free(buf);
	return NULL;
}

static struct json *
parse_container(struct parser *p, int depth, int is_obj)
{
	struct json	*j, *v;
	char		*key = NULL;
	char		 close = is_obj ? '}' : ']';

	j = xcalloc(1, sizeof(*j));
	j->type = is_obj ? JSON_OBJECT : JSON_ARRAY;
	p->off++;
	skip_ws(p);
	if (p->off < p->len && p->s[p->off] == close) {
		p->off++;
		return j;
	}
	for (;;) {
		skip_ws(p);
		if (is_obj) {
			if (p->off >= p->len || p->s[p->off] != '"') {
				fail(p, "expected a key");
				goto bad;
			}
			p->off++;
			if ((key = parse_string(p)) == NULL) {
				fail(p, "bad string");
				goto bad;
			}
			skip_ws(p);
			if (p->off >= p->len || p->s[p->off] != ':') {
				fail(p, "expected ':'");
				goto bad;
			}
			p->off++;
		}
		if ((v = parse_value(p, depth + 1)) == NULL)
			goto bad;
		j->items = xrealloc(j->items, (j->n + 1) * sizeof(*j->items));
		if (is_obj) {
			j->keys = xrealloc(j->keys,
			    (j->n + 1) * sizeof(*j->keys));
			j->keys[j->n] = key;
			key = NULL;
		}
		j->items[j->n++] = v;
		skip_ws(p);
		if (p->off < p->len && p->s[p->off] == ',') {
			p->off++;
			continue;
		}
		if (p->off < p->len && p->s[p->off] == close) {
			p->off++;
			return j;
		}
		fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
		goto bad;
	}
 bad:
	free(key);
	json_free(j);
	return NULL;
}

static struct json *
parse_number(struct parser *p)
{
	char		 tmp[64];
	size_t		 n = 0;
	char		*end;
	struct json	*j;
	double		 d;

	while (p->off < p->len && n < sizeof(tmp) - 1 &&
	    strchr("+-0123456789.eE", p->s[p->off]) != NULL)
		tmp[n++] = p->s[p->off++];
	tmp[n] = '\0';
	if (n == 0 || n == sizeof(tmp) - 1)
		return fail(p, "bad number");
	errno = 0;
	d = strtod(tmp, &end);
	if (*end != '\0' || errno == ERANGE)
		return fail(p, "bad number");
	j = xcalloc(1, sizeof(*j));
	j->type = JSON_NUMBER;
	j->num = d;
	return j;
}

static struct json *
parse_word(struct parser *p, const char *w, enum json_type t, double v)
{
	size_t		 wl = strlen(w);
	struct json	*j;

	if (p->len - p->off < wl || memcmp(p->s + p->off, w, wl) != 0)
		return fail(p, "unexpected character");
	p->off += wl;
	j = xcalloc(1, sizeof(*j));
	j->type = t;
	j->num = v;
	return j;
}

static struct json *
parse_value(struct parser *p, int depth)
{
	struct json	*j;
	char		*s;

	if (depth > JSON_MAX_DEPTH)
		return fail(p, "nested too deeply");
	skip_ws(p);
	if (p->off >= p->len)
		return fail(p, "unexpected end");
	switch (p->s[p->off]) {
	case '{':
		return parse_container(p, depth, 1);
	case '[':
		return parse_container(p, depth, 0);
	case '"':
		p->off++;
		if ((s = parse_string(p)) == NULL)
			return fail(p, "bad string");
		j = xcalloc(1, sizeof(*j));
		j->type = JSON_STRING;
		j->str = s;
		return j;
	case 't':
		return parse_word(p, "true", JSON_BOOL, 1);
	case 'f':
		return parse_word(p, "false", JSON_BOOL, 0);
	case 'n':
		return parse_word(p, "null", JSON_NULL, 0);
	default:
		return parse_number(p);
	}
}

struct json *
json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	struct parser	 p = { s, len, 0, err, errlen };
	struct json	*j;

	if ((j = parse_value(&p, 0)) == NULL)
		return NULL;
	skip_ws(&p);
	if (p.off != p.len) {
		json_free(j);
		return fail(&p, "trailing data");
	}
	return j;
}

void
json_free(struct json *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j);
}

const struct json *
json_get(const struct json *j, const char *key)
{
	size_t i;

	if (j == NULL || j->type != JSON_OBJECT)
		return NULL;
	for (i = 0; i < j->n; i++)
		if (strcmp(j->keys[i], key) == 0)
			return j->items[i];
	return NULL;
}

const char *
json_get_str(const struct json *j, const char *key)
{
	const struct json *v = json_get(j, key);

	return v && v->type == JSON_STRING ? v->str : NULL;
}

double
json_get_num(const struct json *j, const char *key, double def)
{
	const struct json *v = json_get(j, key);

	return v && v->type == JSON_NUMBER ? v->num : def;
}

void
json_write_str(FILE *fp, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', fp);
	for (; *u; u++) {
		switch (*u) {
		case '"':  fputs("\\\"", fp); break;
		case '\\': fputs("\\\\", fp); break;
		case '\n': fputs("\\n", fp); break;
		case '\r': fputs("\\r", fp); break;
		case '\t': fputs("\\t", fp); break;
		default:
			if (*u < 0x20 || *u == 0x7f)
				fprintf(fp, "\\u%04x", *u);
			else
				fputc(*u, fp);
		}
	}
	fputc('"', fp);
}
