/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* helper-channel.h: reaching an ssa-helper for one connection. */
#ifndef SSA_HELPER_CHANNEL_H
#define SSA_HELPER_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/*
 * Whether the service is installed: its socket (SSA_HELPER_SOCKET_DEFAULT,
 * or $SSA_HELPER_SOCKET as helper_channel_open() reads it) exists, or cannot
 * be looked at.  Otherwise the mode is standalone (SPEC §5).
 */
bool helper_channel_service_installed(void);

/*
 * Open a control connection to a fresh helper: connect to the service socket
 * (SSA_HELPER_SOCKET_DEFAULT, policy.h; $SSA_HELPER_SOCKET only where that
 * does not exist, ssa_env_override()); if the socket path does not exist,
 * get a helper ($SSA_HELPER_PATH likewise, or the installed one) over a
 * socketpair from this process's waiting helper, or start one (standalone
 * mode, helper_channel_replenish()).  Returns a blocking AF_UNIX stream socket with
 * FD_CLOEXEC that the caller owns and closes, or -ECANCELED with the reason
 * written to why[0..why_size).
 */
int helper_channel_open(char *why, size_t why_size);

/*
 * Standalone mode (SPEC §5): make sure this process has its waiting helper
 * (ssa-helper --fork-server), which forks one helper per connection, so
 * that a connect() waits for a fork and not for a program start;
 * helper_channel_open() uses it (if it would start the same helper with
 * the same policy directory, else it starts the right one) and starts a
 * --standalone helper for the connection if it cannot.  The waiting helper
 * exits when this process closes its end (it exits itself, or execs).
 * Nothing with the service installed.  Thread-safe; a child after fork(2)
 * has no waiting helper of its own until it connects.
 */
void helper_channel_replenish(void);

#endif /* SSA_HELPER_CHANNEL_H */
