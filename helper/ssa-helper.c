/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * ssa-helper: one TLS connection, or one listening socket, on behalf of an
 * application.
 *
 * Started by systemd for each connection to ssa-helper.socket (the
 * connection is fd 3, sd_listen_fds(3)), or by the shim over a socketpair
 * with --standalone.  main() only finds its control socket, takes the
 * request (job.h) and hands it to the role it asks for:
 *
 *   SSA_MSG_CONNECT  client.h: connect, handshake and validate, release the
 *                    application's held socket, relay;
 *   SSA_MSG_LISTEN   listener.h: check the keys, then stand behind the
 *                    listening socket, one more helper per client;
 *   SSA_MSG_ACCEPT   accepted.h: one client of a listening socket.
 *
 * Each role writes one journal entry (journal.h).
 */
#include <getopt.h>
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

static void usage(FILE *f)
{
	fprintf(f, "Usage: ssa-helper              (started by ssa-helper.socket)\n"
		   "       ssa-helper --standalone (started by the shim, connection on fd 3)\n"
		   "       ssa-helper --check-config [DIR]\n"
		   "See ssa-helper(8).\n");
}

/* A request that could not be taken: refuse it, and say so. */
static void refuse(struct job *j, int e)
{
	static const char *const roles[] = { [SSA_MSG_CONNECT] = "client", [SSA_MSG_LISTEN] = "listener",
					     [SSA_MSG_ACCEPT] = "server" };
	struct journal_entry log = { .role = roles[j->req.kind] ? roles[j->req.kind] : "client" };

	log.err = job_fail(j, e);
	journal_log(j, &log);
}

/* The control socket: fd 3 in standalone mode (after detaching), or the
 * one systemd passes; -1 for a wrong start. */
static int control_socket(bool standalone)
{
	if (standalone) {
		/* Detach so that the application has no child to reap, and
		 * outlives its process group's signals to finish cleanly. */
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid > 0)
			_exit(0);
		setsid();
		return 3;
	}
	return sd_listen_fds(1) == 1 ? SD_LISTEN_FDS_START : -1;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "standalone", no_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct job job;
	bool standalone = false;
	int opt, ctl, r;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			standalone = true;
			break;
		case 'c':
			return check_config(optind < argc ? argv[optind] : policy_dir());
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
	if ((ctl = control_socket(standalone)) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r = job_open(&job, ctl);
	if (r < 0)
		refuse(&job, r);
	else if (job.req.kind == SSA_MSG_LISTEN)
		listener_serve(&job);
	else if (job.req.kind == SSA_MSG_ACCEPT)
		accepted_run(&job);
	else
		client_run(&job);
	job_free(&job);
	return 0;
}
