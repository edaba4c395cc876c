/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hold.h: the helper's half of the hold on the application's socket during
 * connect() (shim/hold.h has the mechanism and its ordering rules).
 *
 * The shim hands over the application's socket and the other end of its
 * loopback connection (the "end"), with the number of filler bytes it wrote
 * to keep the socket from turning writable.  The helper:
 *
 *   1. hold_take(): checks that the two really are the ends of one TCP
 *      connection and arms the reset, so that its own death (SIGKILL
 *      included) resets the connection: the application then sees the
 *      socket readable and writable and never a clean end of file;
 *   2. then, when the attempt is over and before it sends its verdict:
 *      hold_release() on success (the end then carries plaintext), or
 *      hold_reset() on failure;
 *   3. closes its copy of the application's socket at once, so that the
 *      application's close() reaches the end;
 *   4. at the clean end of the relay, disarms the reset before closing the
 *      end (relay.h), so that the application reads its end of file.
 */
#ifndef SSA_HELPER_HOLD_H
#define SSA_HELPER_HOLD_H

#include <stdint.h>

/*
 * Check that `app` and `end` are TCP sockets connected to each other and
 * arm the reset of `end` (loopback_arm_reset()).  Returns 0, or -EPROTO (descriptors of another kind: they
 * are hostile input).  Both stay the caller's.
 */
int hold_take(int app, int end);

/*
 * The attempt succeeded: read exactly `filler` bytes from `end` (what the
 * application writes next follows them) and set TCP_NOTSENT_LOWAT on `app`
 * back to `lowat`, the application's own value; the socket then turns
 * writable.  Waits until `deadline_ms` at most.  Returns 0, -ECONNRESET
 * (the application closed or reset its socket), -ETIMEDOUT, or -errno.
 */
int hold_release(int app, int end, uint32_t filler, int lowat, int64_t deadline_ms);

/* The attempt failed: reset the connection (the socket turns readable and
 * writable, with ECONNRESET pending) and close `end`. */
void hold_reset(int end);

#endif /* SSA_HELPER_HOLD_H */
