/*
 * creds.c - the credentials chain and the helpers its sources share; see
 * creds.h.  The sources themselves are in creds_*.c.
 *
 * The chain holds one set of credentials.  Callers get a copy at once while
 * it is valid.  A fetch runs with the lock released, marked by `fetching`:
 * only one runs at a time, and callers that need its result (the held set
 * has expired or was invalidated) wait on `fetched` for it instead of
 * starting their own.  Temporary credentials are fetched anew by a refresh
 * thread before they expire, so that callers never see the fetch.
 */
#include "creds.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "profile.h"

#define REFRESH_LEAD_MS (5 * 60 * 1000)  /* refresh this long before expiry */
#define REFRESH_MIN_MS 1000              /* never sooner than this after a fetch */
#define RETRY_MAX_MS (60 * 1000)         /* longest wait between failed refreshes */

/* ---- one set of credentials ------------------------------------------- */

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void kfs_aws_creds_clear(struct kfs_aws_creds *c)
{
	if (!c)
		return;
	free(c->access_key_id);
	free_secret(c->secret_access_key);
	free_secret(c->session_token);
	memset(c, 0, sizeof(*c));
}

int kfs_aws_creds_copy(struct kfs_aws_creds *dst, const struct kfs_aws_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key_id = strdup(src->access_key_id ? src->access_key_id : "");
	dst->secret_access_key = strdup(src->secret_access_key
					? src->secret_access_key : "");
	if (src->session_token)
		dst->session_token = strdup(src->session_token);
	dst->expiry_ms = src->expiry_ms;
	if (!dst->access_key_id || !dst->secret_access_key ||
	    (src->session_token && !dst->session_token)) {
		kfs_aws_creds_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

/* ---- helpers of the sources ------------------------------------------- */

static void profile_source_destroy(struct kfs_creds_provider *p)
{
	struct kfs_creds_psource *ps = (struct kfs_creds_psource *)p;

	free(ps->profile);
	free(ps);
}

struct kfs_creds_provider *kfs_creds_profile_source_new(
	const char *name, const char *profile, struct kfs_clock *clock,
	int (*fetch)(struct kfs_creds_provider *p, struct kfs_aws_creds *out))
{
	struct kfs_creds_psource *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->profile = strdup(profile);
	if (!ps->profile) {
		free(ps);
		return NULL;
	}
	ps->clock = clock;
	ps->base.name = name;
	ps->base.fetch = fetch;
	ps->base.destroy = profile_source_destroy;
	return &ps->base;
}

int kfs_creds_parse_time(const char *s, int64_t *ms)
{
	return s && kfs_parse_iso8601(s, 1, ms) == 0 ? 0 : -EINVAL;
}

/* The non-empty string member `key` of o, or NULL. */
static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring && *v->valuestring
		? v->valuestring : NULL;
}

int kfs_creds_from_json(const char *body, size_t len, const char *token_key,
			int need_expiry, const char *what,
			struct kfs_aws_creds *out)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	const char *id, *secret, *token, *exp, *bad = NULL;
	int64_t expiry = 0;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(o)) {
		kfs_warn("AWS credentials from %s: the answer is not a JSON "
			 "object", what);
		goto out;
	}
	id = json_str(o, "AccessKeyId");
	secret = json_str(o, "SecretAccessKey");
	token = json_str(o, token_key);
	exp = json_str(o, "Expiration");
	if (!id)
		bad = "AccessKeyId";
	else if (!secret)
		bad = "SecretAccessKey";
	else if (cJSON_GetObjectItemCaseSensitive(o, token_key) && !token &&
		 !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, token_key)))
		bad = token_key;
	else if ((need_expiry && !exp) ||
		 (cJSON_GetObjectItemCaseSensitive(o, "Expiration") &&
		  (!exp || kfs_creds_parse_time(exp, &expiry) < 0)))
		bad = "Expiration";
	if (bad) {
		kfs_warn("AWS credentials from %s: the answer has no valid %s",
			 what, bad);
		goto out;
	}
	out->access_key_id = strdup(id);
	out->secret_access_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	out->expiry_ms = expiry;
	rc = 0;
	if (!out->access_key_id || !out->secret_access_key ||
	    (token && !out->session_token)) {
		kfs_aws_creds_clear(out);
		rc = -ENOMEM;
	}
out:
	cJSON_Delete(o);
	return rc;
}

int kfs_creds_read_token(const char *path, size_t max, char **out)
{
	char *full = kfs_aws_expand_home(path), *buf = NULL;
	size_t len = 0;
	int fd, rc = 0;

	*out = NULL;
	if (!full)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_CLOEXEC);
	free(full);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			rc = -EFBIG;
			break;
		}
	}
	close(fd);
	while (rc == 0 && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
				      buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (rc == 0 && (len == 0 || memchr(buf, '\0', len) ||
			memchr(buf, '\n', len) || memchr(buf, '\r', len)))
		rc = -EINVAL;
	if (rc < 0) {
		explicit_bzero(buf, max + 1);
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* ---- the chain --------------------------------------------------------- */

struct kfs_creds_chain {
	struct kfs_creds_provider **providers; /* owned, in order; fixed after new */
	size_t n;                     /* number of providers */
	char *profile;                /* profile name for the log, or NULL; fixed */
	struct kfs_clock *clock;      /* borrowed, NULL: the real one; fixed */

	pthread_mutex_t lock;         /* the chain's one lock; never held across a fetch */
	pthread_cond_t fetched;       /* broadcast when a fetch ends; with lock */
	pthread_cond_t wake;          /* the refresher has something to do; with lock */
	struct kfs_aws_creds held;    /* the current set; protected by lock */
	int have;                     /* held is filled; protected by lock */
	const char *held_from;        /* name of the source of held; protected by lock */
	int fetching;                 /* a fetch is running; protected by lock */
	uint64_t fetches;             /* fetches ended so far; protected by lock */
	int last_rc;                  /* result of the last fetch; protected by lock */
	int64_t refresh_at_ms;        /* next background refresh (the clock's
				       * monotonic ms), 0 for none; protected
				       * by lock */
	int stopping;                 /* kfs_creds_chain_free was called; protected by lock */
	int refresher_started;        /* protected by lock */
	pthread_t refresher;          /* the refresh thread, once started */

	/* Used only by the thread that set `fetching`, one at a time: */
	int remembered;               /* index of the source that worked, or -1 */
	int logged_rc;                /* the failure last logged (0: none) ... */
	size_t logged_which;          /* ... and its source, so each is said once */
	const char *logged_from;      /* the source last announced at info level */
};

/* Tries the remembered source, then every source in order.  Called with
 * `fetching` set and the lock released.  0 and *out, with *which. */
static int chain_fetch(struct kfs_creds_chain *c, struct kfs_aws_creds *out,
		       size_t *which)
{
	struct kfs_creds_provider *p;
	char tried[256] = "";
	size_t used = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (c->remembered >= 0) {
		p = c->providers[c->remembered];
		*which = (size_t)c->remembered;
		rc = p->fetch(p, out);
		if (rc != -ENOENT)
			goto done;
		kfs_info("AWS credentials: %s gives none any more; trying "
			 "every source", p->name);
		c->remembered = -1;
	}
	for (size_t i = 0; i < c->n; i++) {
		p = c->providers[i];
		*which = i;
		memset(out, 0, sizeof(*out));
		rc = p->fetch(p, out);
		if (rc != -ENOENT) {
			if (rc == 0)
				c->remembered = (int)i;
			goto done;
		}
		if (used < sizeof(tried))
			used += (size_t)snprintf(tried + used, sizeof(tried) - used,
						 "%s%s", i ? ", " : "", p->name);
	}
	*which = c->n;
	rc = -EACCES;
	if (c->logged_rc != rc || c->logged_which != c->n)
		kfs_err("no AWS credentials found: tried %s%s%s%s", tried,
			c->profile ? " (profile '" : "",
			c->profile ? c->profile : "", c->profile ? "')" : "");
	c->logged_rc = rc;
	c->logged_which = c->n;
	return rc;
done:
	if (rc < 0) {
		kfs_aws_creds_clear(out);
		if (c->logged_rc != rc || c->logged_which != *which)
			kfs_err("AWS credentials from %s: %s", p->name,
				strerror(-rc));
		c->logged_rc = rc;
		c->logged_which = *which;
		return rc;
	}
	c->logged_rc = 0;
	if (c->logged_from != p->name) {
		char when[40] = "never";

		if (out->expiry_ms)
			kfs_format_iso8601(out->expiry_ms, when, sizeof(when));
		kfs_info("AWS credentials from %s (expire: %s)", p->name, when);
		c->logged_from = p->name;
	}
	return 0;
}

/* When to refresh credentials that expire at `expiry` (ms since the
 * epoch; 0: never), in the clock's monotonic ms; 0 for never. */
static int64_t refresh_time(struct kfs_creds_chain *c, int64_t expiry)
{
	int64_t now = kfs_clock_now(c->clock), lead, in;

	if (!expiry)
		return 0;
	lead = (expiry - now) / 2;
	if (lead > REFRESH_LEAD_MS)
		lead = REFRESH_LEAD_MS;
	in = expiry - lead - now;
	return kfs_clock_mono(c->clock) + (in < REFRESH_MIN_MS ? REFRESH_MIN_MS : in);
}

static void *refresher_main(void *arg);

/* Ends a fetch: stores its result and wakes whoever waits.  With lock. */
static void fetch_done(struct kfs_creds_chain *c, int rc,
		       struct kfs_aws_creds *fresh, size_t which)
{
	c->fetching = 0;
	c->fetches++;
	c->last_rc = rc;
	if (rc == 0) {
		if (fresh->expiry_ms && fresh->expiry_ms <= kfs_clock_now(c->clock))
			kfs_warn("AWS credentials from %s have already expired "
				 "(is the clock right?)", c->providers[which]->name);
		kfs_aws_creds_clear(&c->held);
		c->held = *fresh;
		memset(fresh, 0, sizeof(*fresh));
		c->have = 1;
		c->held_from = c->providers[which]->name;
		c->refresh_at_ms = refresh_time(c, c->held.expiry_ms);
		if (c->refresh_at_ms && !c->refresher_started && !c->stopping) {
			int err = pthread_create(&c->refresher, NULL,
						 refresher_main, c);
			if (err)
				kfs_warn("AWS credentials: no refresh thread (%s); "
					 "they will be fetched when they expire",
					 strerror(err));
			else
				c->refresher_started = 1;
		}
	} else if (c->have && c->held.expiry_ms) {
		/* Keep the held set while it lasts; try again in a while. */
		int64_t now = kfs_clock_now(c->clock);
		int64_t wait = (c->held.expiry_ms - now) / 2;

		if (wait < REFRESH_MIN_MS)
			wait = REFRESH_MIN_MS;
		if (wait > RETRY_MAX_MS)
			wait = RETRY_MAX_MS;
		c->refresh_at_ms = kfs_clock_mono(c->clock) + wait;
	}
	pthread_cond_broadcast(&c->fetched);
	pthread_cond_signal(&c->wake);
}

static void *refresher_main(void *arg)
{
	struct kfs_creds_chain *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct kfs_aws_creds fresh;
		size_t which = 0;
		int rc;

		if (!c->have || !c->refresh_at_ms || c->fetching) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		if (kfs_clock_mono(c->clock) < c->refresh_at_ms) {
			kfs_clock_wait_until(c->clock, &c->wake, &c->lock,
					     c->refresh_at_ms);
			continue;
		}
		c->fetching = 1;
		c->refresh_at_ms = 0;
		pthread_mutex_unlock(&c->lock);
		kfs_debug("AWS credentials: refreshing in the background");
		rc = chain_fetch(c, &fresh, &which);
		pthread_mutex_lock(&c->lock);
		fetch_done(c, rc, &fresh, which);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int kfs_creds_chain_new_from(struct kfs_creds_provider **providers, size_t n,
			     struct kfs_clock *clock,
			     struct kfs_creds_chain **out)
{
	struct kfs_creds_chain *c = calloc(1, sizeof(*c));
	int err = 0;

	*out = NULL;
	if (c)
		c->providers = calloc(n ? n : 1, sizeof(*c->providers));
	for (size_t i = 0; i < n; i++)
		if (!providers[i])
			err = ENOMEM;
	if (!c || !c->providers || err) {
		for (size_t i = 0; i < n; i++)
			if (providers[i])
				providers[i]->destroy(providers[i]);
		if (c)
			free(c->providers);
		free(c);
		return -ENOMEM;
	}
	memcpy(c->providers, providers, n * sizeof(*providers));
	c->n = n;
	c->clock = clock;
	c->remembered = -1;
	c->logged_which = (size_t)-1;
	if ((err = pthread_mutex_init(&c->lock, NULL)) != 0)
		goto fail_lock;
	if ((err = pthread_cond_init(&c->fetched, NULL)) != 0)
		goto fail_fetched;
	if ((err = pthread_cond_init(&c->wake, NULL)) != 0)
		goto fail_wake;
	*out = c;
	return 0;
fail_wake:
	pthread_cond_destroy(&c->fetched);
fail_fetched:
	pthread_mutex_destroy(&c->lock);
fail_lock:
	c->n = n;
	for (size_t i = 0; i < n; i++)
		providers[i]->destroy(providers[i]);
	free(c->providers);
	free(c);
	return -err;
}

int kfs_creds_chain_new(const char *profile, struct kfs_clock *clock,
			struct kfs_creds_chain **out)
{
	char *name = kfs_aws_profile_name(profile);
	struct kfs_creds_provider *p[8];
	size_t n = 0;
	int rc;

	*out = NULL;
	if (!name)
		return -ENOMEM;
	/* The aws CLI's order: a role_arn is assumed before the profile's
	 * own keys are used (a profile may be its own source_profile).  A
	 * profile named on the command line (the CLI's --profile) puts the
	 * environment's keys aside, as the CLI does: they are then only a
	 * role's credential_source. */
	if (!profile)
		p[n++] = kfs_creds_env_new();
	p[n++] = kfs_creds_assume_new(name, clock);
	p[n++] = kfs_creds_sso_new(name, clock);
	p[n++] = kfs_creds_profile_new(name);
	p[n++] = kfs_creds_process_new(name);
	p[n++] = kfs_creds_web_identity_new(name, clock);
	p[n++] = kfs_creds_container_new();
	p[n++] = kfs_creds_imds_new();
	rc = kfs_creds_chain_new_from(p, n, clock, out);
	if (rc == 0)
		(*out)->profile = name;
	else
		free(name);
	return rc;
}

void kfs_creds_chain_free(struct kfs_creds_chain *c)
{
	int started;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	started = c->refresher_started;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (started)
		pthread_join(c->refresher, NULL);
	for (size_t i = 0; i < c->n; i++)
		c->providers[i]->destroy(c->providers[i]);
	free(c->providers);
	free(c->profile);
	kfs_aws_creds_clear(&c->held);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->fetched);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int kfs_creds_chain_get(struct kfs_creds_chain *c, struct kfs_aws_creds *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct kfs_aws_creds fresh;
		size_t which = 0;

		if (c->have && (!c->held.expiry_ms ||
				kfs_clock_now(c->clock) < c->held.expiry_ms))
			break;
		if (c->fetching) {
			/* Someone else is fetching: take its result. */
			uint64_t gen = c->fetches;

			while (c->fetching && c->fetches == gen)
				pthread_cond_wait(&c->fetched, &c->lock);
			if (c->fetches == gen)
				continue;
			if (c->last_rc < 0) {
				rc = c->last_rc;
				pthread_mutex_unlock(&c->lock);
				return rc;
			}
			if (c->have)
				break;
			continue;   /* invalidated meanwhile */
		}
		c->fetching = 1;
		pthread_mutex_unlock(&c->lock);
		rc = chain_fetch(c, &fresh, &which);
		pthread_mutex_lock(&c->lock);
		fetch_done(c, rc, &fresh, which);
		if (rc < 0) {
			pthread_mutex_unlock(&c->lock);
			return rc;
		}
		break;  /* even when already expired: one fetch per call */
	}
	rc = kfs_aws_creds_copy(out, &c->held);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void kfs_creds_chain_invalidate(struct kfs_creds_chain *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->have)
		kfs_info("AWS credentials from %s invalidated; fetching anew at "
			 "the next request", c->held_from);
	kfs_aws_creds_clear(&c->held);
	c->have = 0;
	c->refresh_at_ms = 0;
	pthread_mutex_unlock(&c->lock);
}
