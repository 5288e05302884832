/* path.c - see path.h. */
#include "path.h"

#include <errno.h>
#include <string.h>

#include "lib/util.h"

#define KFS_JSON_SUFFIX ".jsonl"

/* 1 when s is 1 to 128 decimal digits (a sequence number's form). */
static int valid_seq(const char *s, size_t n)
{
	if (n < 1 || n > KFS_POS_SEQ_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int kfs_named_valid(const char *s, size_t n)
{
	if (n < 1 || n > KFS_READER_NAME_MAX || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

/* "READER=NAME[,POSITION]" or "BATCH=...", with ".jsonl" taken off:
 * 0, or -EINVAL. */
static int parse_named(const char *s, enum kfs_named_form form,
		       struct kfs_position *out)
{
	const char *name = strchr(s, '=') + 1;
	const char *comma = strchr(name, ',');
	size_t n = comma ? (size_t)(comma - name) : strlen(name);
	int json = out->json, err = 0;

	if (!kfs_named_valid(name, n))
		return -EINVAL;
	if (comma) {
		err = kfs_position_parse(comma + 1, out);
		if (err || out->json || out->named)
			return -EINVAL;
		out->first_given = 1;
	}
	out->json = json;
	out->named = form;
	memcpy(out->rname, name, n);
	out->rname[n] = '\0';
	return 0;
}

int kfs_position_parse(const char *s, struct kfs_position *out)
{
	char arg[NAME_MAX + 1];
	size_t n = strlen(s), sl = strlen(KFS_JSON_SUFFIX);
	const char *eq;
	size_t kw;
	int t = -1;

	memset(out, 0, sizeof(*out));
	if (n > NAME_MAX)
		return -EINVAL;
	if (strncmp(s, "READER", 6) == 0 || strncmp(s, "BATCH", 5) == 0) {
		enum kfs_named_form form = s[0] == 'R' ? KFS_NAMED_FOLLOW
						       : KFS_NAMED_BATCH;
		size_t kl = form == KFS_NAMED_FOLLOW ? 6 : 5;

		memcpy(arg, s, n + 1);
		if (n > sl && strcmp(arg + n - sl, KFS_JSON_SUFFIX) == 0) {
			out->json = 1;
			arg[n - sl] = '\0';
		}
		if (arg[kl] != '=')
			return -EINVAL;
		return parse_named(arg, form, out);
	}
	eq = strchr(s, '=');
	kw = eq ? (size_t)(eq - s) : n;
	for (int i = 0; kfs_iter_type_name(i); i++) {
		const char *name = kfs_iter_type_name(i);
		size_t l = strlen(name);
		if (kw >= l && strncmp(s, name, l) == 0 &&
		    (t < 0 || l > strlen(kfs_iter_type_name(t))))
			t = i;
	}
	if (t < 0)
		return -ENOENT;
	out->type = (enum kfs_iter_type)t;
	/* The keyword is matched; whatever is wrong now is malformed. */
	memcpy(arg, s, n + 1);
	if (n > sl && strcmp(arg + n - sl, KFS_JSON_SUFFIX) == 0) {
		out->json = 1;
		n -= sl;
		arg[n] = '\0';
	}
	eq = strchr(arg, '=');
	if (t == KFS_ITER_TRIM_HORIZON || t == KFS_ITER_LATEST)
		return strcmp(arg, kfs_iter_type_name(t)) == 0 ? 0 : -EINVAL;
	if (!eq || (size_t)(eq - arg) != strlen(kfs_iter_type_name(t)))
		return -EINVAL;
	eq++;
	if (t == KFS_ITER_AT_TIMESTAMP)
		return kfs_parse_timestamp(eq, &out->timestamp_ms) == 0 &&
			       out->timestamp_ms >= 0 ? 0 : -EINVAL;
	if (!valid_seq(eq, strlen(eq)))
		return -EINVAL;
	strcpy(out->seq, eq);
	return 0;
}

/* Sorts out the entry name of a stream directory. */
static int parse_entry(struct kfs_path *out)
{
	char *at;
	int err;

	strcpy(out->full, out->name);
	if (out->name[0] == '@') {
		out->kind = KFS_NODE_SVIEW;
		out->name[0] = '\0';
		err = kfs_position_parse(out->full + 1, &out->pos);
		return err ? -EINVAL : 0;
	}
	at = strchr(out->name, '@');
	if (at && at - out->name == KFS_SHARD_ID_LEN) {
		*at = '\0';
		if (kfs_is_shard_id(out->name)) {
			out->kind = KFS_NODE_SHARD;
			out->view = 1;
			err = kfs_position_parse(at + 1, &out->pos);
			return err ? -EINVAL : 0;
		}
		*at = '@';
	}
	if (kfs_is_shard_id(out->name)) {
		out->kind = KFS_NODE_SHARD;
		return 0;
	}
	out->kind = KFS_NODE_KEY;
	/* A key view needs a position keyword after its last '@'; without
	 * one, the whole name is a key ("user@example.com"). */
	at = strrchr(out->name, '@');
	if (at && at > out->name) {
		err = kfs_position_parse(at + 1, &out->pos);
		if (err == -ENOENT)
			return 0;
		*at = '\0';
		out->view = 1;
		return err;
	}
	return 0;
}

int kfs_path_parse(const char *path, struct kfs_path *out)
{
	const char *p = path, *slash;
	size_t n;

	memset(out, 0, sizeof(*out));
	while (*p == '/')
		p++;
	if (!*p) {
		out->kind = KFS_NODE_ROOT;
		return 0;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n > KFS_STREAM_NAME_MAX) {
		/* Too long to be a stream; keep a prefix for messages. */
		memcpy(out->stream, p, KFS_STREAM_NAME_MAX);
		out->kind = KFS_NODE_STREAM;
		return slash ? -ENOENT : 0;
	}
	memcpy(out->stream, p, n);
	out->valid_stream = kfs_valid_stream_name(out->stream);
	out->kind = KFS_NODE_STREAM;
	if (strcmp(out->stream, KFS_METRICS_NAME) == 0) {
		out->kind = KFS_NODE_METRICS;
		return slash && slash[1] ? -ENOENT : 0;
	}
	if (!slash || !slash[1])
		return 0;
	p = slash + 1;
	if (strchr(p, '/') || strlen(p) > NAME_MAX)
		return -ENOENT;
	strcpy(out->name, p);
	return parse_entry(out);
}
