/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* helper-channel.c: reaching an ssa-helper for one connection (helper-channel.h). */
#include "helper-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "owned-fd.h"
#include "ssa-io.h"

extern char **environ;

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = ssa_env_override(name);

	return v ? v : fallback;
}

/* Connect to the service socket at `path`: fd, or -errno. */
static int connect_service(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do
		r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/*
 * The environment for the helper: ours without LD_PRELOAD, so that the shim
 * is not loaded into the helper (it needs none, and loading costs time).
 * Returns a malloc'd array of pointers into environ, or NULL.
 */
static char **helper_environment(void)
{
	size_t n = 0, j = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 1, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			env[j++] = environ[i];
	return env;
}

/*
 * Start `helper` with one end of a socketpair as its fd 3 and `mode`
 * (--standalone: one connection; --fork-server: this process's
 * connections); the helper detaches at once (it forks and its first
 * process exits), so the application is left with no child once that first
 * process is reaped, which the caller does later (*pid).  Returns our end,
 * or -errno.
 */
static int spawn_standalone(const char *helper, const char *mode, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)helper, (char *)mode, NULL };
	char **env = helper_environment();
	int sv[2], r;

	if (!env)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(env);
		return -errno;
	}
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0) {
		r = posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
		/* Not the application's terminal or pipes: the helper logs to
		 * the journal, and must not hold a reader of ours open. */
		if (r == 0)
			r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, 0, 1);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, 0, 2);
		if (r == 0)
			r = posix_spawn_file_actions_addclosefrom_np(&fa, 4);
		if (r == 0)
			r = posix_spawn(pid, helper, &fa, NULL, argv, env);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(sv[1]);
	free(env);
	if (r != 0) {
		close(sv[0]);
		return -r;
	}
	return sv[0];
}

/* The started helper kept waiting for this process's connections (SPEC §5,
 * standalone mode: ssa-helper --fork-server, which forks one helper per
 * connection), and the first processes of started helpers not reaped yet.
 * The waiting helper belongs to the process that started it, and serves
 * only connections that would start the same helper with the same policy
 * directory. */
#define REAP_MAX 16
static struct {
	pthread_mutex_t lock;
	struct owned_fd ctl;            /* the waiting helper's control socket */
	pid_t owner;
	char helper[PATH_MAX], config[PATH_MAX];
	pid_t reap[REAP_MAX];
	size_t n_reap;
} spare = { .lock = PTHREAD_MUTEX_INITIALIZER, .ctl = { .fd = -1 } };

/* After fork(2): the child has no spare (the parent's is the parent's). */
static void forget_spare(void)
{
	owned_fd_close(&spare.ctl);
	spare.n_reap = 0;
	pthread_mutex_init(&spare.lock, NULL);
}

static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spare_init(void)
{
	pthread_atfork(NULL, NULL, forget_spare);
}

/* Reap the first processes that have exited; ECHILD if the application
 * ignores SIGCHLD or reaped them itself.  Lock held. */
static void reap_started(void)
{
	for (size_t i = 0; i < spare.n_reap;) {
		pid_t r = waitpid(spare.reap[i], NULL, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR)) {
			i++;
			continue;
		}
		spare.reap[i] = spare.reap[--spare.n_reap];
	}
}

/* Start a helper in `mode` and note its first process for reaping: fd or
 * -errno.  Lock held. */
static int start(const char *helper, const char *mode)
{
	pid_t pid;
	int fd;

	reap_started();
	if (spare.n_reap == REAP_MAX) {
		/* Wait for the oldest rather than forget it. */
		while (waitpid(spare.reap[0], NULL, 0) < 0 && errno == EINTR)
			;
		spare.reap[0] = spare.reap[--spare.n_reap];
	}
	fd = spawn_standalone(helper, mode, &pid);
	if (fd >= 0)
		spare.reap[spare.n_reap++] = pid;
	return fd;
}

static const char *config_dir(void)
{
	const char *d = ssa_env_override("SSA_CONFIG_DIR");

	return d ? d : "";
}

/* Start the waiting helper (--fork-server) if there is none, or the one
 * there is would start another helper or read another policy directory (it
 * ends when it sees its socket closed).  Lock held. */
static void keep_server(const char *helper)
{
	bool fits = spare.owner == getpid() && strcmp(spare.helper, helper) == 0 &&
		    strcmp(spare.config, config_dir()) == 0;
	int fd;

	if (owned_fd_valid(&spare.ctl) && fits)
		return;
	owned_fd_close(&spare.ctl);
	if ((fd = start(helper, "--fork-server")) >= 0 && owned_fd_take(&spare.ctl, fd) == 0) {
		spare.owner = getpid();
		snprintf(spare.helper, sizeof spare.helper, "%s", helper);
		snprintf(spare.config, sizeof spare.config, "%s", config_dir());
	}
}

/* A helper for one connection from the waiting one: a socketpair, one end
 * passed to it (it forks a helper that serves that end), the other ours.
 * fd, or -1 (no waiting helper, or it is gone: it is forgotten).  Lock
 * held. */
static int from_server(void)
{
	int sv[2], r;

	if (!owned_fd_valid(&spare.ctl))
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	r = ssa_sendmsg_fds(spare.ctl.fd, "C", 1, &sv[1], 1, MSG_DONTWAIT);
	close(sv[1]);
	if (r == 0)
		return sv[0];
	close(sv[0]);
	owned_fd_close(&spare.ctl); /* gone, or not reading: the next connect starts another */
	return -1;
}

bool helper_channel_service_installed(void)
{
	struct stat st;

	return stat(env_or("SSA_HELPER_SOCKET", SSA_HELPER_SOCKET_DEFAULT), &st) == 0 || errno != ENOENT;
}

int helper_channel_open(char *why, size_t why_size)
{
	const char *path = env_or("SSA_HELPER_SOCKET", SSA_HELPER_SOCKET_DEFAULT);
	const char *helper = env_or("SSA_HELPER_PATH", SSA_HELPER_PATH_DEFAULT);
	int fd;

	if (helper_channel_service_installed()) {
		fd = connect_service(path);
		if (fd >= 0)
			return fd;
		snprintf(why, why_size, "cannot reach the SSA helper service at %s: %s", path,
			 strerror(-fd));
		return -ECANCELED;
	}
	pthread_once(&spare_once, spare_init);
	pthread_mutex_lock(&spare.lock);
	reap_started();
	keep_server(helper);
	fd = from_server();
	if (fd < 0)
		fd = start(helper, "--standalone");
	pthread_mutex_unlock(&spare.lock);
	if (fd >= 0)
		return fd;
	snprintf(why, why_size, "cannot start the SSA helper %s: %s", helper, strerror(-fd));
	return -ECANCELED;
}

void helper_channel_replenish(void)
{
	const char *helper = env_or("SSA_HELPER_PATH", SSA_HELPER_PATH_DEFAULT);

	if (helper_channel_service_installed())
		return; /* nothing to keep */
	pthread_once(&spare_once, spare_init);
	pthread_mutex_lock(&spare.lock);
	keep_server(helper);
	pthread_mutex_unlock(&spare.lock);
}
