/*
 * The Docker Engine API over the daemon's unix socket, for the engine
 * calls on a run's critical path: each `docker` CLI invocation costs
 * 25-40 ms of Go start-up before it asks the daemon anything; the same
 * question over the socket costs the daemon's time only.
 *
 * Only for the daemon the CLI itself would talk to: DOCKER_HOST unset or
 * unix://PATH, and no context other than "default" selected (DOCKER_CONTEXT,
 * or currentContext in the CLI's config.json).  Anything else -- a tcp or
 * ssh DOCKER_HOST, a context, MOAT_DOCKER_API=0, a socket that is missing
 * or refuses us -- answers "use the CLI", which then says what is wrong in
 * the CLI's own words.
 *
 * One request per connection (Connection: close), blocking I/O under one
 * deadline, the answer bounded by RT_API_MAX_ANSWER.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "json.h"
#include "rt_private.h"

#define RT_API_MAX_ANSWER	(4 << 20)
#define RT_API_DEFAULT_SOCK	"/var/run/docker.sock"

/* 1 when the CLI's config.json selects a context other than "default". */
static int
config_selects_context(void)
{
	const char	*dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	const char	*cur;
	char		 path[4096], *data = NULL;
	size_t		 len;
	struct json	*j;
	int		 r = 0;

	if (dir != NULL && *dir != '\0')
		snprintf(path, sizeof(path), "%s/config.json", dir);
	else if (home != NULL && *home != '\0')
		snprintf(path, sizeof(path), "%s/.docker/config.json", home);
	else
		return 0;
	if (util_read_file(path, 1 << 20, &data, &len) == -1)
		return 0;	/* no config: the default context */
	if (strstr(data, "currentContext") == NULL) {
		free(data);
		return 0;
	}
	if ((j = json_parse(data, len, NULL, 0)) == NULL)
		r = 1;		/* cannot tell: let the CLI decide */
	else if ((cur = json_get_str(j, "currentContext")) != NULL &&
	    *cur != '\0' && strcmp(cur, "default") != 0)
		r = 1;
	json_free(j);
	free(data);
	return r;
}

int
rt_api_socket(char *path, size_t len)
{
	const char *host = getenv("DOCKER_HOST");
	const char *ctx = getenv("DOCKER_CONTEXT");
	const char *off = getenv("MOAT_DOCKER_API");

	if (off != NULL && strcmp(off, "0") == 0)
		return 0;
	if (ctx != NULL && *ctx != '\0' && strcmp(ctx, "default") != 0)
		return 0;
	if (host == NULL || *host == '\0') {
		if (config_selects_context())
			return 0;
		host = "unix://" RT_API_DEFAULT_SOCK;
	}
	if (strncmp(host, "unix://", 7) != 0 || host[7] != '/' ||
	    strlen(host + 7) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    strlen(host + 7) >= len)
		return 0;
	snprintf(path, len, "%s", host + 7);
	return 1;
}

static long
ms_left(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 +
	    (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out. */
static int
wait_fd(int fd, short events, const struct timespec *end)
{
	struct pollfd	pfd = { fd, events, 0 };
	long		left;
	int		n;

	for (;;) {
		if ((left = ms_left(end)) <= 0)
			return 0;
		if ((n = poll(&pfd, 1, (int)left)) > 0)
			return 1;
		if (n == -1 && errno != EINTR)
			return 1;	/* the next read/write says why */
	}
}

/*
 * Decodes a chunked body in place: *len in, the decoded length out.
 * 0, or -1 when it is malformed or truncated.
 */
static int
dechunk(char *b, size_t *len)
{
	size_t	in = 0, out = 0, n;
	char	*end;

	for (;;) {
		if (in >= *len)
			return -1;
		errno = 0;
		n = strtoul(b + in, &end, 16);
		if (end == b + in || errno != 0)
			return -1;
		if ((end = memchr(end, '\n', *len - (size_t)(end - b))) ==
		    NULL)
			return -1;
		in = (size_t)(end - b) + 1;
		if (n == 0)
			break;
		if (n > *len - in)
			return -1;
		memmove(b + out, b + in, n);
		out += n;
		in += n;
		if (in < *len && b[in] == '\r')
			in++;
		if (in < *len && b[in] == '\n')
			in++;
	}
	*len = out;
	b[out] = '\0';
	return 0;
}

/* The value of header name in head (NUL-terminated), copied; "" if none. */
static void
header(const char *head, const char *name, char *buf, size_t len)
{
	const char	*p = head;
	size_t		 nl = strlen(name), n;

	buf[0] = '\0';
	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		p += nl + 1;
		p += strspn(p, " \t");
		n = strcspn(p, "\r\n");
		snprintf(buf, len, "%.*s", (int)n, p);
		return;
	}
}

/* "HTTP/1.x NNN ..." at the start of buf: *status, 0; or -1. */
static int
status_line(const char *buf, size_t len, int *status)
{
	char *end;

	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return -1;
	*status = (int)strtol(buf + 9, &end, 10);
	return end == buf + 12 && *status >= 100 && *status <= 599 ? 0 : -1;
}

/*
 * Splits a whole HTTP/1.1 answer (NUL-terminated, len bytes) into the
 * status and the body, moved to the start of buf.  0 or -1.
 */
static int
parse_answer(char *buf, size_t len, int *status, size_t *bodylen)
{
	char	*sep, val[64];
	size_t	 hl, bl;
	char	*end;
	long	 cl;

	if (status_line(buf, len, status) == -1 ||
	    (sep = strstr(buf, "\r\n\r\n")) == NULL)
		return -1;
	*sep = '\0';
	hl = (size_t)(sep - buf) + 4;
	bl = len - hl;
	header(buf, "Transfer-Encoding", val, sizeof(val));
	if (strcasecmp(val, "chunked") == 0) {
		memmove(buf, buf + hl, bl + 1);
		if (dechunk(buf, &bl) == -1)
			return -1;
	} else {
		header(buf, "Content-Length", val, sizeof(val));
		if (val[0] != '\0') {
			errno = 0;
			cl = strtol(val, &end, 10);
			if (*end != '\0' || errno != 0 || cl < 0 ||
			    (size_t)cl > bl)
				return -1;
			bl = (size_t)cl;
		}
		memmove(buf, buf + hl, bl);
		buf[bl] = '\0';
	}
	*bodylen = bl;
	return 0;
}

static void
deadline_in(struct timespec *end, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, end);
	end->tv_sec += timeout_ms / 1000;
	end->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end->tv_nsec >= 1000000000) {
		end->tv_sec++;
		end->tv_nsec -= 1000000000;
	}
}

/*
 * One recv() into buf (cap bytes) before the deadline: the byte count
 * (0 at the end of the stream), or -1 with err filled ("Docker API
 * <what>: ...").
 */
static ssize_t
recv_by(int fd, char *buf, size_t cap, const struct timespec *end,
    int timeout_ms, const char *what, char *err, size_t errlen)
{
	ssize_t n;

	for (;;) {
		if (!wait_fd(fd, POLLIN, end)) {
			util_errf(err, errlen, "Docker API %s: no answer "
			    "within %d ms", what, timeout_ms);
			return -1;
		}
		if ((n = recv(fd, buf, cap, MSG_DONTWAIT)) >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN) {
			util_errf(err, errlen, "Docker API %s: %s", what,
			    strerror(errno));
			return -1;
		}
	}
}


int
rt_api_open(const char *method, const char *target, const char *body,
    int timeout_ms, int *fdp, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct timespec		 end;
	char			*req = NULL;
	size_t			 off = 0;
	ssize_t			 n;
	int			 fd, reqlen;

	*fdp = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (!rt_api_socket(sun.sun_path, sizeof(sun.sun_path)))
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return 0;	/* down, missing, not ours: the CLI says */
	}
	deadline_in(&end, timeout_ms);
	reqlen = asprintf(&req, "%s %s HTTP/1.1\r\nHost: docker\r\n"
	    "User-Agent: moat\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, target, body ? strlen(body) : 0, body ? body : "");
	if (reqlen < 0) {
		close(fd);
		util_errf(err, errlen, "Docker API: out of memory");
		return -1;
	}
	while (off < (size_t)reqlen) {
		if (!wait_fd(fd, POLLOUT, &end)) {
			util_errf(err, errlen, "Docker API %s %s: no answer "
			    "within %d ms", method, target, timeout_ms);
			goto fail;
		}
		if ((n = send(fd, req + off, (size_t)reqlen - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			util_errf(err, errlen, "Docker API %s %s: %s", method,
			    target, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	/* A create request's body holds the container's environment. */
	sodium_memzero(req, (size_t)reqlen);
	free(req);
	*fdp = fd;
	return 1;
 fail:
	sodium_memzero(req, (size_t)reqlen);
	free(req);
	close(fd);
	return -1;
}

int
rt_api_finish(int fd, const char *what, int timeout_ms, int *status,
    char **answer, char *err, size_t errlen)
{
	struct timespec	 end;
	char		*buf = NULL;
	size_t		 len = 0, cap = 0, bodylen;
	ssize_t		 n;
	int		 r = -1;

	*answer = NULL;
	*status = 0;
	deadline_in(&end, timeout_ms);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= RT_API_MAX_ANSWER) {
				util_errf(err, errlen, "Docker API %s: the "
				    "answer is larger than %d bytes", what,
				    RT_API_MAX_ANSWER);
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			buf = xrealloc(buf, cap);
		}
		if ((n = recv_by(fd, buf + len, cap - len - 1, &end,
		    timeout_ms, what, err, errlen)) == -1)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (parse_answer(buf, len, status, &bodylen) == -1) {
		util_errf(err, errlen, "Docker API %s: malformed answer",
		    what);
		goto out;
	}
	*answer = buf;
	buf = NULL;
	r = 1;
 out:
	free(buf);
	close(fd);
	return r;
}

int
rt_api_call(const char *method, const char *target, const char *body,
    int timeout_ms, int *status, char **answer, char *err, size_t errlen)
{
	char	what[256];
	int	fd, r;

	*answer = NULL;
	*status = 0;
	if ((r = rt_api_open(method, target, body, timeout_ms, &fd, err,
	    errlen)) != 1)
		return r;
	snprintf(what, sizeof(what), "%s %s", method, target);
	return rt_api_finish(fd, what, timeout_ms, status, answer, err,
	    errlen);
}

int
rt_api_read_head(int fd, int timeout_ms, int *status, char *rest,
    size_t restcap, size_t *restlen, char *err, size_t errlen)
{
	struct timespec	 end;
	char		 head[8192], *sep;
	size_t		 len = 0, hl;
	ssize_t		 n;

	*restlen = 0;
	deadline_in(&end, timeout_ms);
	for (;;) {
		if (len >= sizeof(head) - 1) {
			util_errf(err, errlen, "Docker API: answer head larger "
			    "than %zu bytes", sizeof(head) - 1);
			return -1;
		}
		if ((n = recv_by(fd, head + len, sizeof(head) - 1 - len, &end,
		    timeout_ms, "stream", err, errlen)) == -1)
			return -1;
		if (n == 0) {
			util_errf(err, errlen, "Docker API: the daemon closed "
			    "the connection");
			return -1;
		}
		len += (size_t)n;
		head[len] = '\0';
		if ((sep = strstr(head, "\r\n\r\n")) != NULL)
			break;
	}
	if (status_line(head, len, status) == -1) {
		util_errf(err, errlen, "Docker API: malformed answer");
		return -1;
	}
	hl = (size_t)(sep - head) + 4;
	if (len - hl > restcap) {
		util_errf(err, errlen, "Docker API: too much after the head");
		return -1;
	}
	memcpy(rest, head + hl, len - hl);
	*restlen = len - hl;
	return 0;
}

void
rt_api_message(const char *answer, char *buf, size_t len)
{
	struct json	*j = NULL;
	const char	*m = NULL;

	if (answer != NULL)
		j = json_parse(answer, strlen(answer), NULL, 0);
	if (j != NULL)
		m = json_get_str(j, "message");
	snprintf(buf, len, "%s", m != NULL ? m : "failed");
	json_free(j);
}

void
rt_api_error(const char *answer, int status, const char *what, char *err,
    size_t errlen)
{
	char msg[1024];

	rt_api_message(answer, msg, sizeof(msg));
	util_errf(err, errlen, "%s: %s (HTTP %d)", what, msg, status);
}

void
rt_json_labels(FILE *fp, const struct strvec *labels)
{
	const char	*eq;
	size_t		 i;

	fputc('{', fp);
	for (i = 0; labels != NULL && i < labels->n; i++) {
		char *k = xstrdup(labels->v[i]);

		if ((eq = strchr(labels->v[i], '=')) != NULL)
			k[eq - labels->v[i]] = '\0';
		if (i > 0)
			fputc(',', fp);
		json_write_str(fp, k);
		fputc(':', fp);
		json_write_str(fp, eq != NULL ? eq + 1 : "");
		free(k);
	}
	fputc('}', fp);
}
