/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* supervisor.c: the service's supervisor (supervisor.h). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "job.h"
#include "policy.h"
#include "policy-watch.h"
#include "spare.h"
#include "ssa-io.h"
#include "trust-anchors.h"
#include "trust-index.h"

/* How long the service stays without a connection or a child before it
 * exits (systemd starts it again on the next connection). */
#define IDLE_EXIT_MS (120 * 1000)
/* Connections taken per wake-up, so that signals are not starved. */
#define ACCEPT_BATCH 64
/* Where the system's trust anchors live without a configured bundle
 * (Debian's ca-certificates). */
#define SYSTEM_TRUST_DIR "/etc/ssl/certs"

/* A live helper, and the uid it counts for (or -1: not counted). */
struct child {
	pid_t pid;
	long uid;
};

static struct {
	int listen_fd, sig_fd, inotify_fd;
	char **argv;
	supervisor_serve_fn *serve;
	struct child *children;      /* helpers serving a connection */
	size_t n_children, cap_children;
	struct spare spare;          /* the next connection's helper (spare.h) */
	char self[4096];             /* this program, as /proc/self/exe says */
	struct policy_set *set;
	char *error;                 /* why the policy is broken, or NULL */
	unsigned user_limit;         /* user-connection-limit */
	int64_t idle_since;          /* ssa_now_ms() of the last activity */
	bool reexec;                 /* a child died by a signal */
} sv;

static void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_warning(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", LOG_WARNING, "SYSLOG_IDENTIFIER=ssa-helper", NULL);
}

/* --- the policy, loaded once ------------------------------------------------ */

/* Collect the trust stores the policy's sections name, and load each. */
static int preload_store(const char *section, const struct policy *p, void *user)
{
	char why[512];

	(void)section;
	(void)user;
	if (trust_anchors_preload(p->trust_store, why, sizeof why) < 0)
		log_warning("ssa-helper: %s (connections that use it will fail and say why)", why);
	return 0;
}

/* Watch what the policy depends on: its directory, and the directories of
 * its trust stores. */
static int watch_store(const char *section, const struct policy *p, void *user)
{
	char dir[4096], *slash;

	(void)section;
	(void)user;
	if (strcmp(p->trust_store, "system") == 0)
		return 0;
	snprintf(dir, sizeof dir, "%s", p->trust_store);
	inotify_add_watch(sv.inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_ATTRIB);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		inotify_add_watch(sv.inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE);
	}
	return 0;
}

/* Watch the directory of the system trust bundle (trust-index.h). */
static void watch_system_trust(void)
{
	char dir[4096], *slash;

	snprintf(dir, sizeof dir, "%s", trust_bundle_path()[0] ? trust_bundle_path() : SYSTEM_TRUST_DIR "/");
	if ((slash = strrchr(dir, '/')) && slash != dir)
		*slash = '\0';
	inotify_add_watch(sv.inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE);
}

static void keep_spare(bool now);

/* Load policy and anchors, replacing the current ones only whole, and
 * fork the next connection's helper with them. */
static void load_policy(void)
{
	struct policy_set *set = NULL;
	struct policy defaults;
	char *error = NULL;
	int r, wd;

	sd_notify(0, "RELOADING=1\nSTATUS=Loading the policy");
	/* The spare holds the old policy. */
	spare_discard(&sv.spare);
	r = policy_set_load(policy_dir(), &set, &error);
	policy_set_free(sv.set);
	free(sv.error);
	trust_anchors_preload_free();
	sv.set = r == 0 ? set : NULL;
	sv.error = r == 0 ? NULL : (error ? error : strdup(strerror(-r)));
	job_preload_policy(sv.set, sv.error);
	/* Watches again from scratch: the files may be new ones. */
	close(sv.inotify_fd);
	sv.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	wd = inotify_add_watch(sv.inotify_fd, policy_dir(), POLICY_WATCH_EVENTS);
	watch_system_trust();
	if (sv.set) {
		policy_set_foreach(sv.set, preload_store, NULL);
		policy_set_foreach(sv.set, watch_store, NULL);
		policy_resolve(sv.set, NULL, NULL, NULL, &defaults, NULL, 0);
		sv.user_limit = defaults.user_connection_limit;
		sd_notify(0, "READY=1\nSTATUS=Serving");
	} else {
		log_warning("ssa-helper: the SSA policy is broken, refusing every connection until it is fixed: %s",
			    sv.error);
		sd_notify(0, "READY=1\nSTATUS=The policy is broken: refusing every connection");
	}
	if (wd < 0)
		log_warning("ssa-helper: cannot watch %s for changes: %s (systemctl reload still works)", policy_dir(),
			    strerror(errno));
	keep_spare(true);
}

/* --- children -------------------------------------------------------------- */

/* Live helpers counted for uid. */
static unsigned live_for(uid_t uid)
{
	unsigned n = 0;

	for (size_t i = 0; i < sv.n_children; i++)
		n += sv.children[i].uid == (long)uid;
	return n;
}

static void remember(pid_t pid, long uid)
{
	if (sv.n_children == sv.cap_children) {
		size_t cap = sv.cap_children ? 2 * sv.cap_children : 256;
		struct child *c = reallocarray(sv.children, cap, sizeof *c);
		if (!c)
			return; /* not counted: better than refusing */
		sv.children = c;
		sv.cap_children = cap;
	}
	sv.children[sv.n_children++] = (struct child){ .pid = pid, .uid = uid };
}

static void forget(pid_t pid)
{
	for (size_t i = 0; i < sv.n_children; i++)
		if (sv.children[i].pid == pid) {
			sv.children[i] = sv.children[--sv.n_children];
			break;
		}
}

static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool spare = spare_exited(&sv.spare, pid);
		forget(pid);
		if (WIFSIGNALED(status)) {
			log_warning("ssa-helper: %s %d died by signal %d (%s); the service starts afresh",
				    spare ? "waiting helper" : "helper", (int)pid, WTERMSIG(status),
				    strsignal(WTERMSIG(status)));
			sv.reexec = true;
		}
	}
	sv.idle_since = ssa_now_ms();
}

/* In a child: give up every capability and the right to be traced or
 * dumped, before any byte from the client is read. */
static void drop_privileges(void)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &head, data) < 0)
		_exit(1);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* The sender is one of this service's own helpers (its listeners ask for
 * their clients' helpers): the service's user, running this program, as
 * the kernel says.  Only systemd starts processes as the service's user. */
static bool is_own_helper(const struct identity *id)
{
	return id->cred.uid == geteuid() && id->exe_verified && strcmp(id->exe, sv.self) == 0;
}

/* What a helper is handed with its connection. */
struct handover {
	struct identity id;
	int refuse;
	char why[256];
};
_Static_assert(sizeof(struct handover) <= SPARE_CONTEXT_MAX, "a handover fits one spare message");

/* In the spare, right after fork(2): keep nothing of the supervisor's but
 * what serving needs, and no privilege. */
static void prepare_spare(void *user)
{
	sigset_t none;

	(void)user;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close(sv.listen_fd);
	close(sv.sig_fd);
	close(sv.inotify_fd);
	drop_privileges();
}

/* In the spare, with its connection: serve it. */
static void serve_handover(int conn, const void *context, size_t len, void *user)
{
	struct handover h;

	(void)user;
	if (len != sizeof h)
		return;
	memcpy(&h, context, sizeof h);
	sv.serve(conn, &h.id, h.refuse, h.why);
}

/* Fork the next connection's helper if there is none waiting: `now`, or
 * once it is due (spare.h: not right after a hand-over). */
static void keep_spare(bool now)
{
	int r = now ? spare_fork(&sv.spare, prepare_spare, serve_handover, NULL)
		    : spare_fork_if_due(&sv.spare, prepare_spare, serve_handover, NULL);

	if (r < 0)
		log_warning("ssa-helper: cannot start a helper: %s", strerror(-r));
}

/* Hand connection `conn` to the waiting helper (spare.h), and remember it
 * as counted for uid `counted` (or -1).  Closes `conn`. */
static void start_helper(int conn, const struct handover *h, long counted)
{
	/* A spare that died since it was forked is reaped as any child. */
	pid_t pid = spare_start(&sv.spare, prepare_spare, serve_handover, NULL, conn, h, sizeof *h);

	close(conn); /* the helper's copy only: its exit ends the connection */
	if (pid > 0)
		remember(pid, counted);
	else
		log_warning("ssa-helper: cannot start a helper: %s", strerror((int)-pid));
}

/* Take connection `conn`: verify the client, count it, and have a helper
 * serve it (or refuse it, over the user's limit). */
static void take_connection(int conn)
{
	struct handover h = { .refuse = 0 };
	long counted;

	if (identity_of_peer(conn, &h.id) < 0) {
		close(conn);
		return;
	}
	h.id.from_listener = is_own_helper(&h.id);
	/* The service's own listeners ask for their clients' helpers: those
	 * count for the listener, already counted. */
	counted = h.id.cred.uid == geteuid() ? -1 : (long)h.id.cred.uid;
	if (counted >= 0 && sv.user_limit && live_for(h.id.cred.uid) >= sv.user_limit) {
		h.refuse = ENOBUFS;
		snprintf(h.why, sizeof h.why, "uid %u already holds %u live TLS connections and listening sockets "
			 "(user-connection-limit)", (unsigned)h.id.cred.uid, sv.user_limit);
		log_warning("ssa-helper: %s: refused a connection of pid %d", h.why, (int)h.id.cred.pid);
		counted = -1;
	}
	start_helper(conn, &h, counted);
}

/* --- the loop -------------------------------------------------------------- */

static void accept_clients(void)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		/* The next connection's helper, forked before it is accepted
		 * (so it inherits no connection), while the last one works. */
		keep_spare(false);
		int conn = accept4(sv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			return;
		sv.idle_since = ssa_now_ms();
		take_connection(conn);
	}
}

/* Execute this program again with the listening socket (sd_listen_fds(3)):
 * children stay ours, and the new image reaps them. */
static void reexecute(void)
{
	char pid[32];

	sd_notify(0, "RELOADING=1\nSTATUS=Starting afresh");
	spare_discard(&sv.spare);
	if (sv.listen_fd != SD_LISTEN_FDS_START) {
		dup2(sv.listen_fd, SD_LISTEN_FDS_START);
		sv.listen_fd = SD_LISTEN_FDS_START;
	}
	fcntl(sv.listen_fd, F_SETFD, 0);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	/* The binary by its name (exec of /proc/self/exe would name the
	 * process "exe"). */
	if (sv.self[0])
		execv(sv.self, sv.argv);
	log_warning("ssa-helper: cannot execute itself again: %m; going on");
	fcntl(sv.listen_fd, F_SETFD, FD_CLOEXEC);
	sv.reexec = false;
}

/* Drain the signal descriptor: false when told to stop. */
static bool handle_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sv.sig_fd, &si, sizeof si) == sizeof si) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGHUP:
			load_policy();
			break;
		default:
			return false;
		}
	}
	return true;
}

static void handle_changes(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;

	while (read(sv.inotify_fd, buf, sizeof buf) > 0)
		changed = true;
	if (changed)
		load_policy();
}

int supervisor_run(int listen_fd, char **argv, supervisor_serve_fn *serve)
{
	sigset_t mask;
	ssize_t n;

	sv.listen_fd = listen_fd;
	sv.argv = argv;
	sv.serve = serve;
	sv.inotify_fd = -1;
	sv.spare = SPARE_NONE;
	n = readlink("/proc/self/exe", sv.self, sizeof sv.self - 1);
	sv.self[n > 0 ? n : 0] = '\0';
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sv.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
	gnutls_global_init();
	load_policy();
	reap(); /* children of an image before an exec */
	sv.idle_since = ssa_now_ms();
	for (;;) {
		int64_t left = sv.idle_since + IDLE_EXIT_MS - ssa_now_ms();
		int wait = spare_poll_timeout(&sv.spare, sv.n_children ? -1 : (int)(left > 0 ? left : 0));
		struct pollfd p[3] = {
			{ .fd = sv.sig_fd, .events = POLLIN },
			{ .fd = sv.inotify_fd, .events = POLLIN },
			{ .fd = listen_fd, .events = POLLIN },
		};
		if (sv.n_children == 0 && left <= 0)
			break;
		if (poll(p, 3, wait) < 0 && errno != EINTR)
			break;
		/* Signals first: a reload asked for before a connection came
		 * applies to it (systemctl reload, then connect()). */
		if ((p[0].revents & POLLIN) && !handle_signals())
			break;
		if (p[1].revents & POLLIN)
			handle_changes();
		if (sv.reexec)
			reexecute();
		if (p[2].revents & POLLIN)
			accept_clients();
		keep_spare(false);
	}
	spare_discard(&sv.spare);
	sd_notify(0, "STOPPING=1");
	return 0;
}
