/*
 * fs-internal.h - what the files of the FUSE layer share and nothing else
 * sees: the open file (struct kfs_handle), the resolution of names, and
 * the operations that fs/ops.c gathers into the FUSE operations table.
 *
 *   ops.c    the table; open, read, release; init, shutdown, free
 *   names.c  path -> (stream, shard | key | view), attributes, namespace
 *   write.c  the write path: line buffers, framing, partial lines
 *   poll.c   poll(2) on views: the poll thread and its poll handles
 *   xattr.c  extended attributes (user.kinesis.*)
 *   keyfiles.c key files: attributes, create, truncate, rename, owner
 */
#ifndef KFS_FS_INTERNAL_H
#define KFS_FS_INTERNAL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 31
#endif
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fs/ops.h"
#include "fs/path.h"

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
	pid_t tail_tid;                       /* the thread that wrote to the
					       * partial line last (FUSE's pid);
					       * protected by lock */
	int discarding;                       /* dropping an oversized line up to its newline */
	size_t retry_len;                     /* a write failed with EFBIG that may come again: its length */
	uint64_t retry_hash;                  /* and the hash of its bytes */
	/* reading */
	struct kfs_reader *rd;                /* the cursor, when readable */
	struct kfs_named *named;              /* a named reader's name, or NULL */
	int named_flushed;                    /* a close was seen (flush) */
	int named_close_ok;                   /* and the last closer lives on or
					       * ended well: commit at release */
	char *doc;                            /* @metrics: the document of this open,
					       * made before the open returns and
					       * only read after: no lock */
	size_t doc_len;                       /* its length */
};

/* The mount's state, as every operation reaches it. */
static inline struct kfs_fs *get_fs(void)
{
	return fuse_get_context()->private_data;
}

/* ---- ops.c --------------------------------------------------------- */

/* The document of @metrics now (docs/metrics.md): the counters and the
 * named readers' lag.  *doc is the caller's.  0 or -errno. */
int kfs_fs_metrics_doc(struct kfs_fs *fs, char **doc, size_t *len);

/* Drops a reference to h (tails lock not held); the last one frees it. */
void kfs_handle_unref(struct kfs_handle *h);

/* ---- names.c ------------------------------------------------------- */

/* Copies a name for a log line, control bytes as \xNN: a name holding a
 * newline must not make two lines (or forge one).  Returns buf. */
const char *kfs_names_log(const char *s, char *buf, size_t size);
/* Logs one line for a failed operation and returns err. */
int kfs_names_fail(int err, const char *op, const struct kfs_path *p,
		   const char *reason);
/* kfs_path_parse, but a component longer than NAME_MAX is ENAMETOOLONG;
 * p is filled for messages either way. */
int kfs_names_parse(const char *path, struct kfs_path *p);
/* Resolves a path that must exist; fills the stream and shard as asked
 * (either may be NULL).  A shard view's shard is always looked up.
 * 0, or -errno (logged). */
int kfs_names_resolve(struct kfs_fs *fs, const char *op, const char *path,
		      struct kfs_path *p, struct kfs_stream_desc *sd,
		      struct kfs_shard_desc *shd);
/* 1 for views: names with a position, which follow. */
int kfs_names_is_view(const struct kfs_path *p);
/* kfs_names_resolve for a name being created: a key file need not exist
 * (shard is not looked up). */
int kfs_names_resolve_new(struct kfs_fs *fs, const char *op, const char *path,
			  struct kfs_path *p, struct kfs_stream_desc *sd);
/* 1 for a key file of a backend that keeps names (backend/names.h). */
int kfs_names_is_key_file(const struct kfs_fs *fs, const struct kfs_path *p);
/* -o read_only: -EROFS (logged) for every change, else 0. */
int kfs_names_refuse_read_only(const struct kfs_fs *fs, const char *op,
			       const struct kfs_path *p);

/* The operations on names (FUSE's, for the table). */
int kfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi);
int kfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		off_t off, struct fuse_file_info *fi,
		enum fuse_readdir_flags flags);
int kfs_mkdir(const char *path, mode_t mode);
int kfs_rmdir(const char *path);
int kfs_unlink(const char *path);
int kfs_rename(const char *from, const char *to, unsigned int flags);
int kfs_link(const char *from, const char *to);
int kfs_symlink(const char *target, const char *path);
int kfs_mknod(const char *path, mode_t mode, dev_t dev);
int kfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi);
int kfs_chown(const char *path, uid_t uid, gid_t gid,
	      struct fuse_file_info *fi);
int kfs_truncate(const char *path, off_t size, struct fuse_file_info *fi);
int kfs_fallocate(const char *path, int mode, off_t off, off_t len,
		  struct fuse_file_info *fi);
int kfs_utimens(const char *path, const struct timespec tv[2],
		struct fuse_file_info *fi);
int kfs_statfs(const char *path, struct statvfs *st);

/* ---- keyfiles.c ---------------------------------------------------- */
/* Each for a key file (kfs_names_is_key_file); 0 or -errno, logged but
 * for ENOENT of a name that is not there. */
int kfs_keyfile_getattr(struct kfs_fs *fs, const struct kfs_path *p,
			struct stat *st);
int kfs_keyfile_list(struct kfs_fs *fs, const struct kfs_path *p, void *buf,
		     fuse_fill_dir_t filler);
/* Before a handle is made: creates the name (create), and checks that a
 * writer may write it (not a rotated name), truncating it for O_TRUNC. */
int kfs_keyfile_open(struct kfs_fs *fs, const struct kfs_path *p, int create,
		     mode_t mode, int flags);
int kfs_keyfile_truncate(struct kfs_fs *fs, const struct kfs_path *p);
int kfs_keyfile_unlink(struct kfs_fs *fs, const struct kfs_path *p);
int kfs_keyfile_rename(struct kfs_fs *fs, const struct kfs_path *from,
		       const struct kfs_path *to, unsigned int flags);
/* (uint32_t)-1: unchanged. */
int kfs_keyfile_setattr(struct kfs_fs *fs, const struct kfs_path *p,
			uint32_t uid, uint32_t gid, uint32_t mode);

/* ---- write.c ------------------------------------------------------- */

/* Sends h's partial line and waits for every record of the handle:
 * 0, or the first -errno. */
int kfs_write_settle(struct kfs_handle *h);
/* Waits for the records written so far to key of stream, through every
 * open file (before a rename or truncation of its name, -1: no bound; a
 * stat, bounded). */
void kfs_write_drain(struct kfs_fs *fs, const char *stream, const char *key,
		     int timeout_ms);
/* At the end of the mount: sends the partial lines of files still open. */
void kfs_write_stop(struct kfs_fs *fs);

int kfs_write(const char *path, const char *buf, size_t size, off_t offset,
	      struct fuse_file_info *fi);
int kfs_flush(const char *path, struct fuse_file_info *fi);
int kfs_fsync(const char *path, int datasync, struct fuse_file_info *fi);

/* ---- poll.c -------------------------------------------------------- */

/* Takes h off the polled handles, destroying its poll handle and dropping
 * the reference the poll list held, if any. */
void kfs_poll_drop(struct kfs_handle *h);
/* The poll thread (arg is the kfs_fs): tells the kernel of polled views
 * that became readable. */
void *kfs_poll_main(void *arg);
/* Stops the poll thread and drops the poll handles; before the session
 * goes. */
void kfs_poll_stop(struct kfs_fs *fs);

int kfs_poll(const char *path, struct fuse_file_info *fi,
	     struct fuse_pollhandle *ph, unsigned *reventsp);

/* ---- xattr.c ------------------------------------------------------- */

int kfs_getxattr(const char *path, const char *name, char *value,
		 size_t size);
int kfs_listxattr(const char *path, char *list, size_t size);
int kfs_setxattr(const char *path, const char *name, const char *value,
		 size_t size, int flags);
int kfs_removexattr(const char *path, const char *name);

/* ---- named_ops.c --------------------------------------------------- */

struct kfs_named;
struct kfs_nstate;
struct kfs_rbuf;
struct kfs_stream_desc;

/* Opens the name of the named view p (kfs_named_acquire); why[] says
 * why not. */
int kfs_named_open_handle(struct kfs_fs *fs, const struct kfs_path *p,
			  int64_t stream_created_ms, struct kfs_named **out,
			  char *why, size_t why_size);
/* At a flush of a named reader's handle: whether its closer ended well. */
void kfs_named_on_flush(struct kfs_handle *h);
/* fsync of a named reader's handle: a commit.  0 or -errno. */
int kfs_named_on_fsync(struct kfs_handle *h);
/* At release: commits when the last close was a good one, then closes
 * the name (the handle frees it). */
void kfs_named_on_release(struct kfs_handle *h);

struct kfs_named_lag;
/* The lag of a name of state s; live: an open reader's own measure. */
void kfs_named_lag_of(struct kfs_fs *fs, const char *stream,
		      const struct kfs_nstate *s,
		      const struct kfs_named_lag *live,
		      struct kfs_named_lag *out);
/* Appends the named readers' lines to a metrics document. */
int kfs_named_metrics(struct kfs_fs *fs, char **doc, size_t *len);

/* The user.kinesis.reader* attributes: 1 when `name` is not one of
 * them (the caller goes on), else the answer. */
int kfs_named_getxattr(struct kfs_fs *fs, const struct kfs_path *p,
		       const char *name, char *value, size_t size);
int kfs_named_setxattr(struct kfs_fs *fs, const struct kfs_path *p,
		       const struct kfs_stream_desc *sd, const char *name,
		       const char *value, size_t size);
int kfs_named_removexattr(struct kfs_fs *fs, const struct kfs_path *p,
			  const char *name);
/* Appends the names of these attributes that p has; 0 or -ENOMEM. */
int kfs_named_listxattr(struct kfs_fs *fs, const struct kfs_path *p,
			struct kfs_rbuf *b);

#endif
