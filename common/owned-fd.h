/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * owned-fd.h: a descriptor the shim keeps open in the application's process
 * between calls (a pending resumption channel, a helper started ahead).
 *
 * The application does not know it is there, and may close it by a path the
 * shim does not see (close_range(2), closefrom(3), a daemon closing every
 * descriptor when it detaches), after which the number may name a file of
 * the application's own.  So a kept descriptor carries the identity of its
 * open file (st_dev, st_ino, fstat(2)), and is used or closed only while the
 * number still names that file: never one of the application's.
 */
#ifndef SSA_OWNED_FD_H
#define SSA_OWNED_FD_H

#include <stdbool.h>
#include <sys/types.h>

struct owned_fd {
	int fd;         /* -1: none */
	dev_t dev;
	ino_t ino;
};

#define OWNED_FD_NONE ((struct owned_fd){ .fd = -1 })

/* Take `fd` (ours, open): records its identity.  Returns 0, or -errno of
 * fstat(2), in which case fd is closed and *o is OWNED_FD_NONE. */
int owned_fd_take(struct owned_fd *o, int fd);

/* Whether o->fd is still the file owned_fd_take() recorded. */
bool owned_fd_valid(const struct owned_fd *o);

/* Give the descriptor up: returns it if still ours (the caller owns it
 * now), else -1 (it was closed behind our back: nothing to close).  *o
 * becomes OWNED_FD_NONE. */
int owned_fd_release(struct owned_fd *o);

/* Close the descriptor if it is still ours; *o becomes OWNED_FD_NONE. */
void owned_fd_close(struct owned_fd *o);

#endif /* SSA_OWNED_FD_H */
