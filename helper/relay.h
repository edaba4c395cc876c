/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* relay.h: moving plaintext between the application and the TLS session. */
#ifndef SSA_RELAY_H
#define SSA_RELAY_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>

/* After the application's end of file: how long the peer and the
 * application may both be idle before the relay gives up on the peer's
 * close_notify.  Generous, as a server may take its time to answer a
 * half-closed request. */
#define RELAY_CLOSE_NOTIFY_IDLE_S 60
/* How long a peer may take none of the application's data. */
#define RELAY_PEER_STALL_S 300

struct relay_result {
	uint64_t bytes_to_peer;   /* plaintext the application sent */
	uint64_t bytes_to_app;    /* plaintext the peer sent */
	const char *end;          /* how it ended, for the journal */
	bool error;               /* ended abnormally (truncation, reset, timeout) */
};

/*
 * Relay plaintext both ways between `app_fd` (the application's connected
 * loopback socket) and the TLS `session` over `net_fd`, until both sides are
 * done.  Both descriptors are made non-blocking and stay the caller's.
 * The caller has armed the reset of app_fd (loopback_arm_reset()), so that
 * the helper's death reads as ECONNRESET in the application; the relay
 * disarms it when both sides ended cleanly, and leaves it armed otherwise.
 *
 * - The application's end of file (close() or shutdown(SHUT_WR)) sends
 *   close_notify after all its data (RFC 8446 §6.1), then the peer's data
 *   keeps flowing until its close_notify, or until neither the peer nor the
 *   application (reading) moved for RELAY_CLOSE_NOTIFY_IDLE_S seconds: then the
 *   application's connection is reset (ECONNRESET), never ended as if the
 *   peer had finished.
 * - A peer that takes none of the application's data for RELAY_PEER_STALL_S seconds
 *   ends the relay with a reset: the application may have closed long ago,
 *   its FIN queued behind that data where the helper cannot see it.
 * - An abortive close of the application (RST) ends the relay without
 *   close_notify, so the peer cannot mistake a cut-off stream for a whole.
 * - The peer's close_notify reads as end of file in the application.
 * - The peer closing TCP without close_notify resets the application's
 *   connection (ECONNRESET there) once the data before it was delivered,
 *   unless `truncation_eof`, which makes it an end of file.
 */
void relay_run(gnutls_session_t session, int net_fd, int app_fd, bool truncation_eof,
	       struct relay_result *result);

#endif /* SSA_RELAY_H */
