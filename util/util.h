/*
 * util: logging, string vectors, spawning without a shell, files under
 * ~/.moat, host patterns.  Used by every module; depends on libc and
 * libsodium only.
 */
#ifndef MOAT_UTIL_H
#define MOAT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define UTIL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- logging -------------------------------------------------------- */

/*
 * Messages go to stderr.  log_warn()/log_err() append ": strerror(errno)";
 * the x variants do not.  Warnings print as "WARN <msg>", errors as
 * "moat: <msg>", info as "<msg>" (verbosity >= 1 only for log_debug).
 * Never pass a secret to any of these.
 */
void	log_init(int verbosity);
int	log_verbosity(void);
void	log_err(const char *fmt, ...) UTIL_PRINTF(1, 2);
void	log_errx(const char *fmt, ...) UTIL_PRINTF(1, 2);
void	log_warn(const char *fmt, ...) UTIL_PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) UTIL_PRINTF(1, 2);
void	log_info(const char *fmt, ...) UTIL_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) UTIL_PRINTF(1, 2);

/* Formats into buf like snprintf but never fails: truncates. */
void	util_errf(char *buf, size_t len, const char *fmt, ...)
	    UTIL_PRINTF(3, 4);

/* ---- memory --------------------------------------------------------- */

/* Allocators that abort with a message on exhaustion (never return NULL). */
void	*xmalloc(size_t n);
void	*xcalloc(size_t n, size_t sz);
void	*xrealloc(void *p, size_t n);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
char	*xasprintf(const char *fmt, ...) UTIL_PRINTF(1, 2);

/* Wipes then frees a NUL-terminated string that may hold a secret. */
void	 util_free_secret_str(char *s);

/* ---- string vectors (argv, env) ------------------------------------- */

/* Always NULL-terminated: v[n] == NULL, so v can be passed to execve. */
struct strvec {
	char	**v;
	size_t	  n;
	size_t	  cap;
};
#define STRVEC_INIT { NULL, 0, 0 }

void	 strvec_push(struct strvec *sv, const char *s);	/* copies s */
void	 strvec_pushf(struct strvec *sv, const char *fmt, ...)
	    UTIL_PRINTF(2, 3);
void	 strvec_take(struct strvec *sv, char *s);	/* takes s */
void	 strvec_free(struct strvec *sv);	/* frees strings and array */
/* Index of the first entry equal to s, or -1. */
ssize_t	 strvec_find(const struct strvec *sv, const char *s);
/* For env vectors: the value of KEY=... or NULL. */
const char *strvec_getenv(const struct strvec *sv, const char *key);

/* ---- spawning ------------------------------------------------------- */

#define UTIL_FD_NULL	(-1)	/* connect to /dev/null */
#define UTIL_FD_INHERIT	(-2)	/* keep the parent's descriptor */

/*
 * Absolute path of an executable named name, searched in $PATH (or name
 * itself when it contains '/').  Returns a malloc'd string or NULL.
 */
char	*util_which(const char *name);

/*
 * Spawns argv (argv[0] looked up with util_which) with envp (NULL: the
 * current environment minus MOAT_PASSPHRASE), without a shell.  in/out/err are descriptors or
 * UTIL_FD_NULL / UTIL_FD_INHERIT; every other descriptor is closed in the
 * child.  Returns the pid, or -1 with err filled.
 */
pid_t	 util_spawn(char *const argv[], char *const envp[], int in, int out,
	    int err_fd, char *err, size_t errlen);
/*
 * For a child forked without exec (it goes on running moat's code): what
 * util_spawn() does in its child before the exec -- stdio as given
 * (UTIL_FD_NULL / UTIL_FD_INHERIT allowed), every other descriptor
 * closed, signal dispositions reset to the default and none blocked.
 * _exit(127) when /dev/null cannot be opened.
 */
void	 util_child_stdio(int in, int out, int err_fd);

/*
 * Runs argv to completion, feeding it input (may be NULL) on stdin and
 * capturing stdout and stderr (each capped at 4 MiB; NUL-terminated;
 * out/errout may be NULL to discard).  Kills the child (SIGKILL) after
 * timeout_ms.  *status gets the exit code, 128+signal if killed by a
 * signal, or 124 on timeout.  Returns 0 when the program ran (whatever
 * its status), -1 when it could not be started (err says why, e.g.
 * "docker: command not found").
 */
int	 util_run(char *const argv[], char *const envp[], const char *input,
	    size_t inlen, char **out, char **errout, int timeout_ms,
	    int *status, char *err, size_t errlen);

/* Sets FD_CLOEXEC / O_NONBLOCK.  Return 0 or -1. */
int	 util_set_cloexec(int fd);
int	 util_set_nonblock(int fd);

/* ---- files ---------------------------------------------------------- */

/* $MOAT_HOME, else $HOME/.moat.  Returns 0 or -1 (err filled). */
int	 util_moat_home(char *buf, size_t len, char *err, size_t errlen);
/* mkdir -p with mode for every component created.  0 or -1 (errno). */
int	 util_mkdir_p(const char *path, mode_t mode);
/*
 * Writes data to path atomically: a temporary file in the same directory
 * created with mode, written, fsync'd, renamed over path, directory
 * fsync'd.  On failure nothing is left behind.  0 or -1 (err filled).
 */
int	 util_write_atomic(const char *path, const void *data, size_t len,
	    mode_t mode, char *err, size_t errlen);
/*
 * Reads a whole file of at most max bytes into a malloc'd buffer (with a
 * NUL after the data).  -1 with errno (EFBIG when larger than max).
 */
int	 util_read_file(const char *path, size_t max, char **data,
	    size_t *len);
/*
 * Refuses a file or directory that group or others can read or write
 * (as ssh does), or that another user owns: returns -1 with a message
 * that names the file and says how to fix it ("chmod 600 FILE").
 */
int	 util_check_private(const char *path, int is_dir, char *err,
	    size_t errlen);

/* ---- host names and host patterns ----------------------------------- */

#define HOST_MAX	255

/*
 * Normalises a host name or IP literal into out (lowercase, one trailing
 * dot removed, IPv6 without brackets in canonical inet_ntop form).
 * Refuses empty names, labels over 63 bytes, names over 253, and any
 * byte outside [a-z0-9-_.]; "a..b", a leading dot.  0 or -1.
 * Idempotent: normalising the output gives the same output.
 */
int	 host_normalize(const char *in, size_t inlen, char *out,
	    size_t outlen);

/* 4 or 6 when host (already normalised) is an IP literal, else 0. */
int	 host_ip_family(const char *host);

/*
 * Parses an authority "host:port" strictly (IPv6 literal in brackets;
 * the port required when need_port, else defaulting to default_port;
 * port 1..65535, digits only, no userinfo).  host is normalised.
 * 0 or -1.
 */
int	 authority_parse(const char *s, size_t len, int need_port,
	    int default_port, char *host, size_t hostlen, int *port);

/*
 * A host pattern: "api.example.com", "*.example.com" (any depth of
 * subdomain, not the apex), an IP literal ("10.0.0.5", "[::1]"), each
 * with an optional ":port".  Without a port it matches 80 and 443 only.
 */
struct hostpat {
	char	host[HOST_MAX + 1];	/* normalised, without "*." */
	int	wildcard;
	int	port;			/* 0: 80 and 443 */
};

/*
 * Parses a pattern; refuses a scheme, a path, '@', whitespace, a '*'
 * anywhere but a leading "*.", an empty host, a bad port.  err reads like
 * `host pattern "https://x" must not contain a scheme`.  0 or -1.
 */
int	 hostpat_parse(const char *s, struct hostpat *p, char *err,
	    size_t errlen);
/* host must be normalised.  Returns 1 on match, else 0. */
int	 hostpat_match(const struct hostpat *p, const char *host, int port);
/* Writes the pattern back in its textual form. */
void	 hostpat_format(const struct hostpat *p, char *buf, size_t len);

#endif /* MOAT_UTIL_H */
