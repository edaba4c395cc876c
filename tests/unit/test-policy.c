/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-policy: the policy reader (common/policy.h): files in lexical order,
 * later keys override, precedence defaults < app < host, exact host before
 * the longest wildcard, defaults for unset keys, and errors naming file,
 * line and key.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "in_tls.h"
#include "policy.h"
#include "tap.h"

static char dir[] = "/tmp/ssa-test-policy.XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void remove_files(void)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -f %s/*", dir);
	if (system(cmd) != 0)
		exit(2);
}

/* Load dir and resolve: 0, or the loader's error (message in *error). */
static int resolve(const char *exe, const char *host, struct policy *p, char *applied, char **error)
{
	struct policy_set *set;
	int r = policy_set_load(dir, &set, error);

	if (r < 0)
		return r;
	policy_resolve(set, exe, host, NULL, p, applied, 256);
	policy_set_free(set);
	return 0;
}

int main(void)
{
	bool refused;
	struct policy p;
	char applied[256], *error = NULL;

	if (!mkdtemp(dir))
		return 2;

	ok(resolve(NULL, NULL, &p, applied, &error) == 0 && p.min_version == TLS_1_2 && p.max_version == TLS_1_3 &&
		   p.allow && p.session_resumption && p.connect_timeout == 10 && p.handshake_timeout == 10 &&
		   !p.truncation_eof && p.ocsp_stapling == POLICY_OCSP_VERIFY && strcmp(p.trust_store, "system") == 0,
	   "an empty directory gives the compiled-in defaults of SPEC §4");

	write_file("10-base.ini", "[defaults]\nmin-version = 1.3\nhandshake-timeout = 5\n"
				  "[app /usr/bin/app]\nallow = no\nconnect-timeout = 7\n"
				  "[host *.example.test]\ntruncation = eof\n"
				  "[host a.example.test]\nallow = yes\n"
				  "[host *.b.example.test]\nhandshake-timeout = 2\n");
	write_file("20-later.ini", "[defaults]\nhandshake-timeout = 6\n");
	write_file("ignored.conf", "this is not an ini file at all\n");
	ok(resolve("/usr/bin/other", "other.test", &p, applied, &error) == 0 && p.min_version == TLS_1_3 &&
		   p.handshake_timeout == 6 && p.allow,
	   "a later file overrides a key of the same section and keeps the others; only *.ini counts");
	ok(resolve("/usr/bin/app", "other.test", &p, applied, &error) == 0 && !p.allow && p.connect_timeout == 7 &&
		   strstr(applied, "app /usr/bin/app"),
	   "[app] applies to its program (applied: %s)", applied);
	ok(resolve("/usr/bin/app", "a.example.test", &p, applied, &error) == 0 && p.allow && p.connect_timeout == 7,
	   "[host] wins over [app]: the exact host allows what the app section denies");
	ok(resolve(NULL, "c.example.test", &p, applied, &error) == 0 && p.truncation_eof &&
		   p.handshake_timeout == 6,
	   "a wildcard host section covers a name under it");
	ok(resolve(NULL, "x.b.example.test", &p, applied, &error) == 0 && p.handshake_timeout == 2 &&
		   !p.truncation_eof,
	   "the longest wildcard wins over a shorter one");
	ok(resolve(NULL, "example.test", &p, applied, &error) == 0 && !p.truncation_eof,
	   "*.example.test does not cover example.test itself");

	remove_files();
	write_file("a.ini", "[defaults]\nmin-version = 1.2\n");
	write_file("b.ini", "[defaults]\n\nbogus-key = 1\n");
	refused = resolve(NULL, NULL, &p, applied, &error) == -EINVAL && error && strstr(error, "b.ini") &&
		   strstr(error, ":3") && strstr(error, "bogus-key");
	ok(refused,
	   "an unknown key: an error naming file, line and key (%s)", error ? error : "");
	free(error);
	error = NULL;

	remove_files();
	write_file("a.ini", "[defaults]\nmax-version = 1.4\n");
	refused = resolve(NULL, NULL, &p, applied, &error) == -EINVAL && error && strstr(error, "max-version") &&
		   strstr(error, "1.4");
	ok(refused,
	   "a bad value names the key and the value (%s)", error ? error : "");
	free(error);
	error = NULL;

	remove_files();
	write_file("a.ini", "[defaults]\npin = sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
	refused = resolve(NULL, NULL, &p, applied, &error) == -EINVAL && error && strstr(error, "[host");
	ok(refused,
	   "a pin outside a [host] section is refused (%s)", error ? error : "");
	free(error);
	error = NULL;

	remove_files();
	rmdir(dir);
	return tap_done();
}
