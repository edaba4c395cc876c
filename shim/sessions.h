/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sessions.h: the client's resumption data, kept in the application's
 * memory (SPEC §2).
 *
 * A helper sends resumption data (SSA_MSG_SESSION) on its control socket
 * after its verdict: a TLS 1.2 session at once, a TLS 1.3 ticket when it
 * arrives after the handshake.  After a successful connect() the shim keeps
 * that control socket as a pending channel; before each connect() it reads
 * whatever data came (never waiting), and keeps the newest per key:
 * TLS_CONTEXT, host name and port.  The data is opaque here: the helper
 * binds it to the effective policy and the options, and offers it only if
 * those are unchanged.  Nothing is written to disk or shared with another
 * process: a child after fork(2) starts with an empty cache.
 *
 * Bounded: SESSIONS_MAX keys (the least recently used goes) and
 * CHANNELS_MAX pending channels (the oldest is closed).  Thread-safe.
 */
#ifndef SSA_SHIM_SESSIONS_H
#define SSA_SHIM_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#define SESSIONS_MAX 64
#define CHANNELS_MAX 64

/* What a cache entry is for. */
struct session_key {
	uint64_t context;        /* TLS_CONTEXT */
	char host[256];          /* TLS_HOSTNAME (canonical or not: as given) */
	uint16_t port;           /* host byte order */
};

/* Keep control socket `ctl` (taken) as a pending channel for `key`; its
 * helper's connection started at `since_ms` (ssa_now_ms()), and no data it
 * sends is older. */
void sessions_adopt(int ctl, const struct session_key *key, int64_t since_ms);

/* The newest data for `key`, at most `max_age_s` seconds old (0: any age;
 * the age counts from the connect() whose helper sent the data, as the
 * shim cannot know when that helper got it):
 * a malloc'd copy (*len bytes, the caller frees it), or NULL.  Reads the
 * pending channels first. */
uint8_t *sessions_find(const struct session_key *key, unsigned max_age_s, size_t *len);

#endif /* SSA_SHIM_SESSIONS_H */
