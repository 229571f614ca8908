/*
 * `docker run` without the docker CLI: a forked child of moat creates,
 * attaches to, starts and waits for the container over the daemon's
 * socket, copies its stdout and stderr to the given descriptors and
 * exits with the container's status -- the same contract as the CLI
 * process rt_container_spawn() otherwise starts (pid, exit status, 125
 * for the engine's own failures, 126/127 for a command that cannot run),
 * minus the CLI's start-up (25-50 ms of Go runtime here) and its extra
 * round trips.
 *
 * Only for Docker, a container without stdin or a TTY, and a daemon
 * rt_api_socket() allows; when the socket cannot be reached the child
 * runs the CLI instead (argv and environment prepared before the fork).
 * The environment -- the proxy URL carries the run token -- travels in
 * the create request's body over the socket, never in an argv.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "json.h"
#include "rt_private.h"

/* Creating may unpack nothing (--pull never), but a busy daemon is slow. */
#define RUN_CREATE_TIMEOUT_MS	60000
/* How long removal (--rm) may take after the container exited. */
#define RUN_WAIT_TIMEOUT_MS	120000

static void
put_strs(FILE *fp, const char *key, const struct strvec *v)
{
	size_t i;

	fprintf(fp, ",\"%s\":[", key);
	for (i = 0; i < v->n; i++) {
		if (i > 0)
			fputc(',', fp);
		json_write_str(fp, v->v[i]);
	}
	fputc(']', fp);
}

/*
 * The create request's body, as the CLI would send it for
 * rt_spec_argv()'s command line.  Returns a malloc'd string (with the
 * secrets of spec->env in it: the caller wipes it), NULL when out of
 * memory.
 */
static char *
create_body(const struct rt_spec *spec, size_t *blen)
{
	struct strvec	 binds = STRVEC_INIT;
	char		*body = NULL;
	size_t		 i;
	FILE		*fp;

	if ((fp = open_memstream(&body, blen)) == NULL)
		return NULL;
	fputs("{\"Image\":", fp);
	json_write_str(fp, spec->image);
	fputs(",\"AttachStdin\":false,\"AttachStdout\":true,"
	    "\"AttachStderr\":true,\"Tty\":false,\"OpenStdin\":false", fp);
	if (spec->command.n > 0)
		put_strs(fp, "Cmd", &spec->command);
	put_strs(fp, "Env", &spec->env);
	if (spec->user != NULL) {
		fputs(",\"User\":", fp);
		json_write_str(fp, spec->user);
	}
	if (spec->workdir != NULL) {
		fputs(",\"WorkingDir\":", fp);
		json_write_str(fp, spec->workdir);
	}
	fputs(",\"Labels\":", fp);
	rt_json_labels(fp, &spec->labels);
	fputs(",\"HostConfig\":{", fp);
	fprintf(fp, "\"AutoRemove\":%s", spec->remove ? "true" : "false");
	for (i = 0; i < spec->nmounts; i++)
		strvec_pushf(&binds, "%s:%s%s", spec->mounts[i].src,
		    spec->mounts[i].dst, spec->mounts[i].readonly ? ":ro" :
		    "");
	put_strs(fp, "Binds", &binds);
	strvec_free(&binds);
	if (spec->network != NULL) {
		fputs(",\"NetworkMode\":", fp);
		json_write_str(fp, spec->network);
	}
	if (spec->runsc)
		fputs(",\"Runtime\":\"runsc\"", fp);
	if (spec->no_new_privileges)
		fputs(",\"SecurityOpt\":[\"no-new-privileges\"]", fp);
	if (spec->pids_limit > 0)
		fprintf(fp, ",\"PidsLimit\":%ld", spec->pids_limit);
	if (spec->memory > 0)
		fprintf(fp, ",\"Memory\":%llu", spec->memory);
	if (spec->cpus > 0)
		fprintf(fp, ",\"NanoCpus\":%lld",
		    (long long)(spec->cpus * 1e9 + 0.5));
	if (spec->add_hosts.n > 0)
		put_strs(fp, "ExtraHosts", &spec->add_hosts);
	fputs("}}", fp);
	if (fclose(fp) != 0) {
		free(body);
		return NULL;
	}
	return body;
}

/* write(2) all of buf; a reader that went away is not an error here. */
static void
put_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0 && fd >= 0) {
		if ((n = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* The CLI's words for its own failures: "docker: <message>." on stderr. */
static int
fail(int errfd, int code, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(errfd, "docker: %s.\n", msg);
	return code;
}

/*
 * Copies the multiplexed stream (8-byte frame headers: stream 1 stdout,
 * 2 stderr; big-endian length) from fd until the daemon closes it.
 */
static void
pump(int fd, const char *pre, size_t prelen, int out, int errfd)
{
	static char	buf[65536];
	size_t		have = prelen, used, flen;
	ssize_t		n;
	int		dst;

	memcpy(buf, pre, prelen);
	for (;;) {
		used = 0;
		while (have - used >= 8) {
			flen = (size_t)(unsigned char)buf[used + 4] << 24 |
			    (size_t)(unsigned char)buf[used + 5] << 16 |
			    (size_t)(unsigned char)buf[used + 6] << 8 |
			    (size_t)(unsigned char)buf[used + 7];
			dst = buf[used] == 2 ? errfd : out;
			if (have - used - 8 >= flen) {
				put_all(dst, buf + used + 8, flen);
				used += 8 + flen;
				continue;
			}
			/* A frame larger than what we hold: pass it on in
			 * pieces, keeping the header's remaining count. */
			if (have - used - 8 > 0 && have == sizeof(buf)) {
				size_t part = have - used - 8;

				put_all(dst, buf + used + 8, part);
				flen -= part;
				buf[used + 4] = (char)(flen >> 24);
				buf[used + 5] = (char)(flen >> 16);
				buf[used + 6] = (char)(flen >> 8);
				buf[used + 7] = (char)flen;
				have = used + 8;
			}
			break;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
		if ((n = read(fd, buf + have, sizeof(buf) - have)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (n == 0)
			return;
		have += (size_t)n;
	}
}

/*
 * In the child: the whole run.  Returns the exit status, or -2 when the
 * socket cannot be reached after all (nothing was created).
 */
static int
api_run(const struct rt_spec *spec, int out, int errfd)
{
	char		*body, *answer = NULL, target[512], msg[1024];
	char		 id[80], rest[8192], err[1024];
	struct json	*j;
	const char	*s;
	size_t		 blen, restlen;
	int		 status, afd = -1, wfd = -1, code, r;

	if ((body = create_body(spec, &blen)) == NULL)
		return fail(errfd, 125, "out of memory");
	snprintf(target, sizeof(target), "/containers/create?name=%s",
	    spec->name != NULL ? spec->name : "");
	r = rt_api_call("POST", spec->name != NULL ? target :
	    "/containers/create", body, RUN_CREATE_TIMEOUT_MS, &status,
	    &answer, err, sizeof(err));
	sodium_memzero(body, blen);
	free(body);
	if (r == 0)
		return -2;	/* no socket after all: the CLI */
	if (r != 1)
		return fail(errfd, 125, "%s", err);
	if (status != 201) {
		rt_api_message(answer, msg, sizeof(msg));
		free(answer);
		return fail(errfd, 125, "Error response from daemon: %s", msg);
	}
	j = json_parse(answer, strlen(answer), NULL, 0);
	s = json_get_str(j, "Id");
	snprintf(id, sizeof(id), "%s", s != NULL ? s : "");
	json_free(j);
	free(answer);
	answer = NULL;
	if (strlen(id) < 12 || strspn(id, "0123456789abcdef") != strlen(id))
		return fail(errfd, 125, "the daemon sent no container id");

	/* Attach, then wait (so no exit is missed), then start: as the
	 * CLI does. */
	snprintf(target, sizeof(target), "/containers/%s/attach?stream=1&"
	    "stdout=1&stderr=1", id);
	if (rt_api_open("POST", target, NULL, RT_QUERY_TIMEOUT_MS, &afd, err,
	    sizeof(err)) != 1 || rt_api_read_head(afd, RT_QUERY_TIMEOUT_MS,
	    &status, rest, sizeof(rest), &restlen, err, sizeof(err)) == -1) {
		code = fail(errfd, 125, "attaching: %s", err);
		goto remove;
	}
	if (status != 101 && status != 200) {
		code = fail(errfd, 125, "attaching: HTTP %d", status);
		goto remove;
	}
	snprintf(target, sizeof(target), "/containers/%s/wait?condition=%s",
	    id, spec->remove ? "removed" : "next-exit");
	if (rt_api_open("POST", target, NULL, RT_QUERY_TIMEOUT_MS, &wfd, err,
	    sizeof(err)) != 1) {
		code = fail(errfd, 125, "waiting: %s", err);
		goto remove;
	}
	snprintf(target, sizeof(target), "/containers/%s/start", id);
	if (rt_api_call("POST", target, NULL, RUN_CREATE_TIMEOUT_MS, &status,
	    &answer, err, sizeof(err)) != 1) {
		code = fail(errfd, 125, "%s", err);
		goto remove;
	}
	if (status != 204 && status != 304) {
		rt_api_message(answer, msg, sizeof(msg));
		/* The CLI's codes: the command cannot be found, or run. */
		code = strstr(msg, "executable file not found") != NULL ||
		    strstr(msg, "no such file or directory") != NULL ? 127 :
		    strstr(msg, "permission denied") != NULL ? 126 : 125;
		fail(errfd, code, "Error response from daemon: %s", msg);
		goto remove;
	}
	free(answer);
	answer = NULL;
	pump(afd, rest, restlen, out, errfd);
	close(afd);
	afd = -1;
	if (rt_api_finish(wfd, "wait", RUN_WAIT_TIMEOUT_MS, &status, &answer,
	    err, sizeof(err)) != 1) {
		wfd = -1;
		code = fail(errfd, 125, "%s", err);
		goto remove;
	}
	wfd = -1;
	if (status != 200) {
		rt_api_message(answer, msg, sizeof(msg));
		free(answer);
		return fail(errfd, 125, "Error response from daemon: %s", msg);
	}
	j = json_parse(answer, strlen(answer), NULL, 0);
	code = (int)json_get_num(j, "StatusCode", 125);
	json_free(j);
	free(answer);
	return code < 0 || code > 255 ? 125 : code;
 remove:
	free(answer);
	if (afd != -1)
		close(afd);
	if (wfd != -1)
		close(wfd);
	/* Created but not run to the end: it must not stay (the CLI's
	 * --rm does the same).  Not with --keep. */
	if (spec->remove) {
		snprintf(target, sizeof(target), "/containers/%s?force=1", id);
		if (rt_api_call("DELETE", target, NULL, RT_QUERY_TIMEOUT_MS,
		    &status, &answer, err, sizeof(err)) == 1)
			free(answer);
	}
	return code;
}

pid_t
rt_api_spawn(const struct rt_spec *spec, char *const argv[],
    char *const envp[], int out, int err_fd, char *err, size_t errlen)
{
	char	path[256];
	pid_t	pid;
	int	code;

	if (spec->interactive || spec->tty ||
	    !rt_api_socket(path, sizeof(path)))
		return 0;
	if ((pid = fork()) == -1) {
		util_errf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	util_child_stdio(UTIL_FD_NULL, out, err_fd);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * A terminal's Ctrl-C reaches the whole foreground group: moat run
	 * stops the container (and SIGKILLs this child past its deadline);
	 * this child keeps relaying the agent's last words until then.
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if ((code = api_run(spec, STDOUT_FILENO, STDERR_FILENO)) != -2)
		_exit(code);
	/*
	 * No socket after all (removed, or not ours): the CLI, as planned,
	 * with the dispositions util_spawn() gives it (ignored ones would
	 * survive the exec).
	 */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	execvpe(argv[0], argv, envp);
	dprintf(STDERR_FILENO, "docker: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}
