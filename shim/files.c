/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* files.c: the application's files for socket options (files.h). */
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libc.h"
#include "optval.h"

/* Most bytes a trust directory contributes. */
#define TRUST_DIR_MAX (4u << 20)

/*
 * A trust directory, read with the application's permissions: the regular
 * files in it, concatenated into one memfd, so that the helper gets
 * contents and never opens a file itself.  Takes `fd`; returns it unchanged
 * if it is not a directory, the memfd, or -errno.
 */
static int directory_as_file(int fd)
{
	struct stat st;
	struct dirent *d;
	size_t total = 0;
	char buf[65536];
	DIR *dir;
	int out;

	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return fd;
	out = memfd_create("ssa-trust", MFD_CLOEXEC);
	dir = out >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		int e = errno;
		if (out >= 0)
			REAL(close)(out);
		REAL(close)(fd);
		return -e;
	}
	while ((d = readdir(dir)) != NULL) {
		int f = openat(dirfd(dir), d->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		ssize_t n;
		if (f < 0)
			continue;
		if (fstat(f, &st) == 0 && S_ISREG(st.st_mode))
			while ((n = read(f, buf, sizeof buf)) > 0 && total < TRUST_DIR_MAX) {
				if (write(out, buf, (size_t)n) != n)
					break;
				total += (size_t)n;
			}
		REAL(close)(f);
	}
	closedir(dir);
	lseek(out, 0, SEEK_SET);
	return out;
}

int files_set(struct tls_socket *s, int name, const void *optval, socklen_t optlen)
{
	char path[4096];
	int *slot, fd, r;

	if ((r = optval_get_string(optval, optlen, path, sizeof path)) < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		tls_socket_set_error(s, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (name == TLS_TRUSTED_PEER_CERTIFICATES && (fd = directory_as_file(fd)) < 0) {
		tls_socket_set_error(s, "cannot read the directory %s: %s", path, strerror(-fd));
		return fd;
	}
	if (name == TLS_TRUSTED_PEER_CERTIFICATES) {
		slot = &s->trust_fd;
	} else if (name == TLS_PRIVATE_KEY) {
		slot = &s->key_fd[s->n_chains ? s->n_chains - 1 : 0];
	} else if (s->n_chains == SSA_KEY_PAIRS_MAX) {
		REAL(close)(fd);
		tls_socket_set_error(s, "at most %d certificate chains per socket", SSA_KEY_PAIRS_MAX);
		return -ENOBUFS;
	} else {
		slot = &s->chain_fd[s->n_chains++];
	}
	if (*slot >= 0)
		REAL(close)(*slot);
	*slot = fd;
	return 0;
}

int files_check_pairs(struct tls_socket *s)
{
	const char *missing = NULL;

	if (s->n_chains == 0 && s->key_fd[0] >= 0)
		missing = "a key was given before any chain";
	for (int i = 0; i < s->n_chains && !missing; i++)
		if (s->key_fd[i] < 0)
			missing = "a chain was given without its key";
	if (!missing)
		return 0;
	tls_socket_set_error(s, "TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY go together: %s", missing);
	return -EINVAL;
}

size_t files_for_request(const struct tls_socket *s, struct ssa_request *req, int *fds)
{
	size_t n = 0;

	req->trust_file = s->trust_fd >= 0;
	if (req->trust_file)
		fds[n++] = s->trust_fd;
	for (int i = 0; i < s->n_chains; i++) {
		fds[n++] = s->chain_fd[i];
		fds[n++] = s->key_fd[i];
	}
	req->n_pairs = (uint32_t)s->n_chains;
	return n;
}
