/*
 * proxy/log: network.jsonl, one JSON object per request or tunnel, and
 * one summary line per session (log_debug).  Only names are ever logged:
 * never a token, credential, Authorization or Cookie value; paths lose
 * their query values before they get here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy_int.h"

int
plog_open(struct proxy *px, const char *path, char *err, size_t errlen)
{
	px->logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (px->logfd == -1) {
		util_errf(err, errlen, "cannot open the request log %s: %s",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Appends s as a JSON string (quoted, escaped) to buf at *off. */
static void
jstr(char *buf, size_t len, size_t *off, const char *s)
{
	size_t o = *off;

	if (o + 2 >= len)
		return;
	buf[o++] = '"';
	for (; *s != '\0' && o + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	*off = o;
}

static void
jraw(char *buf, size_t len, size_t *off, const char *fmt, ...)
    UTIL_PRINTF(4, 5);

static void
jraw(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < len ? *off + (size_t)n : len - 1;
}

/*
 * Appends s[0..n) like jraw would (truncating at len - 1), without a
 * format string: one log line per request is on the hot path.
 */
static void
jput(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	size_t	o = *off;

	if (o >= len)
		return;
	if (n > len - 1 - o)
		n = len - 1 - o;
	memcpy(buf + o, s, n);
	o += n;
	buf[o] = '\0';
	*off = o;
}

#define JLIT(buf, len, off, lit)	jput(buf, len, off, lit, sizeof(lit) - 1)

static void
jnum(char *buf, size_t len, size_t *off, long long v)
{
	char			 t[HTTP_U64_DEC];
	unsigned long long	 u = v < 0 ? 0ULL - (unsigned long long)v :
				    (unsigned long long)v;
	size_t			 i = http_u64_dec(t, u);	/* <= 20 digits */

	if (v < 0)
		t[--i] = '-';
	jput(buf, len, off, t + i, sizeof(t) - i);
}

static void
junum(char *buf, size_t len, size_t *off, unsigned long long u)
{
	char	t[HTTP_U64_DEC];
	size_t	i = http_u64_dec(t, u);

	jput(buf, len, off, t + i, sizeof(t) - i);
}

/* "YYYY-mm-ddTHH:MM:SS" of sec, formatted once per second. */
static const char *
log_second(time_t sec)
{
	static time_t	cached = (time_t)-1;
	static char	ts[64];
	struct tm	tm;

	if (sec != cached) {
		gmtime_r(&sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		cached = sec;
	}
	return ts;
}

void
plog_request(struct conn *c)
{
	struct reqlog	*l = &c->log;
	char		 line[2048], msd[5];
	const char	*ts;
	struct timespec	 now;
	size_t		 o = 0;
	long long	 ms;
	long		 msec;
	const char	*scheme;

	if (c->px->logfd == -1 || l->logged || !l->active)
		return;
	l->logged = 1;
	clock_gettime(CLOCK_REALTIME, &now);
	ts = log_second(l->start.tv_sec);
	ms = (now.tv_sec - l->start.tv_sec) * 1000LL +
	    (now.tv_nsec - l->start.tv_nsec) / 1000000;
	if (strcmp(l->method, "CONNECT") == 0)
		scheme = "tunnel";
	else if (c->intercepted)
		scheme = "https";
	else
		scheme = "http";
	msec = l->start.tv_nsec / 1000000;
	msd[0] = '.';
	msd[1] = (char)('0' + msec / 100 % 10);
	msd[2] = (char)('0' + msec / 10 % 10);
	msd[3] = (char)('0' + msec % 10);
	msd[4] = 'Z';
	JLIT(line, sizeof(line), &o, "{\"time\":\"");
	jput(line, sizeof(line), &o, ts, strlen(ts));
	jput(line, sizeof(line), &o, msd, sizeof(msd));
	JLIT(line, sizeof(line), &o, "\",\"run\":");
	jstr(line, sizeof(line), &o, c->px->run_id);
	JLIT(line, sizeof(line), &o, ",\"session\":");
	junum(line, sizeof(line), &o, (unsigned long long)c->id);
	JLIT(line, sizeof(line), &o, ",\"method\":");
	jstr(line, sizeof(line), &o, l->method[0] ? l->method : "-");
	JLIT(line, sizeof(line), &o, ",\"scheme\":\"");
	jput(line, sizeof(line), &o, scheme, strlen(scheme));
	JLIT(line, sizeof(line), &o, "\",\"host\":");
	jstr(line, sizeof(line), &o, l->host);
	JLIT(line, sizeof(line), &o, ",\"port\":");
	jnum(line, sizeof(line), &o, l->port);
	JLIT(line, sizeof(line), &o, ",\"path\":");
	jstr(line, sizeof(line), &o, l->path);
	JLIT(line, sizeof(line), &o, ",\"status\":");
	jnum(line, sizeof(line), &o, l->status);
	JLIT(line, sizeof(line), &o, ",\"bytes_up\":");
	junum(line, sizeof(line), &o, (unsigned long long)l->up);
	JLIT(line, sizeof(line), &o, ",\"bytes_down\":");
	junum(line, sizeof(line), &o, (unsigned long long)l->down);
	JLIT(line, sizeof(line), &o, ",\"duration_ms\":");
	jnum(line, sizeof(line), &o, ms < 0 ? 0 : ms);
	JLIT(line, sizeof(line), &o, ",\"decision\":\"");
	scheme = l->decision ? l->decision : "allow";
	jput(line, sizeof(line), &o, scheme, strlen(scheme));
	JLIT(line, sizeof(line), &o, "\",\"injected\":[");
	if (l->injected[0] != '\0')
		jstr(line, sizeof(line), &o, l->injected);
	JLIT(line, sizeof(line), &o, "]");
	if (l->error[0] != '\0') {
		JLIT(line, sizeof(line), &o, ",\"error\":");
		jstr(line, sizeof(line), &o, l->error);
	}
	JLIT(line, sizeof(line), &o, "}\n");
	if (o >= sizeof(line) - 1) {	/* truncated: keep it valid JSON */
		o = 0;
		jraw(line, sizeof(line), &o, "{\"time\":\"%s\",\"session\":"
		    "%llu,\"error\":\"log line too long\"}\n", ts,
		    (unsigned long long)c->id);
	}
	(void)write(c->px->logfd, line, o);
}

void
plog_session(struct conn *c, const char *reason)
{
	log_debug("proxy: session %llu client %s dest %s requests %u up %llu "
	    "down %llu injected [%s]: %s", (unsigned long long)c->id,
	    c->client, c->last_host[0] ? c->last_host : "-", c->nreqs,
	    (unsigned long long)c->tot_up, (unsigned long long)c->tot_down,
	    c->inj_names, reason);
}
