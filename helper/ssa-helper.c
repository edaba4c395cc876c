/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * ssa-helper: one TLS connection, or one listening socket, on behalf of an
 * application.
 *
 * Started by systemd as ssa-helper.service with the listening socket of
 * ssa-helper.socket (sd_listen_fds(3)): then it is the supervisor
 * (supervisor.h), which forks one helper per connection; or by the shim
 * over a socketpair with --fork-server, which forks one helper per
 * connection of that program, or --standalone, serving one connection.  A
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
#include "policy-watch.h"
#include "spare.h"
#include "ssa-io.h"
#include "supervisor.h"
#include "trust-index.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: ssa-helper              (started by ssa-helper.socket)\n"
		   "       ssa-helper --standalone (started by the shim, connection on fd 3)\n"
		   "       ssa-helper --fork-server (started by the shim, its connections on fd 3)\n"
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

/* Detach from the process that started this helper, so that it has no
 * child to reap, and outlive its process group's signals to finish
 * cleanly.  In the first process: does not return. */
static void detach(void)
{
	pid_t pid = fork();

	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	setsid();
}

/* The fork server's control socket, which its spares close. */
static int fork_server_ctl = -1;

/* In a fork server's spare (spare.h): the shim's socket is the server's,
 * and the helpers a listener forks are reaped by it. */
static void prepare_fork_server_spare(void *user)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)user;
	close(fork_server_ctl);
	policy_watch_forget();
	sigaction(SIGCHLD, &dfl, NULL);
}

/* In a fork server's spare: serve the connection handed over. */
static void serve_fork_server_spare(int conn, const void *context, size_t len, void *user)
{
	(void)context;
	(void)len;
	(void)user;
	serve(conn, NULL, 0, NULL);
}

/*
 * ssa-helper --fork-server (standalone mode, SPEC §5): the helper a process
 * keeps waiting for its connections, on control socket 3.  Each connection
 * arrives as one byte with one descriptor (SCM_RIGHTS): the control socket
 * of that connection, which a child serves as a --standalone helper would.
 * The child was forked before the connection came (spare.h), and the next
 * one is forked while it works: the libraries are loaded and GnuTLS
 * initialized once, and a connection costs neither a program start nor a
 * fork.  Returns (0) when the process closes its end: it exited, or
 * exec'd.  The received descriptors are checked like any other
 * (ssa_recvmsg_fds()): more than one, or a cut message, is dropped.
 */
static int fork_server(int ctl)
{
	/* Children are reaped by the kernel (SA_NOCLDWAIT); each one restores
	 * the default, for the helpers a listener forks. */
	struct sigaction nocldwait = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
	struct spare spare = SPARE_NONE;
	int fd = -1;

	fork_server_ctl = ctl;
	sigaction(SIGCHLD, &nocldwait, NULL);
	/* The policy, parsed here once and watched (policy-watch.h); without
	 * a watch each helper reads it. */
	policy_watch_start();
	for (;;) {
		size_t n_fds = 0;
		char byte;

		/* Forked before the connection it serves arrives (it inherits
		 * none), while the last one works, once it is due (spare.h). */
		struct pollfd p = { .fd = ctl, .events = POLLIN };

		spare_fork_if_due(&spare, prepare_fork_server_spare, serve_fork_server_spare, NULL);
		int ready = poll(&p, 1, spare_poll_timeout(&spare, -1));
		if (ready == 0 || (ready < 0 && errno == EINTR))
			continue; /* the spare is due, or a signal */
		ssize_t n = ssa_recvmsg_fds(ctl, &byte, 1, &fd, 1, &n_fds, 0);
		if (n == -EINTR || n == -EPROTO)
			continue;
		if (n <= 0 && n_fds == 0)
			break;
		if (n_fds != 1)
			continue;
		/* The policy changed since the spare was forked: a new one. */
		if (policy_watch_refresh())
			spare_discard(&spare);
		spare_start(&spare, prepare_fork_server_spare, serve_fork_server_spare, NULL, fd, "C", 1);
		/* If that failed, closing the descriptor tells the shim (an end
		 * of file before the result, ECONNABORTED). */
		close(fd);
	}
	spare_discard(&spare);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "standalone", no_argument, NULL, 's' },
		{ "fork-server", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'c' },
		{ "build-trust-index", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool standalone = false, fork_server_mode = false;
	int opt, fd, listening = 0;
	socklen_t len = sizeof listening;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			standalone = true;
			break;
		case 'f':
			fork_server_mode = true;
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
	if (fork_server_mode) {
		detach();
		return fork_server(3);
	}
	if (standalone) {
		detach();
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
