/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * ssa-helper: one TLS connection, or one listening socket, on behalf of an
 * application.
 *
 * Started by systemd as ssa-helper.service with the listening socket of
 * ssa-helper.socket (sd_listen_fds(3)): then it is the supervisor
 * (supervisor.h), which forks one helper per connection; or by the shim
 * over a socketpair with --standalone, serving that one connection.  A
 * helper takes the request (job.h) and hands it to the role it asks for:
 *
 *   SSA_MSG_CONNECT  client.h: connect, handshake and validate, release the
 *                    application's held socket, relay;
 *   SSA_MSG_LISTEN   listener.h: check the keys, then stand behind the
 *                    listening socket, one more helper per client;
 *   SSA_MSG_ACCEPT   accepted.h: one client of a listening socket.
 *
 * Each role writes one journal entry (journal.h).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "accepted.h"
#include "check-config.h"
#include "client.h"
#include "job.h"
#include "journal.h"
#include "listener.h"
#include "supervisor.h"
#include "trust-index.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: ssa-helper              (started by ssa-helper.socket)\n"
		   "       ssa-helper --standalone (started by the shim, connection on fd 3)\n"
		   "       ssa-helper --check-config [DIR]\n"
		   "       ssa-helper --build-trust-index [FILE]\n"
		   "See ssa-helper(8).\n");
}

/* ssa-helper --build-trust-index [FILE]: index the system trust bundle
 * into FILE (default: the index the helpers read); 0, or 1 and why. */
static int build_trust_index(const char *out)
{
	const char *bundle = trust_bundle_path();
	char why[512];
	unsigned n = 0;

	if (!out)
		out = trust_index_path();
	if (trust_index_build(bundle, out, &n, why, sizeof why) < 0) {
		fprintf(stderr, "ssa-helper: no trust index written: %s\n", why);
		return 1;
	}
	printf("ssa-helper: %s: %u trust anchors of %s\n", out, n, bundle);
	return 0;
}

/* A request that could not be taken: refuse it, and say so. */
static void refuse_job(struct job *j, int e)
{
	static const char *const roles[] = { [SSA_MSG_CONNECT] = "client", [SSA_MSG_LISTEN] = "listener",
					     [SSA_MSG_ACCEPT] = "server" };
	struct journal_entry log = { .role = roles[j->req.kind] ? roles[j->req.kind] : "client" };

	log.err = job_fail(j, e);
	journal_log(j, &log);
}

static void serve(int ctl, const struct identity *id, int refuse, const char *why);

/* A client of a standalone listener, in a child of it (listener.h), which
 * never returns to the listener: serve() may take over its job. */
static void serve_client(int ctl)
{
	serve(ctl, NULL, 0, NULL);
}

/* Serve the one request on control socket `ctl` (identity.h: `id` as the
 * supervisor verified it, or NULL to read it here); with `refuse`, refuse
 * it with that errno and `why`. */
static void serve(int ctl, const struct identity *id, int refuse, const char *why)
{
	static struct job job;
	int r;

	r = job_open(&job, ctl, id);
	if (r == 0 && refuse) {
		snprintf(job.reason, sizeof job.reason, "%s", why);
		r = -refuse;
	}
	if (r < 0)
		refuse_job(&job, r);
	else if (job.req.kind == SSA_MSG_LISTEN)
		listener_serve(&job, serve_client);
	else if (job.req.kind == SSA_MSG_ACCEPT)
		accepted_run(&job);
	else
		client_run(&job);
	job_free(&job);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "standalone", no_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'c' },
		{ "build-trust-index", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool standalone = false;
	int opt, fd, listening = 0;
	socklen_t len = sizeof listening;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			standalone = true;
			break;
		case 'c':
			return check_config(optind < argc ? argv[optind] : policy_dir());
		case 'b':
			return build_trust_index(optind < argc ? argv[optind] : NULL);
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ssa-helper %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (standalone) {
		/* Detach so that the application has no child to reap, and
		 * outlives its process group's signals to finish cleanly. */
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0)
			_exit(0);
		setsid();
		/* Started ahead of its connection, this helper may wait long for
		 * it; a program that exits without one closes the socket. */
		struct pollfd p = { .fd = 3, .events = POLLIN };
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		if (!(p.revents & POLLIN) || recv(3, &(char){ 0 }, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
			return 0;
		serve(3, NULL, 0, NULL);
		return 0;
	}
	if (sd_listen_fds(1) != 1) {
		usage(stderr);
		return 2;
	}
	fd = SD_LISTEN_FDS_START;
	/* ssa-helper.socket passes its listening socket (Accept=no): the
	 * supervisor.  An Accept=yes socket passes one connection. */
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
		return supervisor_run(fd, argv, serve);
	serve(fd, NULL, 0, NULL);
	return 0;
}
