/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* helper-channel.h: reaching an ssa-helper for one connection. */
#ifndef SSA_HELPER_CHANNEL_H
#define SSA_HELPER_CHANNEL_H

#include <stddef.h>

#include "policy.h"


/*
 * Open a control connection to a fresh helper: connect to the service socket
 * (SSA_HELPER_SOCKET_DEFAULT, policy.h; $SSA_HELPER_SOCKET only where that
 * does not exist, ssa_env_override()); if the socket path does not exist,
 * start the helper ($SSA_HELPER_PATH likewise, or the installed one) over a
 * socketpair (standalone mode).  Returns a blocking AF_UNIX stream socket with
 * FD_CLOEXEC that the caller owns and closes, or -ECANCELED with the reason
 * written to why[0..why_size).
 */
int helper_channel_open(char *why, size_t why_size);

#endif /* SSA_HELPER_CHANNEL_H */
