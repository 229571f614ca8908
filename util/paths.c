/* Files under ~/.moat: atomic writes, bounded reads, permission checks. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

int
util_moat_home(char *buf, size_t len, char *err, size_t errlen)
{
	const char *h;
	int n;

	if ((h = getenv("MOAT_HOME")) != NULL && *h != '\0')
		n = snprintf(buf, len, "%s", h);
	else if ((h = getenv("HOME")) != NULL && *h != '\0')
		n = snprintf(buf, len, "%s/.moat", h);
	else {
		util_errf(err, errlen, "neither MOAT_HOME nor HOME is set");
		return -1;
	}
	if (n < 0 || (size_t)n >= len) {
		util_errf(err, errlen, "moat home path is too long");
		return -1;
	}
	return 0;
}

int
util_mkdir_p(const char *path, mode_t mode)
{
	char	buf[PATH_MAX], *p;

	if (strlen(path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
util_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	char		 tmp[PATH_MAX], dir[PATH_MAX], *slash;
	unsigned char	 rnd[8];
	const char	*p = data;
	int		 fd = -1, dfd, r = -1;
	size_t		 off = 0;

	randombytes_buf(rnd, sizeof(rnd));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%02x%02x%02x%02x%02x%02x", path,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]) >= (int)sizeof(tmp)) {
		util_errf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd == -1) {
		util_errf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	} else
		strcpy(dir, ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
 fail:
	util_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return r;
}

/*
 * Grows buf from cap to ncap bytes without leaving the old bytes (which
 * may be a key) behind in freed memory.
 */
static char *
grow_wiped(char *buf, size_t used, size_t cap, size_t ncap)
{
	char *nb = xmalloc(ncap);

	memcpy(nb, buf, used);
	sodium_memzero(buf, cap);
	free(buf);
	return nb;
}

int
util_read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 off = 0, cap;
	int		 fd, saved;

	*data = NULL;
	if (len)
		*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;
		if (off + 1 >= cap) {
			char probe;

			/* Full: at the end of a file of the size fstat said? */
			while ((n = read(fd, &probe, 1)) < 0 && errno == EINTR)
				;
			if (n < 0)
				goto fail;
			if (n == 0)
				break;
			if (cap > max + 1) {
				errno = EFBIG;
				goto fail;
			}
			buf = grow_wiped(buf, off, cap, cap * 2);
			cap *= 2;
			buf[off++] = probe;
			probe = 0;
			if (off > max) {
				errno = EFBIG;
				goto fail;
			}
			continue;
		}
		n = read(fd, buf + off, cap - off - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	buf[off] = '\0';
	close(fd);
	*data = buf;
	if (len)
		*len = off;
	return 0;
 fail:
	saved = errno;
	if (buf) {
		sodium_memzero(buf, cap);
		free(buf);
	}
	close(fd);
	errno = saved;
	return -1;
}

int
util_check_private(const char *path, int is_dir, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == -1) {
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		util_errf(err, errlen, "%s: not a %s", path,
		    is_dir ? "directory" : "regular file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		util_errf(err, errlen, "%s is owned by uid %u, not by you "
		    "(uid %u); refusing to use it", path, (unsigned)st.st_uid,
		    (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		util_errf(err, errlen, "permissions %04o for %s are too open: "
		    "it must not be accessible by group or others; fix with: "
		    "chmod %s %s", (unsigned)(st.st_mode & 07777), path,
		    is_dir ? "700" : "600", path);
		return -1;
	}
	return 0;
}
