/*
 * names.c - names: path -> (stream, shard | key | view) resolution, with
 * the one log line of a failed operation, and the operations on names
 * themselves: their attributes (stat, statfs, and the chmod, chown,
 * utimens, truncate and fallocate that change nothing), directory
 * listings, and mkdir, rmdir, unlink, rename and the refused link,
 * symlink and mknod.
 */
#include "fs/fs-internal.h"

#include "backend/names.h"

#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/metrics.h"
#include "lib/log.h"
#include "lib/util.h"

/* Copies a name for a log line, control bytes as \xNN: a name holding a
 * newline must not make two lines (or forge one). */
const char *kfs_names_log(const char *s, char *buf, size_t size)
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
int kfs_names_fail(int err, const char *op, const struct kfs_path *p,
		   const char *reason)
{
	const char *key = p->kind >= KFS_NODE_SHARD ? p->full : "";
	char sbuf[4 * KFS_STREAM_NAME_MAX + 8], kbuf[4 * NAME_MAX + 8];
	const char *stream = kfs_names_log(p->stream, sbuf, sizeof(sbuf));

	key = kfs_names_log(key, kbuf, sizeof(kbuf));
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
int kfs_names_parse(const char *path, struct kfs_path *p)
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
		   struct kfs_shard_desc *shd, int new_key)
{
	struct kfs_stream_desc tmp;
	struct kfs_shard_desc tmp_shd;
	int err = kfs_names_parse(path, p);

	if (err == -ENAMETOOLONG)
		return kfs_names_fail(err, op, p,
				      "a name is at most 255 bytes");
	if (err == -EINVAL)
		return kfs_names_fail(err, op, p, "not a view: POSITION is "
				      "TRIM_HORIZON, LATEST, "
				      "AT_SEQUENCE_NUMBER=N, "
				      "AFTER_SEQUENCE_NUMBER=N or "
				      "AT_TIMESTAMP=T, or READER=NAME or "
				      "BATCH=NAME (NAME: 1 to 64 of "
				      "A-Z a-z 0-9 _ . -) optionally with "
				      ",POSITION; then optionally .jsonl");
	if (err)
		return kfs_names_fail(err, op, p, "no such file");
	if (p->kind == KFS_NODE_ROOT || p->kind == KFS_NODE_METRICS)
		return 0;
	if (!p->valid_stream)
		return kfs_names_fail(-ENOENT, op, p, "no such stream");
	err = fs->be->ops->describe_stream(fs->be->impl, p->stream, sd ? sd : &tmp);
	if (err)
		return kfs_names_fail(err, op, p, err == -ENOENT
				      ? "no such stream" : NULL);
	if (p->kind == KFS_NODE_SHARD && (shd || p->view)) {
		err = fs->be->ops->describe_shard(fs->be->impl, p->stream,
						  p->name, shd ? shd : &tmp_shd);
		if (err)
			return kfs_names_fail(err, op, p, err == -ENOENT
					      ? "no such shard" : NULL);
	}
	if (!new_key && kfs_names_is_key_file(fs, p)) {
		struct kfs_name_desc d;

		err = kfs_names_stat(fs->be->ops->names(fs->be->impl),
				     p->stream, p->name, &d);
		/* "Does it exist?" is a question programs ask all the
		 * time (mkstemp, logrotate, Python's handlers): no log. */
		if (err == -ENOENT)
			return err;
		if (err)
			return kfs_names_fail(err, op, p, NULL);
	}
	return 0;
}

int kfs_names_resolve(struct kfs_fs *fs, const char *op, const char *path,
		      struct kfs_path *p, struct kfs_stream_desc *sd,
		      struct kfs_shard_desc *shd)
{
	return resolve(fs, op, path, p, sd, shd, 0);
}

int kfs_names_resolve_new(struct kfs_fs *fs, const char *op, const char *path,
			  struct kfs_path *p, struct kfs_stream_desc *sd)
{
	return resolve(fs, op, path, p, sd, NULL, 1);
}

int kfs_names_is_key_file(const struct kfs_fs *fs, const struct kfs_path *p)
{
	return p->kind == KFS_NODE_KEY && !p->view && fs->be->ops->names &&
	       fs->be->ops->names(fs->be->impl);
}

/* 1 for views: names with a position, which follow. */
int kfs_names_is_view(const struct kfs_path *p)
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
int kfs_names_refuse_read_only(const struct kfs_fs *fs, const char *op,
			       const struct kfs_path *p)
{
	return fs->opt->read_only ? kfs_names_fail(-EROFS, op, p,
						   "mounted read-only")
				  : 0;
}

/* Views: read-only, no size (they follow), the time of asking. */
static void view_attr(const struct kfs_fs *fs, struct stat *st)
{
	st->st_mode = S_IFREG | (fs->opt->file_mode & 0555);
	st->st_nlink = 1;
	fill_times(st, kfs_now_ms());
}

int kfs_getattr(const char *path, struct stat *st,
		struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct kfs_stream_desc sd;
	struct kfs_shard_desc shd;
	int err = kfs_names_resolve(fs, "stat", path, &p, &sd, &shd);

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
		if (kfs_fs_metrics_doc(fs, &doc, &len) == 0) {
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
		if (kfs_names_is_key_file(fs, &p))
			return kfs_keyfile_getattr(fs, &p, st);
		/* A backend without names: any name is a key file whose
		 * size is not known without reading every record. */
		st->st_mode = S_IFREG | fs->opt->file_mode;
		st->st_nlink = 1;
		fill_times(st, sd.creation_ms);
		break;
	}
	return 0;
}

int kfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		off_t off, struct fuse_file_info *fi,
		enum fuse_readdir_flags flags)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, "readdir", path, &p, NULL, NULL);

	if (err)
		return err;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (p.kind == KFS_NODE_ROOT) {
		struct kfs_name_list l = { 0 };
		err = fs->be->ops->list_streams(fs->be->impl, &l);
		if (err)
			return kfs_names_fail(err, "list streams", &p, NULL);
		for (size_t i = 0; i < l.n; i++)
			filler(buf, l.v[i], NULL, 0, 0);
		kfs_name_list_clear(&l);
	} else if (p.kind == KFS_NODE_STREAM) {
		struct kfs_shard_list l = { 0 };
		err = fs->be->ops->list_shards(fs->be->impl, p.stream, &l);
		if (err)
			return kfs_names_fail(err, "list shards", &p, NULL);
		for (size_t i = 0; i < l.n; i++)
			filler(buf, l.v[i].id, NULL, 0, 0);
		kfs_shard_list_clear(&l);
		if (fs->be->ops->names && fs->be->ops->names(fs->be->impl))
			return kfs_keyfile_list(fs, &p, buf, filler);
	} else {
		return -ENOTDIR;
	}
	return 0;
}

int kfs_mkdir(const char *path, mode_t mode)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_parse(path, &p);

	if (err == -ENAMETOOLONG)
		return kfs_names_fail(err, "mkdir", &p,
				      "a name is at most 255 bytes");
	if (err || p.kind != KFS_NODE_STREAM)
		return kfs_names_fail(-EPERM, "mkdir", &p,
				      "streams hold no directories");
	if ((err = kfs_names_refuse_read_only(fs, "mkdir", &p)))
		return err;
	if (!p.valid_stream)
		return kfs_names_fail(-EINVAL, "mkdir", &p, "a stream name is "
				      "1 to 128 of [a-zA-Z0-9_.-]");
	err = fs->be->ops->create_stream(fs->be->impl, p.stream, fs->opt->shards);
	if (err)
		return kfs_names_fail(err, "create stream", &p,
				      err == -EEXIST ? "stream exists" : NULL);
	return 0;
}

int kfs_rmdir(const char *path)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, "rmdir", path, &p, NULL, NULL);

	if (err)
		return err;
	if (p.kind != KFS_NODE_STREAM)
		return kfs_names_fail(p.kind == KFS_NODE_ROOT ? -EBUSY
				      : -ENOTDIR, "rmdir", &p, NULL);
	if ((err = kfs_names_refuse_read_only(fs, "rmdir", &p)))
		return err;
	if (!fs->opt->allow_delete)
		return kfs_names_fail(-EPERM, "delete stream", &p,
				      "deleting streams needs -o allow_delete");
	err = fs->be->ops->delete_stream(fs->be->impl, p.stream);
	if (err)
		return kfs_names_fail(err, "delete stream", &p, NULL);
	kfs_metrics_forget(fs->metrics, p.stream);
	kfs_info("deleted stream %s", p.stream);
	return 0;
}

int kfs_unlink(const char *path)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, "unlink", path, &p, NULL, NULL);

	if (err)
		return err;
	if (kfs_names_is_key_file(fs, &p)) {
		if ((err = kfs_names_refuse_read_only(fs, "unlink", &p)))
			return err;
		return kfs_keyfile_unlink(fs, &p);
	}
	return kfs_names_fail(-EPERM, "unlink", &p, p.kind == KFS_NODE_SHARD
			      ? "shards are removed by retention or resharding, not unlink"
			      : p.kind == KFS_NODE_METRICS ? "the metrics file cannot be removed"
			      : "records cannot be removed");
}

/* rename within a stream is rotation (SPEC 3); anything else moves
 * records or streams, which never move. */
int kfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p, q;
	int err = kfs_names_resolve(fs, "rename", from, &p, NULL, NULL);

	if (err)
		return err;
	err = kfs_names_parse(to, &q);
	if (err == -ENAMETOOLONG)
		return kfs_names_fail(err, "rename", &q,
				      "a name is at most 255 bytes");
	if (err || strcmp(p.stream, q.stream) != 0 || p.kind == KFS_NODE_STREAM)
		return kfs_names_fail(-EXDEV, "rename", &p, "streams and records "
				      "cannot move between streams");
	if (p.kind == KFS_NODE_KEY && !p.view && !kfs_names_is_key_file(fs, &p))
		return kfs_names_fail(-EXDEV, "rename", &p, "this backend keeps "
				      "no names: key files cannot be renamed");
	if (!kfs_names_is_key_file(fs, &p) || q.kind != KFS_NODE_KEY || q.view)
		return kfs_names_fail(-EPERM, "rename", &p, "only key files are "
				      "renamed (rotated); shards, views and "
				      "the metrics file are not");
	if ((err = kfs_names_refuse_read_only(fs, "rename", &p)))
		return err;
	return kfs_keyfile_rename(fs, &p, &q, flags);
}

static int deny(const char *op, const char *path)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, op, path, &p, NULL, NULL);

	return err ? err : kfs_names_fail(-EPERM, op, &p,
					  "not supported by kinesisfs");
}

/* link, symlink, mknod: the new name need not exist (it must not), so it
 * is not looked up: EPERM whatever it is (docs/semantics.md). */
static int deny_new(const char *op, const char *path)
{
	struct kfs_path p;
	int err = kfs_names_parse(path, &p);

	if (err == -ENAMETOOLONG)
		return kfs_names_fail(err, op, &p,
				      "a name is at most 255 bytes");
	return kfs_names_fail(-EPERM, op, &p, "not supported by kinesisfs");
}

int kfs_link(const char *from, const char *to)
{
	return deny_new("link", to);
}

int kfs_symlink(const char *target, const char *path)
{
	return deny_new("symlink", path);
}

int kfs_mknod(const char *path, mode_t mode, dev_t dev)
{
	return deny_new("mknod", path);
}

/* chmod and chown: key files keep an owner and mode (nginx and
 * logrotate's `create` set them); nothing else has one to change. */
static int setattr(const char *op, const char *path, uint32_t uid,
		   uint32_t gid, uint32_t mode)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, op, path, &p, NULL, NULL);

	if (err)
		return err;
	if (!kfs_names_is_key_file(fs, &p))
		return deny(op, path);
	if ((err = kfs_names_refuse_read_only(fs, op, &p)))
		return err;
	return kfs_keyfile_setattr(fs, &p, uid, gid, mode);
}

int kfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return setattr("chmod", path, (uint32_t)-1, (uint32_t)-1, mode);
}

int kfs_chown(const char *path, uid_t uid, gid_t gid,
	      struct fuse_file_info *fi)
{
	return setattr("chown", path, uid, gid, (uint32_t)-1);
}

/* The size stat gives p now (a shard or key file), or -1. */
static int64_t size_now(struct kfs_fs *fs, const struct kfs_path *p)
{
	struct stat st;
	char path[KFS_STREAM_NAME_MAX + NAME_MAX + 4];

	snprintf(path, sizeof(path), "/%s/%s", p->stream, p->full);
	if (p->kind != KFS_NODE_SHARD && p->kind != KFS_NODE_KEY)
		return -1;
	return kfs_getattr(path, &st, NULL) == 0 ? (int64_t)st.st_size : -1;
}

/* Truncation to 0 is accepted and ignored (SPEC 3), so that `>` works;
 * to any other size it is refused: records cannot be removed, nor a file
 * extended with zeros (docs/semantics.md). */
int kfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, "truncate", path, &p, NULL, NULL);

	if (err)
		return err;
	if (p.kind == KFS_NODE_METRICS)
		return kfs_names_fail(-EACCES, "truncate", &p,
				      "the metrics file is read-only");
	if (p.kind != KFS_NODE_SHARD && p.kind != KFS_NODE_KEY &&
	    p.kind != KFS_NODE_SVIEW)
		return kfs_names_fail(-EISDIR, "truncate", &p, NULL);
	if (kfs_names_is_view(&p))
		return kfs_names_fail(-EACCES, "truncate", &p,
				      "views are read-only");
	if ((err = kfs_names_refuse_read_only(fs, "truncate", &p)))
		return err;
	if (size == 0 && kfs_names_is_key_file(fs, &p))
		return kfs_keyfile_truncate(fs, &p);
	/* To the size it has: nothing to remove or add (rsync --append
	 * truncates to what it has written). */
	if (size > 0 && size_now(fs, &p) == (int64_t)size)
		return 0;
	if (size != 0 && kfs_names_is_key_file(fs, &p))
		return kfs_names_fail(-EPERM, "truncate", &p, "only truncation "
				      "to size 0 (it starts the file's window "
				      "at the tip) or to its size is accepted: "
				      "records cannot be removed or added by "
				      "truncate");
	if (size != 0)
		return kfs_names_fail(-EPERM, "truncate", &p, "only truncation "
				      "to size 0 or to its size is accepted "
				      "(and ignored): "
				      "records cannot be removed or added by "
				      "truncate");
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
int kfs_fallocate(const char *path, int mode, off_t off, off_t len,
		  struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, "fallocate", path, &p, NULL, NULL);

	(void)off;
	(void)len;
	(void)fi;
	if (err)
		return err;
	if ((err = kfs_names_refuse_read_only(fs, "fallocate", &p)))
		return err;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return kfs_names_fail(-EOPNOTSUPP, "fallocate", &p, "records "
				      "have no holes: only plain allocation "
				      "is accepted (and ignored)");
	return 0;
}

int kfs_utimens(const char *path, const struct timespec tv[2],
		struct fuse_file_info *fi)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;

	/* Times come from the records; touch succeeds and changes nothing. */
	return kfs_names_resolve(fs, "utimens", path, &p, NULL, NULL);
}

int kfs_statfs(const char *path, struct statvfs *st)
{
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = NAME_MAX;
	return 0;
}
