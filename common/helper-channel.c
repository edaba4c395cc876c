/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* helper-channel.c: reaching an ssa-helper for one connection (helper-channel.h). */
#include "helper-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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
 * Start `helper` with one end of a socketpair as its fd 3 and --standalone;
 * the helper detaches at once (it forks and its first process exits), so the
 * application is left with no child to reap.  Returns our end, or -errno.
 */
static int spawn_standalone(const char *helper)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)helper, (char *)"--standalone", NULL };
	char **env = helper_environment();
	int sv[2], r, status;
	pid_t pid;

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
			r = posix_spawn(&pid, helper, &fa, NULL, argv, env);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(sv[1]);
	free(env);
	if (r != 0) {
		close(sv[0]);
		return -r;
	}
	/* Reap the first process; ECHILD if the application ignores SIGCHLD
	 * or reaped it itself. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return sv[0];
}

int helper_channel_open(char *why, size_t why_size)
{
	const char *path = env_or("SSA_HELPER_SOCKET", SSA_HELPER_SOCKET_DEFAULT);
	const char *helper = env_or("SSA_HELPER_PATH", SSA_HELPER_PATH_DEFAULT);
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 || errno != ENOENT) {
		fd = connect_service(path);
		if (fd >= 0)
			return fd;
		snprintf(why, why_size, "cannot reach the SSA helper service at %s: %s", path,
			 strerror(-fd));
		return -ECANCELED;
	}
	fd = spawn_standalone(helper);
	if (fd >= 0)
		return fd;
	snprintf(why, why_size, "cannot start the SSA helper %s: %s", helper, strerror(-fd));
	return -ECANCELED;
}
