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

void
plog_request(struct conn *c)
{
	struct reqlog	*l = &c->log;
	char		 line[2048], ts[64];
	struct timespec	 now;
	struct tm	 tm;
	size_t		 o = 0;
	long long	 ms;
	const char	*scheme;

	if (c->px->logfd == -1 || l->logged || !l->active)
		return;
	l->logged = 1;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&l->start.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	ms = (now.tv_sec - l->start.tv_sec) * 1000LL +
	    (now.tv_nsec - l->start.tv_nsec) / 1000000;
	if (strcmp(l->method, "CONNECT") == 0)
		scheme = "tunnel";
	else if (c->intercepted)
		scheme = "https";
	else
		scheme = "http";
	jraw(line, sizeof(line), &o, "{\"time\":\"%s.%03ldZ\",\"run\":", ts,
	    l->start.tv_nsec / 1000000);
	jstr(line, sizeof(line), &o, c->px->run_id);
	jraw(line, sizeof(line), &o, ",\"session\":%llu,\"method\":",
	    (unsigned long long)c->id);
	jstr(line, sizeof(line), &o, l->method[0] ? l->method : "-");
	jraw(line, sizeof(line), &o, ",\"scheme\":\"%s\",\"host\":", scheme);
	jstr(line, sizeof(line), &o, l->host);
	jraw(line, sizeof(line), &o, ",\"port\":%d,\"path\":", l->port);
	jstr(line, sizeof(line), &o, l->path);
	jraw(line, sizeof(line), &o, ",\"status\":%d,\"bytes_up\":%llu,"
	    "\"bytes_down\":%llu,\"duration_ms\":%lld,\"decision\":\"%s\","
	    "\"injected\":[", l->status, (unsigned long long)l->up,
	    (unsigned long long)l->down, ms < 0 ? 0 : ms,
	    l->decision ? l->decision : "allow");
	if (l->injected[0] != '\0')
		jstr(line, sizeof(line), &o, l->injected);
	jraw(line, sizeof(line), &o, "]");
	if (l->error[0] != '\0') {
		jraw(line, sizeof(line), &o, ",\"error\":");
		jstr(line, sizeof(line), &o, l->error);
	}
	jraw(line, sizeof(line), &o, "}\n");
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
