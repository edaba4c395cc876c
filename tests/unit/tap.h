/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tap.h: the few lines of TAP (Test Anything Protocol) the C unit tests
 * print, which tests/run-tests counts with the bats suites.
 *
 *   ok(cond, "what it proves %d", ...)   one test line
 *   return tap_done();                   the plan, and the exit status
 */
#ifndef SSA_TAP_H
#define SSA_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_count, tap_failed;

__attribute__((format(printf, 2, 3))) static bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

/* Print the plan; 0 if every test passed, else 1. */
static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif /* SSA_TAP_H */
