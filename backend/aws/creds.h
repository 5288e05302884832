/*
 * creds.h - AWS credentials: one small interface per source, and a chain
 * that tries them in the AWS CLI's order, remembering the one that worked.
 *
 * Sources, in order: the environment; a role assumed from the profile's
 * source_profile or credential_source (STS AssumeRole); SSO (IAM Identity
 * Center, from the token `aws sso login` cached); the shared files (~/.aws/credentials,
 * ~/.aws/config, with the profile, AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE, and credential_process); web identity
 * (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN through STS
 * AssumeRoleWithWebIdentity, AWS_ENDPOINT_URL_STS); the container endpoint
 * (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN / _TOKEN_FILE); EC2 IMDSv2
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT).  docs/credentials.md tells the
 * details.
 *
 * Credentials are handed out as copies that the caller frees.  Never log
 * a secret, a token or a whole credential file.
 */
#ifndef KFS_AWS_CREDS_H
#define KFS_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/clock.h"

/* One set of credentials; strings owned, freed by kfs_aws_creds_clear. */
struct kfs_aws_creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;      /* NULL for long-term credentials */
	int64_t expiry_ms;        /* ms since the epoch; 0 when they never expire */
};

/* Frees the strings (overwriting the secrets first) and zeroes *c. */
void kfs_aws_creds_clear(struct kfs_aws_creds *c);
/* Deep copy; 0 or -ENOMEM (then *dst is zeroed). */
int kfs_aws_creds_copy(struct kfs_aws_creds *dst, const struct kfs_aws_creds *src);

/* One source of credentials. */
struct kfs_creds_provider {
	const char *name;   /* "env", "profile", "process", "web-identity", "container", "imds" */
	/* Fetches credentials into *out (zeroed by the caller; filled only on
	 * success): 0, -ENOENT when this source is not configured (the chain
	 * moves on), or another -errno when it is configured but failed
	 * (-EACCES refused, -EIO unreachable or failing, -EINVAL malformed
	 * configuration or answer, -ENOMEM).  Called by one thread at a time. */
	int (*fetch)(struct kfs_creds_provider *p, struct kfs_aws_creds *out);
	void (*destroy)(struct kfs_creds_provider *p);
};

/* A source read from a profile, with a clock (web identity, assumed
 * roles, SSO). */
struct kfs_creds_psource {
	struct kfs_creds_provider base;
	char *profile;           /* the profile's name; fixed */
	struct kfs_clock *clock; /* session names, expiries (borrowed); fixed */
};

/* Makes one, with that name and fetch (its destroy frees it); NULL on
 * -ENOMEM. */
struct kfs_creds_provider *kfs_creds_profile_source_new(
	const char *name, const char *profile, struct kfs_clock *clock,
	int (*fetch)(struct kfs_creds_provider *p, struct kfs_aws_creds *out));

/*
 * The sources.  Each reads its environment variables and files at every
 * fetch; `profile` is the profile name to use (copied).  NULL on -ENOMEM.
 * Freed with p->destroy(p).
 */
/* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_CREDENTIAL_EXPIRATION. */
struct kfs_creds_provider *kfs_creds_env_new(void);
/* aws_access_key_id, aws_secret_access_key, aws_session_token of the
 * profile: the credentials file first, then the config file. */
struct kfs_creds_provider *kfs_creds_profile_new(const char *profile);
/* The profile's credential_process, killed after 30 s (or timeout_ms). */
struct kfs_creds_provider *kfs_creds_process_new(const char *profile);
struct kfs_creds_provider *kfs_creds_process_new_timeout(const char *profile,
							 int timeout_ms);
/* The profile's role_arn + web_identity_token_file, else AWS_ROLE_ARN +
 * AWS_WEB_IDENTITY_TOKEN_FILE; through STS AssumeRoleWithWebIdentity.
 * A session name not given is "kinesisfs-<ms since the epoch>", from
 * `clock` (borrowed; NULL: the real one). */
struct kfs_creds_provider *kfs_creds_web_identity_new(const char *profile,
						      struct kfs_clock *clock);
/* The profile's role_arn with source_profile or credential_source,
 * through STS AssumeRole (creds_assume.c). */
struct kfs_creds_provider *kfs_creds_assume_new(const char *profile,
						struct kfs_clock *clock);
/* IAM Identity Center: the profile's sso_account_id + sso_role_name with
 * sso_session or sso_start_url, from the token `aws sso login` cached
 * (creds_sso.c). */
struct kfs_creds_provider *kfs_creds_sso_new(const char *profile,
					     struct kfs_clock *clock);
/* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI. */
struct kfs_creds_provider *kfs_creds_container_new(void);
/* EC2 IMDSv2, unless AWS_EC2_METADATA_DISABLED=true. */
struct kfs_creds_provider *kfs_creds_imds_new(void);

struct kfs_creds_chain;

/*
 * Makes the chain for `profile` (NULL: AWS_PROFILE, else "default"), of the
 * eight sources above in that order, less the environment when `profile`
 * is given (the aws CLI's --profile puts the environment's keys aside).  The environment is read when each
 * source is tried.  Expiries are judged, and refreshes timed, on `clock`
 * (lib/clock.h; borrowed, it must outlive the chain; NULL: the real one).
 * *out is freed with kfs_creds_chain_free().  0 or -ENOMEM (or another
 * -errno when a thread or lock cannot be made).
 */
int kfs_creds_chain_new(const char *profile, struct kfs_clock *clock,
			struct kfs_creds_chain **out);
/* The same over `n` given providers, tried in that order; takes ownership
 * of them (also on failure).  For tests and special set-ups. */
int kfs_creds_chain_new_from(struct kfs_creds_provider **providers, size_t n,
			     struct kfs_clock *clock,
			     struct kfs_creds_chain **out);
/* Stops the refresh thread (waiting for a fetch in progress) and frees;
 * no other call on the chain may be running.  NULL is a no-op. */
void kfs_creds_chain_free(struct kfs_creds_chain *c);

/*
 * Current credentials as a copy the caller frees (kfs_aws_creds_clear).
 * Temporary credentials are refreshed in the background before they expire
 * (5 minutes before, or at half their remaining life when that is shorter),
 * so callers never wait on a refresh unless the ones held have expired or
 * were invalidated; then one caller fetches and the others wait for its
 * result.  -EACCES when no source gives credentials (logged once, naming
 * the sources tried); the error of a configured source that failed (-EIO
 * unreachable, -EACCES refused, -EINVAL malformed); -ENOMEM.
 */
int kfs_creds_chain_get(struct kfs_creds_chain *c, struct kfs_aws_creds *out);

/* Forgets the held credentials (the service said they are expired or
 * invalid), so that the next get fetches anew. */
void kfs_creds_chain_invalidate(struct kfs_creds_chain *c);

/* ---- Building blocks of the sources (creds_*.c) and their tests ---- */

/* Parses an ISO 8601 UTC instant ("2024-05-01T12:00:00Z", optional
 * fraction, "Z" or "+HH:MM"/"-HH:MM") into ms since the epoch; 0 or
 * -EINVAL. */
int kfs_creds_parse_time(const char *s, int64_t *ms);

/* Fills *out from a JSON object with AccessKeyId, SecretAccessKey, the
 * session token under `token_key` ("Token" or "SessionToken") and
 * Expiration (required when `need_expiry`).  0, -EINVAL (malformed; the
 * log line names the missing or bad field, never a value) or -ENOMEM.
 * `what` names the source in the log. */
int kfs_creds_from_json(const char *body, size_t len, const char *token_key,
			int need_expiry, const char *what,
			struct kfs_aws_creds *out);

/* One HTTP exchange of a credentials source; all borrowed for the call. */
struct kfs_creds_http_req {
	const char *method;            /* "GET", "PUT" or "POST" */
	const char *url;
	const char *const *headers;    /* "Name: value", NULL-ended, or NULL */
	const char *body;              /* NULL for none */
	long connect_timeout_ms;
	long timeout_ms;               /* the whole exchange */
	int no_proxy;                  /* never through an HTTP proxy */
	/* SigV4-signed with these credentials (a session token goes as
	 * X-Amz-Security-Token), for sign_service in sign_region; NULL:
	 * unsigned. */
	const struct kfs_aws_creds *sign;
	const char *sign_region;
	const char *sign_service;
};

#define KFS_CREDS_HTTP_BODY_MAX (256u << 10)  /* longest answer accepted */

/*
 * Sends one request with its own curl handle, TLS verification on (and
 * AWS_CA_BUNDLE when set), no redirects.  0 with *status and *body (NUL-
 * terminated, caller frees) when an answer came, whatever its status;
 * -EIO when none did (refused, timed out, TLS failure, answer too big),
 * with a reason for the log in `why` (never a header or body); -ENOMEM.
 */
int kfs_creds_http(const struct kfs_creds_http_req *req, long *status,
		   char **body, size_t *body_len, char *why, size_t why_size);

/* Reads a small file (a token) whole; trailing whitespace removed.
 * 0 with *out (caller frees), or -errno of open/read, -EFBIG over `max`,
 * -EINVAL when empty or holding a NUL, CR or LF.  `~/` is expanded. */
int kfs_creds_read_token(const char *path, size_t max, char **out);

#endif
