/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.h: the helper of one client connection (connect() in the
 * application).
 *
 * It connects to the peer, does the handshake and validation within the
 * policy, releases the application's held socket (hold.h) or resets it,
 * reports the verdict, and relays plaintext over the hold's end until both
 * sides are done (relay.h).  One journal entry at the end.
 */
#ifndef SSA_CLIENT_H
#define SSA_CLIENT_H

#include "job.h"

/* Serve job `j` (an SSA_MSG_CONNECT request, opened) to its end; takes its
 * two sockets. */
void client_run(struct job *j);

#endif /* SSA_CLIENT_H */
