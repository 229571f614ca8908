/*
 * Spawning programs without a shell: absolute path, argv array, stdin
 * from /dev/null unless given, every other descriptor closed.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

#define CAPTURE_MAX	(4u << 20)

extern char **environ;

int
util_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

int
util_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

static int
is_exec(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

char *
util_which(const char *name)
{
	const char	*path, *p, *e;
	char		 buf[PATH_MAX];

	if (name == NULL || *name == '\0')
		return NULL;
	if (strchr(name, '/') != NULL)
		return is_exec(name) ? xstrdup(name) : NULL;
	if ((path = getenv("PATH")) == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	for (p = path; ; p = e + 1) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		if (e > p && (size_t)(e - p) + strlen(name) + 2 < sizeof(buf)) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)(e - p), p,
			    name);
			if (is_exec(buf))
				return xstrdup(buf);
		}
		if (*e == '\0')
			break;
	}
	return NULL;
}

/* In the child: only async-signal-safe calls from here on. */
static void
child_setup(int in, int out, int err_fd, int devnull)
{
	int fds[3] = { in, out, err_fd }, i, fd;

	for (i = 0; i < 3; i++) {
		fd = fds[i] == UTIL_FD_NULL ? devnull : fds[i];
		if (fd == UTIL_FD_INHERIT)
			continue;
		if (fd == i) {
			int fl = fcntl(fd, F_GETFD);
			if (fl != -1)
				fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
		} else if (dup2(fd, i) == -1)
			_exit(127);
	}
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	{
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3, ~0U, 0) == 0)
		return;
#endif
	/* no close_range (old kernel, seccomp): every fd is CLOEXEC anyway */
	for (fd = 3; fd < 1024; fd++)
		close(fd);
}

void
util_child_stdio(int in, int out, int err_fd)
{
	int devnull = -1;

	if ((in == UTIL_FD_NULL || out == UTIL_FD_NULL ||
	    err_fd == UTIL_FD_NULL) &&
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		_exit(127);
	child_setup(in, out, err_fd, devnull);
}

/*
 * The inherited environment minus MOAT_PASSPHRASE (it opens every stored
 * credential; no child needs it).  An array of borrowed pointers.
 */
static char **
inherited_env(void)
{
	static const char	  drop[] = "MOAT_PASSPHRASE=";
	char			**env, **ep;
	size_t			  n = 0;

	for (ep = environ; ep != NULL && *ep != NULL; ep++)
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	n = 0;
	for (ep = environ; ep != NULL && *ep != NULL; ep++)
		if (strncmp(*ep, drop, sizeof(drop) - 1) != 0)
			env[n++] = *ep;
	env[n] = NULL;
	return env;
}

pid_t
util_spawn(char *const argv[], char *const envp[], int in, int out,
    int err_fd, char *err, size_t errlen)
{
	char	*path, **env;
	pid_t	 pid;
	int	 devnull;

	if (argv == NULL || argv[0] == NULL) {
		util_errf(err, errlen, "nothing to run");
		return -1;
	}
	if ((path = util_which(argv[0])) == NULL) {
		util_errf(err, errlen, "%s: command not found", argv[0]);
		return -1;
	}
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		util_errf(err, errlen, "/dev/null: %s", strerror(errno));
		free(path);
		return -1;
	}
	env = envp != NULL ? NULL : inherited_env();
	pid = fork();
	if (pid == -1) {
		util_errf(err, errlen, "fork: %s", strerror(errno));
		close(devnull);
		free(path);
		free(env);
		return -1;
	}
	if (pid == 0) {
		child_setup(in, out, err_fd, devnull);
		execve(path, argv, envp != NULL ? envp : env);
		_exit(127);
	}
	close(devnull);
	free(path);
	free(env);
	return pid;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct capture {
	char	*buf;
	size_t	 len, cap;
};

static int
capture_read(int fd, struct capture *c)
{
	char	tmp[16384];
	ssize_t	n;

	n = read(fd, tmp, sizeof(tmp));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	if (c->len < CAPTURE_MAX) {
		size_t take = (size_t)n;
		if (take > CAPTURE_MAX - c->len)
			take = CAPTURE_MAX - c->len;
		if (c->len + take + 1 > c->cap) {
			/* what is captured may be a token (gh auth token) */
			size_t	 ncap = (c->len + take + 1) * 2;
			char	*nb = xmalloc(ncap);

			if (c->buf != NULL) {
				memcpy(nb, c->buf, c->len + 1);
				sodium_memzero(c->buf, c->cap);
				free(c->buf);
			}
			c->buf = nb;
			c->cap = ncap;
		}
		memcpy(c->buf + c->len, tmp, take);
		c->len += take;
		c->buf[c->len] = '\0';
	}
	sodium_memzero(tmp, (size_t)n);
	return 1;
}

int
util_run(char *const argv[], char *const envp[], const char *input,
    size_t inlen, char **out, char **errout, int timeout_ms, int *status,
    char *err, size_t errlen)
{
	int		 pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	int		 perr[2] = { -1, -1 }, ws, r = -1, timed_out = 0;
	struct capture	 co = { NULL, 0, 0 }, ce = { NULL, 0, 0 };
	size_t		 inoff = 0;
	long long	 deadline;
	pid_t		 pid;

	if (out)
		*out = NULL;
	if (errout)
		*errout = NULL;
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1) {
		util_errf(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = util_spawn(argv, envp, pin[0], pout[1], perr[1], err, errlen);
	if (pid == -1)
		goto out;
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	util_set_nonblock(pin[1]);
	if (input == NULL || inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
	while (pout[0] != -1 || perr[0] != -1) {
		struct pollfd	pfd[3];
		int		n = 0, io = -1, ie = -1, ii = -1;
		long long	left = deadline - now_ms();

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (pout[0] != -1) {
			pfd[n].fd = pout[0];
			pfd[n].events = POLLIN;
			io = n++;
		}
		if (perr[0] != -1) {
			pfd[n].fd = perr[0];
			pfd[n].events = POLLIN;
			ie = n++;
		}
		if (pin[1] != -1) {
			pfd[n].fd = pin[1];
			pfd[n].events = POLLOUT;
			ii = n++;
		}
		if (poll(pfd, n, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (io >= 0 && pfd[io].revents &&
		    !capture_read(pout[0], &co)) {
			close(pout[0]);
			pout[0] = -1;
		}
		if (ie >= 0 && pfd[ie].revents &&
		    !capture_read(perr[0], &ce)) {
			close(perr[0]);
			perr[0] = -1;
		}
		if (ii >= 0 && pfd[ii].revents) {
			ssize_t w = write(pin[1], input + inoff, inlen - inoff);
			if (w > 0)
				inoff += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    inoff == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &ws, 0) == -1) {
		if (errno != EINTR) {
			util_errf(err, errlen, "waitpid: %s", strerror(errno));
			goto out;
		}
	}
	if (timed_out)
		*status = 124;
	else if (WIFEXITED(ws))
		*status = WEXITSTATUS(ws);
	else
		*status = 128 + WTERMSIG(ws);
	if (!timed_out && WIFEXITED(ws) && WEXITSTATUS(ws) == 127 &&
	    co.len == 0 && ce.len == 0) {
		util_errf(err, errlen, "%s: could not be executed", argv[0]);
		goto out;
	}
	if (out) {
		*out = co.buf ? co.buf : xstrdup("");
		co.buf = NULL;
	}
	if (errout) {
		*errout = ce.buf ? ce.buf : xstrdup("");
		ce.buf = NULL;
	}
	r = 0;
 out:
	if (co.buf != NULL)
		sodium_memzero(co.buf, co.cap);
	if (ce.buf != NULL)
		sodium_memzero(ce.buf, ce.cap);
	free(co.buf);
	free(ce.buf);
	if (pin[0] != -1) close(pin[0]);
	if (pin[1] != -1) close(pin[1]);
	if (pout[0] != -1) close(pout[0]);
	if (pout[1] != -1) close(pout[1]);
	if (perr[0] != -1) close(perr[0]);
	if (perr[1] != -1) close(perr[1]);
	return r;
}
