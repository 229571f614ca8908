/*
 * util/json: a small JSON reader for the files moat itself writes
 * (metadata.json, network.jsonl) and the Docker Engine API's answers.
 * Bounded: input size is the caller's, nesting depth at most
 * JSON_MAX_DEPTH.  Plus a string escaper for writing.
 */
#ifndef MOAT_JSON_H
#define MOAT_JSON_H

#include <stddef.h>
#include <stdio.h>

#define JSON_MAX_DEPTH	16

enum json_type {
	JSON_NULL = 0,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type	  type;
	double		  num;		/* JSON_NUMBER, JSON_BOOL (0/1) */
	char		 *str;		/* JSON_STRING (NUL-terminated) */
	char		**keys;		/* JSON_OBJECT: keys[i] for items[i] */
	struct json	**items;	/* JSON_ARRAY, JSON_OBJECT */
	size_t		  n;
};

/*
 * Parses exactly one JSON value from s[0..len) (surrounding whitespace
 * allowed).  Returns NULL on malformed input (err says where).
 */
struct json	*json_parse(const char *s, size_t len, char *err,
		    size_t errlen);
void		 json_free(struct json *j);	/* NULL-safe */

/* Member of an object, or NULL (also when j is not an object). */
const struct json *json_get(const struct json *j, const char *key);
/* The string member, or NULL when absent or not a string. */
const char	*json_get_str(const struct json *j, const char *key);
/* The number member, or def when absent or not a number. */
double		 json_get_num(const struct json *j, const char *key,
		    double def);

/* Writes s as a JSON string literal (with quotes) to fp. */
void		 json_write_str(FILE *fp, const char *s);

#endif /* MOAT_JSON_H */
