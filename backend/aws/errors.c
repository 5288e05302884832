/* errors.c - service errors to errno; see errors.h. */
#include "errors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One row: an error type, optionally only for one action. */
struct row {
	const char *type;          /* service error type */
	const char *action;        /* NULL: any action */
	int err;                   /* -errno */
	enum kfs_aws_retry retry;
};

/*
 * The one table (SPEC section 5).  First match wins, so rows for one
 * action come before the general row of the same type.
 */
static const struct row table[] = {
	{ "ResourceNotFoundException", NULL, -ENOENT, KFS_AWS_FATAL },
	{ "ResourceInUseException", "CreateStream", -EEXIST, KFS_AWS_FATAL },
	{ "ResourceInUseException", NULL, -EBUSY, KFS_AWS_FATAL },
	{ "InvalidArgumentException", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "ValidationException", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "SerializationException", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "InvalidParameterValue", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "InvalidParameterCombination", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "MissingParameter", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "MalformedQueryString", NULL, -EINVAL, KFS_AWS_FATAL },
	{ "UnknownOperationException", NULL, -ENOTSUP, KFS_AWS_FATAL },
	{ "InvalidAction", NULL, -ENOTSUP, KFS_AWS_FATAL },

	{ "LimitExceededException", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "ProvisionedThroughputExceededException", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "ThrottlingException", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "Throttling", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "ThrottledException", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "RequestLimitExceeded", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "TooManyRequestsException", NULL, -EAGAIN, KFS_AWS_THROTTLED },
	{ "KMSThrottlingException", NULL, -EAGAIN, KFS_AWS_THROTTLED },

	{ "ExpiredIteratorException", NULL, -EIO, KFS_AWS_EXPIRED },
	{ "ExpiredNextTokenException", NULL, -EIO, KFS_AWS_EXPIRED },

	{ "AccessDeniedException", NULL, -EACCES, KFS_AWS_FATAL },
	{ "AccessDenied", NULL, -EACCES, KFS_AWS_FATAL },
	{ "OptInRequired", NULL, -EACCES, KFS_AWS_FATAL },
	{ "UnrecognizedClientException", NULL, -EACCES, KFS_AWS_AUTH },
	{ "InvalidSignatureException", NULL, -EACCES, KFS_AWS_AUTH },
	{ "SignatureDoesNotMatch", NULL, -EACCES, KFS_AWS_AUTH },
	{ "ExpiredTokenException", NULL, -EACCES, KFS_AWS_AUTH },
	{ "ExpiredToken", NULL, -EACCES, KFS_AWS_AUTH },
	{ "IncompleteSignature", NULL, -EACCES, KFS_AWS_AUTH },
	{ "IncompleteSignatureException", NULL, -EACCES, KFS_AWS_AUTH },
	{ "MissingAuthenticationToken", NULL, -EACCES, KFS_AWS_AUTH },
	{ "MissingAuthenticationTokenException", NULL, -EACCES, KFS_AWS_AUTH },
	{ "InvalidClientTokenId", NULL, -EACCES, KFS_AWS_AUTH },
	{ "RequestExpired", NULL, -EACCES, KFS_AWS_AUTH },
	{ "KMSAccessDeniedException", NULL, -EACCES, KFS_AWS_FATAL },
	{ "KMSDisabledException", NULL, -EACCES, KFS_AWS_FATAL },
	{ "KMSNotFoundException", NULL, -EACCES, KFS_AWS_FATAL },
	{ "KMSOptInRequired", NULL, -EACCES, KFS_AWS_FATAL },
	{ "KMSInvalidStateException", NULL, -EIO, KFS_AWS_FATAL },

	{ "InternalFailure", NULL, -EIO, KFS_AWS_TRANSIENT },
	{ "InternalFailureException", NULL, -EIO, KFS_AWS_TRANSIENT },
	{ "InternalError", NULL, -EIO, KFS_AWS_TRANSIENT },
	{ "InternalServerError", NULL, -EIO, KFS_AWS_TRANSIENT },
	{ "InternalServiceError", NULL, -EIO, KFS_AWS_TRANSIENT },
	{ "ServiceUnavailable", NULL, -EIO, KFS_AWS_TRANSIENT },
	{ "ServiceUnavailableException", NULL, -EIO, KFS_AWS_TRANSIENT },
};

void kfs_aws_error_classify(const char *action, const char *type, long status,
			    int *err, enum kfs_aws_retry *retry)
{
	if (type && *type) {
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
			const struct row *r = &table[i];
			if (strcmp(r->type, type) != 0)
				continue;
			if (r->action && (!action || strcmp(r->action, action)))
				continue;
			*err = r->err;
			*retry = r->retry;
			return;
		}
	}
	if (status == 429) {
		*err = -EAGAIN;
		*retry = KFS_AWS_THROTTLED;
	} else if (status >= 500 || status == 0) {
		*err = -EIO;
		*retry = KFS_AWS_TRANSIENT;
	} else if (status == 401 || status == 403) {
		*err = -EACCES;
		*retry = KFS_AWS_FATAL;
	} else if (status == 400) {
		*err = -EINVAL;
		*retry = KFS_AWS_FATAL;
	} else {
		*err = -EIO;
		*retry = KFS_AWS_FATAL;
	}
}

/* Copies a type without "prefix#" and without ":suffix". */
static void clean_type(const char *t, char *out, size_t size)
{
	const char *hash = strrchr(t, '#');
	size_t n;

	if (hash)
		t = hash + 1;
	n = strcspn(t, ":");
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(out, t, n);
	out[n] = '\0';
}

void kfs_aws_error_sanitize(const char *msg, char *out, size_t size)
{
	static const char *const risky[] = {
		"signature", "credential", "authorization", "token",
		"secret", "canonical", "string to sign",
	};
	size_t n;

	out[0] = '\0';
	if (!msg)
		return;
	n = strcspn(msg, "\r\n");
	if (n >= size)
		n = size - 1;
	memcpy(out, msg, n);
	out[n] = '\0';
	for (size_t i = 0; i < sizeof(risky) / sizeof(risky[0]); i++) {
		if (strcasestr(out, risky[i])) {
			out[0] = '\0';
			return;
		}
	}
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

void kfs_aws_error_from_answer(struct kfs_aws_error *e, const char *action,
			       long status, const char *body,
			       const char *type_header)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *t = NULL, *m = NULL;

	memset(e, 0, sizeof(*e));
	e->status = status;
	if (cJSON_IsObject(j)) {
		t = cJSON_GetObjectItemCaseSensitive(j, "__type");
		if (!cJSON_IsString(t))
			t = cJSON_GetObjectItemCaseSensitive(j, "code");
		m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(j, "Message");
	}
	if (cJSON_IsString(t) && t->valuestring[0])
		clean_type(t->valuestring, e->type, sizeof(e->type));
	else if (type_header && *type_header)
		clean_type(type_header, e->type, sizeof(e->type));
	kfs_aws_error_classify(action, e->type, status, &e->err, &e->retry);
	/* Credentials refused: the message may quote the request's
	 * canonical form or its Authorization header; say nothing of it. */
	if (e->err != -EACCES && cJSON_IsString(m))
		kfs_aws_error_sanitize(m->valuestring, e->message,
				       sizeof(e->message));
	if (!e->type[0] && !e->message[0])
		snprintf(e->message, sizeof(e->message), "HTTP status %ld", status);
	/* A 5xx may have been carried out before the failure. */
	e->ambiguous = e->retry == KFS_AWS_TRANSIENT;
	cJSON_Delete(j);
}

void kfs_aws_error_from_transport(struct kfs_aws_error *e, int err,
				  const char *why, int sent)
{
	memset(e, 0, sizeof(*e));
	switch (err) {
	case -ENOMEM:
		e->err = -ENOMEM;
		e->retry = KFS_AWS_FATAL;
		break;
	case -EINVAL:
		e->err = -EINVAL;
		e->retry = KFS_AWS_FATAL;
		break;
	case -EPROTO:
		/* TLS verification and the like do not heal by retrying. */
		e->err = -EIO;
		e->retry = KFS_AWS_FATAL;
		break;
	case -EMSGSIZE:
		/* An answer came, so the request was carried out. */
		e->err = -EIO;
		e->retry = KFS_AWS_TOO_LARGE;
		e->ambiguous = sent;
		break;
	default:
		/* Refused, reset, timed out, unresolved: the endpoint may be
		 * back shortly.  Every one is EIO past the retry budget
		 * (SPEC section 5), and EIO is what the producer resends. */
		e->err = -EIO;
		e->retry = KFS_AWS_TRANSIENT;
		break;
	}
	e->ambiguous |= sent && e->retry == KFS_AWS_TRANSIENT;
	snprintf(e->message, sizeof(e->message), "%s", why && *why ? why
		 : strerror(-err));
}

int kfs_aws_err_retryable(int err)
{
	return err == -EAGAIN || err == -EIO || err == -ETIMEDOUT ||
	       err == -ECONNRESET || err == -EBUSY;
}
