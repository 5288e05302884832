/*
 * ops.c - the FUSE operations: path -> (stream, shard | key) resolution,
 * writers (line framing, acknowledgements) and readers (cursors over shard
 * iterators).  Only backend.h and producer.h are used to reach the engine.
 */
#define FUSE_USE_VERSION 31
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <linux/falloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/metrics.h"
#include "fs/path.h"
#include "fs/reader.h"
#include "lib/cancel.h"
#include "lib/log.h"
#include "lib/util.h"

#define KFS_XATTR_PREFIX "user.kinesis."
#define KFS_WAIT_SLICE_MS 100  /* a waiting read looks for interrupts */

/* One open file. */
struct kfs_handle {
	struct kfs_fs *fs;                    /* owner */
	enum kfs_node kind;                   /* SHARD, KEY or SVIEW */
	char stream[KFS_STREAM_NAME_MAX + 1]; /* its stream */
	char name[NAME_MAX + 1];              /* shard id or partition key */
	char full[NAME_MAX + 1];              /* the name opened, for messages */
	char ehk[KFS_HASH_KEY_MAX];           /* shard files: the shard's starting hash key */
	int readable;                         /* opened for reading */
	int writable;                         /* opened for writing */
	int nonblock;                         /* O_NONBLOCK: no waiting at the tip */

	/* Linger-thread and poll-thread bookkeeping. */
	int refs;                             /* protected by tails lock */
	int on_tails;                         /* protected by tails lock */
	struct kfs_handle *tnext, *tprev;     /* protected by tails lock */
	struct kfs_handle *onext, *oprev;     /* fs->open; protected by tails lock */
	struct fuse_pollhandle *ph;           /* protected by poll lock */
	struct kfs_handle *pnext;             /* protected by poll lock */
	int on_pollers;                       /* protected by poll lock */
	struct kfs_handle *tnext_poll;        /* the poll thread's own list */

	pthread_mutex_t lock;                 /* "handle lock": protects below */
	/* writing */
	struct kfs_ack ack;                   /* results of records handed over */
	char *line;                           /* partial line not yet sent */
	size_t line_len, line_cap;
	int discarding;                       /* dropping an oversized line up to its newline */
	size_t retry_len;                     /* a write failed with EFBIG that may come again: its length */
	uint64_t retry_hash;                  /* and the hash of its bytes */
	int64_t tail_ms;                      /* monotonic ms the partial line began */
	/* reading */
	struct kfs_reader *rd;                /* the cursor, when readable */
	char *doc;                            /* @metrics: the document of this open,
					       * made before the open returns and
					       * only read after: no lock */
	size_t doc_len;                       /* its length */
};

static struct fuse_pollhandle *pollers_del(struct kfs_handle *h, int *was);
static int wait_cancelled(void);

static struct kfs_fs *get_fs(void)
{
	return fuse_get_context()->private_data;
}

/* Copies a name for a log line, control bytes as \xNN: a name holding a
 * newline must not make two lines (or forge one). */
static const char *log_name(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	for (; *s && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/* Logs one line for a failed operation and returns err. */
static int fail(int err, const char *op, const struct kfs_path *p,
		const char *reason)
{
	const char *key = p->kind >= KFS_NODE_SHARD ? p->full : "";
	char sbuf[4 * KFS_STREAM_NAME_MAX + 8], kbuf[4 * NAME_MAX + 8];
	const char *stream = log_name(p->stream, sbuf, sizeof(sbuf));

	key = log_name(key, kbuf, sizeof(kbuf));
	if (err == -ENOENT)
		kfs_info("%s %s%s%s: %s", op, stream, *key ? "/" : "", key,
			 reason ? reason : strerror(-err));
	else
		kfs_err("%s %s%s%s: %s", op, stream, *key ? "/" : "", key,
			reason ? reason : strerror(-err));
	return err;
}

/*
 * kfs_path_parse, but a component longer than NAME_MAX is ENAMETOOLONG:
 * the kernel passes FUSE names of up to 1024 bytes (4095 on recent
 * kernels), which no file here can have
 * (docs/semantics.md, "Bad inputs").  p is filled for messages either way.
 */
static int parse_path(const char *path, struct kfs_path *p)
{
	int err = kfs_path_parse(path, p);
	const char *s = path;

	while (*s) {
		size_t n = strcspn(s, "/");

		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		s += n;
		s += strspn(s, "/");
	}
	return err;
}

/* Resolves a path that must exist; fills the stream and shard as asked.
 * A shard view's shard is always looked up. */
static int resolve(struct kfs_fs *fs, const char *op, const char *path,
		   struct kfs_path *p, struct kfs_stream_desc *sd,
		   struct kfs_shard_desc *shd)
{
	struct kfs_stream_desc tmp;
	struct kfs_shard_desc tmp_shd;
	int err = parse_path(path, p);

	if (err == -ENAMETOOLONG)
		return fail(err, op, p, "a name is at most 255 bytes");
	if (err == -EINVAL)
		return fail(err, op, p, "not a view: POSITION is TRIM_HORIZON, "
			    "LATEST, AT_SEQUENCE_NUMBER=N, AFTER_SEQUENCE_NUMBER=N "
			    "or AT_TIMESTAMP=T, then optionally .jsonl");
	if (err)
		return fail(err, op, p, "no such file");
	if (p->kind == KFS_NODE_ROOT || p->kind == KFS_NODE_METRICS)
		return 0;
	if (!p->valid_stream)
		return fail(-ENOENT, op, p, "no such stream");
	err = fs->be->ops->describe_stream(fs->be->impl, p->stream, sd ? sd : &tmp);
	if (err)
		return fail(err, op, p, err == -ENOENT ? "no such stream" : NULL);
	if (p->kind == KFS_NODE_SHARD && (shd || p->view)) {
		err = fs->be->ops->describe_shard(fs->be->impl, p->stream,
						  p->name, shd ? shd : &tmp_shd);
		if (err)
			return fail(err, op, p, err == -ENOENT ? "no such shard"
				    : NULL);
	}
	return 0;
}

/* 1 for views: names with a position, which follow. */
static int is_view(const struct kfs_path *p)
{
	return p->view || p->kind == KFS_NODE_SVIEW;
}

static void fill_times(struct stat *st, int64_t ms)
{
	st->st_mtim.tv_sec = ms / 1000;
	st->st_mtim.tv_nsec = (ms % 1000) * 1000000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

/* -o read_only: every change is refused, whatever the kernel let by. */
static int refuse_read_only(const struct kfs_fs *fs, const char *op,
			    const struct kfs_path *p)
{
	return fs->opt->read_only ? fail(-EROFS, op, p, "mounted read-only")
				  : 0;
}

/* Views: read-only, no size (they follow), the time of asking. */
static void view_attr(const struct kfs_fs *fs, struct stat *st)
{
	st->st_mode = S_IFREG | (fs->opt->file_mode & 0555);
	st->st_nlink = 1;
	fill_times(st, kfs_now_ms());
}

static int kfs_getattr(const char *path, struct stat *st,
		       struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct kfs_stream_desc sd;
	struct kfs_shard_desc shd;
	int err = resolve(fs, "stat", path, &p, &sd, &shd);

	if (err)
		return err;
	memset(st, 0, sizeof(*st));
	st->st_uid = fs->opt->uid;
	st->st_gid = fs->opt->gid;
	st->st_blksize = 4096;
	switch (p.kind) {
	case KFS_NODE_ROOT:
		st->st_mode = S_IFDIR | fs->opt->dir_mode;
		st->st_nlink = 2;
		fill_times(st, fs->start_ms);
		break;
	case KFS_NODE_STREAM:
		st->st_mode = S_IFDIR | fs->opt->dir_mode;
		st->st_nlink = 2;
		fill_times(st, sd.creation_ms);
		break;
	case KFS_NODE_SHARD:
		if (p.view) {
			view_attr(fs, st);
			break;
		}
		st->st_mode = S_IFREG | fs->opt->file_mode;
		st->st_nlink = 1;
		if (shd.bytes[fs->opt->framing] >= 0)
			st->st_size = shd.bytes[fs->opt->framing];
		else if (fs->sizes)
			st->st_size = (off_t)kfs_sizes_get(fs->sizes, p.stream,
							   sd.creation_ms, p.name);
		st->st_blocks = (st->st_size + 511) / 512;
		fill_times(st, sd.creation_ms);
		if (shd.newest_arrival_ms >= 0) {
			st->st_mtim.tv_sec = shd.newest_arrival_ms / 1000;
			st->st_mtim.tv_nsec =
				(shd.newest_arrival_ms % 1000) * 1000000;
		}
		break;
	case KFS_NODE_SVIEW:
		view_attr(fs, st);
		break;
	case KFS_NODE_METRICS: {
		/* The size of the document if it were opened now. */
		char *doc;
		size_t len;

		view_attr(fs, st);
		if (kfs_metrics_render(fs->metrics, fs->prod, &doc, &len) == 0) {
			st->st_size = (off_t)len;
			free(doc);
		}
		break;
	}
	default:
		if (p.view) {
			view_attr(fs, st);
			break;
		}
		/* A key file: any name; its size is not known without
		 * reading every record of the key. */
		st->st_mode = S_IFREG | fs->opt->file_mode;
		st->st_nlink = 1;
		fill_times(st, sd.creation_ms);
		break;
	}
	return 0;
}

static int kfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		       off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, "readdir", path, &p, NULL, NULL);

	if (err)
		return err;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (p.kind == KFS_NODE_ROOT) {
		struct kfs_name_list l = { 0 };
		err = fs->be->ops->list_streams(fs->be->impl, &l);
		if (err)
			return fail(err, "list streams", &p, NULL);
		for (size_t i = 0; i < l.n; i++)
			filler(buf, l.v[i], NULL, 0, 0);
		kfs_name_list_clear(&l);
	} else if (p.kind == KFS_NODE_STREAM) {
		struct kfs_shard_list l = { 0 };
		err = fs->be->ops->list_shards(fs->be->impl, p.stream, &l);
		if (err)
			return fail(err, "list shards", &p, NULL);
		for (size_t i = 0; i < l.n; i++)
			filler(buf, l.v[i].id, NULL, 0, 0);
		kfs_shard_list_clear(&l);
	} else {
		return -ENOTDIR;
	}
	return 0;
}

static int kfs_mkdir(const char *path, mode_t mode)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = parse_path(path, &p);

	if (err == -ENAMETOOLONG)
		return fail(err, "mkdir", &p, "a name is at most 255 bytes");
	if (err || p.kind != KFS_NODE_STREAM)
		return fail(-EPERM, "mkdir", &p, "streams hold no directories");
	if ((err = refuse_read_only(fs, "mkdir", &p)))
		return err;
	if (!p.valid_stream)
		return fail(-EINVAL, "mkdir", &p, "a stream name is 1 to 128 of "
			    "[a-zA-Z0-9_.-]");
	err = fs->be->ops->create_stream(fs->be->impl, p.stream, fs->opt->shards);
	if (err)
		return fail(err, "create stream", &p,
			    err == -EEXIST ? "stream exists" : NULL);
	return 0;
}

static int kfs_rmdir(const char *path)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, "rmdir", path, &p, NULL, NULL);

	if (err)
		return err;
	if (p.kind != KFS_NODE_STREAM)
		return fail(p.kind == KFS_NODE_ROOT ? -EBUSY : -ENOTDIR, "rmdir",
			    &p, NULL);
	if ((err = refuse_read_only(fs, "rmdir", &p)))
		return err;
	if (!fs->opt->allow_delete)
		return fail(-EPERM, "delete stream", &p,
			    "deleting streams needs -o allow_delete");
	err = fs->be->ops->delete_stream(fs->be->impl, p.stream);
	if (err)
		return fail(err, "delete stream", &p, NULL);
	kfs_metrics_forget(fs->metrics, p.stream);
	kfs_info("deleted stream %s", p.stream);
	return 0;
}

static int kfs_unlink(const char *path)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, "unlink", path, &p, NULL, NULL);

	if (err)
		return err;
	return fail(-EPERM, "unlink", &p, p.kind == KFS_NODE_SHARD
		    ? "shards are removed by retention or resharding, not unlink"
		    : p.kind == KFS_NODE_METRICS ? "the metrics file cannot be removed"
		    : "records cannot be removed");
}

static int kfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct kfs_path p;

	kfs_path_parse(from, &p);
	return fail(-EXDEV, "rename", &p, "streams and records cannot be "
		    "renamed");
}

static int deny(const char *op, const char *path)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, op, path, &p, NULL, NULL);

	return err ? err : fail(-EPERM, op, &p, "not supported by kinesisfs");
}

/* link, symlink, mknod: the new name need not exist (it must not), so it
 * is not looked up: EPERM whatever it is (docs/semantics.md). */
static int deny_new(const char *op, const char *path)
{
	struct kfs_path p;
	int err = parse_path(path, &p);

	if (err == -ENAMETOOLONG)
		return fail(err, op, &p, "a name is at most 255 bytes");
	return fail(-EPERM, op, &p, "not supported by kinesisfs");
}

static int kfs_link(const char *from, const char *to)
{
	return deny_new("link", to);
}

static int kfs_symlink(const char *target, const char *path)
{
	return deny_new("symlink", path);
}

static int kfs_mknod(const char *path, mode_t mode, dev_t dev)
{
	return deny_new("mknod", path);
}

static int kfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return deny("chmod", path);
}

static int kfs_chown(const char *path, uid_t uid, gid_t gid,
		     struct fuse_file_info *fi)
{
	return deny("chown", path);
}

/* Truncation to 0 is accepted and ignored (SPEC 3), so that `>` works;
 * to any other size it is refused: records cannot be removed, nor a file
 * extended with zeros (docs/semantics.md). */
static int kfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, "truncate", path, &p, NULL, NULL);

	if (err)
		return err;
	if (p.kind == KFS_NODE_METRICS)
		return fail(-EACCES, "truncate", &p, "the metrics file is "
			    "read-only");
	if (p.kind != KFS_NODE_SHARD && p.kind != KFS_NODE_KEY &&
	    p.kind != KFS_NODE_SVIEW)
		return fail(-EISDIR, "truncate", &p, NULL);
	if (is_view(&p))
		return fail(-EACCES, "truncate", &p, "views are read-only");
	if ((err = refuse_read_only(fs, "truncate", &p)))
		return err;
	if (size != 0)
		return fail(-EPERM, "truncate", &p, "only truncation to size 0 "
			    "is accepted (and ignored): records cannot be "
			    "removed or added by truncate");
	return 0;
}

/*
 * fallocate on a writer: space for records is not reserved ahead, so a
 * plain allocation (mode 0, or FALLOC_FL_KEEP_SIZE) is accepted and
 * ignored, as truncation to 0 is.  Answering EOPNOTSUPP instead would make
 * glibc's posix_fallocate fall back to writing a zero byte per block,
 * which would reach the stream as data.  Holes, zeroing and collapsing
 * have no meaning for records: EOPNOTSUPP.
 */
static int kfs_fallocate(const char *path, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, "fallocate", path, &p, NULL, NULL);

	(void)off;
	(void)len;
	(void)fi;
	if (err)
		return err;
	if ((err = refuse_read_only(fs, "fallocate", &p)))
		return err;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return fail(-EOPNOTSUPP, "fallocate", &p, "records have no "
			    "holes: only plain allocation is accepted (and "
			    "ignored)");
	return 0;
}

static int kfs_utimens(const char *path, const struct timespec tv[2],
		       struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;

	/* Times come from the records; touch succeeds and changes nothing. */
	return resolve(fs, "utimens", path, &p, NULL, NULL);
}

static int kfs_statfs(const char *path, struct statvfs *st)
{
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = NAME_MAX;
	return 0;
}

/* ---- handles ------------------------------------------------------- */

static void handle_unref(struct kfs_handle *h)
{
	struct kfs_fs *fs = h->fs;
	int last;

	pthread_mutex_lock(&fs->tails_lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&fs->tails_lock);
	if (!last)
		return;
	kfs_ack_destroy(&h->ack);
	pthread_mutex_destroy(&h->lock);
	free(h->doc);
	free(h->line);
	kfs_reader_free(h->rd);
	free(h);
}

/* Every handle the kernel holds is on fs->open, so that those it never
 * releases (files still open when SIGTERM ends the mount) are freed at
 * exit rather than leaked. */
static void open_add(struct kfs_handle *h)
{
	struct kfs_fs *fs = h->fs;

	pthread_mutex_lock(&fs->tails_lock);
	h->oprev = NULL;
	h->onext = fs->open;
	if (fs->open)
		fs->open->oprev = h;
	fs->open = h;
	pthread_mutex_unlock(&fs->tails_lock);
}

static void open_del_locked(struct kfs_handle *h)
{
	struct kfs_fs *fs = h->fs;

	if (h->oprev)
		h->oprev->onext = h->onext;
	else
		fs->open = h->onext;
	if (h->onext)
		h->onext->oprev = h->oprev;
	h->onext = h->oprev = NULL;
}

static void open_del(struct kfs_handle *h)
{
	pthread_mutex_lock(&h->fs->tails_lock);
	open_del_locked(h);
	pthread_mutex_unlock(&h->fs->tails_lock);
}

static void tails_add(struct kfs_handle *h)
{
	struct kfs_fs *fs = h->fs;

	pthread_mutex_lock(&fs->tails_lock);
	if (!h->on_tails) {
		h->on_tails = 1;
		h->tprev = NULL;
		h->tnext = fs->tails;
		if (fs->tails)
			fs->tails->tprev = h;
		fs->tails = h;
		h->refs++;
		pthread_cond_signal(&fs->tails_cond);
	}
	pthread_mutex_unlock(&fs->tails_lock);
}

/* Unlinks h from the tails list; called with the tails lock held.
 * Returns 1 when it was there (the caller owes an unref). */
static int tails_del_locked(struct kfs_handle *h)
{
	struct kfs_fs *fs = h->fs;

	if (!h->on_tails)
		return 0;
	if (h->tprev)
		h->tprev->tnext = h->tnext;
	else
		fs->tails = h->tnext;
	if (h->tnext)
		h->tnext->tprev = h->tprev;
	h->on_tails = 0;
	h->tnext = h->tprev = NULL;
	return 1;
}

static void tails_del(struct kfs_handle *h)
{
	int was;

	pthread_mutex_lock(&h->fs->tails_lock);
	was = tails_del_locked(h);
	pthread_mutex_unlock(&h->fs->tails_lock);
	if (was)
		handle_unref(h);
}

/* Hands records (of the handle's key) to the producer; handle lock held.
 * *n is set to 0.  0 or -errno. */
static int put_lines(struct kfs_handle *h, const struct iovec *v, size_t *n)
{
	struct kfs_fs *fs = h->fs;
	int err;

	if (*n == 0)
		return 0;
	err = kfs_producer_put_many(fs->prod, h->stream, h->name,
				    h->kind == KFS_NODE_SHARD ? h->ehk : NULL,
				    v, *n, &h->ack);
	*n = 0;
	if (err == -ESHUTDOWN)
		err = -EIO;
	if (err)
		kfs_err("write %s/%s: record not queued: %s", h->stream, h->name,
			strerror(-err));
	return err;
}

/* Hands one record to the producer; handle lock held. */
static int put_record(struct kfs_handle *h, const void *data, size_t len)
{
	struct iovec v = { .iov_base = (void *)data, .iov_len = len };
	size_t n = 1;

	return put_lines(h, &v, &n);
}

/* tail_ms is also read by the linger thread without the handle lock. */
static void set_tail_ms(struct kfs_handle *h, int64_t ms)
{
	__atomic_store_n(&h->tail_ms, ms, __ATOMIC_RELAXED);
}

/* Sends the partial line, if any, as its own record; handle lock held. */
static int send_tail(struct kfs_handle *h)
{
	int err = 0;

	if (h->line_len > 0)
		err = put_record(h, h->line, h->line_len);
	h->line_len = 0;
	set_tail_ms(h, 0);
	return err;
}

static int record_fits(struct kfs_handle *h, size_t len)
{
	return len + strlen(h->name) <= h->fs->opt->max_record_size;
}

static int efbig(struct kfs_handle *h, size_t len)
{
	kfs_metrics_add(h->fs->metrics, h->stream, KFS_M_RECORDS_REJECTED, 1);
	kfs_err("write %s/%s: record of %zu bytes or more is over the limit of "
		"%zu bytes (data plus key); nothing of it was sent",
		h->stream, h->name, len, h->fs->opt->max_record_size);
	return -EFBIG;
}

/* FNV-1a, to recognize a failed write when it is sent again. */
static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Buffers a partial line; handle lock held. */
static int keep_partial(struct kfs_handle *h, const char *s, size_t n)
{
	size_t total = h->line_len + n;

	if (total > h->line_cap) {
		size_t cap = h->line_cap ? h->line_cap : 256;
		char *l;

		while (cap < total)
			cap *= 2;
		l = realloc(h->line, cap);
		if (!l)
			return -ENOMEM;
		h->line = l;
		h->line_cap = cap;
	}
	memcpy(h->line + h->line_len, s, n);
	if (h->line_len == 0)
		set_tail_ms(h, kfs_mono_ms());
	h->line_len = total;
	return 0;
}

/*
 * record=line: every complete line is a record.  Returns the bytes taken,
 * or -errno.  Called with the handle lock held.
 *
 * A line over the limit is never sent, not even in part, and its writer
 * always sees EFBIG (docs/semantics.md).  The kernel may split one
 * write(2) into several FUSE writes; when a later piece fails, write(2)
 * returns a short count and the program sends the rest again, so:
 *  - complete lines before the oversized one are taken, and the write
 *    returns a short count ending where the oversized line starts;
 *  - the write that takes a line over the limit fails with EFBIG; if the
 *    line goes on past it, following writes fail with EFBIG up to and
 *    including the one holding the line's newline;
 *  - if the line began in an earlier write and ends in the failing one,
 *    that failing write is remembered: when it comes again (the rest of a
 *    split write(2)), it fails with EFBIG again instead of being taken as
 *    new lines.
 */
/* Complete lines of one write handed to the producer at once. */
#define LINES_BATCH 1024

static int write_lines(struct kfs_handle *h, const char *buf, size_t size)
{
	struct iovec v[LINES_BATCH];
	size_t off = 0, nv = 0, batch_off = 0;
	int err;

	v[0].iov_base = NULL; /* (put_lines reads none while nv is 0) */
	v[0].iov_len = 0;
	if (h->retry_len) {
		size_t n = h->retry_len;

		h->retry_len = 0;
		if (size >= n && hash_bytes(buf, n) == h->retry_hash)
			return -EFBIG;
	}
	if (h->discarding) {
		if (memchr(buf, '\n', size))
			h->discarding = 0;
		return -EFBIG;
	}
	/* Lines collected in v (from batch_off on) are queued before
	 * anything else is done with the handle, so order is kept; when
	 * queuing fails, none of them is taken. */
	while (off < size) {
		const char *s = buf + off;
		const char *nl = memchr(s, '\n', size - off);
		size_t n = nl ? (size_t)(nl - s) + 1 : size - off;
		size_t total = h->line_len + n;

		if (!record_fits(h, total)) {
			if ((err = put_lines(h, v, &nv)) != 0)
				return batch_off ? (int)batch_off : err;
			if (h->line_len == 0 && off > 0)
				return (int)off; /* the rest comes again */
			efbig(h, total);
			if (!nl) {
				h->discarding = 1;
			} else if (h->line_len > 0) {
				h->retry_len = (size_t)(nl - buf) + 1;
				h->retry_hash = hash_bytes(buf, h->retry_len);
			}
			h->line_len = 0;
			set_tail_ms(h, 0);
			return -EFBIG;
		}
		if (!nl) {
			/* A partial line: keep it for the next write. */
			if ((err = put_lines(h, v, &nv)) != 0)
				return batch_off ? (int)batch_off : err;
			err = keep_partial(h, s, n);
			if (err)
				return off ? (int)off : err;
			tails_add(h);
			break;
		}
		if (h->line_len == 0) {
			if (nv == 0)
				batch_off = off;
			v[nv].iov_base = (void *)s;
			v[nv++].iov_len = n;
			off += n;
			if (nv == LINES_BATCH &&
			    (err = put_lines(h, v, &nv)) != 0)
				return batch_off ? (int)batch_off : err;
			continue;
		}
		/* The end of a line begun in an earlier write comes first
		 * (nv is 0: it can only be the first line).  h->line holds it
		 * until put_lines(): nothing is kept before that. */
		err = keep_partial(h, s, n);
		if (err) {
			h->line_len = 0;
			set_tail_ms(h, 0);
			return off ? (int)off : err;
		}
		batch_off = off;
		v[nv].iov_base = h->line;
		v[nv++].iov_len = h->line_len;
		h->line_len = 0;
		set_tail_ms(h, 0);
		off += n;
	}
	if ((err = put_lines(h, v, &nv)) != 0)
		return batch_off ? (int)batch_off : err;
	return (int)size;
}

static int kfs_write(const char *path, const char *buf, size_t size,
		     off_t offset, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;
	int ret;

	if (!h->writable)
		return -EBADF;
	if (size == 0)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (h->fs->opt->framing == KFS_FRAMING_WRITE) {
		if (!record_fits(h, size))
			ret = efbig(h, size);
		else
			ret = put_record(h, buf, size);
		if (ret == 0)
			ret = (int)size;
	} else {
		ret = write_lines(h, buf, size);
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* Sends the tail and waits for every record of the handle. */
static int settle(struct kfs_handle *h)
{
	int err;

	pthread_mutex_lock(&h->lock);
	err = send_tail(h);
	pthread_mutex_unlock(&h->lock);
	tails_del(h);
	kfs_producer_kick(h->fs->prod, h->stream);
	{
		int e2 = kfs_ack_wait(&h->ack);
		if (!err)
			err = e2;
	}
	return err;
}

static int kfs_flush(const char *path, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;

	if (!h->writable)
		return 0;
	return settle(h);
}

static int kfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;
	struct kfs_fs *fs = h->fs;
	int err;

	if (!h->writable)
		return 0;
	err = settle(h);
	if (!err && fs->be->ops->sync) {
		err = fs->be->ops->sync(fs->be->impl, h->stream);
		if (err)
			kfs_err("fsync %s/%s: %s", h->stream, h->name,
				strerror(-err));
	}
	return err;
}

static int open_handle(const char *op, const char *path,
		       struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct kfs_stream_desc sd;
	struct kfs_shard_desc shd;
	struct kfs_handle *h;
	int acc = fi->flags & O_ACCMODE;
	int err = resolve(fs, op, path, &p, &sd, &shd);

	if (err)
		return err;
	if (p.kind == KFS_NODE_ROOT || p.kind == KFS_NODE_STREAM)
		return fail(-EISDIR, op, &p, NULL);
	if (p.kind == KFS_NODE_METRICS && acc != O_RDONLY)
		return fail(-EACCES, op, &p, "the metrics file is read-only");
	if (is_view(&p) && acc != O_RDONLY)
		return fail(-EACCES, op, &p, "views are read-only: write to "
			    "the shard or key file");
	if (acc != O_RDONLY && (err = refuse_read_only(fs, op, &p)))
		return err;
	/* On AWS a partition key is a Unicode string: a key the service
	 * would refuse is refused at open rather than at the first flush.
	 * The local engine stores any bytes (docs/semantics.md, "Bad
	 * inputs"; JSON lines show U+FFFD for a bad byte). */
	if (p.kind == KFS_NODE_KEY && acc != O_RDONLY &&
	    !(fs->be->ops->caps & KFS_CAP_BINARY_KEYS) &&
	    !kfs_utf8_valid(p.name, strlen(p.name)))
		return fail(-EINVAL, op, &p, "a partition key must be valid "
			    "UTF-8");
	h = calloc(1, sizeof(*h));
	if (!h)
		return fail(-ENOMEM, op, &p, NULL);
	h->fs = fs;
	h->kind = p.kind;
	strcpy(h->stream, p.stream);
	strcpy(h->name, p.name);
	strcpy(h->full, p.full);
	if (p.kind == KFS_NODE_SHARD)
		strcpy(h->ehk, shd.hash_start);
	h->readable = acc == O_RDONLY || acc == O_RDWR;
	h->writable = acc == O_WRONLY || acc == O_RDWR;
	h->nonblock = (fi->flags & O_NONBLOCK) != 0;
	h->refs = 1;
	pthread_mutex_init(&h->lock, NULL);
	kfs_ack_init(&h->ack);
	if (p.kind == KFS_NODE_METRICS) {
		/* A snapshot per open: every read sees one document. */
		err = kfs_metrics_render(fs->metrics, fs->prod, &h->doc,
					 &h->doc_len);
		if (err) {
			handle_unref(h);
			return fail(err, op, &p, NULL);
		}
	} else if (h->readable) {
		struct kfs_reader_spec spec = {
			.stream = p.stream,
			.kind = p.kind,
			.name = p.name,
			.pos = is_view(&p) ? &p.pos : NULL,
			.framing = fs->opt->framing,
			.sizes = fs->sizes,
			.created_ms = sd.creation_ms,
			.ahead = &fs->ahead,
			.metrics = fs->metrics,
		};
		char why[KFS_SEQ_MAX + 120];

		/* A view's position is looked up now: a signal ends it. */
		kfs_cancel_set(wait_cancelled);
		err = kfs_reader_open(fs->be, &spec, &h->rd, why, sizeof(why));
		kfs_cancel_set(NULL);
		if (err == -EINTR) {
			handle_unref(h);
			return err;
		}
		if (err) {
			handle_unref(h);
			return fail(err, op, &p, why[0] ? why : NULL);
		}
	}
	if (kfs_log_enabled(KFS_LOG_DEBUG)) {
		char sbuf[4 * KFS_STREAM_NAME_MAX + 8], kbuf[4 * NAME_MAX + 8];

		kfs_debug("%s %s/%s: for %s", op,
			  log_name(p.stream, sbuf, sizeof(sbuf)),
			  log_name(p.full, kbuf, sizeof(kbuf)),
			  acc == O_RDONLY ? "reading" :
			  acc == O_WRONLY ? "writing" : "reading and writing");
	}
	open_add(h);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	/* A view is a stream of records, but lseek succeeds on it (the kernel
	 * keeps the offset): head(1) puts the offset back after the lines it
	 * printed, and fails on a regular file that cannot seek.  A read
	 * elsewhere than where the view is goes through kfs_reader_read(),
	 * as on any file: behind, from the view's position again; ahead,
	 * records skipped. */
	return 0;
}

static int kfs_open(const char *path, struct fuse_file_info *fi)
{
	return open_handle("open", path, fi);
}

static int kfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct kfs_path p;

	if (parse_path(path, &p) == 0 && p.kind == KFS_NODE_STREAM)
		return fail(-EPERM, "create", &p,
			    "the root holds only streams (mkdir makes one)");
	return open_handle("create", path, fi);
}

/* Drops what an open of the kernel held of h, h being off fs->open: its
 * poll handle, its place among the pollers, and its reference. */
static void handle_close(struct kfs_handle *h)
{
	int was;
	struct fuse_pollhandle *ph = pollers_del(h, &was);

	if (ph)
		fuse_pollhandle_destroy(ph);
	if (was)
		handle_unref(h);
	handle_unref(h);
}

static int kfs_release(const char *path, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;

	if (h->writable) {
		/* flush() already reported errors to close(); anything
		 * left now has no one to report to but the log. */
		int err = settle(h);
		if (err)
			kfs_err("close %s/%s: %s", h->stream, h->name,
				strerror(-err));
	}
	open_del(h);
	handle_close(h);
	return 0;
}

/* ---- reading ------------------------------------------------------- */

/* 1 when the read in this thread should give up waiting: its caller was
 * interrupted (a signal), or the mount is going away. */
static int wait_cancelled(void)
{
	struct fuse_context *c = fuse_get_context();

	return fuse_interrupted() ||
	       (c && c->fuse && fuse_session_exited(fuse_get_session(c->fuse)));
}

/*
 * Waits for records of the handle's stream: until records are stored
 * through the mount, or a poll interval passed (records from elsewhere,
 * resharding).  Returns 0, or -EINTR when cancelled.
 */
static int wait_records(struct kfs_handle *h, uint64_t gen)
{
	struct kfs_fs *fs = h->fs;
	int64_t until = kfs_mono_ms() + fs->opt->poll_ms;

	for (;;) {
		int64_t left = until - kfs_mono_ms();

		if (wait_cancelled())
			return -EINTR;
		if (left <= 0)
			return 0;
		if (kfs_follow_wait(&fs->follow, h->stream, gen,
				    left < KFS_WAIT_SLICE_MS ? (int)left
							     : KFS_WAIT_SLICE_MS))
			return 0;
	}
}

static int kfs_read(const char *path, char *buf, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;
	struct kfs_fs *fs = h->fs;
	int nonblock = h->nonblock || (fi->flags & O_NONBLOCK);
	int follows, failing = 0;
	ssize_t n;

	if (offset < 0)
		return -EINVAL;
	if (h->kind == KFS_NODE_METRICS) {
		size_t off = (size_t)offset < h->doc_len ? (size_t)offset
							 : h->doc_len;
		size_t len = h->doc_len - off < size ? h->doc_len - off : size;

		if (len)
			memcpy(buf, h->doc + off, len);
		return (int)len;
	}
	if (!h->readable || !h->rd)
		return -EBADF;
	if (size > INT_MAX)
		size = INT_MAX;
	for (;;) {
		/* The generation before looking, so that records stored
		 * between the look and the wait are not missed. */
		uint64_t gen = kfs_follow_gen(&fs->follow, h->stream);

		pthread_mutex_lock(&h->lock);
		kfs_cancel_set(wait_cancelled);
		n = kfs_reader_read(h->rd, buf, size, (uint64_t)offset);
		kfs_cancel_set(NULL);
		follows = kfs_reader_follows(h->rd);
		pthread_mutex_unlock(&h->lock);
		if (n == -EIO && follows && !nonblock &&
		    (fs->be->ops->caps & KFS_CAP_OUTAGES)) {
			/* A follower outlasts the service's outages, as
			 * tail -f outlasts a quiet file: it looks again each
			 * poll interval, from where it was.  (On the local
			 * engine EIO is damage, which the reader must see.) */
			if (!failing)
				kfs_warn("read %s/%s: %s; trying again every "
					 "%d ms", h->stream, h->full,
					 strerror(EIO), fs->opt->poll_ms);
			failing = 1;
		} else if (n != -EAGAIN || nonblock) {
			break;
		}
		n = wait_records(h, gen);
		if (n < 0)
			return (int)n;   /* EINTR: not worth a log line */
	}
	if (failing && n >= 0)
		kfs_info("read %s/%s: reading again", h->stream, h->full);
	if (n < 0 && n != -EAGAIN && n != -EINTR) {
		kfs_err("read %s/%s: %s", h->stream, h->full, strerror((int)-n));
		return (int)n;
	}
	if (n > 0)
		kfs_metrics_add(fs->metrics, h->stream, KFS_M_BYTES_READ,
				(uint64_t)n);
	return (int)n;
}

/* ---- poll ---------------------------------------------------------- */

/* Adds h to the handles the poll thread watches, with ph (the previous
 * one, if any, is dropped). */
static void pollers_add(struct kfs_handle *h, struct fuse_pollhandle *ph)
{
	struct kfs_fs *fs = h->fs;
	struct fuse_pollhandle *old;
	int added = 0;

	pthread_mutex_lock(&fs->poll_lock);
	old = h->ph;
	h->ph = ph;
	if (!h->on_pollers) {
		h->on_pollers = 1;
		h->pnext = fs->pollers;
		fs->pollers = h;
		added = 1;
		pthread_cond_signal(&fs->poll_cond);
	}
	pthread_mutex_unlock(&fs->poll_lock);
	if (added) {
		pthread_mutex_lock(&fs->tails_lock);
		h->refs++;
		pthread_mutex_unlock(&fs->tails_lock);
	}
	if (old)
		fuse_pollhandle_destroy(old);
}

/* Takes h off the watched handles; returns its poll handle (or NULL) and
 * whether it was there (the caller owes an unref). */
static struct fuse_pollhandle *pollers_del(struct kfs_handle *h, int *was)
{
	struct kfs_fs *fs = h->fs;
	struct fuse_pollhandle *ph;

	pthread_mutex_lock(&fs->poll_lock);
	*was = h->on_pollers;
	if (h->on_pollers) {
		struct kfs_handle **pp = &fs->pollers;
		while (*pp != h)
			pp = &(*pp)->pnext;
		*pp = h->pnext;
		h->pnext = NULL;
		h->on_pollers = 0;
	}
	ph = h->ph;
	h->ph = NULL;
	pthread_mutex_unlock(&fs->poll_lock);
	return ph;
}

static int kfs_poll(const char *path, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph, unsigned *reventsp)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;
	int ready = 1;

	if (h->rd && kfs_reader_follows(h->rd)) {
		pthread_mutex_lock(&h->lock);
		ready = kfs_reader_poll(h->rd);
		pthread_mutex_unlock(&h->lock);
	}
	*reventsp = 0;
	if (ready != 0) {
		/* Data, the end, or an error that the read will tell. */
		*reventsp |= h->readable ? (POLLIN | POLLRDNORM) : 0;
		if (ready < 0)
			*reventsp |= POLLERR;
	}
	if (h->writable)
		*reventsp |= POLLOUT | POLLWRNORM;
	if (ph) {
		if (ready == 0)
			pollers_add(h, ph);   /* the poll thread tells */
		else
			fuse_pollhandle_destroy(ph);
	}
	return 0;
}

/*
 * The poll thread: when records are stored, and every poll interval,
 * looks again for the views being polled, and tells the kernel of those
 * that became readable.
 */
static void *poll_main(void *arg)
{
	struct kfs_fs *fs = arg;

	for (;;) {
		uint64_t gen = kfs_follow_any(&fs->follow);
		struct kfs_handle *ready = NULL, *h, *next;

		pthread_mutex_lock(&fs->poll_lock);
		/* With nobody polling, stores need not wake this thread: it
		 * sleeps until a poller comes (each store would otherwise
		 * cost a wake-up and a lock handed back and forth). */
		while (!fs->pollers && !fs->poll_stop) {
			pthread_cond_wait(&fs->poll_cond, &fs->poll_lock);
			gen = kfs_follow_any(&fs->follow);
		}
		if (fs->poll_stop) {
			pthread_mutex_unlock(&fs->poll_lock);
			break;
		}
		for (h = fs->pollers; h; h = h->pnext) {
			pthread_mutex_lock(&fs->tails_lock);
			h->refs++;
			pthread_mutex_unlock(&fs->tails_lock);
			h->tnext_poll = ready;
			ready = h;
		}
		pthread_mutex_unlock(&fs->poll_lock);
		for (h = ready; h; h = next) {
			int r = 0;

			next = h->tnext_poll;
			/* A read under way will see the records itself. */
			if (pthread_mutex_trylock(&h->lock) == 0) {
				r = kfs_reader_poll(h->rd);
				pthread_mutex_unlock(&h->lock);
			}
			if (r != 0) {
				int was;
				struct fuse_pollhandle *ph = pollers_del(h, &was);
				if (ph) {
					fuse_notify_poll(ph);
					fuse_pollhandle_destroy(ph);
				}
				if (was)
					handle_unref(h);
			}
			handle_unref(h);
		}
		kfs_follow_wait(&fs->follow, NULL, gen, fs->opt->poll_ms);
	}
	return NULL;
}

/* Stops the poll thread and drops the poll handles; before the session
 * goes. */
static void poll_stop(struct kfs_fs *fs)
{
	pthread_mutex_lock(&fs->poll_lock);
	fs->poll_stop = 1;
	pthread_cond_signal(&fs->poll_cond);
	pthread_mutex_unlock(&fs->poll_lock);
	kfs_follow_notify(&fs->follow, "");
	if (fs->poll_started)
		pthread_join(fs->poll_thread, NULL);
	fs->poll_started = 0;
	for (;;) {
		struct kfs_handle *h;
		struct fuse_pollhandle *ph;
		int was;

		pthread_mutex_lock(&fs->poll_lock);
		h = fs->pollers;
		pthread_mutex_unlock(&fs->poll_lock);
		if (!h)
			break;
		ph = pollers_del(h, &was);
		if (ph)
			fuse_pollhandle_destroy(ph);
		if (was)
			handle_unref(h);
	}
}

/* ---- extended attributes ------------------------------------------ */

#define KFS_XATTR_MAX 12

struct xattrs {
	size_t n;
	const char *name[KFS_XATTR_MAX];
	char value[KFS_XATTR_MAX][KFS_SEQ_MAX + KFS_STREAM_NAME_MAX + 200];
};

static void xadd(struct xattrs *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xadd(struct xattrs *x, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (x->n >= KFS_XATTR_MAX)
		return;
	x->name[x->n] = name;
	va_start(ap, fmt);
	vsnprintf(x->value[x->n], sizeof(x->value[0]), fmt, ap);
	va_end(ap);
	x->n++;
}

/* The extended attributes of a node, by value. */
static int xattrs_of(struct kfs_fs *fs, const char *op, const char *path,
		     struct kfs_path *p, struct xattrs *x)
{
	struct kfs_stream_desc sd;
	struct kfs_shard_desc shd;
	int err = resolve(fs, op, path, p, &sd, &shd);
	char t[40];

	x->n = 0;
	if (err)
		return err;
	if (p->kind == KFS_NODE_STREAM) {
		kfs_format_iso8601(sd.creation_ms, t, sizeof(t));
		xadd(x, "stream_name", "%s", sd.name);
		xadd(x, "arn", "%s", sd.arn);
		xadd(x, "status", "%s", kfs_stream_status_name(sd.status));
		xadd(x, "retention_hours", "%d", sd.retention_hours);
		xadd(x, "open_shard_count", "%d", sd.open_shard_count);
		xadd(x, "shard_count", "%d", sd.open_shard_count);
		xadd(x, "stream_mode", "%s", sd.mode);
		xadd(x, "creation_time", "%s", t);
	} else if (p->kind == KFS_NODE_SHARD) {
		xadd(x, "shard_id", "%s", shd.id);
		xadd(x, "state", "%s", shd.closed ? "CLOSED" : "OPEN");
		xadd(x, "hash_key_start", "%s", shd.hash_start);
		xadd(x, "hash_key_end", "%s", shd.hash_end);
		xadd(x, "sequence_number_start", "%s", shd.seq_start);
		if (shd.seq_end[0])
			xadd(x, "sequence_number_end", "%s", shd.seq_end);
		if (shd.parent[0])
			xadd(x, "parent_shard_id", "%s", shd.parent);
		if (shd.adjacent_parent[0])
			xadd(x, "adjacent_parent_shard_id", "%s",
			     shd.adjacent_parent);
	}
	return 0;
}

static int kfs_getxattr(const char *path, const char *name, char *value,
			size_t size)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct xattrs x;
	int err = xattrs_of(fs, "getxattr", path, &p, &x);
	size_t plen = strlen(KFS_XATTR_PREFIX);

	if (err)
		return err;
	if (strncmp(name, KFS_XATTR_PREFIX, plen) != 0)
		return -ENODATA;
	for (size_t i = 0; i < x.n; i++) {
		size_t len = strlen(x.value[i]);
		if (strcmp(name + plen, x.name[i]) != 0)
			continue;
		if (size == 0)
			return (int)len;
		if (size < len)
			return -ERANGE;
		memcpy(value, x.value[i], len);
		return (int)len;
	}
	return -ENODATA;
}

static int kfs_listxattr(const char *path, char *list, size_t size)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct xattrs x;
	size_t need = 0, plen = strlen(KFS_XATTR_PREFIX);
	int err = xattrs_of(fs, "listxattr", path, &p, &x);

	if (err)
		return err;
	for (size_t i = 0; i < x.n; i++)
		need += plen + strlen(x.name[i]) + 1;
	if (size == 0)
		return (int)need;
	if (size < need)
		return -ERANGE;
	for (size_t i = 0; i < x.n; i++) {
		list += sprintf(list, "%s%s", KFS_XATTR_PREFIX, x.name[i]) + 1;
	}
	return (int)need;
}

/* Parses an xattr value as a whole decimal number. */
static int xattr_int(const char *value, size_t size, long *out)
{
	char buf[32], *end;

	if (size == 0 || size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	if (buf[size - 1] == '\n')
		buf[size - 1] = '\0';
	errno = 0;
	*out = strtol(buf, &end, 10);
	if (errno || end == buf || *end)
		return -EINVAL;
	return 0;
}

static int kfs_setxattr(const char *path, const char *name, const char *value,
			size_t size, int flags)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	long v;
	int err = resolve(fs, "setxattr", path, &p, NULL, NULL);

	if (err || (err = refuse_read_only(fs, "setxattr", &p)))
		return err;
	if (p.kind == KFS_NODE_STREAM &&
	    strcmp(name, KFS_XATTR_PREFIX "retention_hours") == 0) {
		if (xattr_int(value, size, &v) || v < KFS_RETENTION_MIN_HOURS ||
		    v > KFS_RETENTION_MAX_HOURS)
			return fail(-EINVAL, "set retention", &p,
				    "retention_hours takes 24 to 8760");
		err = fs->be->ops->set_retention(fs->be->impl, p.stream, (int)v);
		if (err)
			return fail(err, "set retention", &p, NULL);
		kfs_info("stream %s: retention set to %ld hours", p.stream, v);
		return 0;
	}
	if (p.kind == KFS_NODE_STREAM &&
	    strcmp(name, KFS_XATTR_PREFIX "shard_count") == 0) {
		if (xattr_int(value, size, &v) || v < 1 || v > 100000)
			return fail(-EINVAL, "update shard count", &p,
				    "shard_count takes a positive number");
		err = fs->be->ops->update_shard_count(fs->be->impl, p.stream,
						       (int)v);
		if (err)
			return fail(err, "update shard count", &p, NULL);
		kfs_info("stream %s: shard count set to %ld", p.stream, v);
		return 0;
	}
	if (strncmp(name, KFS_XATTR_PREFIX, strlen(KFS_XATTR_PREFIX)) == 0)
		return fail(-EPERM, "setxattr", &p, "this attribute is read-only");
	return fail(-ENOTSUP, "setxattr", &p, "only user.kinesis.* attributes "
		    "exist");
}

static int kfs_removexattr(const char *path, const char *name)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = resolve(fs, "removexattr", path, &p, NULL, NULL);

	return err ? err : fail(-EPERM, "removexattr", &p,
				"attributes cannot be removed");
}

/* ---- linger thread, init, destroy ---------------------------------- */

/* Sends partial lines that have waited linger_ms. */
static void *tails_main(void *arg)
{
	struct kfs_fs *fs = arg;
	int linger = fs->opt->linger_ms;

	pthread_mutex_lock(&fs->tails_lock);
	while (!fs->tails_stop) {
		struct kfs_handle *due = NULL;
		int64_t now = kfs_mono_ms(), wait = -1;

		for (struct kfs_handle *h = fs->tails; h; h = h->tnext) {
			/* tail_ms is read without the handle lock: a stale
			 * value only makes us look again sooner or later. */
			int64_t t = __atomic_load_n(&h->tail_ms, __ATOMIC_RELAXED);
			int64_t left = t + linger - now;
			if (left <= 0) {
				due = h;
				break;
			}
			if (wait < 0 || left < wait)
				wait = left;
		}
		if (due) {
			tails_del_locked(due);
			pthread_mutex_unlock(&fs->tails_lock);
			pthread_mutex_lock(&due->lock);
			if (due->line_len > 0 &&
			    kfs_mono_ms() - due->tail_ms >= linger)
				send_tail(due);
			else if (due->line_len > 0)
				tails_add(due); /* refreshed meanwhile: it keeps its ref */
			pthread_mutex_unlock(&due->lock);
			handle_unref(due); /* the ref the list held */
			pthread_mutex_lock(&fs->tails_lock);
			continue;
		}
		if (wait < 0) {
			pthread_cond_wait(&fs->tails_cond, &fs->tails_lock);
		} else {
			struct timespec ts;
			kfs_deadline(&ts, wait);
			pthread_cond_timedwait(&fs->tails_cond, &fs->tails_lock,
					       &ts);
		}
	}
	pthread_mutex_unlock(&fs->tails_lock);
	return NULL;
}

/* Starts a thread of fs once (init may come again), under its lock;
 * logs `what` when it cannot. */
static void start_thread(struct kfs_fs *fs, pthread_mutex_t *lock,
			 int *started, pthread_t *thread,
			 void *(*fn)(void *), const char *what)
{
	pthread_mutex_lock(lock);
	if (!*started && pthread_create(thread, NULL, fn, fs) == 0)
		*started = 1;
	pthread_mutex_unlock(lock);
	if (!*started)
		kfs_err("cannot start %s", what);
}

static void *kfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct kfs_fs *fs = get_fs();

	/* Sizes and times change with every record: no attribute cache. */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 1;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	cfg->direct_io = 1;
	/* One FUSE write per write(2) up to 1 MiB, so that record=write
	 * keeps a record whole. */
	conn->max_write = 1u << 20;
	start_thread(fs, &fs->tails_lock, &fs->tails_started, &fs->tails_thread,
		     tails_main, "the linger thread: partial lines wait for "
		     "fsync or close");
	start_thread(fs, &fs->poll_lock, &fs->poll_started, &fs->poll_thread,
		     poll_main, "the poll thread: poll(2) on views waits for a "
		     "read");
	return fs;
}

static void kfs_destroy(void *private_data)
{
	poll_stop(private_data);
}

void kfs_fs_on_stored(void *arg, const char *stream)
{
	struct kfs_fs *fs = arg;

	kfs_follow_notify(&fs->follow, stream);
}

void kfs_fs_init(struct kfs_fs *fs, struct kfs_backend *be,
		 struct kfs_producer *prod, const struct kfs_options *opt)
{
	memset(fs, 0, sizeof(*fs));
	fs->be = be;
	fs->prod = prod;
	fs->opt = opt;
	fs->start_ms = kfs_now_ms();
	pthread_mutex_init(&fs->tails_lock, NULL);
	pthread_cond_init(&fs->tails_cond, NULL);
	pthread_mutex_init(&fs->poll_lock, NULL);
	pthread_cond_init(&fs->poll_cond, NULL);
	kfs_follow_init(&fs->follow);
	kfs_read_ahead_init(&fs->ahead);
	if (!(be->ops->caps & KFS_CAP_SIZES) &&
	    kfs_sizes_new(be, opt->framing, opt->poll_ms, &fs->sizes) != 0)
		kfs_err("out of memory: shard files will show size 0");
}

void kfs_fs_shutdown(struct kfs_fs *fs)
{
	pthread_mutex_lock(&fs->tails_lock);
	fs->tails_stop = 1;
	pthread_cond_broadcast(&fs->tails_cond);
	pthread_mutex_unlock(&fs->tails_lock);
	if (fs->tails_started)
		pthread_join(fs->tails_thread, NULL);
	fs->tails_started = 0;
	/* Files still open when the mount goes (SIGTERM, a lazy unmount):
	 * their partial lines are sent too, for the producer to deliver. */
	for (;;) {
		struct kfs_handle *h;

		pthread_mutex_lock(&fs->tails_lock);
		h = fs->tails;
		if (h)
			tails_del_locked(h);
		pthread_mutex_unlock(&fs->tails_lock);
		if (!h)
			break;
		pthread_mutex_lock(&h->lock);
		if (h->line_len > 0) {
			kfs_info("%s/%s: sending the partial line of a file still "
				 "open at unmount", h->stream, h->name);
			send_tail(h);
		}
		pthread_mutex_unlock(&h->lock);
		handle_unref(h);
	}
	poll_stop(fs);
}

void kfs_fs_free(struct kfs_fs *fs)
{
	/* Handles the kernel never released: the mount went while they
	 * were open.  Their partial lines went in kfs_fs_shutdown (which
	 * emptied the tails list) and the producer, freed before this,
	 * resolved their records. */
	for (;;) {
		struct kfs_handle *h;

		pthread_mutex_lock(&fs->tails_lock);
		h = fs->open;
		if (h)
			open_del_locked(h);
		pthread_mutex_unlock(&fs->tails_lock);
		if (!h)
			break;
		handle_close(h);
	}
	pthread_cond_destroy(&fs->tails_cond);
	pthread_mutex_destroy(&fs->tails_lock);
	pthread_mutex_destroy(&fs->poll_lock);
	pthread_cond_destroy(&fs->poll_cond);
	kfs_follow_destroy(&fs->follow);
	kfs_read_ahead_destroy(&fs->ahead);   /* before the backend goes */
	kfs_sizes_free(fs->sizes);
	fs->sizes = NULL;
}

const struct fuse_operations kfs_fuse_ops = {
	.init = kfs_init,
	.destroy = kfs_destroy,
	.poll = kfs_poll,
	.getattr = kfs_getattr,
	.readdir = kfs_readdir,
	.mkdir = kfs_mkdir,
	.rmdir = kfs_rmdir,
	.unlink = kfs_unlink,
	.rename = kfs_rename,
	.link = kfs_link,
	.symlink = kfs_symlink,
	.mknod = kfs_mknod,
	.chmod = kfs_chmod,
	.chown = kfs_chown,
	.truncate = kfs_truncate,
	.fallocate = kfs_fallocate,
	.utimens = kfs_utimens,
	.statfs = kfs_statfs,
	.open = kfs_open,
	.create = kfs_create,
	.read = kfs_read,
	.write = kfs_write,
	.flush = kfs_flush,
	.fsync = kfs_fsync,
	.release = kfs_release,
	.getxattr = kfs_getxattr,
	.listxattr = kfs_listxattr,
	.setxattr = kfs_setxattr,
	.removexattr = kfs_removexattr,
};
