/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * job.h: one application's request to this helper, whatever the role
 * (client.h, accepted.h, listener.h): who sent it, what it asks, the
 * descriptors that came with it, the policy that applies, and the verdict
 * sent back.
 *
 * Everything here comes from another process and is hostile input: the
 * request is decoded with ssa_request_decode(), the descriptors are checked
 * for their kind before a role takes them, and the sender's identity comes
 * from SO_PEERCRED, not from the request.
 */
#ifndef SSA_JOB_H
#define SSA_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"
#include "ssa-msg.h"
#include "tls-session.h"

/* How long a sender may take to send its request and descriptors. */
#define JOB_REQUEST_TIMEOUT_MS 10000

struct job {
	int ctl;                        /* the control socket (fd 3), or -1 */
	struct ssa_request req;
	struct ucred cred;              /* the application */
	char exe[SSA_EXE_MAX];          /* the program: verified, or as claimed */
	bool exe_verified;              /* read from /proc/PID/exe of cred.pid */
	uint64_t id;                    /* SSA_ID, TLS_ID */
	int64_t start_ms;
	/* The sockets that came with the request, -1 once a role took them:
	 * CONNECT: the application's held socket and the hold's end;
	 * LISTEN: the bound TCP socket and the accept queue;
	 * ACCEPT: the client's TCP socket. */
	int sockets[2];
	int trust_fd;                   /* TLS_TRUSTED_PEER_CERTIFICATES, or -1 */
	int pair_fd[2 * SSA_KEY_PAIRS_MAX]; /* chain, key, chain, key ...; -1 if not passed */
	char reason[SSA_REASON_MAX];    /* why it failed, for the verdict and the journal */
	char sections[SSA_SECTIONS_MAX]; /* the policy sections that applied */
	char cipher_mods[1024];         /* priority modifiers for the cipher options */
	const struct policy_set *set;   /* the policy (job_policy()), or NULL */
	struct policy_set *own_set;     /* ... when read for this job alone */
};

/*
 * Take the request on control socket `ctl` (the job owns it from now on):
 * the sender's identity (`given` by the service's supervisor, or read here
 * with identity_of_peer() when NULL), a random id, the request and its
 * descriptors, each checked, within JOB_REQUEST_TIMEOUT_MS.  Returns 0, or
 * -ECANCELED with j->reason set (a malformed request, descriptors of the
 * wrong kind, a sender that went away, an ACCEPT from anyone but a
 * listener); then j->req.kind says what was asked if the header got
 * through.
 */
struct identity;
int job_open(struct job *j, int ctl, const struct identity *given);

/*
 * The policy for this request (preloaded, or read from the files now), and
 * what the application asked on top of it (tighten.h): 0 with *policy and
 * *request filled (release with job_request_free(); the policy's strings
 * live as long as the job), or -errno with j->reason set: -ECANCELED (the
 * policy is broken), -EACCES (allow = no), -EPERM (an option loosens it),
 * -EINVAL (an option that cannot be used).  A server's policy has no
 * [host] section.
 */
int job_policy(struct job *j, struct policy *policy, struct tls_request *request);

/* The policy loaded once by this process (the service's supervisor), for
 * job_policy() to use instead of reading the files: `set`, or NULL with
 * `error` saying why it is broken (every request is then refused with
 * ECANCELED).  Both stay the caller's and must outlive the jobs. */
void job_preload_policy(const struct policy_set *set, const char *error);

/*
 * Resolve the policy again for the peer's address, once an AF_HOSTNAME
 * name resolved ([host ADDRESS] sections match the address, whatever the
 * name), and check it as job_policy() does: 0 or -EACCES, -ECANCELED,
 * -EPERM, -EINVAL with j->reason set.  job_policy() calls it too.
 */
int job_policy_for_peer(struct job *j, struct policy *p, const struct sockaddr *peer);

/* Wipe and free what job_policy() read into `request`. */
void job_request_free(struct tls_request *request);

/*
 * Send the verdict: `res` with the job's id and policy sections, and its
 * errno mapped to SPEC §3 (ssa-errno.h); on failure, j->reason.  Returns 0
 * or -errno of the send.
 */
int job_report(struct job *j, struct ssa_result *res);

/* Report failure `e` (-errno) with j->reason: job_report() of a result that
 * only says so.  Returns the errno reported (positive, mapped). */
int job_fail(struct job *j, int e);

/* What a successful result says besides the session (tls_session_describe()):
 * the effective versions of policy `p` and the two addresses. */
void job_describe(struct ssa_result *res, const struct policy *p, const struct sockaddr_storage *peer,
		  socklen_t peer_len, const struct sockaddr_storage *local, socklen_t local_len);

/* Close every descriptor the job still holds. */
void job_free(struct job *j);

#endif /* SSA_JOB_H */
