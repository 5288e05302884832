/*
 * errors.h - the one table that turns what the service (or the network)
 * answered into an errno (SPEC section 5) and a way to go on: give up, back
 * off and retry, refresh the credentials once, or let the caller handle it.
 */
#ifndef KFS_AWS_ERRORS_H
#define KFS_AWS_ERRORS_H

#include <stddef.h>

enum kfs_aws_retry {
	KFS_AWS_FATAL,       /* retrying cannot help */
	KFS_AWS_THROTTLED,   /* throttled: back off, retry (budget bounded) */
	KFS_AWS_TRANSIENT,   /* server or network failure: back off, retry */
	KFS_AWS_AUTH,        /* credentials refused: refresh them once, retry once */
	KFS_AWS_EXPIRED,     /* an expired iterator or page token: the caller
			      * gets a new one */
	KFS_AWS_TOO_LARGE,   /* the answer passed KFS_HTTP_BODY_MAX: the same
			      * request gets the same answer; ask for less */
};

/* Everything known about one failed call; never holds a secret. */
struct kfs_aws_error {
	int err;                   /* -errno (SPEC section 5) */
	enum kfs_aws_retry retry;  /* what may help */
	long status;               /* HTTP status, 0 when no answer came */
	int ambiguous;             /* an attempt may have been carried out
				    * although no success was seen */
	char type[64];             /* service error type, without "prefix#" */
	char message[200];         /* what to log: a sanitized first line */
};

/*
 * The table: service error `type` (the __type of the answer, or a per-entry
 * ErrorCode of PutRecords; NULL or "" when none) and HTTP `status` of an
 * answer to `action` (e.g. "CreateStream"; NULL when not known) give the
 * errno and the retry class.  Unknown types fall back on the status: 429
 * throttled, 5xx transient, 401/403 credentials, 400 invalid.
 */
void kfs_aws_error_classify(const char *action, const char *type, long status,
			    int *err, enum kfs_aws_retry *retry);

/*
 * Fills e from an error answer: the type from the body's __type (or code),
 * else the x-amzn-ErrorType header, "prefix#" and ":suffix" stripped; the
 * message from message/Message, sanitized (see kfs_aws_error_sanitize).
 */
void kfs_aws_error_from_answer(struct kfs_aws_error *e, const char *action,
			       long status, const char *body,
			       const char *type_header);

/* Fills e for a request that got no answer: transport error `err` from
 * http.h (e.g. -ECONNRESET), `why` its description, `sent` whether the
 * request may have reached the server. */
void kfs_aws_error_from_transport(struct kfs_aws_error *e, int err,
				  const char *why, int sent);

/*
 * Copies the first line of a service message into out, at most size - 1
 * bytes, dropping it entirely when it could quote a credential or a
 * signature (some services echo the canonical request, the Authorization
 * header or the security token in their messages).
 */
void kfs_aws_error_sanitize(const char *msg, char *out, size_t size);

/* 1 for the errno values the producer resends a record for. */
int kfs_aws_err_retryable(int err);

#endif
