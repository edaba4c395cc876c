/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h: the helper that stands behind a listening IPPROTO_TLS socket.
 *
 * After listen() the application's descriptor is one end of a
 * SOCK_SEQPACKET pair (the accept queue); this helper holds the other end
 * and the bound TCP socket.  For each TCP client it obtains a fresh helper
 * (helper-channel.h: the socket-activated service; standalone, a child of
 * its own, forked with GnuTLS loaded instead of a process start) and
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

/* Most handshakes under way at once on one listening socket; clients
 * beyond it wait in the kernel's backlog. */
#define LISTENER_HANDSHAKES_MAX 128

struct listener_stats {
	uint64_t accepted;  /* handed to the application */
	uint64_t refused;   /* failed the handshake or were refused by policy */
	uint64_t lost;      /* no helper could be reached for them */
};

/* Serve the one request on control socket `ctl` (taken), in a child of the
 * listener: what ssa-helper does with a connection (standalone mode). */
typedef void listener_serve_fn(int ctl);

/*
 * Serve the listening socket until the application closes its end of the
 * accept queue.
 *
 * listen_fd:  the application's bound, listening TCP socket
 * queue_fd:   the listener's end of the SOCK_SEQPACKET accept queue
 * request:    the SSA_MSG_ACCEPT message sent to each client's helper (the
 *             application's SSA_MSG_LISTEN fields plus those naming the
 *             application; request_len bytes, the caller's)
 * files:      the trust anchors and chain/key descriptors to pass on with
 *             each client, n_files of them (the caller's)
 *
 * serve_here: standalone (no service installed), how a forked child serves
 *             a client; each is reaped by the kernel (SIGCHLD is ignored)
 *
 * Every descriptor stays the caller's.  Fills *stats.
 */
void listener_run(int listen_fd, int queue_fd, const uint8_t *request, size_t request_len,
		  const int *files, size_t n_files, struct listener_stats *stats, listener_serve_fn *serve_here);

/*
 * Serve job `j` (an SSA_MSG_LISTEN request, opened): check the keys and the
 * policy, report to the application, then listener_run() until the
 * application closes its listening socket; one journal entry at the end.
 * Takes the job's two sockets.  serve_here as for listener_run().
 */
#include "job.h"
void listener_serve(struct job *j, listener_serve_fn *serve_here);

#endif /* SSA_LISTENER_H */
