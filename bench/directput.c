/*
 * directput.c - the benchmark's baseline: a file's lines sent to a
 * Kinesis-compatible endpoint with PutRecords directly, without kinesisfs.
 *
 *   directput --endpoint URL --region REGION --stream NAME --key KEY
 *             [--connections N] [--batch N] FILE
 *
 * Every line of FILE, its newline kept, is one record of partition key KEY,
 * as a kinesisfs key file opened with record=line would store it (a last
 * line without a newline is a record of its own, as at close).  The lines
 * go in batches of up to --batch records and 5 MiB of data and keys (the
 * PutRecords limits), from --connections threads, each with one easy
 * handle so that its connection is kept alive.  Batches are taken in file
 * order, but with several connections they may land out of order, just as
 * several writers of kinesisfs would; with one connection the stream holds
 * the lines in file order.
 *
 * Records the service failed (ErrorCode, e.g. throttling) are resent alone
 * after a short backoff, never the whole batch: that would store the others
 * twice.  A transport error, a 5xx, or a throttling error for the whole
 * request resends the batch.  Any other error is fatal.
 *
 * Prints one line on success:
 *   records=N bytes=B seconds=S records_per_s=R
 * with S from the first request to the last response (CLOCK_MONOTONIC) and
 * B the bytes of the lines (raw, before base64).
 *
 * `make bench` builds it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* asprintf */
#endif
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PUT_MAX_RECORDS 500             /* PutRecords: records per request */
#define PUT_MAX_BYTES (5u << 20)        /* PutRecords: data + keys per request */
#define RECORD_MAX_BYTES (1u << 20)     /* one record: data + key */
#define KEY_MAX 256                     /* partition key length, in chars */
#define STREAM_MAX 128                  /* stream name length */
#define ATTEMPTS_MAX 20                 /* tries of a batch without progress */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 200
#define TIMEOUT_MS 60000L               /* one request, answer included */

/* A growing byte buffer, always NUL-terminated once anything is in it. */
struct buf {
	char *p;                /* the bytes; owned */
	size_t len;             /* bytes used, without the NUL */
	size_t cap;             /* bytes allocated */
};

/* One line of the file: a borrowed slice of the mapped text. */
struct line {
	const char *data;       /* points into the file's buffer */
	size_t len;             /* newline included, when there is one */
};

/* A batch: lines [first, first + count) of the file. */
struct batch {
	size_t first;
	size_t count;
};

/* What every thread shares. */
struct shared {
	const struct line *lines;       /* fixed: every line of the file */
	const struct batch *batches;    /* fixed: the file cut into batches */
	size_t n_batches;               /* fixed */
	const char *endpoint;           /* fixed: URL the requests go to */
	const char *sigv4;              /* fixed: "aws:amz:REGION:kinesis" */
	const char *userpwd;            /* fixed: "AKID:SECRET" */
	const char *stream_json;        /* fixed: stream name as a JSON string */
	const char *key_json;           /* fixed: partition key as a JSON string */
	/* Guards next_batch and failed.  The lock is taken only to claim
	 * a batch or to give up, never across a request. */
	pthread_mutex_t batch_lock;
	size_t next_batch;              /* first unclaimed batch; protected by batch_lock */
	int failed;                     /* a thread gave up; protected by batch_lock */
};

/* One sending thread and what it measured. */
struct worker {
	struct shared *sh;
	pthread_t tid;
	unsigned seed;                  /* for the backoff's jitter */
	struct timespec first_req;      /* before its first request */
	struct timespec last_resp;      /* after its last answer */
	int sent_any;                   /* first_req and last_resp are set */
	size_t records;                 /* records stored */
	size_t bytes;                   /* their data bytes */
	size_t resent;                  /* records sent again after ErrorCode */
	size_t retried;                 /* whole requests sent again */
};

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("directput: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define die(...) (say(__VA_ARGS__), exit(1))

/*
 * Marks the run failed and says why, unless another thread already did:
 * the threads still sending would otherwise repeat the same fatal answer.
 */
static void give_up(struct shared *sh, const char *fmt, ...)
{
	va_list ap;
	int first;

	pthread_mutex_lock(&sh->batch_lock);
	first = !sh->failed;
	sh->failed = 1;
	if (first) {
		fputs("directput: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&sh->batch_lock);
}

/* Makes room for n more bytes and the NUL.  Returns 0 or -ENOMEM. */
static int buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Base64 of data[0..n), appended without its NUL. */
static int buf_add_base64(struct buf *b, const char *data, size_t n)
{
	size_t out = 4 * ((n + 2) / 3);

	/* EVP_EncodeBlock takes an int; records are at most 1 MiB. */
	if (buf_reserve(b, out))
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)b->p + b->len,
			(const unsigned char *)data, (int)n);
	b->len += out;
	return 0;
}

/*
 * s as a JSON string, quotes included.  Bytes of 0x80 and up go as they are
 * (UTF-8 is the caller's business); the caller frees the result.
 */
static char *json_string(const char *s)
{
	struct buf b = { 0 };
	char esc[8];
	int err = buf_add(&b, "\"", 1);

	for (; *s && !err; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			err = buf_add(&b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			err = buf_add(&b, esc, 6);
		} else {
			err = buf_add(&b, s, 1);
		}
	}
	if (!err)
		err = buf_add(&b, "\"", 1);
	if (err)
		die("out of memory");
	return b.p;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	/* A short count makes libcurl fail the transfer. */
	return buf_add(b, data, n) ? 0 : n;
}

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void backoff(struct worker *w)
{
	long ms = BACKOFF_MIN_MS +
		  rand_r(&w->seed) % (BACKOFF_MAX_MS - BACKOFF_MIN_MS + 1);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The PutRecords body for lines[idx[0..n)]. */
static int build_body(struct buf *body, const struct shared *sh,
		      const size_t *idx, size_t n)
{
	int err = 0;

	body->len = 0;
	err |= buf_adds(body, "{\"StreamName\":");
	err |= buf_adds(body, sh->stream_json);
	err |= buf_adds(body, ",\"Records\":[");
	for (size_t i = 0; i < n && !err; i++) {
		const struct line *l = &sh->lines[idx[i]];

		err |= buf_adds(body, i ? ",{\"Data\":\"" : "{\"Data\":\"");
		err |= buf_add_base64(body, l->data, l->len);
		err |= buf_adds(body, "\",\"PartitionKey\":");
		err |= buf_adds(body, sh->key_json);
		err |= buf_adds(body, "}");
	}
	err |= buf_adds(body, "]}");
	return err ? -ENOMEM : 0;
}

/* The service's error type ("__type", maybe with a namespace), or "". */
static const char *error_type(const cJSON *doc)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "__type");
	const char *s, *hash;

	if (!cJSON_IsString(t))
		return "";
	s = t->valuestring;
	hash = strrchr(s, '#');
	return hash ? hash + 1 : s;
}

/*
 * Sends one batch until every record of it is stored.  Returns 0, or -1
 * after give_up().
 */
static int send_batch(struct worker *w, CURL *h, struct curl_slist *hdrs,
		      struct buf *body, struct buf *resp,
		      const struct batch *bt)
{
	struct shared *sh = w->sh;
	size_t *idx = malloc(bt->count * sizeof(*idx));
	size_t n = bt->count;
	char errbuf[CURL_ERROR_SIZE];
	int attempts = 0, ret = -1;

	if (!idx) {
		give_up(sh, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = bt->first + i;

	while (n > 0) {
		cJSON *doc = NULL;
		const cJSON *fc, *recs, *r;
		struct timespec now;
		CURLcode rc;
		long status = 0;
		size_t kept = 0, i = 0;

		if (++attempts > ATTEMPTS_MAX) {
			give_up(sh, "batch at line %zu: giving up after %d attempts",
				bt->first + 1, ATTEMPTS_MAX);
			goto out;
		}
		if (build_body(body, sh, idx, n)) {
			give_up(sh, "out of memory");
			goto out;
		}
		resp->len = 0;
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		/* POSTFIELDS, not a read callback: it is what SigV4 hashes. */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body->len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p);

		if (!w->sent_any) {
			clock_gettime(CLOCK_MONOTONIC, &w->first_req);
			w->sent_any = 1;
		}
		rc = curl_easy_perform(h);
		clock_gettime(CLOCK_MONOTONIC, &now);
		w->last_resp = now;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

		if (rc != CURLE_OK || status >= 500) {
			if (rc != CURLE_OK)
				say("batch at line %zu: %s (attempt %d)",
				      bt->first + 1,
				      errbuf[0] ? errbuf : curl_easy_strerror(rc),
				      attempts);
			else
				say("batch at line %zu: HTTP %ld (attempt %d)",
				      bt->first + 1, status, attempts);
			w->retried++;
			backoff(w);
			continue;
		}
		doc = cJSON_ParseWithLength(resp->p ? resp->p : "", resp->len);
		if (status != 200) {
			const char *type = doc ? error_type(doc) : "";

			/* Real Kinesis may throttle a whole request with a
			 * 400: that one is worth another try, nothing else. */
			if (status == 400 &&
			    (!strcmp(type, "ProvisionedThroughputExceededException") ||
			     !strcmp(type, "LimitExceededException"))) {
				say("batch at line %zu: %s (attempt %d)",
				    bt->first + 1, type, attempts);
				cJSON_Delete(doc);
				w->retried++;
				backoff(w);
				continue;
			}
			give_up(sh, "HTTP %ld: %.*s", status, (int)resp->len,
				resp->p ? resp->p : "");
			cJSON_Delete(doc);
			goto out;
		}
		fc = cJSON_GetObjectItemCaseSensitive(doc, "FailedRecordCount");
		recs = cJSON_GetObjectItemCaseSensitive(doc, "Records");
		if (!cJSON_IsArray(recs) ||
		    (size_t)cJSON_GetArraySize(recs) != n) {
			give_up(sh, "unexpected answer: %.*s", (int)resp->len,
				resp->p ? resp->p : "");
			cJSON_Delete(doc);
			goto out;
		}
		/* Keep the failed entries, in order, at the front of idx:
		 * resending them in order keeps the key's order. */
		cJSON_ArrayForEach(r, recs) {
			const cJSON *code =
				cJSON_GetObjectItemCaseSensitive(r, "ErrorCode");

			if (cJSON_IsString(code)) {
				idx[kept++] = idx[i];
			} else {
				w->records++;
				w->bytes += sh->lines[idx[i]].len;
			}
			i++;
		}
		if (cJSON_IsNumber(fc) && (size_t)fc->valuedouble != kept)
			say("FailedRecordCount %g, but %zu records failed",
			      fc->valuedouble, kept);
		cJSON_Delete(doc);
		if (kept > 0) {
			/* Some got through: the batch is moving, so the
			 * attempt limit counts from here. */
			if (kept < n)
				attempts = 0;
			w->resent += kept;
			n = kept;
			backoff(w);
			continue;
		}
		n = 0;
	}
	ret = 0;
out:
	free(idx);
	return ret;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct buf body = { 0 }, resp = { 0 };
	struct curl_slist *hdrs = NULL, *tmp;
	CURL *h = curl_easy_init();

	hdrs = curl_slist_append(NULL,
				 "Content-Type: application/x-amz-json-1.1");
	tmp = hdrs ? curl_slist_append(hdrs,
			"X-Amz-Target: Kinesis_20131202.PutRecords") : NULL;
	if (!h || !tmp) {
		give_up(sh, "cannot set up a curl handle");
		goto out;
	}
	/* Set once: the handle is reused for every batch of this thread,
	 * which keeps its connection alive. */
	curl_easy_setopt(h, CURLOPT_URL, sh->endpoint);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sh->sigv4);
	curl_easy_setopt(h, CURLOPT_USERPWD, sh->userpwd);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "directput");

	for (;;) {
		size_t b;

		pthread_mutex_lock(&sh->batch_lock);
		b = sh->failed ? sh->n_batches : sh->next_batch;
		if (b < sh->n_batches)
			sh->next_batch++;
		pthread_mutex_unlock(&sh->batch_lock);
		if (b >= sh->n_batches)
			break;
		/* On failure it has called give_up(): the others stop too. */
		if (send_batch(w, h, hdrs, &body, &resp, &sh->batches[b]))
			break;
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(body.p);
	free(resp.p);
	return NULL;
}

/* The whole file, NUL-terminated; the caller frees it. */
static char *read_file(const char *path, size_t *len)
{
	struct buf b = { 0 };
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && st.st_size > 0 &&
	    buf_reserve(&b, (size_t)st.st_size))
		die("out of memory");
	for (;;) {
		ssize_t n;

		if (buf_reserve(&b, 65536))
			die("out of memory");
		n = read(fd, b.p + b.len, b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		b.len += (size_t)n;
	}
	close(fd);
	b.p[b.len] = '\0';
	*len = b.len;
	return b.p;
}

static long parse_count(const char *opt, const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		die("--%s wants a number from 1 to %ld, not '%s'", opt, max, s);
	return v;
}

static void usage(void)
{
	fputs("usage: directput --endpoint URL --region REGION --stream NAME "
	      "--key KEY [--connections N] [--batch N] FILE\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "stream", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "connections", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *endpoint = NULL, *region = NULL, *stream = NULL;
	const char *key = NULL, *akid, *secret;
	long connections = 4, batch_max = PUT_MAX_RECORDS;
	struct shared sh = { .batch_lock = PTHREAD_MUTEX_INITIALIZER };
	struct worker *ws;
	struct line *lines = NULL;
	struct batch *batches = NULL;
	size_t n_lines = 0, n_batches = 0, text_len, key_len, records = 0;
	size_t bytes = 0, resent = 0, retried = 0;
	struct timespec t0 = { 0 }, t1 = { 0 };
	char *text, *sigv4, *userpwd;
	double secs;
	int c, started = 0, have_t0 = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'r': region = optarg; break;
		case 's': stream = optarg; break;
		case 'k': key = optarg; break;
		case 'c':
			connections = parse_count("connections", optarg, 256);
			break;
		case 'b':
			batch_max = parse_count("batch", optarg,
						PUT_MAX_RECORDS);
			break;
		default: usage();
		}
	}
	if (!endpoint || !region || !stream || !key || optind != argc - 1)
		usage();
	key_len = strlen(key);
	if (key_len == 0 || key_len > KEY_MAX)
		die("--key wants 1 to %d characters", KEY_MAX);
	if (!*stream || strlen(stream) > STREAM_MAX)
		die("--stream wants 1 to %d characters", STREAM_MAX);
	/* The bench's dummies are fine for kinesalite, which checks that a
	 * signature is there but not its value. */
	akid = getenv("AWS_ACCESS_KEY_ID");
	secret = getenv("AWS_SECRET_ACCESS_KEY");
	if (!akid || !*akid)
		akid = "AKIDBENCH";
	if (!secret || !*secret)
		secret = "benchsecret";
	if (asprintf(&sigv4, "aws:amz:%s:kinesis", region) < 0 ||
	    asprintf(&userpwd, "%s:%s", akid, secret) < 0)
		die("out of memory");

	/* Cut the file into lines, then the lines into batches. */
	text = read_file(argv[optind], &text_len);
	for (size_t off = 0; off < text_len;) {
		const char *nl = memchr(text + off, '\n', text_len - off);
		size_t len = nl ? (size_t)(nl - (text + off)) + 1
				: text_len - off;

		if (n_lines % 65536 == 0) {
			struct line *p = realloc(lines, (n_lines + 65536) *
						 sizeof(*lines));

			if (!p)
				die("out of memory");
			lines = p;
		}
		if (len + key_len > RECORD_MAX_BYTES)
			die("line %zu: %zu bytes, over the 1 MiB record limit",
			    n_lines + 1, len);
		lines[n_lines].data = text + off;
		lines[n_lines].len = len;
		n_lines++;
		off += len;
	}
	batches = malloc((n_lines ? n_lines : 1) * sizeof(*batches));
	if (!batches)
		die("out of memory");
	for (size_t i = 0; i < n_lines;) {
		size_t count = 0, size = 0;

		while (i + count < n_lines && count < (size_t)batch_max &&
		       size + lines[i + count].len + key_len <= PUT_MAX_BYTES) {
			size += lines[i + count].len + key_len;
			count++;
		}
		batches[n_batches].first = i;
		batches[n_batches].count = count;
		n_batches++;
		i += count;
	}

	sh.lines = lines;
	sh.batches = batches;
	sh.n_batches = n_batches;
	sh.endpoint = endpoint;
	sh.sigv4 = sigv4;
	sh.userpwd = userpwd;
	sh.stream_json = json_string(stream);
	sh.key_json = json_string(key);

	/* Once, before any thread: curl_global_init is not thread-safe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init failed");
	ws = calloc((size_t)connections, sizeof(*ws));
	if (!ws)
		die("out of memory");
	for (long i = 0; i < connections; i++) {
		int err;

		ws[i].sh = &sh;
		ws[i].seed = (unsigned)time(NULL) ^ (unsigned)(i * 2654435761u);
		err = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
		if (err) {
			give_up(&sh, "pthread_create: %s", strerror(err));
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		struct worker *w = &ws[i];

		pthread_join(w->tid, NULL);
		records += w->records;
		bytes += w->bytes;
		resent += w->resent;
		retried += w->retried;
		if (!w->sent_any)
			continue;
		if (!have_t0 || ts_before(&w->first_req, &t0))
			t0 = w->first_req;
		have_t0 = 1;
		if (ts_before(&t1, &w->last_resp))
			t1 = w->last_resp;
	}
	curl_global_cleanup();

	free(ws);
	free(batches);
	free(lines);
	free(text);
	free(sigv4);
	free(userpwd);
	free((char *)sh.stream_json);
	free((char *)sh.key_json);
	if (sh.failed)
		return 1;
	if (resent || retried)
		say("%zu records resent after ErrorCode, "
		      "%zu requests sent again whole", resent, retried);
	secs = records ? elapsed_s(&t0, &t1) : 0.0;
	printf("records=%zu bytes=%zu seconds=%.3f records_per_s=%.0f\n",
	       records, bytes, secs, secs > 0 ? (double)records / secs : 0.0);
	return 0;
}
