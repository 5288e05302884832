/*
 * write.c - the write path: each writer's line buffer, framing its bytes
 * into records (record=line or record=write) handed to the producer, and
 * flush and fsync, which send the partial line and wait for every record.
 * A partial line waits for its newline, fsync or close (or the end of the
 * mount): never for a timer, so a line written in pieces, however far
 * apart, is one record (SPEC 3).  linger_ms batches complete records only
 * (the producer's).
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/metrics.h"
#include "lib/log.h"
#include "lib/util.h"

/* Puts h on the tails list (handles holding a partial line), for the end
 * of the mount to find; the list holds a reference. */
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
		kfs_handle_unref(h);
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

/* Sends the partial line, if any, as its own record; handle lock held. */
static int send_tail(struct kfs_handle *h)
{
	int err = 0;

	if (h->line_len > 0)
		err = put_record(h, h->line, h->line_len);
	h->line_len = 0;
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
	h->line_len = total;
	h->tail_tid = fuse_get_context()->pid;
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
			return off ? (int)off : err;
		}
		batch_off = off;
		v[nv].iov_base = h->line;
		v[nv++].iov_len = h->line_len;
		h->line_len = 0;
		off += n;
	}
	if ((err = put_lines(h, v, &nv)) != 0)
		return batch_off ? (int)batch_off : err;
	return (int)size;
}

int kfs_write(const char *path, const char *buf, size_t size,
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

/*
 * 1 when the thread `tid` (of a FUSE request) belongs to the process that
 * holds thread `writer`: /proc/TID/task/WRITER exists.  When that cannot
 * be told (no pid, as from another pid namespace, or no /proc), 1: the
 * partial line goes, as it would at the last close.
 */
static int same_process(pid_t tid, pid_t writer)
{
	char path[64];

	if (tid <= 0 || writer <= 0 || tid == writer)
		return 1;
	if (access("/proc/self/task", F_OK) != 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)tid, (int)writer);
	return access(path, F_OK) == 0;
}

/*
 * Sends the tail if `all`, or if the calling process is the one that wrote
 * it, then waits for every record of the handle.  A flush comes at every
 * close(2) of the file, also from a child that inherited it and exits
 * (`printf 'step 1... '; sleep 1; echo done` into a key file): the tail
 * stays for the process writing the line, and goes at a close of that
 * process, at fsync, or at the last close (release).  A close of a copy
 * counts too (a shell's `cmd >&3` closes one after cmd).
 */
static int settle_for(struct kfs_handle *h, int all)
{
	int err = 0, sent;

	pthread_mutex_lock(&h->lock);
	sent = all || h->line_len == 0 ||
	       same_process(fuse_get_context()->pid, h->tail_tid);
	if (sent)
		err = send_tail(h);
	pthread_mutex_unlock(&h->lock);
	if (sent)
		tails_del(h);
	kfs_producer_kick(h->fs->prod, h->stream);
	{
		int e2 = kfs_ack_wait(&h->ack);
		if (!err)
			err = e2;
	}
	return err;
}

/*
 * Waits until every complete record written so far to `key` of `stream`
 * through any open file has its result (stored, or its failure on its
 * way to its writer), so that a rename or a truncation comes after what
 * was written before it, as on any file (SPEC 3).  Partial lines stay:
 * they are not written yet.  timeout_ms bounds the wait (-1: none).
 */
void kfs_write_drain(struct kfs_fs *fs, const char *stream, const char *key,
		     int timeout_ms)
{
	struct kfs_handle **v = NULL, *h;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&fs->tails_lock);
	for (h = fs->open; h; h = h->onext) {
		if (!h->writable || h->kind != KFS_NODE_KEY ||
		    strcmp(h->stream, stream) != 0 || strcmp(h->name, key) != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct kfs_handle **nv = realloc(v, ncap * sizeof(*v));
			if (!nv)
				break;   /* the ones listed are waited for */
			v = nv;
			cap = ncap;
		}
		h->refs++;
		v[n++] = h;
	}
	pthread_mutex_unlock(&fs->tails_lock);
	if (n > 0)
		kfs_producer_kick(fs->prod, stream);
	for (size_t i = 0; i < n; i++) {
		/* Once the bound is spent, the others are only looked at. */
		if (kfs_ack_drain(&v[i]->ack, timeout_ms) < 0)
			timeout_ms = 0;
		kfs_handle_unref(v[i]);
	}
	free(v);
}

/* Sends the tail and waits for every record of the handle. */
int kfs_write_settle(struct kfs_handle *h)
{
	return settle_for(h, 1);
}

int kfs_flush(const char *path, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;

	kfs_named_on_flush(h);
	if (!h->writable)
		return 0;
	return settle_for(h, 0);
}

int kfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;
	struct kfs_fs *fs = h->fs;
	int err;

	if (h->named)
		return kfs_named_on_fsync(h);   /* a named reader's commit */
	if (!h->writable)
		return 0;
	err = kfs_write_settle(h);
	if (!err && fs->be->ops->sync) {
		err = fs->be->ops->sync(fs->be->impl, h->stream);
		if (err)
			kfs_err("fsync %s/%s: %s", h->stream, h->name,
				strerror(-err));
	}
	return err;
}

/* ---- the end of the mount ----------------------------------------- */

/* Files still open when the mount goes (SIGTERM, a lazy unmount) have
 * their partial lines sent, for the producer to deliver. */
void kfs_write_stop(struct kfs_fs *fs)
{
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
		kfs_handle_unref(h);
	}
}
