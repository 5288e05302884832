/*
 * ops.c - the FUSE operations table of kinesisfs, with what no other file
 * of fs/ does: the handles of open files (open, create, release), reading
 * (a cursor over shard iterators, waiting at the tip), and the mount's
 * init, shutdown and free.  Names are in names.c, the write path in
 * write.c, poll(2) in poll.c, extended attributes in xattr.c (their
 * shared declarations in fs-internal.h).  Only backend.h and producer.h
 * are used to reach the engine.
 */
#include "fs/fs-internal.h"
#include "fs/named.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/metrics.h"
#include "fs/reader.h"
#include "lib/cancel.h"
#include "lib/log.h"
#include "lib/util.h"

#define KFS_WAIT_SLICE_MS 100  /* a waiting read looks for interrupts */

static int wait_cancelled(void);

/* ---- handles ------------------------------------------------------- */

/* Frees h with its last reference (see fs-internal.h). */
void kfs_handle_unref(struct kfs_handle *h)
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
	kfs_named_free(h->named);   /* after its reader */
	free(h);
}

int kfs_fs_metrics_doc(struct kfs_fs *fs, char **doc, size_t *len)
{
	int err = kfs_metrics_render(fs->metrics, fs->prod, doc, len);

	if (!err && (err = kfs_named_metrics(fs, doc, len)) != 0) {
		free(*doc);
		*doc = NULL;
	}
	return err;
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

/* What a new handle h reads: @metrics its document, a readable file its
 * reader.  0, or -errno (logged but for EINTR). */
static int open_reading(struct kfs_handle *h, const char *op,
			const struct kfs_path *p,
			const struct kfs_stream_desc *sd)
{
	struct kfs_fs *fs = h->fs;
	int err;

	if (p->kind == KFS_NODE_METRICS) {
		/* A snapshot per open: every read sees one document. */
		err = kfs_fs_metrics_doc(fs, &h->doc, &h->doc_len);
		if (err)
			return kfs_names_fail(err, op, p, NULL);
	} else if (h->readable) {
		struct kfs_reader_spec spec = {
			.stream = p->stream,
			.kind = p->kind,
			.name = p->name,
			.pos = kfs_names_is_view(p) ? &p->pos : NULL,
			.framing = fs->opt->framing,
			.sizes = fs->sizes,
			.created_ms = sd->creation_ms,
			.ahead = &fs->ahead,
			.metrics = fs->metrics,
		};
		char why[KFS_SEQ_MAX + KFS_KEY_MAX + 120];

		if (p->pos.named && kfs_names_is_view(p)) {
			err = kfs_named_open_handle(fs, p, sd->creation_ms,
						    &h->named, why, sizeof(why));
			if (err)
				return kfs_names_fail(err, op, p, why);
			spec.named = h->named;
		}
		/* A view's position is looked up now: a signal ends it. */
		kfs_cancel_set(wait_cancelled);
		err = kfs_reader_open(fs->be, &spec, &h->rd, why, sizeof(why));
		kfs_cancel_set(NULL);
		if (err == -EINTR)
			return err;
		if (err)
			return kfs_names_fail(err, op, p, why[0] ? why : NULL);
	}
	return 0;
}

static int open_handle(const char *op, const char *path, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct kfs_stream_desc sd;
	struct kfs_shard_desc shd;
	struct kfs_handle *h;
	int acc = fi->flags & O_ACCMODE;
	int create = strcmp(op, "create") == 0;
	int err = create && kfs_names_parse(path, &p) == 0 &&
		  kfs_names_is_key_file(fs, &p)
		  ? kfs_names_resolve_new(fs, op, path, &p, &sd)
		  : kfs_names_resolve(fs, op, path, &p, &sd, &shd);

	if (err)
		return err;
	if (p.kind == KFS_NODE_ROOT || p.kind == KFS_NODE_STREAM)
		return kfs_names_fail(-EISDIR, op, &p, NULL);
	if (p.kind == KFS_NODE_METRICS && acc != O_RDONLY)
		return kfs_names_fail(-EACCES, op, &p,
				      "the metrics file is read-only");
	if (kfs_names_is_view(&p) && acc != O_RDONLY)
		return kfs_names_fail(-EACCES, op, &p, "views are read-only: "
				      "write to the shard or key file");
	if (acc != O_RDONLY && (err = kfs_names_refuse_read_only(fs, op, &p)))
		return err;
	/* On AWS a partition key is a Unicode string: a key the service
	 * would refuse is refused at open rather than at the first flush.
	 * The local engine stores any bytes (docs/semantics.md, "Bad
	 * inputs"; JSON lines show U+FFFD for a bad byte). */
	if (p.kind == KFS_NODE_KEY && acc != O_RDONLY &&
	    !(fs->be->ops->caps & KFS_CAP_BINARY_KEYS) &&
	    !kfs_utf8_valid(p.name, strlen(p.name)))
		return kfs_names_fail(-EINVAL, op, &p, "a partition key must "
				      "be valid UTF-8");
	if (kfs_names_is_key_file(fs, &p) &&
	    (err = kfs_keyfile_open(fs, &p, create, mode, fi->flags)))
		return err;
	h = calloc(1, sizeof(*h));
	if (!h)
		return kfs_names_fail(-ENOMEM, op, &p, NULL);
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
	err = open_reading(h, op, &p, &sd);
	if (err) {
		kfs_handle_unref(h);
		return err;
	}
	if (kfs_log_enabled(KFS_LOG_DEBUG)) {
		char sbuf[4 * KFS_STREAM_NAME_MAX + 8], kbuf[4 * NAME_MAX + 8];

		kfs_debug("%s %s/%s: for %s", op,
			  kfs_names_log(p.stream, sbuf, sizeof(sbuf)),
			  kfs_names_log(p.full, kbuf, sizeof(kbuf)),
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
	return open_handle("open", path, 0, fi);
}

static int kfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct kfs_path p;

	if (kfs_names_parse(path, &p) == 0 && p.kind == KFS_NODE_STREAM)
		return kfs_names_fail(-EPERM, "create", &p, "the root holds "
				      "only streams (mkdir makes one)");
	return open_handle("create", path, mode, fi);
}

/* Drops what an open of the kernel held of h, h being off fs->open: its
 * poll handle, its place among the pollers, and its reference. */
static void handle_close(struct kfs_handle *h)
{
	kfs_poll_drop(h);
	kfs_handle_unref(h);
}

static int kfs_release(const char *path, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;

	if (h->writable) {
		/* flush() already reported errors to close(); anything
		 * left now has no one to report to but the log. */
		int err = kfs_write_settle(h);
		if (err)
			kfs_err("close %s/%s: %s", h->stream, h->name,
				strerror(-err));
	}
	kfs_named_on_release(h);
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

/* ---- init, shutdown, free ------------------------------------------ */

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
	/* An unlinked open file is not hidden under a new name (that
	 * would be a rename, which rotates): the name goes at once, and
	 * the open handle keeps its key. */
	cfg->hard_remove = 1;
	cfg->direct_io = 1;
	/* One FUSE write per write(2) up to 1 MiB, so that record=write
	 * keeps a record whole. */
	conn->max_write = 1u << 20;
	start_thread(fs, &fs->poll_lock, &fs->poll_started, &fs->poll_thread,
		     kfs_poll_main, "the poll thread: poll(2) on views waits "
		     "for a read");
	return fs;
}

static void kfs_destroy(void *private_data)
{
	kfs_poll_stop(private_data);
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
	kfs_write_stop(fs);
	kfs_poll_stop(fs);
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
	pthread_mutex_destroy(&fs->tails_lock);
	pthread_mutex_destroy(&fs->poll_lock);
	pthread_cond_destroy(&fs->poll_cond);
	kfs_follow_destroy(&fs->follow);
	kfs_read_ahead_destroy(&fs->ahead);   /* before the backend goes */
	kfs_sizes_free(fs->sizes);
	fs->sizes = NULL;
	kfs_named_table_free(fs->named);   /* no handle is left */
	fs->named = NULL;
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
