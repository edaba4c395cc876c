/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h: the helper that stands behind a listening IPPROTO_TLS socket.
 *
 * After listen() the application's descriptor is one end of a
 * SOCK_SEQPACKET pair (the accept queue); this helper holds the other end
 * and the bound TCP socket.  For each TCP client it obtains a fresh helper
 * (helper-channel.h: the socket-activated service; standalone, a child of
 * its own, forked ahead with GnuTLS loaded (spare.h) instead of a process
 * start) and
 * hands it the client with an SSA_MSG_ACCEPT request; that helper does the
 * handshake on its own, so a slow or silent client delays nobody else.  A
 * helper whose handshake succeeded answers with the application's end of a
 * plaintext connection, which the listener puts in the accept queue as one
 * message: the application's accept() receives it, and poll(2) reports the
 * listening descriptor readable only while such a message waits.
 */
#ifndef SSA_LISTENER_H
#define SSA_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "job.h"

/* Most handshakes under way at once on one listening socket, and most of
 * them for one source (an IPv4 address, an IPv6 /64), so that one source
 * cannot take every slot (SPEC §3). */
#define LISTENER_HANDSHAKES_MAX 128
#define LISTENER_PER_SOURCE_MAX 32
/* Most clients accepted and waiting for a slot (oldest first; each at most
 * handshake-timeout); beyond them clients wait in the kernel's backlog. */
#define LISTENER_WAITING_MAX 512

struct listener_stats {
	uint64_t accepted;  /* handed to the application */
	uint64_t refused;   /* failed the handshake or were refused by policy */
	uint64_t lost;      /* no helper could be reached for them, or none in time */
};

/* Serve the one request on control socket `ctl` (taken), in a child of the
 * listener: what ssa-helper does with a connection (standalone mode). */
typedef void listener_serve_fn(int ctl);

/*
 * Serve job `j` (an SSA_MSG_LISTEN request, opened): check the keys and the
 * policy, report to the application, then serve the listening socket until
 * the application closes its end of the accept queue; one journal entry at
 * the end.  Takes the job's two sockets.
 *
 * Each client gets a helper of its own with an SSA_MSG_ACCEPT request (the
 * application's fields plus its identity) and the files (trust anchors,
 * chains and keys); its verdict is due within the listening socket's
 * handshake-timeout plus a margin.  Standalone (no service installed),
 * `serve_here` serves each client in a forked child, which the kernel
 * reaps (SIGCHLD is ignored); with the service, the service forks them.
 */
void listener_serve(struct job *j, listener_serve_fn *serve_here);

#endif /* SSA_LISTENER_H */
