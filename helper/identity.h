/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * identity.h: who is on the other end of a control socket (SPEC §4, §5).
 *
 * The uid, gid and pid come from SO_PEERCRED, never from a request.  The
 * program is what the kernel reports as /proc/PID/exe of that pid, read
 * while a pidfd (SO_PEERPIDFD, unix(7)) holds the process, so that a
 * recycled pid cannot stand in: the path counts as verified only if the
 * process was still alive after it was read.  Reading another user's
 * /proc/PID/exe needs CAP_SYS_PTRACE (proc(5)), which only the service's
 * supervisor holds; a helper started by the application itself
 * (standalone mode) can verify its own user's programs only.
 */
#ifndef SSA_IDENTITY_H
#define SSA_IDENTITY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "ssa-msg.h"

struct identity {
	struct ucred cred;         /* SO_PEERCRED */
	char exe[SSA_EXE_MAX];     /* the program, or "" if it could not be read */
	bool exe_verified;         /* read from the kernel for the live process */
	bool from_listener;        /* the sender is one of the service's own helpers
	                            * (a listener): its ACCEPT requests name the
	                            * application */
};

/* Fill *id for the peer of connected AF_UNIX socket `fd`: 0, or -errno of
 * SO_PEERCRED (then *id is empty).  An executable that cannot be read
 * leaves exe "" and exe_verified false. */
int identity_of_peer(int fd, struct identity *id);

#endif /* SSA_IDENTITY_H */
