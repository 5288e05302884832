/*
 * names.h - the names of a stream directory that are key files (SPEC 3,
 * docs/semantics.md "Key files").
 *
 * A name is live (it shows its key's records from its window's start to
 * the tip, and takes writes), rotated (the target of a rename: a closed
 * window, read-only) or gone (the source of a rename: not listed, but it
 * remembers where the next window of its key starts).  Any other name
 * does not exist, and asking for it costs nothing that stays.
 *
 * This table and its rules (which change gives which errno) are the same
 * for both engines.  What differs is given by hooks: where a key is now
 * in each shard (a position), what a window holds (bytes, records, the
 * newest arrival), tracking a key's records while a name refers to it,
 * and keeping changes on disk (the local engine's journal; the AWS
 * backend keeps names for the mount's life only).
 *
 * Thread safety: every function may be called from many threads at once.
 * Hooks are called with the table's lock held, so they must not call
 * back into the table; engines take their own locks inside them (lock
 * order: names lock, then the engine's).
 */
#ifndef KFS_NAMES_H
#define KFS_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

enum kfs_name_state {
	KFS_NAME_DROPPED = 0,   /* in a change: the name is removed */
	KFS_NAME_LIVE = 1,
	KFS_NAME_ROTATED = 2,
	KFS_NAME_GONE = 3,
};

/*
 * A key's position in one shard: the boundary between its records before
 * and after a moment (a window's start or end).  Each engine fills the
 * fields it uses and leaves the others zero.
 */
struct kfs_wpos {
	char shard[KFS_SHARD_ID_LEN + 1];
	uint64_t counter;               /* local: records at counters >= it are after */
	char seq[KFS_SEQ_MAX];          /* aws: the key's last record before it, "" none */
	int64_t ms;                     /* when the position was taken */
	uint64_t cum[KFS_FRAMING_COUNT];/* the key's bytes in the shard before it,
					 * counted since the key is tracked */
	uint64_t records;               /* its records before it, likewise */
	int64_t last_ms;                /* arrival of its last record before it, -1 none */
};

/* Positions in several shards (a window's start or end). */
struct kfs_wposv {
	size_t n;
	struct kfs_wpos *v;             /* owned */
};

void kfs_wposv_clear(struct kfs_wposv *v);
int kfs_wposv_copy(struct kfs_wposv *dst, const struct kfs_wposv *src);
/* The position of `shard`, or NULL when v has none. */
const struct kfs_wpos *kfs_wposv_find(const struct kfs_wposv *v,
				      const char *shard);

/* What stat shows of a name. */
struct kfs_name_desc {
	char key[KFS_KEY_MAX + 1];      /* the partition key it shows */
	enum kfs_name_state state;      /* LIVE or ROTATED */
	int64_t bytes[KFS_FRAMING_COUNT];/* of the window (a lower bound on aws) */
	uint64_t records;               /* in the window (known ones on aws) */
	int64_t mtime_ms;               /* newest record of the window, else its start */
	int64_t ctime_ms;               /* last change of the name (or mtime if later) */
	uint32_t uid, gid, mode;        /* mode: the 0777 bits */
};

/* A name's whole state: what a change hands to the persist hook and what
 * kfs_names_load() takes back.  Strings and positions borrowed. */
struct kfs_name_rec {
	const char *name;
	const char *key;                /* the key it shows */
	enum kfs_name_state state;
	int64_t start_ms;               /* when its window began */
	int64_t ctime_ms;               /* last change of the name */
	uint32_t uid, gid, mode;
	struct kfs_wposv start;         /* per shard; a shard not listed was
					 * made later: read from its beginning */
	struct kfs_wposv end;           /* rotated only: a shard not listed
					 * is not in the window */
};

struct kfs_clock;

struct kfs_names_hooks {
	void *ctx;
	struct kfs_clock *clock;        /* times of changes; NULL: the real one */
	/* The key's position now in every shard of the stream (its tip).
	 * Called once the key is tracked. */
	int (*tip)(void *ctx, const char *stream, const char *key,
		   struct kfs_wposv *out);
	/* Fills out->bytes, ->records and ->mtime_ms (-1 when the window
	 * holds no record) for the key's window from start to end (NULL: a
	 * live window, to the tip). */
	int (*measure)(void *ctx, const char *stream, const char *key,
		       const struct kfs_wposv *start, const struct kfs_wposv *end,
		       struct kfs_name_desc *out);
	/* on 1: from now on the engine counts the key's records (the first
	 * name refers to it); on 0: it may stop (the last name is dropped). */
	int (*track)(void *ctx, const char *stream, const char *key, int on);
	/* Optional: keeps a change (one or two names, in one atomic step)
	 * before it is made; an error refuses the change. */
	int (*persist)(void *ctx, const char *stream,
		       const struct kfs_name_rec *v, size_t n);
};

/* kfs_names_create() flags */
#define KFS_NAME_EXCL 0x1       /* O_EXCL: -EEXIST when the name exists */
#define KFS_NAME_TRUNC 0x2      /* O_TRUNC: the window starts at the tip */
/* kfs_names_rename() flags (renameat2's) */
#define KFS_NAME_NOREPLACE 0x1
#define KFS_NAME_EXCHANGE 0x2

struct kfs_names;

int kfs_names_new(const struct kfs_names_hooks *hooks, struct kfs_names **out);
void kfs_names_free(struct kfs_names *t);

/* Takes a name's state from the journal, replacing what the table has of
 * it (DROPPED removes it).  Calls no hook but track. */
int kfs_names_load(struct kfs_names *t, const char *stream,
		   const struct kfs_name_rec *r);
/* The stream was deleted: its names are forgotten (keys untracked). */
void kfs_names_forget(struct kfs_names *t, const char *stream);

/* The rules of docs/semantics.md, "Key files"; each 0 or -errno, and
 * `why` (when not NULL) says why in a few words for the log. */
int kfs_names_stat(struct kfs_names *t, const char *stream, const char *name,
		   struct kfs_name_desc *out);
int kfs_names_list(struct kfs_names *t, const char *stream,
		   struct kfs_name_list *out);
int kfs_names_create(struct kfs_names *t, const char *stream, const char *name,
		     unsigned flags, uint32_t uid, uint32_t gid, uint32_t mode,
		     struct kfs_name_desc *out, const char **why);
int kfs_names_truncate(struct kfs_names *t, const char *stream,
		       const char *name, const char **why);
int kfs_names_rename(struct kfs_names *t, const char *stream, const char *from,
		     const char *to, unsigned flags, const char **why);
int kfs_names_unlink(struct kfs_names *t, const char *stream, const char *name,
		     const char **why);
/* (uint32_t)-1 leaves a field as it is.  Permission is the caller's to
 * check: this stores what it is given. */
int kfs_names_setattr(struct kfs_names *t, const char *stream,
		      const char *name, uint32_t uid, uint32_t gid,
		      uint32_t mode);
/* A copy of a name's window, for a reader: its key, start, and end
 * (*rotated 1; else the window is live and end is left empty). */
int kfs_names_window(struct kfs_names *t, const char *stream, const char *name,
		     char key[KFS_KEY_MAX + 1], struct kfs_wposv *start,
		     struct kfs_wposv *end, int *rotated);
/* Which incarnation a name is (new at each creation and rename) and how
 * many truncations it had: a reader of a live name follows truncations
 * (as every descriptor of a truncated file sees it shrink) but not a new
 * file under the same name.  -ENOENT when the name does not show. */
int kfs_names_version(struct kfs_names *t, const char *stream,
		      const char *name, uint64_t *id, uint64_t *gen);
/* Every name state of a stream (gone ones too), for compacting a journal;
 * free with kfs_names_snapshot_free(). */
int kfs_names_snapshot(struct kfs_names *t, const char *stream,
		       struct kfs_name_rec **out, size_t *n);
void kfs_names_snapshot_free(struct kfs_name_rec *v, size_t n);

#endif
