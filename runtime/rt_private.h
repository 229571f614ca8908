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

#endif /* MOAT_RT_PRIVATE_H */
