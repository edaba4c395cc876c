/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-fd-table: the shim's table of IPPROTO_TLS descriptors
 * (shim/tls-socket.h) under threads: lookups while other threads add and
 * forget records never see a freed record or a record of another
 * descriptor, and a number reused behind the shim's back is not taken for
 * the old socket.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "../../shim/tls-socket.h"

#define THREADS 4
#define ROUNDS 20000

static int fds[THREADS];
static atomic_int wrong;

/* Add, look up and forget the same descriptor over and over, while the
 * other threads look it up too. */
static void *churn(void *arg)
{
	int me = (int)(long)arg;

	for (int i = 0; i < ROUNDS; i++) {
		int fd = fds[(me + i) % THREADS];
		if (me == (me + i) % THREADS && tls_socket_add(fd, AF_INET6) < 0)
			atomic_fetch_add(&wrong, 1);
		struct tls_socket *s = tls_socket_get(fd);
		if (s) {
			pthread_mutex_lock(&s->lock);
			if (s->domain != AF_INET6)
				atomic_fetch_add(&wrong, 1);
			pthread_mutex_unlock(&s->lock);
			tls_socket_put(s);
		}
		if (me == (me + i) % THREADS && i % 3 == 0)
			tls_socket_forget(fd);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	struct tls_socket *s = NULL;
	int fd, other;

	ok(tls_socket_get(0) == NULL, "no record before any TLS socket exists");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ok(tls_socket_add(fd, AF_INET) == 0 && (s = tls_socket_get(fd)) != NULL && s->domain == AF_INET &&
		   s->ctl == -1 && s->opts.version_min == -1 && s->res.version == -1,
	   "a new record: unset options and results");
	tls_socket_put(s);
	tls_socket_forget(fd);
	ok(tls_socket_get(fd) == NULL, "a forgotten descriptor has no record");

	/* Closed behind the shim's back (a raw close) and the number reused. */
	tls_socket_add(fd, AF_INET);
	other = socket(AF_INET, SOCK_STREAM, 0);
	dup2(other, fd);
	close(other);
	ok(tls_socket_get(fd) == NULL, "a number reused by another socket is not the old TLS socket");
	close(fd);

	/* A daemon detaching closes every descriptor, the record's own too,
	 * and opens its files on the freed numbers: dropping the record must
	 * not close them. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	tls_socket_add(fd, AF_INET);
	s = tls_socket_get(fd);
	s->trust_fd = socket(AF_INET, SOCK_STREAM, 0);
	s->ctl = socket(AF_INET, SOCK_STREAM, 0);
	int kept[2] = { s->trust_fd, s->ctl };
	tls_socket_put(s);
	close(kept[0]);
	close(kept[1]);
	close(fd);
	int own[3] = { socket(AF_INET, SOCK_STREAM, 0), socket(AF_INET, SOCK_STREAM, 0), socket(AF_INET, SOCK_STREAM, 0) };
	ok(tls_socket_get(fd) == NULL && fcntl(own[0], F_GETFD) >= 0 && fcntl(own[1], F_GETFD) >= 0 &&
		   fcntl(own[2], F_GETFD) >= 0,
	   "a record whose descriptors were all closed behind the shim's back closes none of their new owners'");
	for (int i = 0; i < 3; i++)
		close(own[i]);

	for (int i = 0; i < THREADS; i++)
		fds[i] = socket(AF_INET6, SOCK_STREAM, 0);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ok(atomic_load(&wrong) == 0, "%d threads adding, looking up and forgetting: no wrong record (%d)",
	   THREADS, atomic_load(&wrong));
	for (int i = 0; i < THREADS; i++) {
		tls_socket_forget(fds[i]);
		close(fds[i]);
	}
	return tap_done();
}
