/* runtime: helpers shared by the runtime's own files; not public. */
#ifndef MOAT_RT_PRIVATE_H
#define MOAT_RT_PRIVATE_H

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
/* "<what>: <the daemon's message> (HTTP <status>)" into err. */
void		 rt_api_error(const char *answer, int status,
		    const char *what, char *err, size_t errlen);

#endif /* MOAT_RT_PRIVATE_H */
