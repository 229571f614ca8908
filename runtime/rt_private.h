/* runtime: helpers shared by the runtime's own files; not public. */
#ifndef MOAT_RT_PRIVATE_H
#define MOAT_RT_PRIVATE_H

#include <stdio.h>

#include "runtime.h"

/* "docker", "podman", "container"; NULL for RT_AUTO. */
const char	*rt_cli_name(enum rt_engine e);
/* 1 on Linux. */
int		 rt_host_is_linux(void);
/* Strips trailing whitespace in place (NULL-safe). */
void		 rt_chomp(char *s);
/* The first non-empty line of s, at most 300 bytes. */
void		 rt_first_line(const char *s, char *buf, size_t len);
/* util_run() with RT_QUERY_TIMEOUT_MS, no input, the current env. */
int		 rt_query(char *const argv[], char **out, char **errout,
		    int *status, char *err, size_t errlen);

/* ---- the Docker Engine API (engine_api.c) ---- */

/*
 * The unix socket of the daemon the docker CLI would use, into path:
 * 1, or 0 when the CLI must be used instead (a tcp/ssh DOCKER_HOST, a
 * context other than "default", MOAT_DOCKER_API=0).
 */
int		 rt_api_socket(char *path, size_t len);
/*
 * One request (body: JSON or NULL) with a deadline.  Returns 1 with
 * *status and *answer (the body, NUL-terminated, malloc'd); 0 when there
 * is no API to use -- not configured, or the socket is missing, refused
 * or not ours (the caller falls back to the CLI, which says why); -1 with
 * err filled when the exchange failed half-way.
 */
int		 rt_api_call(const char *method, const char *target,
		    const char *body, int timeout_ms, int *status,
		    char **answer, char *err, size_t errlen);
/*
 * The two halves of rt_api_call(): connect and send (1 with *fd, 0 no
 * API, -1 failed), then read the whole answer and close fd (1 or -1).
 */
int		 rt_api_open(const char *method, const char *target,
		    const char *body, int timeout_ms, int *fd, char *err,
		    size_t errlen);
int		 rt_api_finish(int fd, const char *what, int timeout_ms,
		    int *status, char **answer, char *err, size_t errlen);
/*
 * For a hijacked stream (attach): reads the answer's head from fd, sets
 * *status and copies what came after the head (at most restcap bytes)
 * to rest.  0 or -1.
 */
int		 rt_api_read_head(int fd, int timeout_ms, int *status,
		    char *rest, size_t restcap, size_t *restlen, char *err,
		    size_t errlen);
/*
 * engine_run.c: runs spec like `docker run` over the socket, in a forked
 * child whose exit status is the container's (the CLI's contract).
 * Returns its pid; 0 when it does not apply (not allowed by
 * rt_api_socket(), or stdin/TTY wanted: use the CLI); -1 (err filled)
 * when fork failed.  argv/envp: the CLI's, run by the child should the
 * socket turn out unreachable.
 */
pid_t		 rt_api_spawn(const struct rt_spec *spec, char *const argv[],
		    char *const envp[], int out, int err_fd, char *err,
		    size_t errlen);
/* The daemon's {"message": ...} of an error answer, or "failed". */
void		 rt_api_message(const char *answer, char *buf, size_t len);
/* Labels KEY=VALUE as a JSON object, to fp. */
void		 rt_json_labels(FILE *fp, const struct strvec *labels);
/* "<what>: <the daemon's message> (HTTP <status>)" into err. */
void		 rt_api_error(const char *answer, int status,
		    const char *what, char *err, size_t errlen);

#endif /* MOAT_RT_PRIVATE_H */
