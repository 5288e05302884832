/*
 * named_ops.c - named readers in the FUSE layer (docs/reading.md, "Named
 * readers"): opening one (one open of a name at a time), committing at
 * close, fsync and user.kinesis.commit, and the attributes that list,
 * show, reset and remove names.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/named.h"
#include "fs/render.h"
#include "lib/log.h"
#include "lib/util.h"

#define XATTR_READERS "user.kinesis.readers"
#define XATTR_READER "user.kinesis.reader"      /* on a named view */
#define XATTR_READER_DOT "user.kinesis.reader." /* + NAME, on a stream */
#define XATTR_COMMIT "user.kinesis.commit"      /* on a named view */

int kfs_named_open_handle(struct kfs_fs *fs, const struct kfs_path *p,
			  int64_t stream_created_ms, struct kfs_named **out,
			  char *why, size_t why_size)
{
	if (!fs->named) {
		snprintf(why, why_size, "named readers need a state directory "
			 "(-o state_dir)");
		return -ENOTSUP;
	}
	return kfs_named_acquire(fs->named, p->stream, stream_created_ms,
				 p->pos.rname, p->kind,
				 p->kind == KFS_NODE_SVIEW ? "" : p->name,
				 &p->pos, out, why, why_size);
}

/*
 * 1 when the process closing a file lives on (close(2)) or ended with
 * status 0; 0 when it was killed or failed: what it read may not have
 * been handled.  A process that exits has PF_EXITING (0x4) in the flags
 * of /proc/PID/stat (field 9) and its wait status in field 52 while it
 * closes its files.  Unknown (no /proc, a pid of another namespace):
 * taken as a close.
 */
static int closer_ended_well(pid_t pid)
{
	char path[64], buf[1024], *p, *save = NULL;
	unsigned long flags = 0;
	long code = 0;
	FILE *f;
	size_t n;
	int field = 2;

	if (pid <= 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return 1;
	for (char *t = strtok_r(p + 1, " ", &save); t;
	     t = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 9)
			flags = strtoul(t, NULL, 10);
		else if (field == 52)
			code = strtol(t, NULL, 10);
	}
	if (!(flags & 0x4))
		return 1;
	return field >= 52 && code == 0;
}

void kfs_named_on_flush(struct kfs_handle *h)
{
	int ok;

	if (!h->named)
		return;
	ok = closer_ended_well(fuse_get_context()->pid);
	pthread_mutex_lock(&h->lock);
	h->named_flushed = 1;
	h->named_close_ok = ok;
	pthread_mutex_unlock(&h->lock);
	kfs_named_closing(h->named);
	if (!ok)
		kfs_info("named reader %s/%s: its reader was killed or failed: "
			 "no commit at its close", h->stream, h->named->name);
}

int kfs_named_on_fsync(struct kfs_handle *h)
{
	return h->named ? kfs_named_commit(h->named) : 0;
}

void kfs_named_on_release(struct kfs_handle *h)
{
	int commit;

	if (!h->named)
		return;
	pthread_mutex_lock(&h->lock);
	commit = h->named_flushed && h->named_close_ok;
	pthread_mutex_unlock(&h->lock);
	kfs_named_close(h->named, commit);
}

/* ---- lag ------------------------------------------------------------- */

void kfs_named_lag_of(struct kfs_fs *fs, const char *stream,
		      const struct kfs_nstate *s,
		      const struct kfs_named_lag *live,
		      struct kfs_named_lag *out)
{
	struct kfs_shard_list sl = { 0 };
	int64_t millis = 0;

	/* Where the backend cannot count (AWS), the open reader's own
	 * measure: the service's MillisBehindLatest, and what it holds
	 * unread once its pages reached the tip. */
	*out = *live;
	if (!fs->be->ops->behind ||
	    fs->be->ops->list_shards(fs->be->impl, stream, &sl) != 0)
		return;
	out->records = out->bytes = 0;
	for (size_t i = 0; i < sl.n; i++) {
		const char *id = sl.v[i].id;
		const struct kfs_npos *p = kfs_nstate_find(s, id);
		uint64_t rec = 0, bytes = 0;
		int64_t newest = -1, from;

		if ((s->kind == KFS_NODE_SHARD && strcmp(id, s->target) != 0) ||
		    (p && p->done))
			continue;
		from = s->origin == KFS_ITER_AT_TIMESTAMP ? s->origin_ms : 0;
		if (fs->be->ops->behind(fs->be->impl, stream, id,
					p ? p->seq : "", p && p->seq[0] ? 0 : from,
					fs->opt->framing, &rec, &bytes,
					&newest) != 0)
			continue;
		out->records += (int64_t)rec;
		out->bytes += (int64_t)bytes;
		if (rec > 0 && p && p->arrival_ms > 0 && newest - p->arrival_ms > millis)
			millis = newest - p->arrival_ms;
	}
	kfs_shard_list_clear(&sl);
	if (live->millis < 0 || out->records == 0)
		out->millis = millis;
}

/* The lag of one name, as metrics lines. */
static void metrics_of(struct kfs_fs *fs, FILE *d, const char *stream,
		       const char *name)
{
	struct kfs_nstate s = { 0 }, live = { 0 };
	struct kfs_named_lag l, lag;
	int open;

	if (kfs_named_load(fs->named, stream, name, &s, &open, &live, &lag) == 0) {
		kfs_named_lag_of(fs, stream, open ? &live : &s, &lag, &l);
		if (l.records >= 0)
			fprintf(d, "kinesisfs_reader_lag_records{stream=\"%s\","
				"reader=\"%s\"} %" PRId64 "\n", stream, name,
				l.records);
		if (l.bytes >= 0)
			fprintf(d, "kinesisfs_reader_lag_bytes{stream=\"%s\","
				"reader=\"%s\"} %" PRId64 "\n", stream, name,
				l.bytes);
		if (l.millis >= 0)
			fprintf(d, "kinesisfs_reader_lag_millis{stream=\"%s\","
				"reader=\"%s\"} %" PRId64 "\n", stream, name,
				l.millis);
		fprintf(d, "kinesisfs_reader_open{stream=\"%s\",reader=\"%s\"} "
			"%d\n", stream, name, open);
	}
	kfs_nstate_clear(&s);
	kfs_nstate_clear(&live);
}

int kfs_named_metrics(struct kfs_fs *fs, char **doc, size_t *len)
{
	char *buf = NULL, *v;
	size_t blen = 0;
	FILE *d;
	DIR *top;
	struct dirent *e;
	long body;

	if (!fs->named)
		return 0;
	d = open_memstream(&buf, &blen);
	if (!d)
		return -ENOMEM;
	fprintf(d, "# HELP kinesisfs_reader_lag_records Records behind the tip "
		"(named readers).\n"
		"# TYPE kinesisfs_reader_lag_records gauge\n"
		"# HELP kinesisfs_reader_lag_bytes Bytes behind the tip, as "
		"read (named readers).\n"
		"# TYPE kinesisfs_reader_lag_bytes gauge\n"
		"# HELP kinesisfs_reader_lag_millis Milliseconds behind the "
		"tip (MillisBehindLatest).\n"
		"# TYPE kinesisfs_reader_lag_millis gauge\n"
		"# HELP kinesisfs_reader_open 1 while the reader of the name "
		"is open.\n"
		"# TYPE kinesisfs_reader_open gauge\n");
	body = ftell(d);
	top = opendir(kfs_named_table_dir(fs->named));
	while (top && (e = readdir(top)) != NULL) {
		char *list;
		size_t llen, n;

		if (!kfs_valid_stream_name(e->d_name) ||
		    kfs_named_list(fs->named, e->d_name, &list, &llen, &n) != 0)
			continue;
		for (size_t i = 0; i < llen; i += strlen(list + i) + 1)
			metrics_of(fs, d, e->d_name, list + i);
		free(list);
	}
	if (top)
		closedir(top);
	if (fclose(d) != 0) {
		free(buf);
		return -ENOMEM;
	}
	/* Appended to the document, when there is any name. */
	if (blen > (size_t)body) {
		v = realloc(*doc, *len + blen + 1);
		if (!v) {
			free(buf);
			return -ENOMEM;
		}
		memcpy(v + *len, buf, blen + 1);
		*doc = v;
		*len += blen;
	}
	free(buf);
	return 0;
}

/* ---- attributes ------------------------------------------------------ */

static int put(struct kfs_rbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int put(struct kfs_rbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return kfs_rbuf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
							       : sizeof(tmp) - 1);
}

static int put_time(struct kfs_rbuf *b, const char *name, int64_t ms)
{
	char t[40];

	if (ms <= 0)
		return put(b, ",\"%s\":null", name);
	kfs_format_iso8601(ms, t, sizeof(t));
	return put(b, ",\"%s\":\"%s\"", name, t);
}

static int put_positions(struct kfs_rbuf *b, const char *name,
			 const struct kfs_nstate *s)
{
	int err = put(b, ",\"%s\":[", name);

	for (size_t i = 0; !err && i < s->n; i++) {
		const struct kfs_npos *p = &s->v[i];

		err = put(b, "%s{\"shard\":\"%s\",\"sequence_number\":", i ? "," : "",
			  p->shard);
		if (!err)
			err = p->seq[0] ? put(b, "\"%s\"", p->seq) : put(b, "null");
		if (!err && p->sub >= 0)
			err = put(b, ",\"sub_sequence_number\":%" PRId64,
				  p->sub - 1);
		if (!err)
			err = put(b, ",\"whole\":%s,\"done\":%s",
				  p->sub < 0 ? "true" : "false",
				  p->done ? "true" : "false");
		if (!err && p->arrival_ms > 0)
			err = put_time(b, "arrival", p->arrival_ms);
		if (!err)
			err = put(b, "}");
	}
	return err ? err : put(b, "]");
}

/* A name's report: one line of JSON (docs/reading.md). */
static int report(struct kfs_fs *fs, const char *stream, const char *name,
		  struct kfs_rbuf *b)
{
	struct kfs_nstate s = { 0 }, live = { 0 };
	struct kfs_named_lag lag;
	int open = 0, err;
	const struct kfs_nstate *cur;

	err = kfs_named_load(fs->named, stream, name, &s, &open, &live, &lag);
	if (err)
		goto out;
	err = put(b, "{\"name\":\"%s\",\"stream\":\"%s\",\"reads\":\"%s\"", name,
		  stream, s.kind == KFS_NODE_SVIEW ? "stream"
		  : s.kind == KFS_NODE_SHARD ? "shard"
		  : s.kind == KFS_NODE_KEY ? "key" : "any");
	if (!err && s.target[0]) {
		err = put(b, ",\"%s\":", s.kind == KFS_NODE_SHARD ? "shard" : "key");
		if (!err)
			err = kfs_render_json_string(b, s.target, strlen(s.target));
	}
	if (!err)
		err = put(b, ",\"open\":%s,\"fresh\":%s,\"origin\":\"%s",
			  open ? "true" : "false", s.fresh ? "true" : "false",
			  kfs_iter_type_name(s.origin));
	if (!err && s.origin == KFS_ITER_AT_TIMESTAMP) {
		char t[40];
		kfs_format_iso8601(s.origin_ms, t, sizeof(t));
		err = put(b, "=%s", t);
	} else if (!err && s.origin_seq[0]) {
		err = put(b, "=%s", s.origin_seq);
	}
	if (!err)
		err = put(b, "\"");
	if (!err)
		err = put_time(b, "created", s.created_ms);
	if (!err)
		err = put_time(b, "committed", s.committed_ms);
	if (!err)
		err = put(b, ",\"commits\":%" PRIu64, s.commits);
	if (!err)
		err = put_positions(b, "positions", &s);
	if (!err && open)
		err = put_positions(b, "read", &live);
	cur = open ? &live : &s;
	if (!err) {
		struct kfs_named_lag l;

		kfs_named_lag_of(fs, stream, cur, &lag, &l);
		err = put(b, ",\"lag_records\":");
		if (!err)
			err = l.records < 0 ? put(b, "null")
			      : put(b, "%" PRId64, l.records);
		if (!err)
			err = l.bytes < 0 ? put(b, ",\"lag_bytes\":null")
			      : put(b, ",\"lag_bytes\":%" PRId64, l.bytes);
		if (!err)
			err = l.millis < 0 ? put(b, ",\"lag_millis\":null")
			      : put(b, ",\"lag_millis\":%" PRId64, l.millis);
	}
	if (!err)
		err = put(b, "}\n");
out:
	kfs_nstate_clear(&s);
	kfs_nstate_clear(&live);
	return err;
}

static int value_out(const void *v, size_t len, char *value, size_t size)
{
	if (len > 65536)
		return -E2BIG;
	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(value, v, len);
	return (int)len;
}

/* The reader name of a path: a named view's, or NULL. */
static const char *view_name(const struct kfs_path *p)
{
	return kfs_names_is_view(p) && p->pos.named ? p->pos.rname : NULL;
}

int kfs_named_getxattr(struct kfs_fs *fs, const struct kfs_path *p,
		       const char *name, char *value, size_t size)
{
	struct kfs_rbuf b = { 0 };
	const char *rname = NULL;
	int err;

	if (p->kind == KFS_NODE_STREAM && strcmp(name, XATTR_READERS) == 0) {
		char *list;
		size_t len, n;

		if (!fs->named)
			return value_out("", 0, value, size);
		err = kfs_named_list(fs->named, p->stream, &list, &len, &n);
		if (err)
			return err;
		for (size_t i = 0; i < len; i++)
			if (list[i] == '\0')
				list[i] = '\n';
		err = value_out(list, len, value, size);
		free(list);
		return err;
	}
	if (p->kind == KFS_NODE_STREAM &&
	    strncmp(name, XATTR_READER_DOT, strlen(XATTR_READER_DOT)) == 0)
		rname = name + strlen(XATTR_READER_DOT);
	else if (view_name(p) && strcmp(name, XATTR_READER) == 0)
		rname = view_name(p);
	else
		return 1;
	if (!fs->named || !kfs_named_valid(rname, strlen(rname)))
		return -ENODATA;
	err = report(fs, p->stream, rname, &b);
	if (!err)
		err = value_out(b.buf, b.len, value, size);
	free(b.buf);
	return err == -ENOENT ? -ENODATA : err;
}

int kfs_named_listxattr(struct kfs_fs *fs, const struct kfs_path *p,
			struct kfs_rbuf *b)
{
	char *list;
	size_t len, n;
	int err;

	if (view_name(p))
		return kfs_rbuf_put(b, XATTR_READER, sizeof(XATTR_READER));
	if (p->kind != KFS_NODE_STREAM || !fs->named)
		return 0;
	err = kfs_rbuf_put(b, XATTR_READERS, sizeof(XATTR_READERS));
	if (err || (err = kfs_named_list(fs->named, p->stream, &list, &len,
					 &n)) != 0)
		return err;
	for (size_t i = 0; !err && i < len; i += strlen(list + i) + 1) {
		err = kfs_rbuf_put(b, XATTR_READER_DOT,
				   strlen(XATTR_READER_DOT));
		if (!err)
			err = kfs_rbuf_put(b, list + i, strlen(list + i) + 1);
	}
	free(list);
	return err;
}

int kfs_named_setxattr(struct kfs_fs *fs, const struct kfs_path *p,
		       const struct kfs_stream_desc *sd, const char *name,
		       const char *value, size_t size)
{
	char v[NAME_MAX + 1];
	struct kfs_position pos;
	const char *rname;
	int err;

	if (view_name(p) && strcmp(name, XATTR_COMMIT) == 0) {
		if (!fs->named)
			return -ENOENT;
		err = kfs_named_commit_open(fs->named, p->stream, view_name(p));
		if (err == -ENOENT)
			return kfs_names_fail(err, "commit", p, "the reader of "
					      "that name is not open");
		return err ? kfs_names_fail(err, "commit", p, NULL) : 0;
	}
	if (p->kind != KFS_NODE_STREAM ||
	    strncmp(name, XATTR_READER_DOT, strlen(XATTR_READER_DOT)) != 0)
		return 1;
	rname = name + strlen(XATTR_READER_DOT);
	if (!fs->named)
		return kfs_names_fail(-ENOTSUP, "reset reader", p, "named "
				      "readers need a state directory");
	if (!kfs_named_valid(rname, strlen(rname)))
		return kfs_names_fail(-EINVAL, "reset reader", p, "a reader's "
				      "name is 1 to 64 of A-Z a-z 0-9 _ . -");
	/* The value is a POSITION: where the name starts at its next use. */
	if (size >= sizeof(v))
		return kfs_names_fail(-EINVAL, "reset reader", p, "too long");
	memcpy(v, value, size);
	v[size] = '\0';
	if (size && v[size - 1] == '\n')
		v[size - 1] = '\0';
	if (!v[0])
		snprintf(v, sizeof(v), "TRIM_HORIZON");
	if (kfs_position_parse(v, &pos) != 0 || pos.named || pos.json)
		return kfs_names_fail(-EINVAL, "reset reader", p, "the value is "
				      "a position: TRIM_HORIZON, LATEST, "
				      "AT_TIMESTAMP=T, AT_SEQUENCE_NUMBER=N or "
				      "AFTER_SEQUENCE_NUMBER=N");
	err = kfs_named_reset(fs->named, p->stream, sd->creation_ms, rname,
			      &pos);
	if (err == -EBUSY)
		return kfs_names_fail(err, "reset reader", p, "the reader of "
				      "that name is open");
	if (err)
		return kfs_names_fail(err, "reset reader", p, NULL);
	kfs_info("named reader %s/%s: reset to start at %s at its next use",
		 p->stream, rname, v);
	return 0;
}

int kfs_named_removexattr(struct kfs_fs *fs, const struct kfs_path *p,
			  const char *name)
{
	const char *rname;
	int err;

	if (p->kind != KFS_NODE_STREAM ||
	    strncmp(name, XATTR_READER_DOT, strlen(XATTR_READER_DOT)) != 0)
		return 1;
	rname = name + strlen(XATTR_READER_DOT);
	if (!fs->named || !kfs_named_valid(rname, strlen(rname)))
		return -ENODATA;
	err = kfs_named_remove(fs->named, p->stream, rname);
	if (err == -ENOENT)
		return -ENODATA;
	if (err == -EBUSY)
		return kfs_names_fail(err, "remove reader", p, "the reader of "
				      "that name is open");
	if (err)
		return kfs_names_fail(err, "remove reader", p, NULL);
	kfs_info("named reader %s/%s: removed", p->stream, rname);
	return 0;
}
