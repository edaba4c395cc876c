/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-result: ssa_result_decode() on any body, then the round trip through
 * ssa_result_encode() and ssa_result_free() (fuzz/result-check.h has the
 * properties).  The input is the body of an SSA_MSG_RESULT: what the shim
 * reads from a helper after connect() and the listener from each client's
 * helper.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "result-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_check_result_body(data, size);
	return 0;
}
