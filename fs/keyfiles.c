/*
 * keyfiles.c - key files as log files (SPEC 3, docs/semantics.md "Key
 * files"): their attributes, creation, truncation, rotation by rename,
 * unlink, owner and mode.  The rules themselves are backend/names.c's;
 * this file turns FUSE calls into them, checks who may change what, and
 * logs the one line of a refusal.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "backend/names.h"
#include "lib/log.h"

/* How long a stat waits for records written through the mount to be
 * stored before it answers (a service that does not answer must not hang
 * ls -l): past it, the size is what is stored. */
#define KFS_STAT_DRAIN_MS 1000

static struct kfs_names *table(struct kfs_fs *fs)
{
	return fs->be->ops->names(fs->be->impl);
}

static void set_time(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}

int kfs_keyfile_getattr(struct kfs_fs *fs, const struct kfs_path *p,
			struct stat *st)
{
	struct kfs_name_desc d;
	int err;

	/* As on any file, what was written shows in the size at once
	 * (RotatingFileHandler's lseek(SEEK_END), tail -f): complete records
	 * written through this mount are stored first.  A live name's key is
	 * its name. */
	kfs_write_drain(fs, p->stream, p->name, KFS_STAT_DRAIN_MS);
	err = kfs_names_stat(table(fs), p->stream, p->name, &d);

	if (err == -ENOENT)
		return err;
	if (err)
		return kfs_names_fail(err, "stat", p, NULL);
	/* A rotated name is read-only: its mode shows no w bits. */
	st->st_mode = S_IFREG | (d.mode & (d.state == KFS_NAME_ROTATED
					   ? 0555 : 0777));
	st->st_nlink = 1;
	st->st_uid = d.uid;
	st->st_gid = d.gid;
	st->st_size = d.bytes[fs->opt->framing];
	st->st_blocks = (st->st_size + 511) / 512;
	set_time(&st->st_mtim, d.mtime_ms);
	set_time(&st->st_atim, d.mtime_ms);
	set_time(&st->st_ctim, d.ctime_ms);
	return 0;
}

int kfs_keyfile_list(struct kfs_fs *fs, const struct kfs_path *p, void *buf,
		     fuse_fill_dir_t filler)
{
	struct kfs_name_list l = { 0 };
	int err = kfs_names_list(table(fs), p->stream, &l);

	if (err)
		return kfs_names_fail(err, "list key files", p, NULL);
	for (size_t i = 0; i < l.n; i++)
		filler(buf, l.v[i], NULL, 0, 0);
	kfs_name_list_clear(&l);
	return 0;
}

/* The owner of a new name: the caller when other users reach the mount
 * (nginx's workers, logrotate's `create`), else the mount's owner. */
static void new_owner(const struct kfs_fs *fs, uint32_t *uid, uint32_t *gid)
{
	struct fuse_context *c = fuse_get_context();

	*uid = fs->opt->uid;
	*gid = fs->opt->gid;
	if ((fs->opt->allow_other || fs->opt->allow_root) && c) {
		*uid = c->uid;
		*gid = c->gid;
	}
}

int kfs_keyfile_open(struct kfs_fs *fs, const struct kfs_path *p, int create,
		     mode_t mode, int flags)
{
	const char *why = NULL;
	int writing = (flags & O_ACCMODE) != O_RDONLY;
	int err;

	if (create) {
		unsigned f = 0;
		uint32_t uid, gid;

		if (flags & O_EXCL)
			f |= KFS_NAME_EXCL;
		if ((flags & O_TRUNC) && writing)
			f |= KFS_NAME_TRUNC;
		new_owner(fs, &uid, &gid);
		if (f & KFS_NAME_TRUNC)
			kfs_write_drain(fs, p->stream, p->name, -1);
		err = kfs_names_create(table(fs), p->stream, p->name, f, uid,
				       gid, mode & fs->opt->file_mode, NULL,
				       &why);
		if (err == -EEXIST)
			return err;   /* O_EXCL: the caller asked */
		if (err)
			return kfs_names_fail(err, "create", p, why);
	}
	if (writing) {
		struct kfs_name_desc d;

		err = kfs_names_stat(table(fs), p->stream, p->name, &d);
		if (err == 0 && d.state == KFS_NAME_ROTATED)
			return kfs_names_fail(-EACCES, "open", p, "a rotated name "
					      "is read-only: records are never "
					      "replaced (write to the live name)");
		if (err)
			return err == -ENOENT ? err : kfs_names_fail(err, "open",
								     p, NULL);
		if (!create && (flags & O_TRUNC))
			return kfs_keyfile_truncate(fs, p);
	}
	return 0;
}

/* The key a name shows now (p->name itself for a live name). */
static void key_of(struct kfs_fs *fs, const struct kfs_path *p,
		   char key[KFS_KEY_MAX + 1])
{
	struct kfs_name_desc d;

	if (kfs_names_stat(table(fs), p->stream, p->name, &d) == 0)
		memcpy(key, d.key, KFS_KEY_MAX + 1);
	else
		snprintf(key, KFS_KEY_MAX + 1, "%s", p->name);
}

int kfs_keyfile_truncate(struct kfs_fs *fs, const struct kfs_path *p)
{
	const char *why = NULL;
	int err;

	kfs_write_drain(fs, p->stream, p->name, -1);
	err = kfs_names_truncate(table(fs), p->stream, p->name, &why);

	return err ? kfs_names_fail(err, "truncate", p, why) : 0;
}

int kfs_keyfile_unlink(struct kfs_fs *fs, const struct kfs_path *p)
{
	const char *why = NULL;
	int err = kfs_names_unlink(table(fs), p->stream, p->name, &why);

	return err ? kfs_names_fail(err, "unlink", p, why) : 0;
}

int kfs_keyfile_rename(struct kfs_fs *fs, const struct kfs_path *from,
		       const struct kfs_path *to, unsigned int flags)
{
	const char *why = NULL;
	unsigned f = 0;
	int err;

	if (flags & RENAME_NOREPLACE)
		f |= KFS_NAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		f |= KFS_NAME_EXCHANGE;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return kfs_names_fail(-EINVAL, "rename", from, "unknown flags");
	{
		/* What was written before the rename is in the window the
		 * new name gets. */
		char key[KFS_KEY_MAX + 1];

		key_of(fs, from, key);
		kfs_write_drain(fs, from->stream, key, -1);
	}
	err = kfs_names_rename(table(fs), from->stream, from->name, to->name,
			       f, &why);
	if (err == -EEXIST)
		return err;
	if (err == -EINVAL)
		why = "names cannot be exchanged: records are never replaced";
	if (err) {
		char msg[NAME_MAX + 160];

		snprintf(msg, sizeof(msg), "to %s: %s", to->name,
			 why ? why : strerror(-err));
		return kfs_names_fail(err, "rename", from, msg);
	}
	if (kfs_log_enabled(KFS_LOG_DEBUG))
		kfs_debug("rename %s/%s to %s: rotated", from->stream,
			  from->name, to->name);
	return 0;
}

/* 1 when the caller is in group gid. */
static int in_group(const struct fuse_context *c, gid_t gid)
{
	gid_t g[64];
	int n;

	if (c->gid == gid)
		return 1;
	n = fuse_getgroups(64, g);
	for (int i = 0; i < n && i < 64; i++)
		if (g[i] == gid)
			return 1;
	return 0;
}

/*
 * chown and chmod of a key file, as on any filesystem: root may give it
 * to anyone; its owner may change its mode, and its group to one of the
 * owner's groups.  Only the 0777 bits are kept.
 */
int kfs_keyfile_setattr(struct kfs_fs *fs, const struct kfs_path *p,
			uint32_t uid, uint32_t gid, uint32_t mode)
{
	struct fuse_context *c = fuse_get_context();
	const char *op = mode != (uint32_t)-1 ? "chmod" : "chown";
	struct kfs_name_desc d;
	int err = kfs_names_stat(table(fs), p->stream, p->name, &d);

	if (err)
		return err == -ENOENT ? err : kfs_names_fail(err, op, p, NULL);
	if (uid == d.uid)
		uid = (uint32_t)-1;
	if (gid == d.gid)
		gid = (uint32_t)-1;
	if (c && c->uid != 0) {
		if (c->uid != d.uid || uid != (uint32_t)-1)
			return kfs_names_fail(-EPERM, op, p, "only root gives "
					      "a file to another user");
		if (gid != (uint32_t)-1 && !in_group(c, gid))
			return kfs_names_fail(-EPERM, op, p, "the owner is not "
					      "in that group");
	}
	if (mode != (uint32_t)-1 && (mode & 07000))
		return kfs_names_fail(-EPERM, op, p, "set-id and sticky bits "
				      "have no meaning for records");
	if (uid == (uint32_t)-1 && gid == (uint32_t)-1 &&
	    (mode == (uint32_t)-1 || (mode & 0777) == d.mode))
		return 0;
	err = kfs_names_setattr(table(fs), p->stream, p->name, uid, gid,
				mode == (uint32_t)-1 ? mode : mode & 0777);
	return err ? kfs_names_fail(err, op, p, NULL) : 0;
}
