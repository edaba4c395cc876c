/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accepted.h: the helper of one client of a listening socket (accept() in
 * the application).
 *
 * The listener (listener.h) hands it the client's TCP socket with the
 * application's request; it does the server handshake (the chain by SNI,
 * ALPN, client certificates), and on success makes the application's
 * plaintext connection (app-socket.h), reports to the listener with that
 * connection's application end, and relays until both sides are done.  A
 * client that fails the handshake never reaches the application.
 */
#ifndef SSA_ACCEPTED_H
#define SSA_ACCEPTED_H

#include "job.h"

/* Serve job `j` (an SSA_MSG_ACCEPT request, opened) to its end; takes its
 * socket. */
void accepted_run(struct job *j);

#endif /* SSA_ACCEPTED_H */
