/* named.c - see named.h. */
#include "named.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define STATE_MAGIC "kinesisfs-reader 1"
#define STATE_MAX (1u << 20)   /* a state file: ~100 bytes a shard */
#define CLOSING_WAIT_MS 2000   /* an open waits for a closed file's release */

struct kfs_named_table {
	char *dir;                       /* read-only */
	pthread_mutex_t lock;            /* "named table lock": protects below */
	pthread_cond_t released;         /* a name was closed */
	struct kfs_named **open;         /* the names open now */
	size_t n_open, cap_open;
};

/* ---- state ------------------------------------------------------------- */

void kfs_nstate_clear(struct kfs_nstate *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct kfs_npos *kfs_nstate_find(const struct kfs_nstate *s, const char *shard)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].shard, shard) == 0)
			return &s->v[i];
	return NULL;
}

struct kfs_npos *kfs_nstate_get(struct kfs_nstate *s, const char *shard)
{
	struct kfs_npos *p = kfs_nstate_find(s, shard), *v;

	if (p)
		return p;
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	s->v = v;
	p = &v[s->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->shard, sizeof(p->shard), "%s", shard);
	p->sub = -1;
	return p;
}

int kfs_nstate_copy(struct kfs_nstate *dst, const struct kfs_nstate *src)
{
	struct kfs_npos *v = NULL;

	if (src->n) {
		v = malloc(src->n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, src->v, src->n * sizeof(*v));
	}
	kfs_nstate_clear(dst);
	*dst = *src;
	dst->v = v;
	return 0;
}

static void hex_put(FILE *f, const char *s)
{
	for (; *s; s++)
		fprintf(f, "%02x", (unsigned char)*s);
}

static int hex_get(const char *h, char *out, size_t size)
{
	size_t n = strlen(h), i;

	if (n % 2 || n / 2 >= size)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1 || v == 0)
			return -1;
		out[i] = (char)v;
	}
	out[i] = '\0';
	return 0;
}

/* The state file's text (format in named.h); *out is the caller's. */
static int state_format(const struct kfs_nstate *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);

	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", STATE_MAGIC);
	switch (s->kind) {
	case KFS_NODE_SVIEW:
		fprintf(f, "view stream\n");
		break;
	case KFS_NODE_SHARD:
		fprintf(f, "view shard %s\n", s->target);
		break;
	case KFS_NODE_KEY:
		fprintf(f, "view key ");
		hex_put(f, s->target);
		fprintf(f, "\n");
		break;
	default:
		fprintf(f, "view any\n");
		break;
	}
	fprintf(f, "origin %s %" PRId64 " %s\n", kfs_iter_type_name(s->origin),
		s->origin_ms, s->origin_seq[0] ? s->origin_seq : "-");
	fprintf(f, "fresh %d\n", s->fresh);
	fprintf(f, "stream_created %" PRId64 "\n", s->stream_created_ms);
	fprintf(f, "created %" PRId64 "\n", s->created_ms);
	fprintf(f, "committed %" PRId64 " %" PRIu64 "\n", s->committed_ms,
		s->commits);
	for (size_t i = 0; i < s->n; i++) {
		const struct kfs_npos *p = &s->v[i];
		fprintf(f, "shard %s %s %" PRId64 " %d %" PRId64 "\n", p->shard,
			p->seq[0] ? p->seq : "-", p->sub, p->done, p->arrival_ms);
	}
	fprintf(f, "end %zu\n", s->n);
	if (fclose(f) != 0)
		return -ENOMEM;
	return 0;
}

static int iter_type_of(const char *name, enum kfs_iter_type *t)
{
	for (int i = 0; kfs_iter_type_name(i); i++)
		if (strcmp(name, kfs_iter_type_name(i)) == 0) {
			*t = (enum kfs_iter_type)i;
			return 0;
		}
	return -1;
}

/* Parses a state file's text; -EIO when it is not one, whole. */
static int state_parse(char *text, struct kfs_nstate *s)
{
	char *save = NULL, *line;
	int magic = 0, ended = 0;
	size_t declared = 0;

	memset(s, 0, sizeof(*s));
	s->kind = KFS_NODE_ROOT;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char a[KFS_KEY_MAX * 2 + 2], b[KFS_POS_SEQ_MAX + 2];
		int64_t x, y;
		uint64_t u;
		int d;

		if (ended)
			goto bad;
		if (!magic) {
			if (strcmp(line, STATE_MAGIC) != 0)
				goto bad;
			magic = 1;
		} else if (strcmp(line, "view any") == 0) {
			s->kind = KFS_NODE_ROOT;
		} else if (strcmp(line, "view stream") == 0) {
			s->kind = KFS_NODE_SVIEW;
		} else if (sscanf(line, "view shard %21s", a) == 1) {
			if (!kfs_is_shard_id(a))
				goto bad;
			s->kind = KFS_NODE_SHARD;
			strcpy(s->target, a);
		} else if (sscanf(line, "view key %513s", a) == 1) {
			s->kind = KFS_NODE_KEY;
			if (hex_get(a, s->target, sizeof(s->target)))
				goto bad;
		} else if (sscanf(line, "origin %40s %" SCNd64 " %129s", a, &x,
				  b) == 3) {
			if (iter_type_of(a, &s->origin) ||
			    strlen(b) >= sizeof(s->origin_seq))
				goto bad;
			s->origin_ms = x;
			if (strcmp(b, "-") != 0)
				strcpy(s->origin_seq, b);
		} else if (sscanf(line, "fresh %d", &d) == 1) {
			s->fresh = d != 0;
		} else if (sscanf(line, "stream_created %" SCNd64, &x) == 1) {
			s->stream_created_ms = x;
		} else if (sscanf(line, "created %" SCNd64, &x) == 1) {
			s->created_ms = x;
		} else if (sscanf(line, "committed %" SCNd64 " %" SCNu64, &x,
				  &u) == 2) {
			s->committed_ms = x;
			s->commits = u;
		} else if (sscanf(line, "shard %21s %129s %" SCNd64 " %d %" SCNd64,
				  a, b, &x, &d, &y) == 5) {
			struct kfs_npos *p;

			if (!kfs_is_shard_id(a) || strlen(b) > KFS_POS_SEQ_MAX ||
			    x < -1)
				goto bad;
			p = kfs_nstate_get(s, a);
			if (!p)
				goto nomem;
			if (strcmp(b, "-") != 0)
				strcpy(p->seq, b);
			p->sub = x;
			p->done = d != 0;
			p->arrival_ms = y;
		} else if (sscanf(line, "end %zu", &declared) == 1) {
			ended = 1;
		} else {
			goto bad;
		}
	}
	if (!ended || declared != s->n)
		goto bad;
	return 0;
bad:
	kfs_nstate_clear(s);
	return -EIO;
nomem:
	kfs_nstate_clear(s);
	return -ENOMEM;
}

/* ---- files ------------------------------------------------------------- */

static int mkdirs(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int state_path(const struct kfs_named_table *t, const char *stream,
		      const char *name, int tmp, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s/%s%s%s", t->dir, stream,
			 tmp ? "." : "", name, tmp ? ".tmp" : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Reads a name's state: 0, -ENOENT when it has none, -EIO (logged) when
 * its file is not a state. */
static int state_read(const struct kfs_named_table *t, const char *stream,
		      const char *name, struct kfs_nstate *s)
{
	char path[PATH_MAX], *buf;
	ssize_t n;
	size_t len = 0;
	int fd, err;

	err = state_path(t, stream, name, 0, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(STATE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < STATE_MAX && (n = read(fd, buf + len, STATE_MAX - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (!err)
		err = state_parse(buf, s);
	free(buf);
	if (err == -EIO)
		kfs_err("named reader %s/%s: %s is not a reader's state: "
			"remove the name (docs/reading.md) to start it again",
			stream, name, path);
	return err;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replaces a name's state durably: temporary file, fsync, rename, fsync
 * of the directory. */
static int state_write(const struct kfs_named_table *t, const char *stream,
		       const char *name, const struct kfs_nstate *s)
{
	char dir[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int fd, dfd, err;

	if (snprintf(dir, sizeof(dir), "%s/%s", t->dir, stream) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((err = state_path(t, stream, name, 1, tmp, sizeof(tmp))) ||
	    (err = state_path(t, stream, name, 0, path, sizeof(path))) ||
	    (err = mkdirs(dir)) || (err = state_format(s, &text, &len)))
		return err;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		free(text);
		return err;
	}
	err = write_all(fd, text, len);
	free(text);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		err = -errno;
	close(dfd);
	return err;
}

/* ---- the table --------------------------------------------------------- */

struct kfs_named_table *kfs_named_table_new(const char *dir)
{
	struct kfs_named_table *t = calloc(1, sizeof(*t));

	if (!t || !(t->dir = strdup(dir))) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->released, NULL);
	return t;
}

void kfs_named_table_free(struct kfs_named_table *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->released);
	free(t->open);
	free(t->dir);
	free(t);
}

const char *kfs_named_table_dir(const struct kfs_named_table *t)
{
	return t->dir;
}

/* The open reader of a name, or NULL; under the table lock. */
static struct kfs_named *find_open(struct kfs_named_table *t,
				   const char *stream, const char *name)
{
	for (size_t i = 0; i < t->n_open; i++)
		if (strcmp(t->open[i]->stream, stream) == 0 &&
		    strcmp(t->open[i]->name, name) == 0)
			return t->open[i];
	return NULL;
}

/* find_open, once a file of the name that was just closed is released:
 * the kernel sends the release after close(2) returned, so that
 * `cat V; cat V` would find it open.  Its release (and commit) is waited
 * for, briefly.  Under the table lock. */
static struct kfs_named *find_open_settled(struct kfs_named_table *t,
					   const char *stream,
					   const char *name)
{
	struct timespec until = { 0 };
	struct kfs_named *n;

	while ((n = find_open(t, stream, name)) && n->closing) {
		if (!until.tv_sec)
			kfs_deadline(&until, CLOSING_WAIT_MS);
		if (pthread_cond_timedwait(&t->released, &t->lock, &until) ==
		    ETIMEDOUT)
			break;
	}
	return n;
}

/* A fresh state starting at pos (LATEST: from now). */
static void make_fresh(struct kfs_nstate *s, int64_t stream_created_ms,
		       const struct kfs_position *pos)
{
	int64_t now = kfs_now_ms();

	kfs_nstate_clear(s);
	s->kind = KFS_NODE_ROOT;
	s->fresh = 1;
	s->origin = pos ? pos->type : KFS_ITER_TRIM_HORIZON;
	if (s->origin == KFS_ITER_LATEST) {
		s->origin = KFS_ITER_AT_TIMESTAMP;
		s->origin_ms = now;
	} else if (pos && s->origin == KFS_ITER_AT_TIMESTAMP) {
		s->origin_ms = pos->timestamp_ms;
	} else if (pos && pos->seq[0]) {
		snprintf(s->origin_seq, sizeof(s->origin_seq), "%s", pos->seq);
	}
	s->stream_created_ms = stream_created_ms;
	s->created_ms = now;
}

static const char *kind_name(enum kfs_node k)
{
	return k == KFS_NODE_SVIEW ? "the stream" : k == KFS_NODE_SHARD ? "shard"
	       : k == KFS_NODE_KEY ? "key" : "anything";
}

int kfs_named_acquire(struct kfs_named_table *t, const char *stream,
		      int64_t stream_created_ms, const char *name,
		      enum kfs_node kind, const char *target,
		      const struct kfs_position *first, struct kfs_named **out,
		      char *why, size_t why_size)
{
	struct kfs_named *n = NULL;
	struct kfs_nstate s = { 0 };
	int err;

	*out = NULL;
	pthread_mutex_lock(&t->lock);
	if (find_open_settled(t, stream, name)) {
		snprintf(why, why_size, "reader %s is open already (one reader "
			 "of a name at a time)", name);
		err = -EBUSY;
		goto out;
	}
	err = state_read(t, stream, name, &s);
	if (err == -ENOENT) {
		make_fresh(&s, stream_created_ms, first);
		err = 0;
	} else if (!err && s.stream_created_ms != stream_created_ms) {
		struct kfs_position o = { .type = s.origin,
					  .timestamp_ms = s.origin_ms };

		kfs_warn("named reader %s/%s was made for an earlier stream of "
			 "that name: it starts again from its first position",
			 stream, name);
		snprintf(o.seq, sizeof(o.seq), "%s", s.origin_seq);
		make_fresh(&s, stream_created_ms, &o);
	}
	if (err)
		goto out;
	if (s.kind == KFS_NODE_ROOT) {
		s.kind = kind;
		snprintf(s.target, sizeof(s.target), "%s", target);
	} else if (s.kind != kind || strcmp(s.target, target) != 0) {
		snprintf(why, why_size, "reader %s reads %s%s%s: one name reads "
			 "one thing (reset it to use it here)", name,
			 kind_name(s.kind), s.target[0] ? " " : "", s.target);
		err = -EINVAL;
		goto out;
	}
	if (t->n_open == t->cap_open) {
		size_t cap = t->cap_open ? 2 * t->cap_open : 8;
		struct kfs_named **v = realloc(t->open, cap * sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		t->open = v;
		t->cap_open = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n || (err = kfs_nstate_copy(&n->delivered, &s)) != 0) {
		free(n);
		n = NULL;
		err = -ENOMEM;
		goto out;
	}
	n->tab = t;
	snprintf(n->stream, sizeof(n->stream), "%s", stream);
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->fresh = s.fresh;
	n->start = s;
	memset(&s, 0, sizeof(s));
	n->lag = (struct kfs_named_lag){ -1, -1, -1 };
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->commit_lock, NULL);
	t->open[t->n_open++] = n;
	n->attached = 1;
	*out = n;
out:
	pthread_mutex_unlock(&t->lock);
	kfs_nstate_clear(&s);
	return err;
}

void kfs_named_closing(struct kfs_named *n)
{
	pthread_mutex_lock(&n->tab->lock);
	n->closing = 1;
	pthread_mutex_unlock(&n->tab->lock);
}

int kfs_named_commit(struct kfs_named *n)
{
	struct kfs_nstate s = { 0 };
	int err;

	pthread_mutex_lock(&n->commit_lock);
	pthread_mutex_lock(&n->lock);
	n->delivered.fresh = 0;
	n->delivered.committed_ms = kfs_now_ms();
	n->delivered.commits++;
	err = kfs_nstate_copy(&s, &n->delivered);
	n->changed = 0;
	pthread_mutex_unlock(&n->lock);
	if (!err)
		err = state_write(n->tab, n->stream, n->name, &s);
	kfs_nstate_clear(&s);
	if (err) {
		kfs_err("named reader %s/%s: cannot commit: %s", n->stream,
			n->name, strerror(-err));
		pthread_mutex_lock(&n->lock);
		n->changed = 1;
		pthread_mutex_unlock(&n->lock);
	} else {
		kfs_debug("named reader %s/%s: committed", n->stream, n->name);
	}
	pthread_mutex_unlock(&n->commit_lock);
	return err;
}

int kfs_named_close(struct kfs_named *n, int commit)
{
	struct kfs_named_table *t;
	int err = 0, changed;

	if (!n)
		return 0;
	t = n->tab;
	pthread_mutex_lock(&n->lock);
	changed = n->changed;
	pthread_mutex_unlock(&n->lock);
	if (commit && changed)
		err = kfs_named_commit(n);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; n->attached && i < t->n_open; i++)
		if (t->open[i] == n) {
			t->open[i] = t->open[--t->n_open];
			break;
		}
	n->attached = 0;
	pthread_cond_broadcast(&t->released);
	pthread_mutex_unlock(&t->lock);
	return err;
}

void kfs_named_free(struct kfs_named *n)
{
	if (!n)
		return;
	kfs_named_close(n, 0);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->commit_lock);
	kfs_nstate_clear(&n->start);
	kfs_nstate_clear(&n->delivered);
	free(n);
}

/* Sequence numbers are decimal without leading zeros: the longer is
 * the greater. */
static int seq_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

/* 1 when q is further than p (a reader that went back and reads again
 * does not move its name back). */
static int further(const struct kfs_npos *p, const struct kfs_npos *q)
{
	int c;

	if (p->done || !q->seq[0])
		return q->done && !p->done;
	if (q->done || !p->seq[0])
		return 1;
	c = seq_cmp(q->seq, p->seq);
	if (c)
		return c > 0;
	if (p->sub < 0)
		return 0;
	return q->sub < 0 || q->sub > p->sub;
}

void kfs_named_deliver(struct kfs_named *n, const struct kfs_npos *v,
		       size_t count, const struct kfs_named_lag *lag)
{
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < count; i++) {
		struct kfs_npos *p = kfs_nstate_get(&n->delivered, v[i].shard);

		if (!p) {
			kfs_warn("named reader %s/%s: out of memory: a position "
				 "is not kept (read again at the next use)",
				 n->stream, n->name);
			continue;
		}
		if (!further(p, &v[i]))
			continue;
		if (v[i].seq[0] || !p->seq[0])
			*p = v[i];
		else
			p->done = 1;   /* done, where it was */
		n->changed = 1;
	}
	n->lag = *lag;
	pthread_mutex_unlock(&n->lock);
}

int kfs_named_list(struct kfs_named_table *t, const char *stream, char **out,
		   size_t *len, size_t *n)
{
	char dir[PATH_MAX];
	FILE *f;
	DIR *d;
	struct dirent *e;

	*out = NULL;
	*len = *n = 0;
	if (snprintf(dir, sizeof(dir), "%s/%s", t->dir, stream) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	d = opendir(dir);
	while (d && (e = readdir(d)) != NULL) {
		if (!kfs_named_valid(e->d_name, strlen(e->d_name)))
			continue;
		fwrite(e->d_name, 1, strlen(e->d_name) + 1, f);
		(*n)++;
	}
	if (d)
		closedir(d);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int kfs_named_load(struct kfs_named_table *t, const char *stream,
		   const char *name, struct kfs_nstate *out, int *open,
		   struct kfs_nstate *live, struct kfs_named_lag *lag)
{
	struct kfs_named *n;
	int err = state_read(t, stream, name, out);

	*open = 0;
	*lag = (struct kfs_named_lag){ -1, -1, -1 };
	pthread_mutex_lock(&t->lock);
	n = find_open(t, stream, name);
	if (n) {
		pthread_mutex_lock(&n->lock);
		if (kfs_nstate_copy(live, &n->delivered) == 0) {
			*open = 1;
			*lag = n->lag;
		}
		pthread_mutex_unlock(&n->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

int kfs_named_reset(struct kfs_named_table *t, const char *stream,
		    int64_t stream_created_ms, const char *name,
		    const struct kfs_position *pos)
{
	struct kfs_nstate s = { 0 };
	int err;

	pthread_mutex_lock(&t->lock);
	if (find_open_settled(t, stream, name)) {
		err = -EBUSY;
	} else {
		make_fresh(&s, stream_created_ms, pos);
		err = state_write(t, stream, name, &s);
	}
	pthread_mutex_unlock(&t->lock);
	kfs_nstate_clear(&s);
	return err;
}

int kfs_named_remove(struct kfs_named_table *t, const char *stream,
		     const char *name)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int err;

	pthread_mutex_lock(&t->lock);
	if (find_open_settled(t, stream, name))
		err = -EBUSY;
	else if ((err = state_path(t, stream, name, 0, path, sizeof(path))) == 0 &&
		 unlink(path) < 0)
		err = -errno;
	pthread_mutex_unlock(&t->lock);
	if (!err && snprintf(dir, sizeof(dir), "%s/%s", t->dir, stream) <
			    (int)sizeof(dir)) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return err;
}

int kfs_named_commit_open(struct kfs_named_table *t, const char *stream,
			  const char *name)
{
	struct kfs_named *n;
	int err;

	/* Under the table lock: the reader cannot be released meanwhile. */
	pthread_mutex_lock(&t->lock);
	n = find_open(t, stream, name);
	err = n ? kfs_named_commit(n) : -ENOENT;
	pthread_mutex_unlock(&t->lock);
	return err;
}

void kfs_named_each_open(struct kfs_named_table *t,
			 void (*fn)(void *arg, struct kfs_named *n), void *arg)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_open; i++)
		fn(arg, t->open[i]);
	pthread_mutex_unlock(&t->lock);
}
