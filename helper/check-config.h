/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check-config.h: `ssa-helper --check-config [DIR]` (ssa-helper(8)). */
#ifndef SSA_CHECK_CONFIG_H
#define SSA_CHECK_CONFIG_H

/*
 * Check every *.ini of `dir` (syntax, sections, keys, values, the first
 * error with file and line) and then the merged policy of every section
 * (versions that leave nothing, a priority string GnuTLS refuses, a trust
 * store that is not there).  Prints the effective policy and returns 0, or
 * prints the problems to stderr and returns 1 (the exit status).
 */
int check_config(const char *dir);

#endif /* SSA_CHECK_CONFIG_H */
