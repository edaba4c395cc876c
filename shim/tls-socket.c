/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/*
 * tls-socket.c: the table of IPPROTO_TLS descriptors (tls-socket.h).
 *
 * A two-level array indexed by descriptor: lookups are lock-free loads, so a
 * descriptor that is not a TLS socket costs one atomic load and a branch.
 * Insertions and removals take table_lock.  Records are reference-counted so
 * that a close() in one thread cannot free a record another thread is using.
 */
#include "tls-socket.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_BITS 10
#define PAGE_SIZE_FDS (1 << PAGE_BITS)
#define PAGES 1024 /* descriptors up to 2^20 */

typedef _Atomic(struct tls_socket *) slot_t;

atomic_bool tls_socket_any;
static _Atomic(slot_t *) table[PAGES];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static slot_t *slot_of(int fd, int create)
{
	slot_t *page;

	if (fd < 0 || fd >= PAGES * PAGE_SIZE_FDS)
		return NULL;
	page = atomic_load_explicit(&table[fd >> PAGE_BITS], memory_order_acquire);
	if (!page && create) {
		page = calloc(PAGE_SIZE_FDS, sizeof *page);
		if (!page)
			return NULL;
		atomic_store_explicit(&table[fd >> PAGE_BITS], page, memory_order_release);
	}
	return page ? &page[fd & (PAGE_SIZE_FDS - 1)] : NULL;
}

static ino_t inode_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void tls_socket_free(struct tls_socket *s)
{
	/* An orphan's descriptors are leaked rather than risk closing the
	 * application's. */
	if (s->ctl >= 0 && !s->orphaned)
		close(s->ctl); /* the helper gives up the attempt */
	if (s->trust_fd >= 0 && !s->orphaned)
		close(s->trust_fd);
	for (int i = 0; i < SSA_KEY_PAIRS_MAX && !s->orphaned; i++) {
		if (s->chain_fd[i] >= 0)
			close(s->chain_fd[i]);
		if (s->key_fd[i] >= 0)
			close(s->key_fd[i]);
	}
	pthread_mutex_destroy(&s->lock);
	ssa_result_free(&s->res);
	free(s);
}

void tls_socket_put(struct tls_socket *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		tls_socket_free(s);
}

int tls_socket_add(int fd, int domain)
{
	struct tls_socket *s, *old;
	slot_t *slot;

	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->lock, NULL);
	s->domain = domain;
	s->ino = inode_of(fd);
	s->ctl = -1;
	ssa_request_init(&s->opts, SSA_MSG_CONNECT);
	ssa_result_init(&s->res);
	s->session_ttl = -1;
	s->trust_fd = -1;
	for (int i = 0; i < SSA_KEY_PAIRS_MAX; i++)
		s->chain_fd[i] = s->key_fd[i] = -1;

	pthread_mutex_lock(&table_lock);
	slot = slot_of(fd, 1);
	if (!slot) {
		pthread_mutex_unlock(&table_lock);
		tls_socket_free(s);
		return fd >= PAGES * PAGE_SIZE_FDS ? -EMFILE : -ENOMEM;
	}
	old = atomic_exchange(slot, s);
	atomic_store(&tls_socket_any, true);
	pthread_mutex_unlock(&table_lock);
	tls_socket_put(old);
	return 0;
}

struct tls_socket *tls_socket_get(int fd)
{
	struct tls_socket *s;
	slot_t *slot;

	if (!atomic_load_explicit(&tls_socket_any, memory_order_relaxed))
		return NULL;
	slot = slot_of(fd, 0);
	if (!slot || !atomic_load_explicit(slot, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&table_lock);
	s = atomic_load(slot);
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&table_lock);
	if (s && s->ino != inode_of(fd)) {
		/* Closed by a path the shim does not see (close_range, a raw
		 * syscall) and the number reused: not ours any more.  Drop
		 * this record only, not one another thread just added. */
		struct tls_socket *expected = s;
		pthread_mutex_lock(&table_lock);
		if (atomic_compare_exchange_strong(slot, &expected, NULL)) {
			s->orphaned = true;
			tls_socket_put(s); /* the table's reference */
		}
		pthread_mutex_unlock(&table_lock);
		tls_socket_put(s);
		return NULL;
	}
	return s;
}

void tls_socket_forget(int fd)
{
	struct tls_socket *old;
	slot_t *slot;

	if (!atomic_load_explicit(&tls_socket_any, memory_order_relaxed))
		return;
	slot = slot_of(fd, 0);
	if (!slot || !atomic_load_explicit(slot, memory_order_relaxed))
		return;
	pthread_mutex_lock(&table_lock);
	old = atomic_exchange(slot, NULL);
	pthread_mutex_unlock(&table_lock);
	tls_socket_put(old);
}

void tls_socket_set_error(struct tls_socket *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof s->error, fmt, ap);
	va_end(ap);
}
