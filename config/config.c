/*
 * agent.yaml loader.  The bytes are checked (size, UTF-8, no NUL), then
 * parsed twice with libyaml's event API: the first pass only looks for a
 * syntax error, so that one is reported alone; the second walks the
 * events against the schema and collects every error in the document.
 * The walk never recurses on the input's nesting, so deep documents cost
 * heap (libyaml's), not stack.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"

#define MAX_ERRORS	100
#define SHOW_MAX	64	/* bytes of user text quoted in a message */
#define NAME_MAX_LEN	255
#define IMAGE_MAX_LEN	512
#define GRANT_MAX_LEN	64
#define MEMORY_MIN	(6ull << 20)	/* Docker refuses less */
#define CPUS_MAX	1024
/*
 * agent.yaml needs 3 levels; libyaml's scanner costs O(depth) per token in
 * flow collections, so a 1 MiB "[[[[..." would take hours without a cap.
 */
#define MAX_DEPTH	32
#define YAML_TAG_PREFIX	"tag:yaml.org,2002:"

struct errs {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	int	 n;
	int	 dropped;
};

/*
 * A set of strings with the line each was first seen on, so that
 * duplicates (keys, mount targets, grants) are found in linear time even
 * in a 1 MiB file of them.  Open addressing, FNV-1a.
 */
struct strset {
	struct strset_ent {
		char	*s;		/* owned */
		int	 line;
	}	*tab;
	size_t	 cap;
	size_t	 n;
};

/* The keys of one map already read: duplicates are refused. */
struct mapit {
	struct strset	 seen;
	const char	*where;		/* "" at the top, else " in network" */
};

struct ld {
	yaml_parser_t	 parser;
	yaml_event_t	 ev;
	int		 have;		/* ev holds an event */
	int		 broken;	/* libyaml failed: stop walking */
	unsigned long	 evno;		/* events read so far */
	unsigned long	 checked;	/* evno whose properties were checked */
	const char	*file;
	struct errs	*errs;
	struct config	*cfg;
	struct strset	 mount_dsts;	/* mount targets and their lines */
};

/* A known key, or a common mistake and the key it stands for. */
struct keyname {
	const char	*key;
	const char	*means;		/* NULL: key itself */
};

static const struct keyname top_keys[] = {
	{ "name", NULL }, { "image", NULL }, { "command", NULL },
	{ "env", NULL }, { "mounts", NULL }, { "grants", NULL },
	{ "network", NULL }, { "resources", NULL }, { "sandbox", NULL },
	{ "runtime", NULL }, { "interactive", NULL },
	{ "credentials", "grants" }, { "secrets", "grants" },
	{ "creds", "grants" }, { "grant", "grants" },
	{ "environment", "env" }, { "volumes", "mounts" },
	{ "mount", "mounts" }, { "cmd", "command" },
	{ "entrypoint", "command" }, { "args", "command" },
	{ "memory", "resources.memory" }, { "mem", "resources.memory" },
	{ "cpus", "resources.cpus" }, { "cpu", "resources.cpus" },
	{ "policy", "network.policy" }, { "allow", "network.allow" },
	{ "gvisor", "sandbox" }, { "engine", "runtime" },
	{ "tty", "interactive" }, { NULL, NULL },
};

static const struct keyname network_keys[] = {
	{ "policy", NULL }, { "allow", NULL }, { "host", NULL },
	{ "allowed", "allow" }, { "allowlist", "allow" },
	{ "hosts", "allow" }, { "domains", "allow" },
	{ "ports", "host" }, { "host_ports", "host" },
	{ "mode", "policy" }, { NULL, NULL },
};

static const struct keyname resources_keys[] = {
	{ "memory", NULL }, { "cpus", NULL },
	{ "mem", "memory" }, { "ram", "memory" }, { "cpu", "cpus" },
	{ NULL, NULL },
};

static const char *const proxy_vars[] = {
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", NULL,
};

/* ---- errors --------------------------------------------------------- */

static void __attribute__((format(printf, 2, 0)))
errs_vadd(struct errs *e, const char *fmt, va_list ap)
{
	char	*msg;
	size_t	 ml;

	if (e->n >= MAX_ERRORS) {
		e->dropped++;
		return;
	}
	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("moat: out of memory\n", stderr);
		abort();
	}
	ml = strlen(msg);
	if (e->len + ml + 2 > e->cap) {
		e->cap = (e->len + ml + 2) * 2;
		e->buf = xrealloc(e->buf, e->cap);
	}
	if (e->len > 0)
		e->buf[e->len++] = '\n';
	memcpy(e->buf + e->len, msg, ml + 1);
	e->len += ml;
	e->n++;
	free(msg);
}

static void UTIL_PRINTF(2, 3)
errs_add(struct errs *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errs_vadd(e, fmt, ap);
	va_end(ap);
}

/* Copies the errors into err, cut at a line boundary when it is short. */
static void
errs_finish(struct errs *e, const char *file, char *err, size_t errlen)
{
	size_t n;

	if (e->dropped) {
		int dropped = e->dropped;

		e->n--;		/* room for this last line */
		e->dropped = 0;
		errs_add(e, "%s: %d more errors not shown", file, dropped);
	}
	if (err == NULL || errlen == 0)
		return;
	if (e->len < errlen) {
		memcpy(err, e->buf ? e->buf : "", e->len);
		err[e->len] = '\0';
		return;
	}
	n = errlen - 1;
	while (n > 0 && e->buf[n] != '\n')
		n--;
	if (n == 0)
		n = errlen - 1;
	memcpy(err, e->buf, n);
	err[n] = '\0';
}

static void UTIL_PRINTF(3, 4)
errat(struct ld *ld, yaml_mark_t m, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("moat: out of memory\n", stderr);
		abort();
	}
	va_end(ap);
	errs_add(ld->errs, "%s:%zu:%zu: %s", ld->file, m.line + 1,
	    m.column + 1, msg);
	free(msg);
}

/*
 * User text for a message: at most SHOW_MAX bytes (cut on a character
 * boundary), control characters and quotes escaped, so one error stays
 * one line and cannot drive the terminal.
 */
static const char *
show(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0, lim = len;

	if (lim > SHOW_MAX) {
		lim = SHOW_MAX;
		while (lim > 0 && ((unsigned char)s[lim] & 0xc0) == 0x80)
			lim--;
	}
	for (i = 0; i < lim && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x",
			    c);
		else if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else
			out[o++] = (char)c;
	}
	if (lim < len && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

#define SHOWBUF	(SHOW_MAX * 4 + 8)
#define SHOWS(s, b)	show((s), strlen(s), (b), sizeof(b))

/* ---- string sets ---------------------------------------------------- */

static size_t
strset_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct strset_ent *
strset_slot(const struct strset *ss, const char *s)
{
	size_t i = strset_hash(s) & (ss->cap - 1);

	while (ss->tab[i].s != NULL && strcmp(ss->tab[i].s, s) != 0)
		i = (i + 1) & (ss->cap - 1);
	return &ss->tab[i];
}

/* 0 when s was added (copied), else the line it was first seen on. */
static int
strset_add(struct strset *ss, const char *s, int line)
{
	struct strset_ent	*e, *old = ss->tab;
	size_t			 i, oldcap = ss->cap;

	if (ss->cap != 0 && (e = strset_slot(ss, s))->s != NULL)
		return e->line > 0 ? e->line : 1;
	if ((ss->n + 1) * 2 > ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 16;
		ss->tab = xcalloc(ss->cap, sizeof(*ss->tab));
		for (i = 0; i < oldcap; i++)
			if (old[i].s != NULL)
				*strset_slot(ss, old[i].s) = old[i];
		free(old);
	}
	e = strset_slot(ss, s);
	e->s = xstrdup(s);
	e->line = line;
	ss->n++;
	return 0;
}

static void
strset_free(struct strset *ss)
{
	size_t i;

	for (i = 0; i < ss->cap; i++)
		free(ss->tab[i].s);
	free(ss->tab);
	memset(ss, 0, sizeof(*ss));
}

/* ---- did you mean --------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Optimal string alignment distance, case-insensitive; both <= 64. */
static int
edit_distance(const char *a, const char *b)
{
	int	d[SHOW_MAX + 1][SHOW_MAX + 1];
	size_t	i, j, la = strlen(a), lb = strlen(b);

	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			int cost = lower(a[i - 1]) != lower(b[j - 1]);
			int v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 &&
			    lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

/* The key that an unknown key most likely stands for, or NULL. */
static const char *
suggest(const char *key, const struct keyname *keys)
{
	const char	*best = NULL;
	int		 bestd = INT_MAX;
	size_t		 i, kl;

	if (strlen(key) > SHOW_MAX)
		return NULL;
	for (i = 0; keys[i].key != NULL; i++) {
		int d = edit_distance(key, keys[i].key);
		kl = strlen(keys[i].key);
		if (d > (kl <= 4 ? 1 : kl <= 8 ? 2 : 3))
			continue;
		if (d < bestd) {
			bestd = d;
			best = keys[i].means ? keys[i].means : keys[i].key;
		}
	}
	return best;
}

static void
unknown_key(struct ld *ld, const char *key, yaml_mark_t m, const char *where,
    const struct keyname *keys)
{
	char		 sb[SHOWBUF];
	const char	*s, *dot;

	/* past the cap the message is dropped: spare the edit distances */
	s = ld->errs->n < MAX_ERRORS ? suggest(key, keys) : NULL;

	if (s == NULL)
		errat(ld, m, "unknown key \"%s\"%s", SHOWS(key, sb), where);
	else if ((dot = strchr(s, '.')) != NULL)
		errat(ld, m, "unknown key \"%s\"%s (did you mean \"%s\" under "
		    "\"%.*s\"?)", SHOWS(key, sb), where, dot + 1,
		    (int)(dot - s), s);
	else
		errat(ld, m, "unknown key \"%s\"%s (did you mean \"%s\"?)",
		    SHOWS(key, sb), where, s);
}

/* ---- the bytes ------------------------------------------------------ */

/* 1-based line and column (in characters) of byte off. */
static void
offset_linecol(const char *buf, size_t len, size_t off, size_t *line,
    size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\n' || (c == '\r' && (i + 1 >= len ||
		    buf[i + 1] != '\n'))) {
			(*line)++;
			*col = 1;
		} else if ((c & 0xc0) != 0x80 && c != '\r')
			(*col)++;
	}
}

/*
 * Offset of the first NUL byte or invalid UTF-8 sequence (overlong,
 * surrogate, beyond U+10FFFF, truncated), or len when the text is clean.
 */
static size_t
utf8_bad(const char *buf, size_t len)
{
	const unsigned char	*s = (const unsigned char *)buf;
	size_t			 i = 0, n, k;
	unsigned long		 cp, min;

	while (i < len) {
		if (s[i] == 0)
			return i;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return i;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/*
 * Reads path (a regular file, at most CONFIG_MAX_BYTES).  Returns 0 with
 * *buf, 1 when it does not exist, -1 with the error added.  O_NONBLOCK:
 * a FIFO planted as agent.yaml must not hang us.
 */
static int
read_config(const char *path, struct errs *e, char **buf, size_t *len)
{
	struct stat	 st;
	char		*b = NULL;
	size_t		 off = 0;
	ssize_t		 r;
	int		 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		if (errno == ENOENT && lstat(path, &st) == -1)
			return 1;
		if (errno == ENOENT)
			errs_add(e, "%s: broken symbolic link", path);
		else
			errs_add(e, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		errs_add(e, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		errs_add(e, "%s: is a directory, not a file", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errs_add(e, "%s: not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > CONFIG_MAX_BYTES)
		goto big;
	b = xmalloc(CONFIG_MAX_BYTES + 2);
	for (;;) {
		r = read(fd, b + off, CONFIG_MAX_BYTES + 1 - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			errs_add(e, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		if (off > CONFIG_MAX_BYTES)
			goto big;
	}
	b[off] = '\0';
	close(fd);
	*buf = b;
	*len = off;
	return 0;
 big:
	errs_add(e, "%s: file is too large (more than %u MiB)", path,
	    CONFIG_MAX_BYTES >> 20);
 fail:
	free(b);
	close(fd);
	return -1;
}

/* ---- the YAML syntax pass ------------------------------------------- */

static void
parser_error(const yaml_parser_t *p, const char *buf, size_t len,
    const char *file, struct errs *e)
{
	size_t		 line, col;
	const char	*problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR) {
		errs_add(e, "%s: out of memory while parsing", file);
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		offset_linecol(buf, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			errs_add(e, "%s:%zu:%zu: YAML syntax error: %s "
			    "(0x%02x)", file, line, col, problem,
			    (unsigned)p->problem_value);
		else
			errs_add(e, "%s:%zu:%zu: YAML syntax error: %s", file,
			    line, col, problem);
		return;
	}
	line = p->problem_mark.line + 1;
	col = p->problem_mark.column + 1;
	if (p->context)
		errs_add(e, "%s:%zu:%zu: YAML syntax error: %s (%s at "
		    "%zu:%zu)", file, line, col, problem, p->context,
		    p->context_mark.line + 1, p->context_mark.column + 1);
	else
		errs_add(e, "%s:%zu:%zu: YAML syntax error: %s", file, line,
		    col, problem);
}

/*
 * Returns 0 when buf is one well-formed YAML document at most MAX_DEPTH
 * deep, 1 when it holds no document at all, -1 with the one error added.
 */
static int
syntax_pass(const char *buf, size_t len, const char *file, struct errs *e)
{
	yaml_parser_t	p;
	yaml_event_t	ev;
	int		docs = 0, rc = -1, done = 0, depth = 0;

	if (!yaml_parser_initialize(&p)) {
		errs_add(e, "%s: out of memory", file);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			parser_error(&p, buf, len, file, e);
			goto out;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs == 2) {
			errs_add(e, "%s:%zu:%zu: only one YAML document is "
			    "allowed", file, ev.start_mark.line + 1,
			    ev.start_mark.column + 1);
			yaml_event_delete(&ev);
			goto out;
		}
		if ((ev.type == YAML_SEQUENCE_START_EVENT || ev.type ==
		    YAML_MAPPING_START_EVENT) && ++depth > MAX_DEPTH) {
			errs_add(e, "%s:%zu:%zu: nested more than %d levels "
			    "deep", file, ev.start_mark.line + 1,
			    ev.start_mark.column + 1, MAX_DEPTH);
			yaml_event_delete(&ev);
			goto out;
		}
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type ==
		    YAML_MAPPING_END_EVENT)
			depth--;
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	rc = docs == 0 ? 1 : 0;
 out:
	yaml_parser_delete(&p);
	return rc;
}

/* ---- walking events ------------------------------------------------- */

static yaml_event_type_t
cur(const struct ld *ld)
{
	return ld->have ? ld->ev.type : YAML_NO_EVENT;
}

static void
next(struct ld *ld)
{
	if (ld->have) {
		yaml_event_delete(&ld->ev);
		ld->have = 0;
	}
	if (ld->broken)
		return;
	if (!yaml_parser_parse(&ld->parser, &ld->ev)) {
		/* The syntax pass succeeded on the same bytes. */
		ld->broken = 1;
		errat(ld, ld->parser.problem_mark, "YAML syntax error: %s",
		    ld->parser.problem ? ld->parser.problem : "unknown");
		return;
	}
	ld->have = 1;
	ld->evno++;
}

/*
 * Reports anchors, tags and aliases on the current event once.  Returns
 * -1 for an alias (which the caller must consume), else 0.
 */
static int
node_props(struct ld *ld)
{
	const yaml_char_t	*anchor = NULL, *tag = NULL;
	char			 sb[SHOWBUF];

	if (!ld->have || ld->checked == ld->evno)
		return cur(ld) == YAML_ALIAS_EVENT ? -1 : 0;
	ld->checked = ld->evno;
	switch (ld->ev.type) {
	case YAML_ALIAS_EVENT:
		errat(ld, ld->ev.start_mark, "YAML aliases (*%s) are not "
		    "supported", SHOWS((const char *)ld->ev.data.alias.anchor,
		    sb));
		return -1;
	case YAML_SCALAR_EVENT:
		anchor = ld->ev.data.scalar.anchor;
		tag = ld->ev.data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ld->ev.data.sequence_start.anchor;
		tag = ld->ev.data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ld->ev.data.mapping_start.anchor;
		tag = ld->ev.data.mapping_start.tag;
		break;
	default:
		return 0;
	}
	if (anchor != NULL)
		errat(ld, ld->ev.start_mark, "YAML anchors (&%s) are not "
		    "supported", SHOWS((const char *)anchor, sb));
	if (tag != NULL && strncmp((const char *)tag, YAML_TAG_PREFIX,
	    strlen(YAML_TAG_PREFIX)) == 0)
		errat(ld, ld->ev.start_mark, "YAML tags (!!%s) are not "
		    "supported", SHOWS((const char *)tag +
		    strlen(YAML_TAG_PREFIX), sb));
	else if (tag != NULL)
		errat(ld, ld->ev.start_mark, "YAML tags (%s) are not "
		    "supported", SHOWS((const char *)tag, sb));
	return 0;
}

/* Consumes the node that starts at the current event. */
static void
skip_node(struct ld *ld)
{
	long depth = 0;

	do {
		node_props(ld);
		switch (cur(ld)) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_NO_EVENT:
			return;
		default:
			break;
		}
		next(ld);
	} while (depth > 0);
}

static const char *
kind(yaml_event_type_t t)
{
	switch (t) {
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_MAPPING_START_EVENT:
		return "a map";
	default:
		return "a string";
	}
}

static int
is_null(const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;
	size_t		 n = ev->data.scalar.length;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return n == 0 || (n == 1 && v[0] == '~') || (n == 4 &&
	    (strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0));
}

#define VAL_OK		0
#define VAL_NULL	1
#define VAL_BAD		(-1)

/*
 * Reads the current node as a scalar for subject (e.g. "image" or
 * "command entries"); consumes the node.  VAL_OK with a malloc'd *out;
 * VAL_NULL for a plain null; VAL_BAD (reported) for anything else: a list
 * or map ("<subject> must be <want>"), an alias, a NUL character.
 */
static int
get_scalar(struct ld *ld, const char *subject, const char *want, char **out,
    yaml_mark_t *mark)
{
	size_t len;

	*out = NULL;
	memset(mark, 0, sizeof(*mark));
	if (ld->have)
		*mark = ld->ev.start_mark;
	if (node_props(ld) == -1) {
		next(ld);
		return VAL_BAD;
	}
	if (cur(ld) != YAML_SCALAR_EVENT) {
		if (ld->have)
			errat(ld, *mark, "%s must be %s", subject, want);
		skip_node(ld);
		return VAL_BAD;
	}
	len = ld->ev.data.scalar.length;
	if (memchr(ld->ev.data.scalar.value, '\0', len) != NULL) {
		errat(ld, *mark, "%s must not contain NUL characters", subject);
		next(ld);
		return VAL_BAD;
	}
	if (is_null(&ld->ev)) {
		next(ld);
		return VAL_NULL;
	}
	*out = xstrndup((const char *)ld->ev.data.scalar.value, len);
	next(ld);
	return VAL_OK;
}

/* A scalar setting: null is an error. */
static int
get_value(struct ld *ld, const char *field, const char *want, char **out,
    yaml_mark_t *mark)
{
	int r = get_scalar(ld, field, want, out, mark);

	if (r == VAL_NULL) {
		errat(ld, *mark, "%s has no value (remove the line to use the "
		    "default)", field);
		r = VAL_BAD;
	}
	return r;
}

/*
 * Enters the list at the current event.  1: inside (the caller reads
 * entries until YAML_SEQUENCE_END_EVENT, then calls next()); 0: a plain
 * null (empty, consumed); -1: reported and consumed.
 */
static int
enter_seq(struct ld *ld, const char *field, const char *want,
    yaml_mark_t *mark)
{
	memset(mark, 0, sizeof(*mark));
	if (ld->have)
		*mark = ld->ev.start_mark;
	if (node_props(ld) == -1) {
		next(ld);
		return -1;
	}
	if (cur(ld) == YAML_SEQUENCE_START_EVENT) {
		next(ld);
		return 1;
	}
	if (cur(ld) == YAML_SCALAR_EVENT && is_null(&ld->ev)) {
		next(ld);
		return 0;
	}
	if (ld->have)
		errat(ld, *mark, "%s must be %s", field, want);
	skip_node(ld);
	return -1;
}

static int
in_seq(const struct ld *ld)
{
	return cur(ld) != YAML_SEQUENCE_END_EVENT && cur(ld) != YAML_NO_EVENT;
}

/* Same for a map; 1: the caller iterates with mapit_next(). */
static int
enter_map(struct ld *ld, const char *field, const char *want,
    struct mapit *it, const char *where)
{
	yaml_mark_t mark;

	memset(it, 0, sizeof(*it));
	it->where = where;
	memset(&mark, 0, sizeof(mark));
	if (ld->have)
		mark = ld->ev.start_mark;
	if (node_props(ld) == -1) {
		next(ld);
		return -1;
	}
	if (cur(ld) == YAML_MAPPING_START_EVENT) {
		next(ld);
		return 1;
	}
	if (cur(ld) == YAML_SCALAR_EVENT && is_null(&ld->ev)) {
		next(ld);
		return 0;
	}
	if (ld->have)
		errat(ld, mark, "%s must be %s", field, want);
	skip_node(ld);
	return -1;
}

static void
mapit_free(struct mapit *it)
{
	strset_free(&it->seen);
}

/*
 * Moves to the next key of the map being walked.  Returns 1 with *key
 * (owned by it) and its mark, the current event being the value's;
 * 0 at the end of the map (consumed; it is freed).  Keys that are not
 * scalars and duplicate keys are reported and skipped with their values.
 */
static int
mapit_next(struct ld *ld, struct mapit *it, const char **key,
    yaml_mark_t *mark)
{
	char	 sb[SHOWBUF];
	char	*k;
	size_t	 len;
	int	 first;

	for (;;) {
		if (cur(ld) == YAML_MAPPING_END_EVENT || cur(ld) ==
		    YAML_NO_EVENT) {
			next(ld);
			mapit_free(it);
			return 0;
		}
		*mark = ld->ev.start_mark;
		if (cur(ld) != YAML_SCALAR_EVENT) {
			if (cur(ld) != YAML_ALIAS_EVENT)
				errat(ld, *mark, "keys must be plain names, "
				    "not %s", kind(cur(ld)));
			skip_node(ld);
			skip_node(ld);
			continue;
		}
		node_props(ld);
		len = ld->ev.data.scalar.length;
		if (memchr(ld->ev.data.scalar.value, '\0', len) != NULL) {
			errat(ld, *mark, "keys must not contain NUL "
			    "characters");
			next(ld);
			skip_node(ld);
			continue;
		}
		k = (char *)ld->ev.data.scalar.value;
		if ((first = strset_add(&it->seen, k, (int)mark->line + 1)) !=
		    0) {
			errat(ld, *mark, "duplicate key \"%s\"%s (first at "
			    "line %d)", SHOWS(k, sb), it->where, first);
			next(ld);
			skip_node(ld);
			continue;
		}
		*key = strset_slot(&it->seen, k)->s;
		next(ld);
		return 1;
	}
}

/* ---- fields --------------------------------------------------------- */

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void
do_name(struct ld *ld)
{
	yaml_mark_t	 m;
	char		*s;

	if (get_value(ld, "name", "a string", &s, &m) != VAL_OK)
		return;
	if (*s == '\0')
		errat(ld, m, "name must not be empty");
	else if (strlen(s) > NAME_MAX_LEN)
		errat(ld, m, "name is too long (at most %d bytes)",
		    NAME_MAX_LEN);
	else if (has_ctl(s))
		errat(ld, m, "name must not contain control characters");
	else {
		free(ld->cfg->name);
		ld->cfg->name = s;
		return;
	}
	free(s);
}

static void
do_image(struct ld *ld)
{
	yaml_mark_t	 m;
	char		*s, sb[SHOWBUF];
	size_t		 i;

	if (get_value(ld, "image", "a string", &s, &m) != VAL_OK)
		return;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			break;
	if (*s == '\0')
		errat(ld, m, "image must not be empty");
	else if (strlen(s) > IMAGE_MAX_LEN)
		errat(ld, m, "image is too long (at most %d bytes)",
		    IMAGE_MAX_LEN);
	else if (s[i] != '\0')
		errat(ld, m, "image \"%s\" must not contain spaces or control "
		    "characters", SHOWS(s, sb));
	else if (s[0] == '-')
		errat(ld, m, "image \"%s\" must not start with '-'",
		    SHOWS(s, sb));
	else {
		free(ld->cfg->image);
		ld->cfg->image = s;
		return;
	}
	free(s);
}

static void
do_command(struct ld *ld)
{
	yaml_mark_t	 m, im;
	char		*s;
	int		 r, bad = 0;

	if ((r = enter_seq(ld, "command", "a list of strings", &m)) == -1)
		return;
	strvec_free(&ld->cfg->command);
	while (r == 1 && in_seq(ld)) {
		switch (get_scalar(ld, "command entries", "strings", &s,
		    &im)) {
		case VAL_OK:
			if (ld->cfg->command.n == 0 && !bad && *s == '\0')
				errat(ld, im, "the program name (the first "
				    "command entry) must not be empty");
			strvec_take(&ld->cfg->command, s);
			break;
		case VAL_NULL:
			errat(ld, im, "command entries must not be empty "
			    "(write \"\" for an empty argument)");
			bad = 1;
			break;
		default:
			bad = 1;
			break;
		}
	}
	if (r == 1)
		next(ld);
	if (ld->cfg->command.n == 0 && !bad)
		errat(ld, m, "command must not be empty (remove it to use the "
		    "image's default command)");
}

static int
env_name_ok(const char *k)
{
	size_t i;

	if (!(*k == '_' || (*k >= 'A' && *k <= 'Z') || (*k >= 'a' &&
	    *k <= 'z')))
		return 0;
	for (i = 1; k[i]; i++)
		if (!(k[i] == '_' || (k[i] >= 'A' && k[i] <= 'Z') ||
		    (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' &&
		    k[i] <= '9')))
			return 0;
	return 1;
}

static int
is_proxy_var(const char *k)
{
	size_t i;

	for (i = 0; proxy_vars[i] != NULL; i++)
		if (strcasecmp(k, proxy_vars[i]) == 0)
			return 1;
	return 0;
}

static void
do_env(struct ld *ld)
{
	struct mapit	 it;
	struct config	*cfg = ld->cfg;
	const char	*key;
	yaml_mark_t	 km, vm;
	char		*v, sb[SHOWBUF];
	int		 ok, r;

	if (enter_map(ld, "env", "a map of NAME: value", &it, " in env") != 1)
		return;
	while (mapit_next(ld, &it, &key, &km) == 1) {
		ok = 1;
		if (!env_name_ok(key)) {
			errat(ld, km, "env name \"%s\" is not a valid variable "
			    "name (letters, digits and _, not starting with a "
			    "digit)", SHOWS(key, sb));
			ok = 0;
		} else if (is_proxy_var(key)) {
			errat(ld, km, "env \"%s\" is not allowed: moat sets the "
			    "proxy variables itself", key);
			ok = 0;
		}
		if (ld->have && (cur(ld) == YAML_SEQUENCE_START_EVENT ||
		    cur(ld) == YAML_MAPPING_START_EVENT)) {
			if (node_props(ld) == 0)
				errat(ld, ld->ev.start_mark, "env value of "
				    "\"%s\" must be a string (got %s)",
				    SHOWS(key, sb), kind(cur(ld)));
			skip_node(ld);
			continue;
		}
		r = get_scalar(ld, "env values", "strings", &v, &vm);
		if (r == VAL_NULL)
			errat(ld, vm, "env value of \"%s\" is empty; write "
			    "%s: \"\" for an empty string", SHOWS(key, sb),
			    ok ? key : "NAME");
		if (r != VAL_OK || !ok) {
			free(v);
			continue;
		}
		cfg->env = xrealloc(cfg->env, (cfg->nenv + 1) *
		    sizeof(*cfg->env));
		cfg->env[cfg->nenv].key = xstrdup(key);
		cfg->env[cfg->nenv].value = v;
		cfg->nenv++;
	}
}

/*
 * Lexically normalised absolute path: no ".", "..", "//" or trailing '/'.
 * path must start with '/'.
 */
static char *
path_clean(const char *path)
{
	char		*out = xmalloc(strlen(path) + 2);
	size_t		 o = 0, n;
	const char	*p = path, *e;

	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

static void
do_mount(struct ld *ld, const char *s, yaml_mark_t m)
{
	struct config		*cfg = ld->cfg;
	struct config_mount	*mt;
	const char		*c1, *c2, *mode = NULL;
	char			*src, *dst, *joined, sb[SHOWBUF], sd[SHOWBUF];
	int			 ro = 0, first;

	c1 = strchr(s, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || (c2 != NULL && strchr(c2 + 1, ':') != NULL)) {
		errat(ld, m, "mount \"%s\" must be SRC:DST or SRC:DST:ro|rw",
		    SHOWS(s, sb));
		return;
	}
	if (c2 != NULL) {
		mode = c2 + 1;
		if (strcmp(mode, "ro") == 0)
			ro = 1;
		else if (strcmp(mode, "rw") != 0) {
			errat(ld, m, "mount \"%s\": mode must be ro or rw, not "
			    "\"%s\"", SHOWS(s, sb), SHOWS(mode, sd));
			return;
		}
	}
	if (strchr(s, ',') != NULL || has_ctl(s)) {
		errat(ld, m, "mount \"%s\": paths must not contain ',' or "
		    "control characters", SHOWS(s, sb));
		return;
	}
	src = xstrndup(s, (size_t)(c1 - s));
	dst = c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);
	if (*src == '\0')
		errat(ld, m, "mount \"%s\" has an empty source", SHOWS(s, sb));
	else if (*src == '~')
		errat(ld, m, "mount source \"%s\" must not start with '~' "
		    "(write the full path)", SHOWS(src, sb));
	else if (*dst == '\0')
		errat(ld, m, "mount \"%s\" has an empty target", SHOWS(s, sb));
	else if (*dst != '/')
		errat(ld, m, "mount target \"%s\" must be an absolute path",
		    SHOWS(dst, sb));
	else
		goto good;
	free(src);
	free(dst);
	return;
 good:
	joined = *src == '/' ? xstrdup(src) :
	    xasprintf("%s/%s", cfg->project_dir, src);
	free(src);
	src = path_clean(joined);
	free(joined);
	joined = dst;
	dst = path_clean(joined);
	free(joined);
	if (strpbrk(src, ":,") != NULL || has_ctl(src)) {
		/* from the project directory's own path */
		errat(ld, m, "mount \"%s\": the source resolves to \"%s\", "
		    "and mount paths cannot hold ':', ',' or control "
		    "characters", SHOWS(s, sb), SHOWS(src, sd));
		goto bad;
	}
	if (strcmp(dst, "/") == 0) {
		errat(ld, m, "mount target \"/\" is not allowed");
		goto bad;
	}
	if ((first = strset_add(&ld->mount_dsts, dst, (int)m.line + 1)) !=
	    0) {
		errat(ld, m, "duplicate mount target \"%s\" (first at line %d)",
		    SHOWS(dst, sb), first);
		goto bad;
	}
	cfg->mounts = xrealloc(cfg->mounts, (cfg->nmounts + 1) *
	    sizeof(*cfg->mounts));
	mt = &cfg->mounts[cfg->nmounts++];
	mt->src = src;
	mt->dst = dst;
	mt->readonly = ro;
	mt->line = (int)m.line + 1;
	return;
 bad:
	free(src);
	free(dst);
}

static void
do_mounts(struct ld *ld)
{
	yaml_mark_t	 m, im;
	char		*s;
	int		 r;

	if ((r = enter_seq(ld, "mounts", "a list of \"SRC:DST[:ro|rw]\" "
	    "strings", &m)) != 1)
		return;
	while (in_seq(ld)) {
		r = get_scalar(ld, "mounts entries", "strings like "
		    "\"./data:/data:ro\"", &s, &im);
		if (r == VAL_NULL)
			errat(ld, im, "mounts entries must not be empty");
		if (r == VAL_OK)
			do_mount(ld, s, im);
		free(s);
	}
	next(ld);
}

static int
grant_name_ok(const char *s)
{
	size_t i;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return 0;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return i <= GRANT_MAX_LEN;
}

static void
do_grants(struct ld *ld)
{
	struct strvec	*g = &ld->cfg->grants;
	struct strset	 seen;
	yaml_mark_t	 m, im;
	char		*s, sb[SHOWBUF];
	int		 r, first;

	if (enter_seq(ld, "grants", "a list of credential names", &m) != 1)
		return;
	memset(&seen, 0, sizeof(seen));
	while (in_seq(ld)) {
		r = get_scalar(ld, "grants entries", "credential names", &s,
		    &im);
		if (r == VAL_NULL)
			errat(ld, im, "grants entries must not be empty");
		if (r != VAL_OK)
			continue;
		if (!grant_name_ok(s))
			errat(ld, im, "grant name \"%s\" must be 1-%d characters "
			    "of a-z, 0-9, _ and -, starting with a letter or "
			    "digit",
			    SHOWS(s, sb), GRANT_MAX_LEN);
		else if ((first = strset_add(&seen, s, (int)im.line + 1)) !=
		    0)
			errat(ld, im, "duplicate grant \"%s\" (first at line "
			    "%d)", s, first);
		else {
			strvec_take(g, s);
			continue;
		}
		free(s);
	}
	strset_free(&seen);
	next(ld);
}

static void
do_policy(struct ld *ld, yaml_mark_t km)
{
	yaml_mark_t	 m;
	char		*s, sb[SHOWBUF];
	int		 p;

	if (get_value(ld, "network.policy", "permissive or strict", &s, &m) !=
	    VAL_OK)
		return;
	if ((p = config_policy_parse(s)) == -1)
		errat(ld, m, "network.policy must be permissive or strict "
		    "(got \"%s\")", SHOWS(s, sb));
	else {
		ld->cfg->policy = (enum config_policy)p;
		ld->cfg->line_policy = (int)km.line + 1;
	}
	free(s);
}

static void
add_allow(struct ld *ld, const char *s, yaml_mark_t m)
{
	struct config		*cfg = ld->cfg;
	struct config_allow	*a;
	struct hostpat		 hp;
	char			 msg[512], txt[HOST_MAX + 16];

	if (hostpat_parse(s, &hp, msg, sizeof(msg)) == -1) {
		/* msg quotes s: only when that is short and printable */
		if (has_ctl(s) || strlen(s) > SHOW_MAX)
			errat(ld, m, "network.allow entry is not a valid host "
			    "pattern");
		else
			errat(ld, m, "%s", msg);
		return;
	}
	hostpat_format(&hp, txt, sizeof(txt));
	cfg->allow = xrealloc(cfg->allow, (cfg->nallow + 1) *
	    sizeof(*cfg->allow));
	a = &cfg->allow[cfg->nallow++];
	a->pat = hp;
	a->text = xstrdup(txt);
	a->line = (int)m.line + 1;
}

static void
do_allow(struct ld *ld, yaml_mark_t km)
{
	yaml_mark_t	 m, im;
	char		*s;
	int		 r;

	if ((r = enter_seq(ld, "network.allow", "a list of host patterns",
	    &m)) == -1)
		return;
	ld->cfg->line_allow = (int)km.line + 1;
	if (r == 0)
		return;
	while (in_seq(ld)) {
		r = get_scalar(ld, "network.allow entries", "host patterns "
		    "like api.example.com", &s, &im);
		if (r == VAL_NULL)
			errat(ld, im, "network.allow entries must not be "
			    "empty");
		if (r == VAL_OK)
			add_allow(ld, s, im);
		free(s);
	}
	next(ld);
}

static void
do_host_ports(struct ld *ld)
{
	struct config	*cfg = ld->cfg;
	yaml_mark_t	 m, im;
	char		*s, sb[SHOWBUF];
	size_t		 i;
	long		 v;
	int		 r;

	if (enter_seq(ld, "network.host", "a list of TCP ports", &m) != 1)
		return;
	while (in_seq(ld)) {
		r = get_scalar(ld, "network.host entries", "TCP ports "
		    "(1-65535)", &s, &im);
		if (r == VAL_NULL)
			errat(ld, im, "network.host entries must not be "
			    "empty");
		if (r != VAL_OK)
			continue;
		for (v = 0, i = 0; s[i] >= '0' && s[i] <= '9' && i < 6; i++)
			v = v * 10 + (s[i] - '0');
		if (i == 0 || s[i] != '\0' || v < 1 || v > 65535)
			errat(ld, im, "network.host entries must be TCP ports "
			    "1-65535 (got \"%s\")", SHOWS(s, sb));
		else {
			cfg->host_ports = xrealloc(cfg->host_ports,
			    (cfg->nhost_ports + 1) * sizeof(int));
			cfg->host_ports[cfg->nhost_ports++] = (int)v;
		}
		free(s);
	}
	next(ld);
}

static void
do_network(struct ld *ld)
{
	struct mapit	 it;
	const char	*key;
	yaml_mark_t	 km;

	if (enter_map(ld, "network", "a map (policy, allow, host)", &it,
	    " in network") != 1)
		return;
	while (mapit_next(ld, &it, &key, &km) == 1) {
		if (strcmp(key, "policy") == 0)
			do_policy(ld, km);
		else if (strcmp(key, "allow") == 0)
			do_allow(ld, km);
		else if (strcmp(key, "host") == 0)
			do_host_ports(ld);
		else {
			unknown_key(ld, key, km, it.where, network_keys);
			skip_node(ld);
		}
	}
}

/* 0 with *out in bytes; -1 bad syntax; -2 too large. */
static int
memory_parse(const char *s, unsigned long long *out)
{
	unsigned long long	v = 0, mul = 1;
	size_t			i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (unsigned long long)INT64_MAX / 10)
			return -2;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > (unsigned long long)INT64_MAX)
			return -2;
	}
	if (i == 0)
		return -1;
	switch (lower(s[i])) {
	case '\0':
		break;
	case 'k':
		mul = 1ull << 10;
		break;
	case 'm':
		mul = 1ull << 20;
		break;
	case 'g':
		mul = 1ull << 30;
		break;
	case 't':
		mul = 1ull << 40;
		break;
	default:
		return -1;
	}
	if (s[i] != '\0' && s[i + 1] != '\0')
		return -1;
	if (v > (unsigned long long)INT64_MAX / mul)
		return -2;
	*out = v * mul;
	return 0;
}

static void
do_memory(struct ld *ld)
{
	unsigned long long	 v = 0;
	yaml_mark_t		 m;
	char			*s, sb[SHOWBUF];
	int			 r;

	if (get_value(ld, "resources.memory", "a size like 512m or 4g", &s,
	    &m) != VAL_OK)
		return;
	r = memory_parse(s, &v);
	if (r == -1)
		errat(ld, m, "resources.memory must be a size like 512m or 4g: "
		    "digits and an optional k, m, g or t (got \"%s\")",
		    SHOWS(s, sb));
	else if (r == -2)
		errat(ld, m, "resources.memory is too large (got \"%s\")",
		    SHOWS(s, sb));
	else if (v == 0)
		errat(ld, m, "resources.memory must be greater than zero (got "
		    "\"%s\")", SHOWS(s, sb));
	else if (v < MEMORY_MIN && s[strlen(s) - 1] >= '0' &&
	    s[strlen(s) - 1] <= '9')
		errat(ld, m, "resources.memory must be at least 6m (got "
		    "\"%s\": a plain number is bytes; did you mean %sm?)",
		    SHOWS(s, sb), sb);
	else if (v < MEMORY_MIN)
		errat(ld, m, "resources.memory must be at least 6m (got "
		    "\"%s\")", SHOWS(s, sb));
	else
		ld->cfg->memory = v;
	free(s);
}

/* 0 with *nanos (1e-9 CPUs); -1 bad syntax; -2 too large. */
static int
cpus_parse(const char *s, unsigned long long *nanos)
{
	unsigned long long	ip = 0, fp = 0;
	size_t			i = 0, nf = 0, ni = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++, ni++)
		if ((ip = ip * 10 + (unsigned)(s[i] - '0')) > CPUS_MAX)
			return -2;
	if (s[i] == '.')
		for (i++; s[i] >= '0' && s[i] <= '9'; i++, nf++) {
			if (nf == 9)
				return -1;
			fp = fp * 10 + (unsigned)(s[i] - '0');
		}
	if (s[i] != '\0' || ni + nf == 0)
		return -1;
	for (; nf < 9; nf++)
		fp *= 10;
	*nanos = ip * 1000000000ull + fp;
	if (*nanos > CPUS_MAX * 1000000000ull)
		return -2;
	return 0;
}

static void
do_cpus(struct ld *ld)
{
	unsigned long long	 n = 0;
	yaml_mark_t		 m;
	char			*s, sb[SHOWBUF];
	int			 r;

	if (get_value(ld, "resources.cpus", "a number like 2 or 0.5", &s,
	    &m) != VAL_OK)
		return;
	r = cpus_parse(s, &n);
	if (r == -1)
		errat(ld, m, "resources.cpus must be a number like 2 or 0.5 "
		    "(got \"%s\")", SHOWS(s, sb));
	else if (r == -2)
		errat(ld, m, "resources.cpus must be at most %d (got \"%s\")",
		    CPUS_MAX, SHOWS(s, sb));
	else if (n == 0)
		errat(ld, m, "resources.cpus must be greater than zero (got "
		    "\"%s\")", SHOWS(s, sb));
	else
		ld->cfg->cpus = (double)n / 1e9;
	free(s);
}

static void
do_resources(struct ld *ld)
{
	struct mapit	 it;
	const char	*key;
	yaml_mark_t	 km;

	if (enter_map(ld, "resources", "a map (memory, cpus)", &it,
	    " in resources") != 1)
		return;
	while (mapit_next(ld, &it, &key, &km) == 1) {
		if (strcmp(key, "memory") == 0)
			do_memory(ld);
		else if (strcmp(key, "cpus") == 0)
			do_cpus(ld);
		else {
			unknown_key(ld, key, km, it.where, resources_keys);
			skip_node(ld);
		}
	}
}

static void
do_bool(struct ld *ld, const char *field, int *out)
{
	static const char *const t[] = { "true", "True", "TRUE", NULL };
	static const char *const f[] = { "false", "False", "FALSE", NULL };
	yaml_mark_t	 m;
	char		*s, sb[SHOWBUF];
	size_t		 i;

	if (get_value(ld, field, "true or false", &s, &m) != VAL_OK)
		return;
	for (i = 0; t[i] != NULL; i++) {
		if (strcmp(s, t[i]) == 0)
			*out = 1;
		if (strcmp(s, f[i]) == 0)
			*out = 0;
		if (strcmp(s, t[i]) == 0 || strcmp(s, f[i]) == 0)
			break;
	}
	if (t[i] == NULL)
		errat(ld, m, "%s must be true or false (got \"%s\")", field,
		    SHOWS(s, sb));
	free(s);
}

static void
do_runtime(struct ld *ld)
{
	yaml_mark_t	 m;
	char		*s, sb[SHOWBUF];
	int		 r;

	if (get_value(ld, "runtime", "auto, docker, podman or apple", &s,
	    &m) != VAL_OK)
		return;
	if ((r = config_runtime_parse(s)) == -1)
		errat(ld, m, "runtime must be one of auto, docker, podman, apple "
		    "(got \"%s\")", SHOWS(s, sb));
	else
		ld->cfg->runtime = (enum config_runtime)r;
	free(s);
}

static void
walk(struct ld *ld)
{
	struct mapit	 it;
	const char	*key;
	yaml_mark_t	 km;

	next(ld);		/* stream start */
	next(ld);		/* document start */
	next(ld);		/* the top node */
	if (cur(ld) != YAML_MAPPING_START_EVENT) {
		if (node_props(ld) == 0 && ld->have)
			errat(ld, ld->ev.start_mark, "the top level must be a "
			    "map of settings like \"image: NAME\", not %s",
			    cur(ld) == YAML_SCALAR_EVENT && is_null(&ld->ev) ?
			    "empty" : kind(cur(ld)));
		return;
	}
	enter_map(ld, "", "", &it, "");
	while (mapit_next(ld, &it, &key, &km) == 1) {
		if (strcmp(key, "name") == 0)
			do_name(ld);
		else if (strcmp(key, "image") == 0)
			do_image(ld);
		else if (strcmp(key, "command") == 0)
			do_command(ld);
		else if (strcmp(key, "env") == 0)
			do_env(ld);
		else if (strcmp(key, "mounts") == 0)
			do_mounts(ld);
		else if (strcmp(key, "grants") == 0)
			do_grants(ld);
		else if (strcmp(key, "network") == 0)
			do_network(ld);
		else if (strcmp(key, "resources") == 0)
			do_resources(ld);
		else if (strcmp(key, "sandbox") == 0)
			do_bool(ld, "sandbox", &ld->cfg->sandbox);
		else if (strcmp(key, "runtime") == 0)
			do_runtime(ld);
		else if (strcmp(key, "interactive") == 0)
			do_bool(ld, "interactive", &ld->cfg->interactive);
		else {
			unknown_key(ld, key, km, "", top_keys);
			skip_node(ld);
		}
	}
}

/* ---- loading -------------------------------------------------------- */

static struct config *
config_new(const char *absdir)
{
	struct config	*cfg = xcalloc(1, sizeof(*cfg));
	const char	*base;
	char		*p;

	cfg->project_dir = xstrdup(absdir);
	cfg->image = xstrdup(CONFIG_DEFAULT_IMAGE);
	cfg->sandbox = 1;
	base = strrchr(absdir, '/');
	base = base ? base + 1 : absdir;
	cfg->name = xstrdup(*base ? base : "agent");
	for (p = cfg->name; *p; p++)	/* names hold no control characters */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '_';
	return cfg;
}

/* Parses buf into a new config for absdir; NULL with the errors added. */
static struct config *
parse(const char *buf, size_t len, const char *file, const char *absdir,
    struct errs *e)
{
	struct ld	 ld;
	size_t		 bad, line, col;
	int		 r;

	if (len > CONFIG_MAX_BYTES) {
		errs_add(e, "%s: file is too large (more than %u MiB)", file,
		    CONFIG_MAX_BYTES >> 20);
		return NULL;
	}
	if ((bad = utf8_bad(buf, len)) < len) {
		offset_linecol(buf, len, bad, &line, &col);
		if (buf[bad] == '\0')
			errs_add(e, "%s:%zu:%zu: not a text file (NUL byte)",
			    file, line, col);
		else
			errs_add(e, "%s:%zu:%zu: not UTF-8 text (byte 0x%02x)",
			    file, line, col, (unsigned char)buf[bad]);
		return NULL;
	}
	if ((r = syntax_pass(buf, len, file, e)) == -1)
		return NULL;
	if (r == 1) {
		errs_add(e, "%s: file is empty; delete it to use the defaults, "
		    "or add settings (see agent.yaml.example)", file);
		return NULL;
	}
	memset(&ld, 0, sizeof(ld));
	if (!yaml_parser_initialize(&ld.parser)) {
		errs_add(e, "%s: out of memory", file);
		return NULL;
	}
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)buf,
	    len);
	yaml_parser_set_encoding(&ld.parser, YAML_UTF8_ENCODING);
	ld.file = file;
	ld.errs = e;
	ld.cfg = config_new(absdir);
	ld.cfg->found = 1;
	walk(&ld);
	strset_free(&ld.mount_dsts);
	if (ld.have)
		yaml_event_delete(&ld.ev);
	yaml_parser_delete(&ld.parser);
	if (e->n > 0 || e->dropped > 0) {
		config_free(ld.cfg);
		return NULL;
	}
	return ld.cfg;
}

/* realpath of a directory, or NULL with the error added. */
static char *
abs_dir(const char *dir, struct errs *e)
{
	struct stat	 st;
	char		*p;

	if (stat(dir, &st) == -1) {
		errs_add(e, "%s: %s", dir, errno == ENOENT ? "no such directory"
		    : strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		errs_add(e, "%s: not a directory", dir);
		return NULL;
	}
	if ((p = realpath(dir, NULL)) == NULL)
		errs_add(e, "%s: %s", dir, strerror(errno));
	return p;
}

/* Common tail: read file (missing ok when missing_ok), parse. */
static struct config *
load_path(const char *file, const char *absdir, int missing_ok,
    struct errs *e)
{
	struct config	*cfg = NULL;
	char		*buf;
	size_t		 len;
	int		 r;

	if ((r = read_config(file, e, &buf, &len)) == -1)
		return NULL;
	if (r == 1 && missing_ok) {
		cfg = config_new(absdir);
		return cfg;
	}
	if (r == 1) {
		errs_add(e, "%s: no such file", file);
		return NULL;
	}
	if ((cfg = parse(buf, len, file, absdir, e)) != NULL)
		cfg->path = xstrdup(file);
	free(buf);
	return cfg;
}

static char *
join_file(const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, ".") == 0)
		return xstrdup("agent.yaml");
	if (n > 0 && dir[n - 1] == '/')
		return xasprintf("%sagent.yaml", dir);
	return xasprintf("%s/agent.yaml", dir);
}

struct config *
config_load(const char *project_dir, char *err, size_t errlen)
{
	struct errs	 e;
	struct config	*cfg = NULL;
	char		*abs, *file;

	memset(&e, 0, sizeof(e));
	file = join_file(project_dir);
	if ((abs = abs_dir(project_dir, &e)) != NULL)
		cfg = load_path(file, abs, 1, &e);
	errs_finish(&e, file, err, errlen);
	free(e.buf);
	free(abs);
	free(file);
	return cfg;
}

struct config *
config_load_file(const char *path, const char *project_dir, char *err,
    size_t errlen)
{
	struct errs	 e;
	struct config	*cfg = NULL;
	char		*abs, *dir = NULL, *slash;

	memset(&e, 0, sizeof(e));
	if (project_dir == NULL) {
		dir = xstrdup(path);
		if ((slash = strrchr(dir, '/')) == NULL)
			strcpy(dir, ".");
		else if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
		project_dir = dir;
	}
	if ((abs = abs_dir(project_dir, &e)) != NULL)
		cfg = load_path(path, abs, 0, &e);
	errs_finish(&e, path, err, errlen);
	free(e.buf);
	free(abs);
	free(dir);
	return cfg;
}

struct config *
config_load_buffer(const char *buf, size_t len, const char *name,
    const char *project_dir, char *err, size_t errlen)
{
	struct errs	 e;
	struct config	*cfg = NULL;
	char		*abs;

	memset(&e, 0, sizeof(e));
	if (project_dir == NULL)
		project_dir = ".";
	if (project_dir[0] == '/')
		abs = path_clean(project_dir);
	else
		abs = abs_dir(project_dir, &e);
	if (abs != NULL && (cfg = parse(buf, len, name, abs, &e)) != NULL)
		cfg->path = xstrdup(name);
	errs_finish(&e, name, err, errlen);
	free(e.buf);
	free(abs);
	return cfg;
}

/* ---- names and freeing ---------------------------------------------- */

static const char *const runtime_names[] = {
	[CONFIG_RUNTIME_AUTO] = "auto",
	[CONFIG_RUNTIME_DOCKER] = "docker",
	[CONFIG_RUNTIME_PODMAN] = "podman",
	[CONFIG_RUNTIME_APPLE] = "apple",
};

static const char *const policy_names[] = {
	[CONFIG_POLICY_PERMISSIVE] = "permissive",
	[CONFIG_POLICY_STRICT] = "strict",
};

const char *
config_runtime_name(enum config_runtime rt)
{
	if ((size_t)rt >= sizeof(runtime_names) / sizeof(runtime_names[0]))
		return "auto";
	return runtime_names[rt];
}

int
config_runtime_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(runtime_names) / sizeof(runtime_names[0]); i++)
		if (strcmp(s, runtime_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
config_policy_name(enum config_policy p)
{
	if ((size_t)p >= sizeof(policy_names) / sizeof(policy_names[0]))
		return "permissive";
	return policy_names[p];
}

int
config_policy_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (strcmp(s, policy_names[i]) == 0)
			return (int)i;
	return -1;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->project_dir);
	free(cfg->name);
	free(cfg->image);
	strvec_free(&cfg->command);
	for (i = 0; i < cfg->nenv; i++) {
		free(cfg->env[i].key);
		free(cfg->env[i].value);
	}
	free(cfg->env);
	for (i = 0; i < cfg->nmounts; i++) {
		free(cfg->mounts[i].src);
		free(cfg->mounts[i].dst);
	}
	free(cfg->mounts);
	strvec_free(&cfg->grants);
	for (i = 0; i < cfg->nallow; i++)
		free(cfg->allow[i].text);
	free(cfg->allow);
	free(cfg->host_ports);
	free(cfg);
}
