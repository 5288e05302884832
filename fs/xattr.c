/*
 * xattr.c - extended attributes: user.kinesis.* shows what the backend
 * describes of a stream or a shard, and sets a stream's retention_hours
 * and shard_count.
 */
#include "fs/fs-internal.h"
#include "fs/render.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

#define KFS_XATTR_PREFIX "user.kinesis."

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
	unsigned m;
	int err = kfs_names_resolve(fs, op, path, p, &sd, &shd);
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
		m = fs->prod ? kfs_producer_modes(fs->prod, sd.name) : 0;
		xadd(x, "aggregate", "%d", (m & KFS_PRODUCER_AGGREGATE) != 0);
		xadd(x, "spread", "%d", (m & KFS_PRODUCER_SPREAD) != 0);
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

int kfs_getxattr(const char *path, const char *name, char *value,
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
	if ((err = kfs_named_getxattr(fs, &p, name, value, size)) != 1)
		return err;
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

int kfs_listxattr(const char *path, char *list, size_t size)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct xattrs x;
	struct kfs_rbuf b = { 0 };
	int err = xattrs_of(fs, "listxattr", path, &p, &x);

	for (size_t i = 0; !err && i < x.n; i++) {
		err = kfs_rbuf_put(&b, KFS_XATTR_PREFIX, strlen(KFS_XATTR_PREFIX));
		if (!err)
			err = kfs_rbuf_put(&b, x.name[i], strlen(x.name[i]) + 1);
	}
	if (!err)
		err = kfs_named_listxattr(fs, &p, &b);
	if (!err && b.len > 65536)
		err = -E2BIG;
	if (!err && size && size < b.len)
		err = -ERANGE;
	if (!err && size)
		memcpy(list, b.buf, b.len);
	if (!err)
		err = (int)b.len;
	free(b.buf);
	return err;
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

int kfs_setxattr(const char *path, const char *name, const char *value,
		 size_t size, int flags)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	struct kfs_stream_desc sd;
	long v;
	int err = kfs_names_resolve(fs, "setxattr", path, &p, &sd, NULL);

	if (err)
		return err;
	/* Named readers' state is the mount's, not the stream's: a
	 * read-only mount keeps it too. */
	if ((err = kfs_named_setxattr(fs, &p, &sd, name, value, size)) != 1)
		return err;
	if ((err = kfs_names_refuse_read_only(fs, "setxattr", &p)))
		return err;
	if (p.kind == KFS_NODE_STREAM &&
	    strcmp(name, KFS_XATTR_PREFIX "retention_hours") == 0) {
		if (xattr_int(value, size, &v) || v < KFS_RETENTION_MIN_HOURS ||
		    v > KFS_RETENTION_MAX_HOURS)
			return kfs_names_fail(-EINVAL, "set retention", &p,
					      "retention_hours takes 24 to "
					      "8760");
		err = fs->be->ops->set_retention(fs->be->impl, p.stream, (int)v);
		if (err)
			return kfs_names_fail(err, "set retention", &p, NULL);
		kfs_info("stream %s: retention set to %ld hours", p.stream, v);
		return 0;
	}
	if (p.kind == KFS_NODE_STREAM &&
	    strcmp(name, KFS_XATTR_PREFIX "shard_count") == 0) {
		if (xattr_int(value, size, &v) || v < 1 || v > 100000)
			return kfs_names_fail(-EINVAL, "update shard count", &p,
					      "shard_count takes a positive "
					      "number");
		err = fs->be->ops->update_shard_count(fs->be->impl, p.stream,
						       (int)v);
		if (err)
			return kfs_names_fail(err, "update shard count", &p,
					      NULL);
		kfs_info("stream %s: shard count set to %ld", p.stream, v);
		return 0;
	}
	if (p.kind == KFS_NODE_STREAM &&
	    (strcmp(name, KFS_XATTR_PREFIX "aggregate") == 0 ||
	     strcmp(name, KFS_XATTR_PREFIX "spread") == 0)) {
		int agg = name[strlen(KFS_XATTR_PREFIX)] == 'a';
		const char *op = agg ? "set aggregate" : "set spread";

		if (xattr_int(value, size, &v) || (v != 0 && v != 1))
			return kfs_names_fail(-EINVAL, op, &p, agg
					      ? "aggregate takes 1 (on) or 0 (off)"
					      : "spread takes 1 (on) or 0 (off)");
		err = kfs_producer_set_mode(fs->prod, p.stream,
					    agg ? KFS_PRODUCER_AGGREGATE
						: KFS_PRODUCER_SPREAD, (int)v);
		if (err)
			return kfs_names_fail(err, op, &p, NULL);
		kfs_info("stream %s: %s %s for this mount", p.stream,
			 agg ? "KPL aggregation" : "spreading over the shards",
			 v ? "on" : "off");
		return 0;
	}
	if (strncmp(name, KFS_XATTR_PREFIX, strlen(KFS_XATTR_PREFIX)) == 0)
		return kfs_names_fail(-EPERM, "setxattr", &p,
				      "this attribute is read-only");
	/* Tools that copy a file's metadata (logrotate, sed -i, mv,
	 * rsync, vim) set its ACL and fall back to fchmod on ENOTSUP, as
	 * on any filesystem without ACLs: not worth a log line. */
	if (strncmp(name, "system.posix_acl_", 17) == 0)
		return -ENOTSUP;
	return kfs_names_fail(-ENOTSUP, "setxattr", &p, "only user.kinesis.* "
			      "attributes exist");
}

int kfs_removexattr(const char *path, const char *name)
{
	struct kfs_fs *fs = get_fs();
	struct kfs_path p;
	int err = kfs_names_resolve(fs, "removexattr", path, &p, NULL, NULL);

	if (err || (err = kfs_named_removexattr(fs, &p, name)) != 1)
		return err;
	return kfs_names_fail(-EPERM, "removexattr", &p,
			      "attributes cannot be removed");
}
