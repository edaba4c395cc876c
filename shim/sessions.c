/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
/* sessions.c: the client's resumption data (sessions.h). */
#include "sessions.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "owned-fd.h"
#include "ssa-io.h"
#include "ssa-msg.h"

struct entry {
	struct session_key key;
	uint8_t *data;
	size_t len;
	int64_t stored_ms, used_ms;
};

struct channel {
	struct owned_fd ctl;
	struct session_key key;
	int64_t since_ms;    /* no data from it is older than this */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry entries[SESSIONS_MAX];
static struct channel channels[CHANNELS_MAX];
static size_t n_channels;
static pid_t owner; /* the process the cache belongs to */

static bool same_key(const struct session_key *a, const struct session_key *b)
{
	return a->context == b->context && a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* After fork(2): the child has nothing (SPEC §2: never shared). */
static void forget_all(void)
{
	for (size_t i = 0; i < SESSIONS_MAX; i++) {
		free(entries[i].data);
		entries[i] = (struct entry){ 0 };
	}
	for (size_t i = 0; i < n_channels; i++)
		owned_fd_close(&channels[i].ctl);
	n_channels = 0;
}

/* Called with the lock held. */
static void check_owner(void)
{
	if (owner != getpid()) {
		if (owner)
			forget_all();
		owner = getpid();
	}
}

/* Keep `len` bytes of data for key, obtained no earlier than `since_ms`:
 * the newest replaces any older.  Its age counts from since_ms, which
 * errs towards too old, never too young (TLS_SESSION_TTL). */
static void store(const struct session_key *key, const uint8_t *data, size_t len, int64_t since_ms)
{
	struct entry *e = NULL, *oldest = &entries[0];
	uint8_t *copy = malloc(len);

	if (!copy)
		return;
	memcpy(copy, data, len);
	for (size_t i = 0; i < SESSIONS_MAX && !e; i++)
		if (entries[i].data && same_key(&entries[i].key, key))
			e = &entries[i];
	for (size_t i = 0; i < SESSIONS_MAX && !e; i++) {
		if (!entries[i].data)
			e = &entries[i];
		else if (entries[i].used_ms < oldest->used_ms)
			oldest = &entries[i];
	}
	if (!e)
		e = oldest;
	free(e->data);
	*e = (struct entry){ .key = *key, .data = copy, .len = len, .stored_ms = since_ms };
	e->used_ms = ssa_now_ms();
}

/* Read what the pending channels have, without waiting; close those whose
 * helper is done. */
static void harvest(void)
{
	for (size_t i = 0; i < n_channels;) {
		enum ssa_msg_type type;
		const uint8_t *data;
		uint8_t *body;
		size_t body_len, len;
		int r;

		/* Deadline 0: only what has arrived (whole messages, which a
		 * helper writes at once). */
		if (!owned_fd_valid(&channels[i].ctl)) {
			/* closed behind our back (owned-fd.h): not ours now */
			channels[i] = channels[--n_channels];
			continue;
		}
		while ((r = ssa_recv_message(channels[i].ctl.fd, 1u << SSA_MSG_SESSION, &type, &body, &body_len, 0)) == 0) {
			if (ssa_session_decode(body, body_len, &data, &len) == 0)
				store(&channels[i].key, data, len, channels[i].since_ms);
			free(body);
		}
		if (r == -ETIMEDOUT) {
			i++;
			continue;
		}
		owned_fd_close(&channels[i].ctl); /* done, gone, or not understood */
		channels[i] = channels[--n_channels];
	}
}

void sessions_adopt(int ctl, const struct session_key *key, int64_t since_ms)
{
	pthread_mutex_lock(&lock);
	check_owner();
	if (n_channels == CHANNELS_MAX) {
		owned_fd_close(&channels[0].ctl);
		memmove(channels, channels + 1, (CHANNELS_MAX - 1) * sizeof *channels);
		n_channels--;
	}
	if (owned_fd_take(&channels[n_channels].ctl, ctl) == 0) {
		channels[n_channels].key = *key;
		channels[n_channels++].since_ms = since_ms;
	}
	pthread_mutex_unlock(&lock);
}

uint8_t *sessions_find(const struct session_key *key, unsigned max_age_s, size_t *len)
{
	uint8_t *copy = NULL;
	int64_t now = ssa_now_ms();

	pthread_mutex_lock(&lock);
	check_owner();
	harvest();
	for (size_t i = 0; i < SESSIONS_MAX; i++) {
		struct entry *e = &entries[i];
		if (!e->data || !same_key(&e->key, key))
			continue;
		if (max_age_s && now - e->stored_ms > (int64_t)max_age_s * 1000)
			break;
		if ((copy = malloc(e->len))) {
			memcpy(copy, e->data, e->len);
			*len = e->len;
			e->used_ms = now;
		}
		break;
	}
	pthread_mutex_unlock(&lock);
	return copy;
}
