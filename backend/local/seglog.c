/* seglog.c - one shard's segmented on-disk log; see seglog.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* IOV_MAX, pwritev */
#endif
#include "seglog.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "backend/kpl/agg.h"
#include "backend/kpl/expand.h"
#include "lib/log.h"

/*
 * On-disk layout of a shard directory
 * ===================================
 *
 * The log is cut in segments.  A segment is two files named after the
 * counter of its first record, in 16 lower-case hex digits:
 *
 *   0000000000000000.log   the records, append-only
 *   0000000000000000.idx   fixed-size entries, one per record (format 1)
 *                          or per frame (format 2); derived data
 *   00000000000a3f1c.log   the next segment starts at counter 0xa3f1c
 *   00000000000a3f1c.idx
 *
 * A new segment starts when the current one would grow past segment_bytes
 * (64 MiB by default).  Only the last segment is ever written; retention
 * deletes whole segments from the front.  All integers are little-endian.
 *
 * .log file:
 *
 *   +----------+----------+
 *   | "KFSLOG1\n" | first |  16-byte header: magic, first counter (u64)
 *   +----------+----------+
 *   | record 0            |  records, back to back
 *   | record 1            |
 *   | ...                 |
 *
 *   record:
 *   +---------+---------+-----------+---------------+---------+-----+------+
 *   | len u32 | crc u32 | counter   | arrival_ms    | key_len | key | data |
 *   |         |         | u64       | i64           | u16     |     |      |
 *   +---------+---------+-----------+---------------+---------+-----+------+
 *   |<- frame header ->|<---------------- body: len bytes ---------------->|
 *
 *   len  = 18 + key_len + data bytes
 *   crc  = CRC-32C of the 4 bytes of len followed by the body, so a torn
 *          or flipped length fails too.
 *
 * .idx file:
 *
 *   +------------------------------------------------------------------+
 *   | 0  "KFSIDX1\0"                                                   |
 *   | 8  first counter u64                                             |
 *   | 16 base_line u64    bytes (LINE framing) of all earlier records  |
 *   | 24 base_write u64   bytes (WRITE framing) of all earlier records |
 *   | 32 crc u32 of bytes 0..31, 4 zero bytes                          |
 *   | 40 synced u64       entries known durable (fdatasync'd)          |
 *   | 48 crc u32 of bytes 40..47                                       |
 *   | 52 reserved u64     no counter >= it was ever handed out         |
 *   | 60 crc u32 of bytes 52..59 (inverted: reservation unknown)       |
 *   +------------------------------------------------------------------+
 *   | 64 entry 0 (40 bytes), entry 1, ...                              |
 *   +------------------------------------------------------------------+
 *
 *   entry i describes the record with counter first + i:
 *   +--------+-----------+------------+------------+---------+---------+
 *   | off    | cum_line  | cum_write  | arrival_ms | len u32 | crc u32 |
 *   | u64    | u64       | u64        | i64        |         | of 0..35|
 *   +--------+-----------+------------+------------+---------+---------+
 *   off: where the record starts in the .log; cum_*: bytes of the shard
 *   rendered in each framing (backend.h, kfs_framed_len) up to the END of
 *   this record; len: the record's body length.
 *
 * That is format 1.  Format 2 ("KFSLOG2\n", "KFSIDX2\0"; the headers are
 * otherwise the same) stores the records of one append that share a key
 * as one frame (split at FRAME2_SPLIT bytes of data or FRAME2_COUNT_MAX
 * records), indexed by one entry:
 *
 *   frame:
 *   +-----+------+-------+---------+-------+---------+-------+------+-----+-------+------+
 *   | len | hcrc | first | arrival | count | key_len | flags | dcrc | key | table | data |
 *   | u32 | u32  | u64   | i64     | u32   | u16     | u16=0 | u32  |     | count |      |
 *   |     |      |       |         |       |         |       |      |     | x u32 |      |
 *   +-----+------+-------+---------+-------+---------+-------+------+-----+-------+------+
 *   |<- FRAME_HDR ->|<------------ head: FRAME2_HDR + key + table ---------->|
 *
 *   len  = bytes after hcrc; hcrc = CRC-32C of len and the head (up to the
 *          end of the table); dcrc = CRC-32C of the data;
 *   table: each record's data length, bit 31 (LEN_NL) set when its data
 *          ends with '\n' (so LINE-framed sizes need no data);
 *   data:  the records' data back to back; every record of a frame has
 *          the key and the arrival time.
 *
 *   entry (56 bytes): off u64, cum_line u64, cum_write u64, arrival i64,
 *   len u32, count u32, first u64, 0 u32, crc u32 of bytes 0..51.
 *
 * Recovery, reads and lookups treat a frame as format 1 treats a record
 * (a "unit": struct uview); a record is found by a binary search of the
 * entries (entry_find()) and the frame's table.  A log may hold segments
 * of both formats; each new segment gets log->format.
 *
 * Writing order and recovery: an append writes its records to the .log
 * with one pwritev, then their entries to the .idx.  A sync fdatasyncs the
 * .log, then the .idx, then records in the header how many entries that
 * made durable ("synced").  Opening trusts the entries below "synced",
 * except those of the last 64 KiB of the log, and checks every other one
 * against the record it points to; the first bad one ends the index, and
 * the .log is then scanned forward from the last good record, re-creating
 * missing entries, up to the first invalid record, where the .log is cut.
 * A counter the files show may have been handed out (a record, even
 * torn, in the cut tail: at most one per MIN_RECORD bytes; an index
 * entry, even partial; the "synced" count) is never given again: appends
 * go on in a new segment starting past all of them, and reads skip the
 * gap.  That segment is on disk before anything is cut, so a crash
 * during recovery leaves the evidence for the next open.
 * After a clean close little is left to check, so opening costs a few
 * reads per segment whatever the log's size.
 *
 * Reservation: a power cut can take unsynced records whole, leaving no
 * byte and no entry of them, while their counters were handed out.  So
 * the "reserved" count R of the last segment's .idx header is made
 * durable before any counter >= R is handed out: an append that needs
 * one raises R to next + KFS_SEGLOG_RESERVE_BLOCK and fdatasyncs the
 * .idx (once per block of counters, not per append; the records are
 * not synced for it).  Opening goes on from the highest of R and what
 * the files show, in a new segment when that is past their end.
 * Rotation copies R into the new segment's header, which is then the
 * one that counts (earlier headers keep stale values; retention never
 * deletes the last segment, nor sealing change it); a clean close
 * (kfs_seglog_unreserve()) syncs everything and lowers R to next, so
 * that the next open goes on without a gap.  As the records below R
 * may never have reached the disk, a reservation that cannot be read
 * (its checksum fails, the .idx is gone, the last segment is set aside)
 * is taken as KFS_SEGLOG_RESERVE_UNKNOWN (2^32) past what the files
 * show; a rebuilt .idx keeps a readable R, else says unknown (inverted
 * checksum).
 *
 * Rotation does not sync the segment it leaves: the next sync does
 * (kfs_seglog_sync() syncs every such segment, then the tail), so an
 * append never waits for a whole segment to reach the disk.  Opening
 * checks every segment alike, so a power cut that takes the end of one
 * that was left unsynced is repaired like a torn tail, with a gap in the
 * counters that reads pass over.
 *
 * Creating a segment writes and fdatasyncs the .idx header, then the .log
 * header, and fsyncs the directory before any record goes in, so a valid
 * .log header means a durable R; a last segment left without a valid
 * .log header by a crash is removed on open (R is in the previous one,
 * as nothing was appended to it).
 */

#define LOG_MAGIC "KFSLOG1\n"
#define IDX_MAGIC "KFSIDX1\0"
#define LOG_MAGIC2 "KFSLOG2\n"
#define IDX_MAGIC2 "KFSIDX2\0"
#define LOG_HDR 16
#define IDX_HDR 64
#define IDX_ENTRY 40
/* Version 2: an index entry per frame, and the frame's header (len,
 * hcrc, first, arrival, count, key_len, flags, dcrc) before its key. */
#define IDX_ENTRY2 56
#define FRAME2_HDR 36
/* A frame takes records of one key until its data would pass this (a
 * record larger than it gets a frame of its own), or FRAME2_COUNT_MAX
 * records. */
#define FRAME2_SPLIT (1024 * 1024)
#define FRAME2_COUNT_MAX 65536
/* Largest body (bytes after len and hcrc) a valid frame can have. */
#define FRAME2_LEN_MAX ((uint32_t)(FRAME2_HDR - FRAME_HDR + KFS_KEY_MAX + \
				   4 * FRAME2_COUNT_MAX + FRAME2_SPLIT + \
				   KFS_RECORD_LIMIT_MAX))
/* Bit 31 of a length in a frame's table: the data ends with a newline. */
#define LEN_NL 0x80000000u
/* A record's least cost in a version 2 log: its length in a table. */
#define MIN_RECORD2 4
#define FRAME_HDR 8
#define BODY_HDR 18
/* Smallest record (empty key and data): no more records than
 * bytes / MIN_RECORD can have started in a stretch of the log. */
#define MIN_RECORD (FRAME_HDR + BODY_HDR)
/* Largest body a valid record can have. */
#define BODY_MAX (BODY_HDR + KFS_KEY_MAX + KFS_RECORD_LIMIT_MAX)
/* Index entries read per pread when walking them. */
#define ENTRY_CHUNK 256
/* Records read per pass of kfs_seglog_read, and the most bytes of .log
 * (unless its first record is larger): a pass reads the index entries
 * of its first and last record, and walks the records between by their
 * lengths. */
#define READ_CHUNK 8192
#define READ_SPAN_MAX (1024 * 1024)
/* Bytes at the end of a log whose records are checked on open even when
 * the index says they were synced. */
#define TAIL_CHECK_BYTES (64 * 1024)
/* Window of the recovery scanner. */
#define SCAN_WINDOW (1024 * 1024)
/* Counters reserved at a time.  No append takes more, so a reservation
 * is never further than this past the counters the files show. */
#define RESERVE_BLOCK ((uint64_t)KFS_SEGLOG_RESERVE_BLOCK)
#define RESERVE_UNKNOWN ((uint64_t)KFS_SEGLOG_RESERVE_UNKNOWN)

/* One decoded index entry: of a record (version 1) or of a frame
 * (version 2). */
struct ientry {
	uint64_t off;                     /* record or frame start in the .log */
	uint64_t cum[KFS_FRAMING_COUNT];  /* raw (stored) bytes at its end */
	int64_t arrival_ms;               /* its arrival */
	uint32_t len;                     /* body length (after FRAME_HDR) */
	uint64_t first;                   /* counter of its (first) record */
	uint32_t count;                   /* its records: 1 in version 1 */
};

/*
 * One segment.  Fields marked "fixed" are set before the segment is
 * published and never change.  A segment is freed (and its files closed)
 * when its last reference goes: the list holds one, and readers take one
 * for the time of their preads so that retention can drop it meanwhile.
 */
struct seg {
	uint64_t first;                   /* fixed: counter of entry 0 */
	int ver;                          /* fixed: format, 1 or 2 */
	int log_fd;                       /* fixed: the .log, read-write */
	int idx_fd;                       /* fixed: the .idx, read-write */
	uint64_t adj[KFS_FRAMING_COUNT];  /* fixed: added (mod 2^64) to stored
					   * cums to make them continue the
					   * previous segment's */
	uint64_t base[KFS_FRAMING_COUNT]; /* fixed: bytes before entry 0 (adjusted) */
	int refs;                         /* atomic */
	uint64_t count;                   /* records in it; written under
					   * append_lock and state_lock, read
					   * under either */
	uint64_t n_ent;                   /* index entries of those records
					   * (count in version 1); as count */
	uint64_t end[KFS_FRAMING_COUNT];  /* bytes to the end of the last
					   * record (adjusted); as count */
	int64_t first_arrival;            /* of entry 0, -1 when empty; as count */
	int64_t last_arrival;             /* of the last entry, -1 when empty; as count */
	uint64_t log_size;                /* bytes of .log in use; protected
					   * by append_lock */
	uint64_t synced;                  /* entries recorded durable in the
					   * header; protected by sync_lock */
	struct seg *unsynced_next;        /* link in log->unsynced; state_lock */
	uint64_t cut_bytes;               /* open only: bytes past log_size
					   * still in the .log (a torn or
					   * corrupt tail), cut by seg_finish() */
	int idx_stale;                    /* open only: the .idx holds entries
					   * past count, or "synced" above it;
					   * seg_finish() fixes both */
	uint64_t lost_end;                /* open only: counter past every one
					   * the files show may have been
					   * handed out (>= first + count) */
	uint64_t reserved;                /* open only: "reserved" of the
					   * .idx header, when reserved_ok */
	int reserved_ok;                  /* open only: 1 when it was readable */
};

struct kfs_seglog {
	char *dir;                  /* fixed: directory path, for messages */
	int dir_fd;                 /* fixed: the directory, for *at() and fsync */
	uint64_t segment_bytes;     /* fixed: rotation size */
	int format;                 /* fixed: format of new segments */
	pthread_mutex_t append_lock; /* serializes appends, rotation, sealing */
	pthread_mutex_t state_lock; /* short: guards the fields so marked */
	pthread_mutex_t sync_lock;  /* serializes header "synced" updates */
	struct seg **segs;          /* by first counter; protected by state_lock
				     * (changed by rotation under append_lock
				     * too, and by purge) */
	size_t n_segs;              /* protected by state_lock */
	struct seg *tail;           /* the last segment, appended to; written
				     * under append_lock and state_lock, read
				     * under either (purge never removes it) */
	size_t cap_segs;            /* protected by state_lock */
	uint64_t next;              /* next counter; written under append_lock
				     * and state_lock, read under either */
	uint64_t reserved;          /* the reservation durable in the tail's
				     * .idx header: no counter >= it was
				     * handed out; protected by append_lock
				     * (the header's slot too) */
	int64_t last_arrival;       /* newest arrival ever; protected by append_lock */
	int sealed;                 /* no more appends; protected by append_lock */
	int broken;                 /* -errno when a failed append could not be
				     * cut back; protected by append_lock */
	uint64_t trim_floor;        /* trim horizon never goes below; state_lock */
	uint64_t synced_next;       /* next as of the last sync; state_lock */
	struct seg *unsynced;       /* segments rotated away from and not yet
				     * synced, each with a reference, linked
				     * by unsynced_next; state_lock */
	uint64_t bad_logged;        /* counter of the last record logged as
				     * failing its checksum (each read that
				     * reaches it fails, one log line); atomic */
};

/* ---- small helpers ---------------------------------------------------- */

/* Little-endian integers at any address: one load or store each where
 * the host is little-endian (memcpy of a constant size is not a call). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE16(v) __builtin_bswap16(v)
#define LE32(v) __builtin_bswap32(v)
#define LE64(v) __builtin_bswap64(v)
#else
#define LE16(v) (v)
#define LE32(v) (v)
#define LE64(v) (v)
#endif

static void put16(unsigned char *p, uint16_t v)
{
	v = LE16(v);
	memcpy(p, &v, 2);
}

static void put32(unsigned char *p, uint32_t v)
{
	v = LE32(v);
	memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
	v = LE64(v);
	memcpy(p, &v, 8);
}

static uint16_t get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return LE16(v);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return LE32(v);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return LE64(v);
}

static void seg_name(char *buf, size_t size, uint64_t first, const char *ext)
{
	snprintf(buf, size, "%016" PRIx64 ".%s", first, ext);
}

static void seg_ref(struct seg *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
}

static void seg_unref(struct seg *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (s->log_fd >= 0)
		close(s->log_fd);
	if (s->idx_fd >= 0)
		close(s->idx_fd);
	free(s);
}

static uint64_t line_len(const unsigned char *data, size_t len)
{
	return kfs_framed_len(KFS_FRAMING_LINE, data, len);
}

/* ---- records and entries ---------------------------------------------- */

/* A record parsed in place. */
struct rview {
	uint32_t len;                 /* body length */
	uint64_t counter;             /* its counter */
	int64_t arrival_ms;           /* its arrival */
	const unsigned char *key;     /* key bytes, in the buffer */
	size_t key_len;               /* key bytes */
	const unsigned char *data;    /* data bytes, in the buffer */
	size_t data_len;              /* data bytes */
};

/* Checks the frame header at p (FRAME_HDR bytes) and returns the body
 * length, or 0 when it cannot be a record. */
static uint32_t frame_len(const unsigned char *p)
{
	uint32_t len = get32(p);
	return len >= BODY_HDR && len <= BODY_MAX ? len : 0;
}

/* Parses the record at p, FRAME_HDR + len bytes long; 0 or -EINVAL. */
static int rec_parse(const unsigned char *p, uint32_t len, struct rview *r)
{
	const unsigned char *b = p + FRAME_HDR;
	uint32_t crc;

	if (len < BODY_HDR || len > BODY_MAX || get32(p) != len)
		return -EINVAL;
	crc = kfs_crc32c(0, p, 4);
	crc = kfs_crc32c(crc, b, len);
	if (crc != get32(p + 4))
		return -EINVAL;
	r->len = len;
	r->counter = get64(b);
	r->arrival_ms = (int64_t)get64(b + 8);
	r->key_len = get16(b + 16);
	if (r->key_len > KFS_KEY_MAX || BODY_HDR + r->key_len > len)
		return -EINVAL;
	r->key = b + BODY_HDR;
	r->data = r->key + r->key_len;
	r->data_len = len - BODY_HDR - r->key_len;
	return 0;
}

/*
 * Index entries.  Both formats begin with the same 36 bytes (offset,
 * sizes in both framings, arrival, length); format 1 then has its
 * checksum, format 2 the frame's record count and first counter, 4 zero
 * bytes and its checksum.
 */
static void entry_put_common(unsigned char *p, const struct ientry *e)
{
	put64(p, e->off);
	put64(p + 8, e->cum[KFS_FRAMING_LINE]);
	put64(p + 16, e->cum[KFS_FRAMING_WRITE]);
	put64(p + 24, (uint64_t)e->arrival_ms);
	put32(p + 32, e->len);
}

static void entry_get_common(const unsigned char *p, struct ientry *e)
{
	e->off = get64(p);
	e->cum[KFS_FRAMING_LINE] = get64(p + 8);
	e->cum[KFS_FRAMING_WRITE] = get64(p + 16);
	e->arrival_ms = (int64_t)get64(p + 24);
	e->len = get32(p + 32);
}

static void entry_encode(unsigned char *p, const struct ientry *e)
{
	entry_put_common(p, e);
	put32(p + 36, kfs_crc32c(0, p, 36));
}

static int entry_decode(const unsigned char *p, struct ientry *e)
{
	if (kfs_crc32c(0, p, 36) != get32(p + 36))
		return -EINVAL;
	entry_get_common(p, e);
	return 0;
}

static void entry_encode2(unsigned char *p, const struct ientry *e)
{
	entry_put_common(p, e);
	put32(p + 36, e->count);
	put64(p + 40, e->first);
	put32(p + 48, 0);
	put32(p + 52, kfs_crc32c(0, p, 52));
}

static int entry_decode2(const unsigned char *p, struct ientry *e)
{
	if (kfs_crc32c(0, p, 52) != get32(p + 52) || get32(p + 48) != 0)
		return -EINVAL;
	entry_get_common(p, e);
	e->count = get32(p + 36);
	e->first = get64(p + 40);
	return 0;
}

/* Bytes of one index entry of s. */
static size_t ent_size(const struct seg *s)
{
	return s->ver == 2 ? IDX_ENTRY2 : IDX_ENTRY;
}

/* Decodes entry i of s, at p. */
static int entry_decode_at(const struct seg *s, const unsigned char *p,
			   uint64_t i, struct ientry *e)
{
	if (s->ver == 2)
		return entry_decode2(p, e);
	if (entry_decode(p, e) < 0)
		return -EINVAL;
	e->first = s->first + i;
	e->count = 1;
	return 0;
}

/* Decodes entry i of s, at p, and checks that it can describe a record
 * (a frame). */
static int entry_usable(const struct seg *s, const unsigned char *p,
			uint64_t i, struct ientry *e)
{
	if (entry_decode_at(s, p, i, e) < 0)
		return -EINVAL;
	if (s->ver == 2)
		return e->len < FRAME2_HDR - FRAME_HDR || e->len > FRAME2_LEN_MAX ||
		       e->count == 0 || e->count > FRAME2_COUNT_MAX ||
		       e->first < s->first ? -EINVAL : 0;
	return e->len < BODY_HDR || e->len > BODY_MAX ? -EINVAL : 0;
}

/* Reads entries i .. i+k-1 of s (k <= ENTRY_CHUNK).  Returns how many
 * leading entries are valid (a corrupt one is logged and ends them), or
 * -EIO when not even the first is. */
static int entries_read_some(struct kfs_seglog *log, struct seg *s, uint64_t i,
			     size_t k, struct ientry *out)
{
	unsigned char buf[ENTRY_CHUNK * IDX_ENTRY2];
	size_t j, es = ent_size(s);
	int rc;

	rc = kfs_pread_full(s->idx_fd, buf, k * es, IDX_HDR + i * es);
	if (rc < 0) {
		kfs_err("%s: reading index of segment %016" PRIx64 ": %s",
			log->dir, s->first, strerror(-rc));
		return -EIO;
	}
	for (j = 0; j < k; j++) {
		if (entry_usable(s, buf + j * es, i + j, &out[j]) < 0) {
			kfs_err("%s: index entry %" PRIu64 " of segment %016" PRIx64
				" is corrupt", log->dir, i + j, s->first);
			break;
		}
	}
	return j > 0 ? (int)j : -EIO;
}

static int entry_read(struct kfs_seglog *log, struct seg *s, uint64_t i,
		      struct ientry *e)
{
	int rc = entries_read_some(log, s, i, 1, e);
	return rc < 0 ? rc : 0;
}

/* ---- version 2 frames -------------------------------------------------- */

/* A version 2 frame, parsed in place. */
struct fview {
	uint32_t len;                 /* bytes after len and hcrc */
	uint64_t first;               /* counter of its first record */
	int64_t arrival_ms;           /* of every record in it */
	uint32_t count;               /* records */
	size_t key_len;
	const unsigned char *key;     /* after frame2_head() */
	const unsigned char *table;   /* count lengths; after frame2_head() */
	size_t head;                  /* bytes of header, key and table */
	uint64_t data_len;            /* of every record; after frame2_head() */
	uint64_t line_len;            /* the same with LINE framing */
};

/* Reads the header fields of the frame at p (FRAME2_HDR bytes), not yet
 * checked by its checksum: 0, or -EINVAL when they cannot be a frame's. */
static int frame2_peek(const unsigned char *p, struct fview *f)
{
	f->len = get32(p);
	f->first = get64(p + 8);
	f->arrival_ms = (int64_t)get64(p + 16);
	f->count = get32(p + 24);
	f->key_len = get16(p + 28);
	if (f->len < FRAME2_HDR - FRAME_HDR || f->len > FRAME2_LEN_MAX ||
	    f->count == 0 || f->count > FRAME2_COUNT_MAX ||
	    f->key_len > KFS_KEY_MAX || get16(p + 30) != 0)
		return -EINVAL;
	f->head = FRAME2_HDR + f->key_len + 4 * (size_t)f->count;
	return f->head > FRAME_HDR + (size_t)f->len ? -EINVAL : 0;
}

/* Checks the head of the frame at p (f->head bytes, after frame2_peek())
 * by its checksum, and sums its table. */
static int frame2_head(const unsigned char *p, struct fview *f)
{
	uint32_t crc = kfs_crc32c(0, p, 4);

	crc = kfs_crc32c(crc, p + FRAME_HDR, f->head - FRAME_HDR);
	if (crc != get32(p + 4))
		return -EINVAL;
	f->key = p + FRAME2_HDR;
	f->table = f->key + f->key_len;
	f->data_len = f->line_len = 0;
	for (uint32_t j = 0; j < f->count; j++) {
		uint32_t l = get32(f->table + 4 * (size_t)j);
		uint32_t n = l & ~LEN_NL;

		if (l == LEN_NL)
			return -EINVAL;   /* an empty record ends with nothing */
		f->data_len += n;
		f->line_len += n + !(l & LEN_NL);
	}
	return f->head + f->data_len == FRAME_HDR + (uint64_t)f->len ? 0 : -EINVAL;
}

/* Parses and checks the whole frame at p, of which `have` bytes are
 * there. */
static int frame2_parse(const unsigned char *p, size_t have, struct fview *f)
{
	if (have < FRAME2_HDR || frame2_peek(p, f) < 0 ||
	    have - FRAME_HDR < f->len || frame2_head(p, f) < 0 ||
	    kfs_crc32c(0, p + f->head, f->data_len) != get32(p + 32))
		return -EINVAL;
	return 0;
}

/* Bytes of table length l rendered with f. */
static uint64_t table_len(uint32_t l, enum kfs_framing f)
{
	return (l & ~LEN_NL) + (f == KFS_FRAMING_LINE && !(l & LEN_NL));
}

/* Reads the head of the frame of entry e of s into *buf (the caller's to
 * free) and checks it against e and its checksum.  0 or -EIO (logged). */
static int frame2_read_head(struct kfs_seglog *log, struct seg *s,
			    const struct ientry *e, unsigned char **buf,
			    struct fview *f)
{
	unsigned char hb[FRAME2_HDR];
	int rc;

	*buf = NULL;
	rc = kfs_pread_full(s->log_fd, hb, FRAME2_HDR, e->off);
	if (rc == 0 && (frame2_peek(hb, f) < 0 || f->len != e->len ||
			f->first != e->first || f->count != e->count))
		rc = -EINVAL;
	if (rc == 0 && !(*buf = malloc(f->head)))
		return -ENOMEM;
	if (rc == 0)
		rc = kfs_pread_full(s->log_fd, *buf, f->head, e->off);
	if (rc == 0 && frame2_head(*buf, f) < 0)
		rc = -EINVAL;
	if (rc < 0) {
		kfs_err("%s: the frame of records %" PRIu64 " to %" PRIu64
			" in segment %016" PRIx64 " fails its checksum%s%s",
			log->dir, e->first, e->first + e->count - 1, s->first,
			rc == -EINVAL ? "" : ": ",
			rc == -EINVAL ? "" : strerror(-rc));
		free(*buf);
		*buf = NULL;
		return -EIO;
	}
	return 0;
}

/* The number of index entries of s now (it grows with appends). */
static uint64_t seg_entries(struct kfs_seglog *log, struct seg *s)
{
	uint64_t n;

	pthread_mutex_lock(&log->state_lock);
	n = s->n_ent;
	pthread_mutex_unlock(&log->state_lock);
	return n;
}

/* The entry of s holding counter c (a record of s): its index *k and
 * itself.  0 or -EIO. */
static int entry_find(struct kfs_seglog *log, struct seg *s, uint64_t c,
		      uint64_t *k, struct ientry *e)
{
	uint64_t lo = 0, hi;
	int rc;

	if (s->ver == 1) {
		*k = c - s->first;
		return entry_read(log, s, *k, e);
	}
	/* The last entry whose first record is at or before c. */
	hi = seg_entries(log, s);
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((rc = entry_read(log, s, mid, e)) < 0)
			return rc;
		if (e->first <= c)
			lo = mid;
		else
			hi = mid;
	}
	if ((rc = entry_read(log, s, lo, e)) < 0)
		return rc;
	if (c < e->first || c - e->first >= e->count) {
		kfs_err("%s: index of segment %016" PRIx64 " has no entry for "
			"record %" PRIu64, log->dir, s->first, c);
		return -EIO;
	}
	*k = lo;
	return 0;
}

/* Bytes with framing f before record i of s (i <= count), adjusted. */
static int seg_cum_before(struct kfs_seglog *log, struct seg *s, uint64_t i,
			  enum kfs_framing f, uint64_t *out)
{
	struct ientry e;
	struct fview fv;
	unsigned char *head;
	uint64_t k, after;
	uint32_t j;
	int rc;

	if (i == 0) {
		*out = s->base[f];
		return 0;
	}
	if (s->ver == 1) {
		rc = entry_read(log, s, i - 1, &e);
		if (rc < 0)
			return rc;
		*out = e.cum[f] + s->adj[f];
		return 0;
	}
	/* The frame of record i - 1: its end, less its records from i on. */
	if ((rc = entry_find(log, s, s->first + i - 1, &k, &e)) < 0)
		return rc;
	after = e.cum[f] + s->adj[f];
	j = (uint32_t)(s->first + i - e.first);
	if (j == e.count) {
		*out = after;
		return 0;
	}
	if ((rc = frame2_read_head(log, s, &e, &head, &fv)) < 0)
		return rc;
	for (; j < e.count; j++)
		after -= table_len(get32(fv.table + 4 * (size_t)j), f);
	free(head);
	*out = after;
	return 0;
}

/* ---- headers ---------------------------------------------------------- */

/* The reservation slot of the .idx header (12 bytes at 52).  One not
 * known gets an inverted checksum: no open trusts it. */
static void reserved_encode(unsigned char *p, uint64_t reserved, int known)
{
	put64(p, reserved);
	put32(p + 8, kfs_crc32c(0, p, 8) ^ (known ? 0 : UINT32_MAX));
}

static void idx_header_encode(unsigned char *h, int ver, uint64_t first,
			      const uint64_t base[KFS_FRAMING_COUNT],
			      uint64_t reserved, int reserved_known)
{
	memset(h, 0, IDX_HDR);
	memcpy(h, ver == 2 ? IDX_MAGIC2 : IDX_MAGIC, 8);
	put64(h + 8, first);
	put64(h + 16, base[KFS_FRAMING_LINE]);
	put64(h + 24, base[KFS_FRAMING_WRITE]);
	put32(h + 32, kfs_crc32c(0, h, 32));
	put64(h + 40, 0);
	put32(h + 48, kfs_crc32c(0, h + 40, 8));
	reserved_encode(h + 52, reserved, reserved_known);
}

/* Records in the .idx header that no counter >= reserved was handed
 * out.  The caller fdatasyncs. */
static int idx_write_reserved(struct seg *s, uint64_t reserved)
{
	unsigned char b[12];

	reserved_encode(b, reserved, 1);
	return kfs_pwrite_full(s->idx_fd, b, sizeof(b), 52);
}

/* Records in the .idx header that `synced` entries are durable. */
static int idx_write_synced(struct seg *s, uint64_t synced)
{
	unsigned char b[12];

	put64(b, synced);
	put32(b + 8, kfs_crc32c(0, b, 8));
	return kfs_pwrite_full(s->idx_fd, b, sizeof(b), 40);
}

/* Makes `count` entries of s durable-recorded, if more than before.
 * The caller has fdatasync'd the .log and then the .idx. */
static int seg_note_synced(struct kfs_seglog *log, struct seg *s, uint64_t count)
{
	int rc = 0;

	pthread_mutex_lock(&log->sync_lock);
	if (count > s->synced) {
		rc = idx_write_synced(s, count);
		if (rc == 0)
			s->synced = count;
	}
	pthread_mutex_unlock(&log->sync_lock);
	return rc;
}

/* ---- segment creation ------------------------------------------------- */

/* The format of new segments for a `format` argument (0: the default). */
static int seglog_format(int format)
{
	return format == 1 || format == 2 ? format : KFS_SEGLOG_FORMAT_DEFAULT;
}

/* Creates segment files for `first` with the given (adjusted) base and
 * reservation and returns the segment with one reference, durably on
 * disk: the .idx header before the .log header. */
static int seg_create(int dir_fd, const char *dir, int ver, uint64_t first,
		      const uint64_t base[KFS_FRAMING_COUNT], uint64_t reserved,
		      struct seg **out)
{
	char lname[32], iname[32];
	unsigned char lh[LOG_HDR], ih[IDX_HDR];
	struct seg *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->log_fd = s->idx_fd = -1;
	s->first = first;
	s->ver = ver;
	s->refs = 1;
	s->first_arrival = s->last_arrival = -1;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		s->base[f] = s->end[f] = base[f];
	s->log_size = LOG_HDR;
	seg_name(lname, sizeof(lname), first, "log");
	seg_name(iname, sizeof(iname), first, "idx");

	/* A file by that name can only be a leftover of a rotation cut by a
	 * crash: the counter it starts at was never handed out. */
	s->log_fd = openat(dir_fd, lname, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->log_fd < 0)
		goto fail_errno;
	s->idx_fd = openat(dir_fd, iname, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->idx_fd < 0)
		goto fail_errno;
	memcpy(lh, ver == 2 ? LOG_MAGIC2 : LOG_MAGIC, 8);
	put64(lh + 8, first);
	idx_header_encode(ih, ver, first, base, reserved, 1);
	if ((rc = kfs_pwrite_full(s->idx_fd, ih, sizeof(ih), 0)) < 0)
		goto fail;
	if (fdatasync(s->idx_fd) < 0)
		goto fail_errno;
	if ((rc = kfs_pwrite_full(s->log_fd, lh, sizeof(lh), 0)) < 0)
		goto fail;
	if (fdatasync(s->log_fd) < 0 || fsync(dir_fd) < 0)
		goto fail_errno;
	*out = s;
	return 0;

fail_errno:
	rc = -errno;
fail:
	kfs_err("%s: creating segment %s: %s", dir, lname, strerror(-rc));
	if (s->log_fd >= 0)
		unlinkat(dir_fd, lname, 0);
	if (s->idx_fd >= 0)
		unlinkat(dir_fd, iname, 0);
	seg_unref(s);
	return rc;
}

int kfs_seglog_create(int dir_fd, uint64_t first_counter, int format)
{
	static const uint64_t zero[KFS_FRAMING_COUNT];
	struct seg *s;
	int rc = seg_create(dir_fd, "(new shard)", seglog_format(format),
			    first_counter, zero, first_counter, &s);

	if (rc == 0)
		seg_unref(s);
	return rc;
}

/* ---- recovery --------------------------------------------------------- */

/* A window over a file for sequential scanning. */
struct scanner {
	int fd;                   /* the file */
	uint64_t size;            /* its size */
	unsigned char *buf;       /* owned */
	size_t cap;               /* bytes allocated */
	uint64_t off;             /* file offset of buf[0] */
	size_t len;               /* valid bytes in buf */
};

/* Returns [off, off+n) of the file, or NULL: *err = 0 past the end, or
 * -errno. */
static const unsigned char *scan_get(struct scanner *sc, uint64_t off,
				     size_t n, int *err)
{
	size_t want;

	*err = 0;
	if (off + n > sc->size || off + n < off)
		return NULL;
	if (off >= sc->off && off + n <= sc->off + sc->len)
		return sc->buf + (off - sc->off);
	want = n > SCAN_WINDOW ? n : SCAN_WINDOW;
	if (want > sc->size - off)
		want = (size_t)(sc->size - off);
	if (want > sc->cap) {
		unsigned char *b = realloc(sc->buf, want);
		if (!b) {
			*err = -ENOMEM;
			return NULL;
		}
		sc->buf = b;
		sc->cap = want;
	}
	*err = kfs_pread_full(sc->fd, sc->buf, want, off);
	if (*err < 0) {
		sc->len = 0;
		return NULL;
	}
	sc->off = off;
	sc->len = want;
	return sc->buf;
}

/* Parses the record at off if it is whole and valid. 0, 1 when not a
 * valid record, or -errno. */
static int scan_record(struct scanner *sc, uint64_t off, struct rview *r)
{
	const unsigned char *p;
	uint32_t len;
	int err;

	p = scan_get(sc, off, FRAME_HDR, &err);
	if (!p)
		return err < 0 ? err : 1;
	len = frame_len(p);
	if (!len)
		return 1;
	p = scan_get(sc, off, FRAME_HDR + (size_t)len, &err);
	if (!p)
		return err < 0 ? err : 1;
	return rec_parse(p, len, r) == 0 ? 0 : 1;
}

/* a + b, stopping at UINT64_MAX. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Most records that can have started in `bytes` bytes of a log of
 * format ver (0: not known, the smallest records of any format). */
static uint64_t max_records_in(uint64_t bytes, int ver)
{
	uint64_t m = ver == 1 ? MIN_RECORD : MIN_RECORD2;

	return bytes / m + (bytes % m != 0);
}

/* The format a .log header (LOG_HDR bytes) says, or 0. */
static int log_magic_ver(const unsigned char *lh)
{
	if (memcmp(lh, LOG_MAGIC, 8) == 0)
		return 1;
	if (memcmp(lh, LOG_MAGIC2, 8) == 0)
		return 2;
	return 0;
}

/* The format the header of file `name` says, or 0. */
static int file_ver(int dir_fd, const char *name)
{
	unsigned char lh[LOG_HDR];
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC), ver = 0;

	if (fd >= 0) {
		if (kfs_pread_full(fd, lh, LOG_HDR, 0) == 0)
			ver = log_magic_ver(lh);
		close(fd);
	}
	return ver;
}

/* What recovery checks of a record (version 1) or a frame (version 2). */
struct uview {
	uint32_t len;                      /* body length (after FRAME_HDR) */
	uint64_t first;                    /* counter of its (first) record */
	uint32_t count;                    /* its records */
	int64_t arrival_ms;
	uint64_t bytes[KFS_FRAMING_COUNT]; /* its records' bytes, rendered */
};

/* Parses the record or frame at off if it is whole and valid: 0, 1 when
 * it is not, or -errno. */
static int scan_unit(struct scanner *sc, int ver, uint64_t off, struct uview *u)
{
	const unsigned char *p;
	struct fview f;
	int err;

	if (ver == 1) {
		struct rview r;
		int rc = scan_record(sc, off, &r);
		if (rc)
			return rc;
		u->len = r.len;
		u->first = r.counter;
		u->count = 1;
		u->arrival_ms = r.arrival_ms;
		kfs_agg_rendered(r.data, r.data_len, u->bytes, NULL);
		return 0;
	}
	p = scan_get(sc, off, FRAME2_HDR, &err);
	if (!p)
		return err < 0 ? err : 1;
	if (frame2_peek(p, &f) < 0)
		return 1;
	p = scan_get(sc, off, FRAME_HDR + (size_t)f.len, &err);
	if (!p)
		return err < 0 ? err : 1;
	if (frame2_parse(p, FRAME_HDR + (size_t)f.len, &f) < 0)
		return 1;
	u->len = f.len;
	u->first = f.first;
	u->count = f.count;
	u->arrival_ms = f.arrival_ms;
	u->bytes[KFS_FRAMING_LINE] = f.line_len;
	u->bytes[KFS_FRAMING_WRITE] = f.data_len;
	if (f.count == 1 && kfs_agg_looks(p + f.head, f.data_len))
		kfs_agg_rendered(p + f.head, f.data_len, u->bytes, NULL);
	return 0;
}

/* Encodes entry e of a segment of format ver at p. */
static void entry_encode_v(int ver, unsigned char *p, const struct ientry *e)
{
	if (ver == 2)
		entry_encode2(p, e);
	else
		entry_encode(p, e);
}

/*
 * Opens and recovers the segment starting at `first`.  prev_end: the
 * adjusted end bytes of the previous segment, or NULL for the first one.
 * Returns 0 with *out, or -errno, or, when the segment is unusable, 1
 * (it had no record and has been removed) or 2 (its header is corrupt:
 * the caller sets it aside with seg_set_aside()); then *gone_end is past
 * every counter it may have held.  (*out)->reserved is its header's
 * reservation, when reserved_ok.
 *
 * Nothing that shows which counters were handed out is destroyed here:
 * the .log keeps its torn tail and the .idx its extra entries and its
 * "synced" count until seg_finish(), which kfs_seglog_open() calls only
 * once a segment starting past them is on disk.  A crash in between
 * leaves the evidence for the next open.
 */
static int seg_open(struct kfs_seglog *log, uint64_t first, int is_last,
		    const uint64_t *prev_end, struct seg **out,
		    uint64_t *gone_end)
{
	char lname[32], iname[32];
	unsigned char lh[LOG_HDR], ih[IDX_HDR];
	struct scanner sc = {.fd = -1};
	struct stat st;
	struct seg *s;
	uint64_t raw_base[KFS_FRAMING_COUNT], exp_cum[KFS_FRAMING_COUNT];
	uint64_t n_idx, synced = 0, synced_raw = 0, trusted, valid = 0;
	uint64_t exp_off = LOG_HDR, idx_size, seen, dropped, es, nrec = 0;
	uint64_t seen_end;
	uint64_t damaged = UINT64_MAX, damaged_off = 0, damaged_cum[KFS_FRAMING_COUNT] = {0};
	uint64_t damaged_nrec = 0;
	uint32_t damaged_count = 0;
	int64_t damaged_arrival = -1;
	int stop = 0, ver;
	int64_t last_arrival = -1, first_arrival = -1;
	int rc = 0, rebuild = 0, changed = 0;
	unsigned char *ebuf = NULL;
	size_t ebuf_n = 0, ebuf_cap = 0;

	seg_name(lname, sizeof(lname), first, "log");
	seg_name(iname, sizeof(iname), first, "idx");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->first = first;
	s->refs = 1;
	s->idx_fd = -1;
	s->log_fd = openat(log->dir_fd, lname, O_RDWR | O_CLOEXEC);
	if (s->log_fd < 0) {
		rc = -errno;
		kfs_err("%s/%s: %s", log->dir, lname, strerror(-rc));
		goto out;
	}
	if (fstat(s->log_fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	ver = 0;
	if ((uint64_t)st.st_size < LOG_HDR ||
	    kfs_pread_full(s->log_fd, lh, LOG_HDR, 0) < 0 ||
	    !(ver = log_magic_ver(lh)) || get64(lh + 8) != first) {
		if (is_last && (uint64_t)st.st_size <= LOG_HDR) {
			/* Headers are durable before any record goes in. */
			kfs_warn("%s/%s: segment without a valid header (interrupted "
				 "rotation), removed", log->dir, lname);
			unlinkat(log->dir_fd, lname, 0);
			unlinkat(log->dir_fd, iname, 0);
			*gone_end = first;
			rc = 1;
		} else {
			*gone_end = add_sat(first, max_records_in((uint64_t)st.st_size, ver));
			rc = 2;
		}
		goto out;
	}
	s->ver = ver;
	es = ent_size(s);
	sc.fd = s->log_fd;
	sc.size = (uint64_t)st.st_size;

	s->idx_fd = openat(log->dir_fd, iname, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->idx_fd < 0 || fstat(s->idx_fd, &st) < 0) {
		rc = -errno;
		kfs_err("%s/%s: %s", log->dir, iname, strerror(-rc));
		goto out;
	}
	idx_size = (uint64_t)st.st_size;
	/* Entries, even partial ones, are written after their records: each
	 * one stands for a counter that may have been handed out (unless
	 * the header shows the file is not to be trusted at all). */
	seen = idx_size > IDX_HDR ? (idx_size - IDX_HDR + es - 1) / es : 0;
	if (idx_size < IDX_HDR || kfs_pread_full(s->idx_fd, ih, IDX_HDR, 0) < 0 ||
	    memcmp(ih, ver == 2 ? IDX_MAGIC2 : IDX_MAGIC, 8) != 0) {
		rebuild = 1;
	} else {
		/* The reservation has its own checksum: it outlives damage
		 * to the rest of the header, which a rebuild repairs. */
		if (get32(ih + 60) == kfs_crc32c(0, ih + 52, 8)) {
			s->reserved = get64(ih + 52);
			s->reserved_ok = 1;
		}
		if (get32(ih + 32) != kfs_crc32c(0, ih, 32) || get64(ih + 8) != first)
			rebuild = 1;
	}

	if (rebuild) {
		/* The index is derived: make it again from the log. */
		seen = 0;
		for (int f = 0; f < KFS_FRAMING_COUNT; f++)
			raw_base[f] = prev_end ? prev_end[f] : 0;
		idx_header_encode(ih, ver, first, raw_base, s->reserved, s->reserved_ok);
		if (ftruncate(s->idx_fd, 0) < 0) {
			rc = -errno;
			goto out;
		}
		if ((rc = kfs_pwrite_full(s->idx_fd, ih, IDX_HDR, 0)) < 0)
			goto out;
		if (sc.size > LOG_HDR || idx_size > 0)
			kfs_warn("%s/%s: index missing or corrupt, rebuilding it "
				 "from the log", log->dir, iname);
		n_idx = 0;
		changed = 1;
	} else {
		raw_base[KFS_FRAMING_LINE] = get64(ih + 16);
		raw_base[KFS_FRAMING_WRITE] = get64(ih + 24);
		n_idx = (idx_size - IDX_HDR) / es;
		if (get32(ih + 48) == kfs_crc32c(0, ih + 40, 8))
			synced = synced_raw = get64(ih + 40);
		if (synced > n_idx)
			synced = 0;
		if (synced_raw > seen)
			seen = synced_raw;
	}
	memcpy(exp_cum, raw_base, sizeof(exp_cum));

	/*
	 * Entries below `synced` are trusted, except those whose records lie
	 * in the last TAIL_CHECK_BYTES of the log (at most ENTRY_CHUNK of
	 * them), which are checked again: a cheap guard against a device
	 * that lied about a flush.  The last trusted entry is checked too
	 * (a single read), and if even it fails, everything is.
	 */
	trusted = synced;
	if (trusted > 0) {
		unsigned char buf[ENTRY_CHUNK * IDX_ENTRY2];
		uint64_t from = trusted > ENTRY_CHUNK ? trusted - ENTRY_CHUNK : 0;
		uint64_t edge = sc.size > TAIL_CHECK_BYTES ? sc.size - TAIL_CHECK_BYTES : 0;

		if (kfs_pread_full(s->idx_fd, buf, (size_t)(trusted - from) * es,
			       IDX_HDR + from * es) == 0) {
			/* Back from the end while the records (frames) end
			 * near the tail. */
			while (trusted > from) {
				struct ientry e;
				if (entry_decode_at(s, buf + (trusted - 1 - from) * es,
						    trusted - 1, &e) < 0 ||
				    e.off + FRAME_HDR + e.len <= edge)
					break;
				trusted--;
			}
		}
	}
	if (trusted > 0) {
		struct ientry e;
		struct uview u;
		unsigned char ebytes[IDX_ENTRY2];

		if (kfs_pread_full(s->idx_fd, ebytes, es, IDX_HDR + (trusted - 1) * es) == 0 &&
		    entry_usable(s, ebytes, trusted - 1, &e) == 0 &&
		    (rc = scan_unit(&sc, ver, e.off, &u)) == 0 &&
		    u.len == e.len && u.first == e.first && u.count == e.count &&
		    u.arrival_ms == e.arrival_ms) {
			valid = trusted;
			nrec = e.first + e.count - first;
			exp_off = e.off + FRAME_HDR + e.len;
			memcpy(exp_cum, e.cum, sizeof(exp_cum));
			last_arrival = e.arrival_ms;
		} else {
			if (rc < 0)
				goto out;
			kfs_warn("%s/%s: last synced entry does not match the log; "
				 "checking the whole segment", log->dir, iname);
		}
	}
	/*
	 * Entries after it are checked one by one against their records.
	 * One record recorded as synced may fail while those after it are
	 * whole: damage to the disk, not a torn write.  It is kept (reads of
	 * it fail with EIO) rather than cut with the synced records after
	 * it, unless no record after it checks out (then the tail is cut
	 * there, as a torn one would be).  In version 2 the same holds of
	 * frames.
	 */
	while (valid < n_idx && !stop) {
		struct ientry ev[ENTRY_CHUNK];
		size_t k = n_idx - valid < ENTRY_CHUNK ? (size_t)(n_idx - valid) : ENTRY_CHUNK;
		unsigned char buf[ENTRY_CHUNK * IDX_ENTRY2];
		size_t j;

		if ((rc = kfs_pread_full(s->idx_fd, buf, k * es, IDX_HDR + valid * es)) < 0)
			goto out;
		for (j = 0; j < k && !stop; j++) {
			struct ientry *e = &ev[j];
			struct uview u;

			if (entry_usable(s, buf + j * es, valid, e) < 0 || e->off != exp_off ||
			    e->first != first + nrec) {
				stop = 1;
				break;
			}
			rc = scan_unit(&sc, ver, e->off, &u);
			if (rc < 0)
				goto out;
			if (rc > 0 || u.len != e->len || u.first != e->first ||
			    u.count != e->count ||
			    u.arrival_ms != e->arrival_ms || u.arrival_ms < last_arrival ||
			    e->cum[KFS_FRAMING_LINE] != exp_cum[KFS_FRAMING_LINE] +
							 u.bytes[KFS_FRAMING_LINE] ||
			    e->cum[KFS_FRAMING_WRITE] != exp_cum[KFS_FRAMING_WRITE] +
							  u.bytes[KFS_FRAMING_WRITE]) {
				if (damaged != UINT64_MAX || valid >= synced ||
				    e->arrival_ms < last_arrival) {
					stop = 1;
					break;
				}
				/* Taken on the index's word, for now. */
				damaged = valid;
				damaged_nrec = nrec;
				damaged_count = e->count;
				damaged_off = exp_off;
				memcpy(damaged_cum, exp_cum, sizeof(damaged_cum));
				damaged_arrival = last_arrival;
			}
			exp_off += FRAME_HDR + e->len;
			memcpy(exp_cum, e->cum, sizeof(exp_cum));
			last_arrival = e->arrival_ms;
			nrec += e->count;
			valid++;
		}
	}
	if (damaged != UINT64_MAX && valid == damaged + 1) {
		/* Nothing after it checked out: a torn tail after all. */
		valid = damaged;
		nrec = damaged_nrec;
		exp_off = damaged_off;
		memcpy(exp_cum, damaged_cum, sizeof(exp_cum));
		last_arrival = damaged_arrival;
		damaged = UINT64_MAX;
	}
	if (damaged != UINT64_MAX && ver == 1)
		kfs_err("%s/%s: record %" PRIu64 " at offset %" PRIu64 " is corrupt; "
			"it is lost (reads of it fail with EIO), the records after "
			"it are kept", log->dir, lname, first + damaged, damaged_off);
	else if (damaged != UINT64_MAX)
		kfs_err("%s/%s: records %" PRIu64 " to %" PRIu64 " at offset %"
			PRIu64 " are corrupt; they are lost (reads of them fail with "
			"EIO), the records after them are kept", log->dir, lname,
			first + damaged_nrec, first + damaged_nrec + damaged_count - 1,
			damaged_off);
	dropped = n_idx - valid;
	/* Counters the entries past the valid ones stand for (version 2:
	 * as many as each readable one says, one for any other). */
	seen_end = add_sat(first, seen);
	if (ver == 2) {
		uint64_t i = valid, end = add_sat(first, nrec);

		while (i < n_idx) {
			unsigned char buf[ENTRY_CHUNK * IDX_ENTRY2];
			size_t k = n_idx - i < ENTRY_CHUNK ? (size_t)(n_idx - i) : ENTRY_CHUNK;

			if ((rc = kfs_pread_full(s->idx_fd, buf, k * es, IDX_HDR + i * es)) < 0)
				goto out;
			for (size_t j = 0; j < k; j++) {
				struct ientry e;
				if (entry_usable(s, buf + j * es, i + j, &e) == 0 &&
				    add_sat(e.first, e.count) > end)
					end = add_sat(e.first, e.count);
				else
					end = add_sat(end, 1);
			}
			i += k;
		}
		seen_end = add_sat(end, seen > n_idx ? seen - n_idx : 0);
	}

	/* Records in the log past the index: re-create their entries. */
	for (;;) {
		struct uview u;
		struct ientry e;

		rc = scan_unit(&sc, ver, exp_off, &u);
		if (rc < 0)
			goto out;
		if (rc > 0 || u.first != first + nrec || u.arrival_ms < last_arrival)
			break;
		e.off = exp_off;
		e.len = u.len;
		e.arrival_ms = u.arrival_ms;
		e.first = u.first;
		e.count = u.count;
		e.cum[KFS_FRAMING_LINE] = exp_cum[KFS_FRAMING_LINE] + u.bytes[KFS_FRAMING_LINE];
		e.cum[KFS_FRAMING_WRITE] = exp_cum[KFS_FRAMING_WRITE] + u.bytes[KFS_FRAMING_WRITE];
		if (ebuf_n == ebuf_cap) {
			size_t nc = ebuf_cap ? ebuf_cap * 2 : ENTRY_CHUNK;
			unsigned char *nb = realloc(ebuf, nc * es);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			ebuf = nb;
			ebuf_cap = nc;
		}
		entry_encode_v(ver, ebuf + ebuf_n * es, &e);
		ebuf_n++;
		if (ebuf_n == ENTRY_CHUNK * 16) {
			rc = kfs_pwrite_full(s->idx_fd, ebuf, ebuf_n * es,
					 IDX_HDR + (valid + 1 - ebuf_n) * es);
			if (rc < 0)
				goto out;
			ebuf_n = 0;
		}
		exp_off += FRAME_HDR + u.len;
		memcpy(exp_cum, e.cum, sizeof(exp_cum));
		last_arrival = u.arrival_ms;
		nrec += u.count;
		valid++;
		changed = 1;
	}
	if (ebuf_n) {
		rc = kfs_pwrite_full(s->idx_fd, ebuf, ebuf_n * es,
				 IDX_HDR + (valid - ebuf_n) * es);
		if (rc < 0)
			goto out;
	}
	if (sc.size > exp_off) {
		/* Cut by seg_finish(), once its counters are skipped. */
		char more[64] = "";

		if (dropped)
			snprintf(more, sizeof(more), "; %" PRIu64 " index entries "
				 "dropped", dropped);
		kfs_warn("%s/%s: torn or corrupt tail cut at offset %" PRIu64
			 " (%" PRIu64 " bytes removed)%s", log->dir, lname, exp_off,
			 sc.size - exp_off, more);
		s->cut_bytes = sc.size - exp_off;
	} else if (dropped) {
		kfs_warn("%s/%s: %" PRIu64 " index entries beyond the last valid "
			 "record dropped", log->dir, iname, dropped);
	}
	/* Entries left past `valid`, or a "synced" count above it, are
	 * evidence too: seg_finish() removes them. */
	if (!rebuild && (idx_size > IDX_HDR + valid * es || synced_raw > valid))
		s->idx_stale = 1;
	/* "synced" may only count entries whose records are on disk: after
	 * a kill -9 they may still be in the page cache only. */
	if ((changed || valid > synced_raw) &&
	    (fdatasync(s->log_fd) < 0 || fdatasync(s->idx_fd) < 0)) {
		rc = -errno;
		goto out;
	}
	if (valid > synced_raw) {
		if ((rc = idx_write_synced(s, valid)) < 0)
			goto out;
		if (fdatasync(s->idx_fd) < 0) {
			rc = -errno;
			goto out;
		}
	}
	s->synced = valid;
	s->lost_end = add_sat(first, add_sat(nrec, max_records_in(s->cut_bytes, ver)));
	if (seen_end > s->lost_end)
		s->lost_end = seen_end;
	s->count = nrec;
	s->n_ent = valid;
	s->log_size = exp_off;
	s->last_arrival = last_arrival;
	if (valid > 0) {
		struct ientry e0;
		if ((rc = entry_read(log, s, 0, &e0)) < 0)
			goto out;
		first_arrival = e0.arrival_ms;
	}
	s->first_arrival = first_arrival;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		uint64_t eff_base = prev_end ? prev_end[f] : raw_base[f];
		s->adj[f] = eff_base - raw_base[f];
		s->base[f] = eff_base;
		s->end[f] = exp_cum[f] + s->adj[f];
	}
	rc = 0;
	*out = s;
	s = NULL;
out:
	free(sc.buf);
	free(ebuf);
	if (s) {
		if (rc < 0)
			kfs_err("%s/%s: cannot open segment: %s", log->dir, lname,
				strerror(-rc));
		seg_unref(s);
	}
	return rc;
}

/* Cuts segment s to its first `keep` records (on open, when a later
 * segment overlaps it).  Only in memory: seg_finish() cuts the files. */
static int seg_cut(struct kfs_seglog *log, struct seg *s, uint64_t keep)
{
	struct ientry e;
	uint64_t k;
	int rc;

	if (keep >= s->count)
		return 0;
	/* In version 2, from the start of the frame holding record keep:
	 * a frame is whole or not at all. */
	if ((rc = entry_find(log, s, s->first + keep, &k, &e)) < 0)
		return rc;
	s->cut_bytes += s->log_size - e.off;
	s->log_size = e.off;
	s->count = e.first - s->first;
	s->n_ent = k;
	s->idx_stale = 1;
	if (k < s->synced)
		s->synced = k;
	/* It ends where entry k - 1 does (its sizes, its arrival). */
	if (k == 0) {
		memcpy(s->end, s->base, sizeof(s->end));
		s->first_arrival = s->last_arrival = -1;
	} else {
		if ((rc = entry_read(log, s, k - 1, &e)) < 0)
			return rc;
		for (int f = 0; f < KFS_FRAMING_COUNT; f++)
			s->end[f] = e.cum[f] + s->adj[f];
		s->last_arrival = e.arrival_ms;
	}
	return 0;
}

/* Moves s's byte positions so that it starts at base (the previous
 * segment was cut after s was opened). */
static void seg_rebase(struct seg *s, const uint64_t base[KFS_FRAMING_COUNT])
{
	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		uint64_t d = base[f] - s->base[f];
		s->adj[f] += d;
		s->base[f] += d;
		s->end[f] += d;
	}
}

/* Cuts the files of s to its records (what seg_open() and seg_cut()
 * left for later) and makes that durable. */
static int seg_finish(struct kfs_seglog *log, struct seg *s)
{
	if (!s->cut_bytes && !s->idx_stale)
		return 0;
	if ((s->cut_bytes && ftruncate(s->log_fd, (off_t)s->log_size) < 0) ||
	    (s->idx_stale && ftruncate(s->idx_fd, (off_t)(IDX_HDR + s->n_ent * ent_size(s))) < 0) ||
	    fdatasync(s->log_fd) < 0 || fdatasync(s->idx_fd) < 0)
		goto fail;
	if (s->idx_stale) {
		int rc = idx_write_synced(s, s->n_ent);
		if (rc < 0) {
			errno = -rc;
			goto fail;
		}
		if (fdatasync(s->idx_fd) < 0)
			goto fail;
		s->synced = s->n_ent;
	}
	s->cut_bytes = 0;
	s->idx_stale = 0;
	return 0;

fail:
	{
		int err = errno;
		kfs_err("%s: cutting segment %016" PRIx64 ": %s", log->dir,
			s->first, strerror(err));
		return -err;
	}
}

/* Renames a segment whose header is corrupt to <name>.log.bad, out of
 * the way (kfs_seglog_open() still counts it), and removes its index. */
static int seg_set_aside(struct kfs_seglog *log, uint64_t first)
{
	char lname[32], iname[32], bad[32];

	seg_name(lname, sizeof(lname), first, "log");
	seg_name(iname, sizeof(iname), first, "idx");
	seg_name(bad, sizeof(bad), first, "log.bad");
	if (renameat(log->dir_fd, lname, log->dir_fd, bad) < 0) {
		int err = errno;
		kfs_err("%s/%s: segment header is corrupt, and it cannot be set "
			"aside: %s", log->dir, lname, strerror(err));
		return -err;
	}
	kfs_err("%s/%s: segment header is corrupt; set aside as %s, "
		"its records are lost", log->dir, lname, bad);
	unlinkat(log->dir_fd, iname, 0);
	return 0;
}

/* A segment file found by kfs_seglog_open(). */
struct seg_file {
	uint64_t first;   /* the counter its name gives */
	int aside;        /* 1: "<first>.log.bad", set aside by an earlier open */
};

/* By counter; a segment set aside comes before a live one of the same
 * counter (the new tail that replaced it). */
static int cmp_seg_file(const void *a, const void *b)
{
	const struct seg_file *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return y->aside - x->aside;
}

/* Parses "<16 hex>.<ext>"; 1 and *first when it is one. */
static int parse_seg_name(const char *name, const char *ext, uint64_t *first)
{
	uint64_t v = 0;

	if (strlen(name) != 17 + strlen(ext) || name[16] != '.' ||
	    strcmp(name + 17, ext) != 0)
		return 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return 0;
		v = (v << 4) | (uint64_t)d;
	}
	*first = v;
	return 1;
}

static int segs_push(struct kfs_seglog *log, struct seg *s)
{
	if (log->n_segs == log->cap_segs) {
		size_t nc = log->cap_segs ? log->cap_segs * 2 : 8;
		struct seg **v = realloc(log->segs, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		log->segs = v;
		log->cap_segs = nc;
	}
	log->segs[log->n_segs++] = s;
	return 0;
}

int kfs_seglog_open(const char *dir, uint64_t segment_bytes, int format,
		    struct kfs_seglog **out)
{
	struct kfs_seglog *log;
	struct seg_file *firsts = NULL;
	uint64_t dropped_next = 0, reserved = 0, res_first = 0;
	size_t n_firsts = 0, cap_firsts = 0;
	int res_known = 1;
	DIR *d = NULL;
	struct dirent *de;
	int rc, dfd;

	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->dir_fd = -1;
	log->bad_logged = UINT64_MAX;
	pthread_mutex_init(&log->append_lock, NULL);
	pthread_mutex_init(&log->state_lock, NULL);
	pthread_mutex_init(&log->sync_lock, NULL);
	log->segment_bytes = segment_bytes ? segment_bytes : KFS_SEGLOG_SEGMENT_BYTES_DEFAULT;
	log->format = seglog_format(format);
	log->dir = strdup(dir);
	if (!log->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0) {
		rc = -errno;
		kfs_err("%s: %s", dir, strerror(-rc));
		goto fail;
	}
	dfd = dup(log->dir_fd);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		rc = -errno;
		if (dfd >= 0)
			close(dfd);
		goto fail;
	}
	while ((de = readdir(d))) {
		uint64_t first;
		int aside = 0;

		if (!parse_seg_name(de->d_name, "log", &first) &&
		    !(aside = parse_seg_name(de->d_name, "log.bad", &first)))
			continue;
		if (n_firsts == cap_firsts) {
			size_t nc = cap_firsts ? cap_firsts * 2 : 16;
			struct seg_file *v = realloc(firsts, nc * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				goto fail;
			}
			firsts = v;
			cap_firsts = nc;
		}
		firsts[n_firsts].first = first;
		firsts[n_firsts++].aside = aside;
	}
	/* An .idx without its .log is what a purge cut short leaves. */
	rewinddir(d);
	while ((de = readdir(d))) {
		uint64_t first;
		struct stat st;
		char lname[32];
		if (!parse_seg_name(de->d_name, "idx", &first))
			continue;
		seg_name(lname, sizeof(lname), first, "log");
		if (fstatat(log->dir_fd, lname, &st, 0) < 0 && errno == ENOENT)
			unlinkat(log->dir_fd, de->d_name, 0);
	}
	closedir(d);
	d = NULL;
	if (n_firsts > 1) /* firsts is NULL when there is none */
		qsort(firsts, n_firsts, sizeof(*firsts), cmp_seg_file);

	/*
	 * Counters that may have been handed out before a crash are never
	 * given again: dropped_next ends up past every counter the files
	 * show may have been used.  A segment's own evidence (a torn tail,
	 * index entries, its "synced" count) counts only up to where the
	 * next segment starts, as rotation starts a segment past every
	 * counter of the previous one.  When the last usable segment ends
	 * before dropped_next, appends go on in a new segment starting
	 * there (reads skip the gap); only once it is on disk are the torn
	 * tails cut (seg_finish()).
	 * A segment whose header is corrupt is set aside as "<first>.log.bad"
	 * before that segment is made (it may have the same name), and such
	 * a file stays evidence for every later open, counted as it was the
	 * first time: whatever happens in between, the counters it may have
	 * held are skipped, and no file the log keeps open is renamed.
	 * The reservation of the newest segment that has one counts too
	 * (a removed last segment had none of its own); one that cannot be
	 * read is RESERVE_BLOCK past the segment's evidence.
	 */
	for (size_t i = 0; i < n_firsts; i++) {
		struct seg *s, *prev = log->n_segs ? log->segs[log->n_segs - 1] : NULL;
		uint64_t first = firsts[i].first, gone_end;
		uint64_t cap = i + 1 < n_firsts ? firsts[i + 1].first : UINT64_MAX;

		if (firsts[i].aside) {
			char bad[32];
			struct stat st;

			seg_name(bad, sizeof(bad), first, "log.bad");
			gone_end = add_sat(first, fstatat(log->dir_fd, bad, &st, 0) == 0 ?
					   max_records_in((uint64_t)st.st_size,
							  file_ver(log->dir_fd, bad)) : 0);
			rc = 2;
		} else {
			rc = seg_open(log, first, i == n_firsts - 1,
				      prev ? prev->end : NULL, &s, &gone_end);
			if (rc < 0)
				goto fail;
			if (rc == 2) {
				int err = seg_set_aside(log, first);
				if (err < 0) {
					rc = err;
					goto fail;
				}
			}
		}
		if (rc > 0) {
			if (rc == 2) {
				/* Its reservation goes with it. */
				res_first = first;
				res_known = 0;
				reserved = add_sat(gone_end, RESERVE_UNKNOWN);
			}
			if (gone_end > cap)
				gone_end = cap;
			if (gone_end > dropped_next)
				dropped_next = gone_end;
			continue;
		}
		if (prev && prev->first + prev->count > s->first) {
			kfs_err("%s: segment %016" PRIx64 " overlaps segment %016" PRIx64
				"; cutting the earlier one", dir, s->first, prev->first);
			/* The ordering of segments cannot be trusted here:
			 * skip every counter the earlier one held. */
			if (prev->lost_end > dropped_next)
				dropped_next = prev->lost_end;
			if ((rc = seg_cut(log, prev, s->first - prev->first)) < 0) {
				seg_unref(s);
				goto fail;
			}
			seg_rebase(s, prev->end);
		}
		if ((s->lost_end < cap ? s->lost_end : cap) > dropped_next)
			dropped_next = s->lost_end < cap ? s->lost_end : cap;
		res_first = s->first;
		res_known = s->reserved_ok;
		reserved = s->reserved_ok ? s->reserved : add_sat(s->lost_end, RESERVE_UNKNOWN);
		if ((rc = segs_push(log, s)) < 0) {
			seg_unref(s);
			goto fail;
		}
	}
	if (!res_known)
		kfs_warn("%s: segment %016" PRIx64 " has no readable reservation; "
			 "counters up to %" PRIu64 " are taken as handed out",
			 dir, res_first, reserved - 1);
	if (reserved > dropped_next)
		dropped_next = reserved;
	/* A kept tail's header holds the reservation; a new one's is its
	 * first counter. */
	log->reserved = reserved;
	if (log->n_segs == 0 || log->segs[log->n_segs - 1]->first +
				log->segs[log->n_segs - 1]->count < dropped_next) {
		/* Start a segment after every counter that may have been
		 * handed out. */
		struct seg *s, *prev = log->n_segs ? log->segs[log->n_segs - 1] : NULL;
		static const uint64_t zero[KFS_FRAMING_COUNT];
		/* Info: what made the skip needed was logged as it was found. */
		if (dropped_next > (prev ? prev->first + prev->count : 0))
			kfs_info("%s: counters up to %" PRIu64 " may have been handed "
				 "out before a crash; appends go on from %" PRIu64,
				 dir, dropped_next - 1, dropped_next);
		rc = seg_create(log->dir_fd, dir, log->format, dropped_next,
				prev ? prev->end : zero, dropped_next, &s);
		if (rc < 0)
			goto fail;
		if ((rc = segs_push(log, s)) < 0) {
			seg_unref(s);
			goto fail;
		}
		log->reserved = dropped_next;
	}
	for (size_t i = 0; i < log->n_segs; i++)
		if ((rc = seg_finish(log, log->segs[i])) < 0)
			goto fail;
	{
		struct seg *t = log->segs[log->n_segs - 1];
		log->tail = t;
		log->next = t->first + t->count;
		log->synced_next = log->next;
		log->last_arrival = -1;
		for (size_t i = log->n_segs; i-- > 0;) {
			if (log->segs[i]->count) {
				log->last_arrival = log->segs[i]->last_arrival;
				break;
			}
		}
		log->trim_floor = log->segs[0]->first;
	}
	free(firsts);
	*out = log;
	return 0;

fail:
	if (d)
		closedir(d);
	free(firsts);
	kfs_seglog_close(log);
	return rc;
}

void kfs_seglog_close(struct kfs_seglog *log)
{
	if (!log)
		return;
	for (size_t i = 0; i < log->n_segs; i++)
		seg_unref(log->segs[i]);
	free(log->segs);
	while (log->unsynced) {
		struct seg *u = log->unsynced;
		log->unsynced = u->unsynced_next;
		seg_unref(u);
	}
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	pthread_mutex_destroy(&log->append_lock);
	pthread_mutex_destroy(&log->state_lock);
	pthread_mutex_destroy(&log->sync_lock);
	free(log->dir);
	free(log);
}

/* ---- appending -------------------------------------------------------- */

/*
 * Starts a new segment at log->next, with the reservation.  The old tail
 * is not synced here but by the next sync (kfs_seglog_sync(), the
 * background pass within a second, fsync, a clean close), so that an
 * append never waits for 64 MiB to reach the disk; until then it is in
 * log->unsynced, and opening checks it as it checks any segment (entries
 * past its "synced" count against the log).  Called with append_lock held.
 */
static int rotate(struct kfs_seglog *log)
{
	struct seg *t = log->tail, *s;
	int rc;

	if ((rc = seg_create(log->dir_fd, log->dir, log->format, log->next, t->end,
			     log->reserved, &s)) < 0)
		return rc;
	pthread_mutex_lock(&log->state_lock);
	rc = segs_push(log, s);
	if (rc == 0) {
		log->tail = s;
		seg_ref(t);
		t->unsynced_next = log->unsynced;
		log->unsynced = t;
	}
	pthread_mutex_unlock(&log->state_lock);
	if (rc < 0) {
		char name[32];
		seg_name(name, sizeof(name), s->first, "log");
		unlinkat(log->dir_fd, name, 0);
		seg_name(name, sizeof(name), s->first, "idx");
		unlinkat(log->dir_fd, name, 0);
		seg_unref(s);
	}
	return rc;
}

/*
 * Makes r the reservation, durably: writes it to the tail's .idx header
 * and fdatasyncs the .idx (the records need not be on disk: an unreadable
 * reservation counts as KFS_SEGLOG_RESERVE_UNKNOWN past what the files
 * show).  Raises it before an append, lowers it to log->next for a clean
 * close.  append_lock held.
 */
static int reserve(struct kfs_seglog *log, uint64_t r)
{
	struct seg *t = log->tail;
	int rc;

	if ((rc = idx_write_reserved(t, r)) < 0)
		return rc;
	if (fdatasync(t->idx_fd) < 0)
		return -errno;
	log->reserved = r;
	return 0;
}

int kfs_seglog_unreserve(struct kfs_seglog *log)
{
	int rc = 0;

	pthread_mutex_lock(&log->append_lock);
	if (log->reserved != log->next || kfs_seglog_dirty(log)) {
		rc = kfs_seglog_sync(log);
		if (rc == 0)
			rc = reserve(log, log->next);
	}
	pthread_mutex_unlock(&log->append_lock);
	if (rc < 0)
		kfs_err("%s: cannot give back the reserved counters: %s", log->dir,
			strerror(-rc));
	return rc;
}

/* The records v[i..] that go in one frame: those of v[i]'s key that
 * follow it, at most FRAME2_COUNT_MAX, while their data stays within
 * FRAME2_SPLIT (the first whatever its size).  Returns the index past
 * them, and their data bytes in *data. */
static size_t frame2_end(const struct kfs_seglog_in *v, size_t n, size_t i,
			 uint64_t *data)
{
	size_t j = i + 1;
	uint64_t d = v[i].len;

	/* A KPL aggregated record is a frame of its own: its bytes rendered
	 * (its user records') are then the entry's, and need no table. */
	if (kfs_agg_looks(v[i].data, v[i].len)) {
		*data = d;
		return j;
	}
	while (j < n && j - i < FRAME2_COUNT_MAX && v[j].key_len == v[i].key_len &&
	       !kfs_agg_looks(v[j].data, v[j].len) &&
	       (v[j].key == v[i].key || v[i].key_len == 0 ||
		memcmp(v[j].key, v[i].key, v[i].key_len) == 0) &&
	       d + v[j].len <= FRAME2_SPLIT) {
		d += v[j].len;
		j++;
	}
	*data = d;
	return j;
}

/* Bytes of .log that appending v takes in format ver, and its index
 * entries (*n_ent). */
static uint64_t append_size(int ver, const struct kfs_seglog_in *v, size_t n,
			    size_t *n_ent)
{
	uint64_t total = 0, d;

	if (ver == 1) {
		for (size_t i = 0; i < n; i++)
			total += FRAME_HDR + BODY_HDR + v[i].key_len + v[i].len;
		*n_ent = n;
		return total;
	}
	*n_ent = 0;
	for (size_t i = 0, j; i < n; i = j) {
		j = frame2_end(v, n, i, &d);
		total += FRAME2_HDR + v[i].key_len + 4 * (uint64_t)(j - i) + d;
		(*n_ent)++;
	}
	return total;
}

/* Adds the bytes of record r rendered to cum: its user records' when it
 * is a KPL aggregated record (backend/kpl/expand.h), which then is a
 * unit (record or frame) of its own. */
static void unit_add(const struct kfs_seglog_in *r,
		     uint64_t cum[KFS_FRAMING_COUNT])
{
	uint64_t b[KFS_FRAMING_COUNT];

	if (kfs_agg_looks(r->data, r->len)) {
		kfs_agg_rendered(r->data, r->len, b, NULL);
	} else {
		b[KFS_FRAMING_LINE] = line_len(r->data, r->len);
		b[KFS_FRAMING_WRITE] = r->len;
	}
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		cum[f] += b[f];
}

/* Lays out v as it goes on disk at offset off of segment t (records in
 * version 1, frames in version 2) in recs, and their index entries in
 * ents: counters from `counter`, cum[] (t's stored bytes so far) moved
 * past them. */
static void append_build(const struct seg *t, const struct kfs_seglog_in *v,
			 size_t n, uint64_t counter, int64_t arrival,
			 uint64_t off, uint64_t cum[KFS_FRAMING_COUNT],
			 unsigned char *recs, unsigned char *ents)
{
	unsigned char *h = recs;
	struct ientry e;
	size_t k = 0;

	e.arrival_ms = arrival;
	for (size_t i = 0, j; i < n; i = j) {
		uint32_t crc;

		if (t->ver == 1) {
			j = i + 1;
			e.len = (uint32_t)(BODY_HDR + v[i].key_len + v[i].len);
			put32(h, e.len);
			put64(h + 8, counter + i);
			put64(h + 16, (uint64_t)arrival);
			put16(h + 24, (uint16_t)v[i].key_len);
			if (v[i].key_len)
				memcpy(h + FRAME_HDR + BODY_HDR, v[i].key, v[i].key_len);
			if (v[i].len)
				memcpy(h + FRAME_HDR + BODY_HDR + v[i].key_len,
				       v[i].data, v[i].len);
			crc = kfs_crc32c(0, h, 4);
			crc = kfs_crc32c(crc, h + FRAME_HDR, e.len);
			put32(h + 4, crc);
			unit_add(&v[i], cum);
		} else {
			uint64_t d, line = 0;
			size_t head;
			unsigned char *tab, *p;

			j = frame2_end(v, n, i, &d);
			head = FRAME2_HDR + v[i].key_len + 4 * (j - i);
			e.len = (uint32_t)(head - FRAME_HDR + d);
			put32(h, e.len);
			put64(h + 8, counter + i);
			put64(h + 16, (uint64_t)arrival);
			put32(h + 24, (uint32_t)(j - i));
			put16(h + 28, (uint16_t)v[i].key_len);
			put16(h + 30, 0);
			if (v[i].key_len)
				memcpy(h + FRAME2_HDR, v[i].key, v[i].key_len);
			tab = h + FRAME2_HDR + v[i].key_len;
			p = h + head;
			for (size_t r = i; r < j; r++) {
				size_t len = v[r].len;
				int nl = len && ((const unsigned char *)v[r].data)[len - 1] == '\n';

				put32(tab, (uint32_t)len | (nl ? LEN_NL : 0));
				tab += 4;
				if (len)
					memcpy(p, v[r].data, len);
				p += len;
				line += len + !nl;
			}
			put32(h + 32, kfs_crc32c(0, h + head, d));
			crc = kfs_crc32c(0, h, 4);
			crc = kfs_crc32c(crc, h + FRAME_HDR, head - FRAME_HDR);
			put32(h + 4, crc);
			if (j - i == 1) {
				unit_add(&v[i], cum);
			} else {
				cum[KFS_FRAMING_LINE] += line;
				cum[KFS_FRAMING_WRITE] += d;
			}
		}
		e.off = off;
		e.first = counter + i;
		e.count = (uint32_t)(j - i);
		e.cum[KFS_FRAMING_LINE] = cum[KFS_FRAMING_LINE] - t->adj[KFS_FRAMING_LINE];
		e.cum[KFS_FRAMING_WRITE] = cum[KFS_FRAMING_WRITE] - t->adj[KFS_FRAMING_WRITE];
		entry_encode_v(t->ver, ents + k * ent_size(t), &e);
		k++;
		off += FRAME_HDR + e.len;
		h += FRAME_HDR + e.len;
	}
}

int kfs_seglog_append(struct kfs_seglog *log, const struct kfs_seglog_in *v,
		      size_t n, int64_t now_ms, uint64_t *first_out,
		      int64_t *arrival_out)
{
	unsigned char *recs = NULL, *ents = NULL;
	struct seg *t;
	uint64_t total, counter, cum[KFS_FRAMING_COUNT];
	size_t n_ent, es;
	int64_t arrival;
	int rc = 0;

	if (n == 0 || n > RESERVE_BLOCK)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (v[i].key_len > KFS_KEY_MAX || v[i].len > KFS_RECORD_LIMIT_MAX)
			return -EFBIG;

	pthread_mutex_lock(&log->append_lock);
	if (log->sealed) {
		rc = -ESHUTDOWN;
		goto unlock;
	}
	if (log->broken) {
		rc = log->broken;
		goto unlock;
	}
	/* Counters are used up (files that say the log is at 2^64 - 1):
	 * next must stay representable, never wrap to counters given. */
	if (n > UINT64_MAX - log->next) {
		rc = -ENOSPC;
		goto unlock;
	}
	t = log->tail;
	total = append_size(t->ver, v, n, &n_ent);
	if (t->count > 0 && t->log_size + total > log->segment_bytes) {
		if ((rc = rotate(log)) < 0) {
			kfs_err("%s: cannot start a new segment: %s", log->dir,
				strerror(-rc));
			goto unlock;
		}
		t = log->tail;
		total = append_size(t->ver, v, n, &n_ent);
	}
	/* Rare (once per RESERVE_BLOCK counters): no counter at or past the
	 * durable reservation is handed out. */
	if (add_sat(log->next, n) > log->reserved &&
	    (rc = reserve(log, add_sat(log->next, RESERVE_BLOCK))) < 0) {
		kfs_err("%s: cannot reserve counters: %s", log->dir, strerror(-rc));
		goto unlock;
	}
	/* The records are laid out here as they go on disk, so that the
	 * write is one copy of one buffer (cheaper than an iovec per
	 * field) and the checksums run over contiguous bytes. */
	es = ent_size(t);
	recs = malloc(total);
	ents = malloc(n_ent * es);
	if (!recs || !ents) {
		rc = -ENOMEM;
		goto unlock;
	}
	arrival = now_ms > log->last_arrival ? now_ms : log->last_arrival;
	counter = log->next;
	/* end[] is only written under append_lock, which we hold. */
	memcpy(cum, t->end, sizeof(cum));
	append_build(t, v, n, counter, arrival, t->log_size, cum, recs, ents);
	rc = kfs_pwrite_full(t->log_fd, recs, total, t->log_size);
	if (rc == 0)
		rc = kfs_pwrite_full(t->idx_fd, ents, n_ent * es, IDX_HDR + t->n_ent * es);
	if (rc < 0) {
		/* Leave no torn record: cut both files back to the tail.
		 * The failure reaches the writers, and their error line
		 * (the producer's) is the one; this is the detail. */
		kfs_info("%s: append of %zu records failed: %s", log->dir, n,
			 strerror(-rc));
		if (ftruncate(t->log_fd, (off_t)t->log_size) < 0 ||
		    ftruncate(t->idx_fd, (off_t)(IDX_HDR + t->n_ent * es)) < 0) {
			log->broken = -EIO;
			kfs_err("%s: cannot cut the failed append back (%s); no more "
				"appends until the engine is reopened", log->dir,
				strerror(errno));
		}
		goto unlock;
	}
	pthread_mutex_lock(&log->state_lock);
	t->count += n;
	t->n_ent += n_ent;
	memcpy(t->end, cum, sizeof(cum));
	if (t->first_arrival < 0)
		t->first_arrival = arrival;
	t->last_arrival = arrival;
	log->next = counter + n;
	pthread_mutex_unlock(&log->state_lock);
	t->log_size += total;
	log->last_arrival = arrival;
	*first_out = counter;
	*arrival_out = arrival;
unlock:
	pthread_mutex_unlock(&log->append_lock);
	free(recs);
	free(ents);
	return rc;
}

void kfs_seglog_seal(struct kfs_seglog *log, uint64_t *end_out)
{
	pthread_mutex_lock(&log->append_lock);
	log->sealed = 1;
	*end_out = log->next;
	pthread_mutex_unlock(&log->append_lock);
}

void kfs_seglog_unseal(struct kfs_seglog *log)
{
	pthread_mutex_lock(&log->append_lock);
	log->sealed = 0;
	pthread_mutex_unlock(&log->append_lock);
}

/* fdatasyncs s whole and records in its header that its first `count`
 * index entries are durable; 0 or -errno. */
static int seg_sync(struct kfs_seglog *log, struct seg *s, uint64_t count)
{
	int rc;

	if (fdatasync(s->log_fd) < 0 || fdatasync(s->idx_fd) < 0) {
		rc = -errno;
		kfs_err("%s: fdatasync: %s", log->dir, strerror(-rc));
		return rc;
	}
	return seg_note_synced(log, s, count);
}

int kfs_seglog_sync(struct kfs_seglog *log)
{
	struct seg *t, *old, *u;
	uint64_t count, next;
	int rc = 0;

	/* The segments rotated away from, then the tail, as of one moment:
	 * after that everything below `next` is durable. */
	pthread_mutex_lock(&log->state_lock);
	t = log->tail;
	seg_ref(t);
	count = t->n_ent;
	next = log->next;
	old = log->unsynced;
	log->unsynced = NULL;
	pthread_mutex_unlock(&log->state_lock);

	while ((u = old) && rc == 0) {
		rc = seg_sync(log, u, seg_entries(log, u));
		if (rc < 0)
			break;
		old = u->unsynced_next;
		seg_unref(u);
	}
	if (rc == 0)
		rc = seg_sync(log, t, count);
	seg_unref(t);
	/* What failed and what is left waits for the next sync. */
	pthread_mutex_lock(&log->state_lock);
	while ((u = old)) {
		old = u->unsynced_next;
		u->unsynced_next = log->unsynced;
		log->unsynced = u;
	}
	if (rc == 0 && next > log->synced_next)
		log->synced_next = next;
	pthread_mutex_unlock(&log->state_lock);
	return rc;
}

int kfs_seglog_dirty(struct kfs_seglog *log)
{
	int dirty;

	pthread_mutex_lock(&log->state_lock);
	dirty = log->next > log->synced_next;
	pthread_mutex_unlock(&log->state_lock);
	return dirty;
}

uint64_t kfs_seglog_next(struct kfs_seglog *log)
{
	uint64_t next;

	pthread_mutex_lock(&log->state_lock);
	next = log->next;
	pthread_mutex_unlock(&log->state_lock);
	return next;
}

size_t kfs_seglog_segments(struct kfs_seglog *log)
{
	size_t n;

	pthread_mutex_lock(&log->state_lock);
	n = log->n_segs;
	pthread_mutex_unlock(&log->state_lock);
	return n;
}

/* ---- lookups ---------------------------------------------------------- */

/* Index of the segment holding counter *c, with *c moved up to the next
 * existing record when it falls before the first segment or in a gap.
 * Returns n_segs when *c is at or past the tip.  state_lock held. */
static size_t locate_locked(struct kfs_seglog *log, uint64_t *c)
{
	size_t lo = 0, hi = log->n_segs;

	if (*c < log->segs[0]->first)
		*c = log->segs[0]->first;
	/* Last segment whose first <= *c. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->first <= *c)
			lo = mid;
		else
			hi = mid;
	}
	for (; lo < log->n_segs; lo++) {
		struct seg *s = log->segs[lo];
		if (*c < s->first)
			*c = s->first;
		if (*c < s->first + s->count)
			return lo;
	}
	if (*c < log->next)
		*c = log->next;
	return log->n_segs;
}

int kfs_seglog_find_time(struct kfs_seglog *log, uint64_t from, int64_t ts_ms,
			 uint64_t *out)
{
	struct seg *s = NULL;
	uint64_t c = from, lo, hi;
	struct ientry e;
	size_t k;
	int rc;

	pthread_mutex_lock(&log->state_lock);
	k = locate_locked(log, &c);
	for (; k < log->n_segs; k++) {
		struct seg *x = log->segs[k];
		if (c < x->first)
			c = x->first;
		if (x->count && c < x->first + x->count && x->last_arrival >= ts_ms) {
			s = x;
			break;
		}
	}
	if (!s) {
		*out = log->next > c ? log->next : c;
		pthread_mutex_unlock(&log->state_lock);
		return 0;
	}
	seg_ref(s);
	hi = s->n_ent - 1; /* its arrival is >= ts_ms */
	pthread_mutex_unlock(&log->state_lock);

	/* The usual answer is the first candidate itself.  (Entries are of
	 * records, or of frames whose records all arrived at once.) */
	if ((rc = entry_find(log, s, c, &lo, &e)) < 0)
		goto out;
	if (e.arrival_ms < ts_ms) {
		lo++;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if ((rc = entry_read(log, s, mid, &e)) < 0)
				goto out;
			if (e.arrival_ms >= ts_ms)
				hi = mid;
			else
				lo = mid + 1;
		}
		if ((rc = entry_read(log, s, lo, &e)) < 0)
			goto out;
		c = e.first;
	}
	*out = c;
	rc = 0;
out:
	seg_unref(s);
	return rc;
}

int kfs_seglog_trim_horizon(struct kfs_seglog *log, int64_t cutoff_ms,
			    uint64_t *out)
{
	uint64_t floor, c;
	int rc;

	pthread_mutex_lock(&log->state_lock);
	floor = log->trim_floor;
	pthread_mutex_unlock(&log->state_lock);
	rc = kfs_seglog_find_time(log, floor, cutoff_ms, &c);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&log->state_lock);
	if (c > log->trim_floor)
		log->trim_floor = c;
	*out = log->trim_floor;
	pthread_mutex_unlock(&log->state_lock);
	return 0;
}

int kfs_seglog_bytes_before(struct kfs_seglog *log, uint64_t counter,
			    enum kfs_framing f, uint64_t *out)
{
	struct seg *s;
	uint64_t c = counter, i;
	size_t k;
	int rc;

	pthread_mutex_lock(&log->state_lock);
	k = locate_locked(log, &c);
	if (k == log->n_segs) {
		*out = log->segs[log->n_segs - 1]->end[f];
		pthread_mutex_unlock(&log->state_lock);
		return 0;
	}
	s = log->segs[k];
	i = c - s->first;
	if (i == 0) {
		*out = s->base[f];
		pthread_mutex_unlock(&log->state_lock);
		return 0;
	}
	seg_ref(s);
	pthread_mutex_unlock(&log->state_lock);
	rc = seg_cum_before(log, s, i, f, out);
	seg_unref(s);
	return rc;
}

int kfs_seglog_find_byte(struct kfs_seglog *log, enum kfs_framing f,
			 uint64_t pos, uint64_t *counter_out,
			 uint64_t *start_out)
{
	struct seg *s = NULL;
	uint64_t lo, hi;
	struct ientry e;
	int rc;

	pthread_mutex_lock(&log->state_lock);
	for (size_t lo_s = 0, hi_s = log->n_segs; lo_s < hi_s;) {
		/* First segment whose end is past pos. */
		size_t mid = lo_s + (hi_s - lo_s) / 2;
		if (log->segs[mid]->end[f] > pos) {
			s = log->segs[mid];
			hi_s = mid;
		} else {
			lo_s = mid + 1;
		}
	}
	if (!s || !s->count) {
		struct seg *t = log->segs[log->n_segs - 1];
		*counter_out = log->next;
		*start_out = t->end[f];
		if (s && !s->count) /* only when bytes are inconsistent */
			*start_out = s->base[f];
		pthread_mutex_unlock(&log->state_lock);
		return 0;
	}
	seg_ref(s);
	lo = 0;
	hi = s->n_ent - 1;
	pthread_mutex_unlock(&log->state_lock);

	/* First entry whose end is past pos. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((rc = entry_read(log, s, mid, &e)) < 0)
			goto out;
		if (e.cum[f] + s->adj[f] > pos)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (s->ver == 1) {
		*counter_out = s->first + lo;
		rc = seg_cum_before(log, s, lo, f, start_out);
	} else {
		/* Then the record of that frame. */
		struct fview fv;
		unsigned char *head;
		uint64_t at;
		uint32_t j;

		if ((rc = entry_read(log, s, lo, &e)) < 0)
			goto out;
		if (e.count == 1) {
			/* One record, maybe a KPL aggregated one, whose bytes
			 * rendered are not its table's: it starts where the
			 * entry before ends. */
			*counter_out = e.first;
			rc = seg_cum_before(log, s, e.first - s->first, f, start_out);
			goto out;
		}
		if ((rc = frame2_read_head(log, s, &e, &head, &fv)) < 0)
			goto out;
		at = e.cum[f] + s->adj[f] - (f == KFS_FRAMING_LINE ? fv.line_len : fv.data_len);
		for (j = 0; j + 1 < e.count; j++) {
			uint64_t l = table_len(get32(fv.table + 4 * (size_t)j), f);
			if (at + l > pos)
				break;
			at += l;
		}
		free(head);
		*counter_out = e.first + j;
		*start_out = at;
	}
out:
	seg_unref(s);
	return rc;
}

int kfs_seglog_stat(struct kfs_seglog *log, int64_t cutoff_ms,
		    struct kfs_seglog_stat *out)
{
	uint64_t next = kfs_seglog_next(log), first, a, b;
	int rc;

	if ((rc = kfs_seglog_trim_horizon(log, cutoff_ms, &first)) < 0)
		return rc;
	if (first > next) /* appended meanwhile */
		next = first;
	out->first = first;
	out->next = next;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		if ((rc = kfs_seglog_bytes_before(log, first, (enum kfs_framing)f, &a)) < 0 ||
		    (rc = kfs_seglog_bytes_before(log, next, (enum kfs_framing)f, &b)) < 0)
			return rc;
		out->bytes[f] = b - a;
	}
	out->newest_arrival_ms = -1;
	if (next > first) {
		pthread_mutex_lock(&log->state_lock);
		for (size_t k = log->n_segs; k-- > 0;) {
			struct seg *s = log->segs[k];
			if (s->count && s->first < next) {
				if (s->first + s->count > first)
					out->newest_arrival_ms = s->last_arrival;
				break;
			}
		}
		pthread_mutex_unlock(&log->state_lock);
	}
	return 0;
}

/* ---- reading ---------------------------------------------------------- */

/* Room for `want` records in out; exactly that many when `exact`, else
 * doubling. */
static int records_grow(struct kfs_get_result *out, size_t *cap, size_t want,
			int exact)
{
	struct kfs_record *v;
	size_t nc;

	if (want <= *cap)
		return 0;
	nc = *cap ? *cap : 16;
	while (nc < want)
		nc *= 2;
	if (exact)
		nc = want;
	v = realloc(out->records, nc * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->records = v;
	*cap = nc;
	return 0;
}

/* Entry i of s, decoded, without a log line when it is corrupt (the
 * caller falls back to entries_read_some, which says so). */
static int entry_peek(struct seg *s, uint64_t i, struct ientry *e)
{
	unsigned char buf[IDX_ENTRY2];
	size_t es = ent_size(s);

	if (kfs_pread_full(s->idx_fd, buf, es, IDX_HDR + i * es) < 0 ||
	    entry_usable(s, buf, i, e) < 0)
		return -EIO;
	return 0;
}

/*
 * Where a pass of kfs_seglog_read over records i .. i+*k-1 of s starts
 * and ends: the index entries of its first and its last record (*e0,
 * *e1).  The records between are back to back in the .log, so the pass
 * walks them by their own lengths and reads no other entry.  When the
 * last entry is corrupt or out of place, *k shrinks to the valid entries
 * that lead the pass (at most ENTRY_CHUNK).  0 or -EIO (the first entry
 * is corrupt; logged).
 */
static int read_bounds(struct kfs_seglog *log, struct seg *s, uint64_t i,
		       size_t *k, struct ientry *e0, struct ientry *e1)
{
	struct ientry ev[ENTRY_CHUNK];
	int rc;

	if (entry_read(log, s, i, e0) < 0)
		return -EIO;
	*e1 = *e0;
	if (*k == 1 || (entry_peek(s, i + *k - 1, e1) == 0 && e1->off > e0->off))
		return 0;
	rc = entries_read_some(log, s, i, *k < ENTRY_CHUNK ? *k : ENTRY_CHUNK, ev);
	if (rc < 0)
		return rc;
	*k = (size_t)rc;
	*e1 = ev[rc - 1];
	return 0;
}

/*
 * A pass of kfs_seglog_read over the frames of version 2 segment s, from
 * record *c on: the entries of up to ENTRY_CHUNK frames that follow each
 * other within READ_SPAN_MAX bytes (or the first frame, whatever its
 * size), their frames read with one pread and each checked whole, then
 * their records from *c on.  *c, *got and *bytes move past the records
 * served; *budget_hit is set when max_bytes stopped the pass.  0, or
 * -EIO (logged) when the first frame it reaches is damaged, -ENOMEM.
 */
static int read_pass2(struct kfs_seglog *log, struct seg *s, uint64_t *c,
		      size_t max_records, size_t max_bytes, size_t *bytes,
		      size_t *got, struct kfs_get_result *out, size_t *cap,
		      void (*seq_fn)(void *ctx, uint64_t counter,
				     int64_t arrival_ms, char *seq),
		      void *ctx, size_t *budget_hit)
{
	struct ientry ev[ENTRY_CHUNK];
	uint64_t k, n_ent, span = 0, want = 0;
	size_t kk, m;
	unsigned char *buf, *p;
	int rc;

	if ((rc = entry_find(log, s, *c, &k, &ev[0])) < 0)
		return rc;
	n_ent = seg_entries(log, s);
	kk = n_ent - k < ENTRY_CHUNK ? (size_t)(n_ent - k) : ENTRY_CHUNK;
	/* No more entries than needed (a key's run: often the first). */
	if (ev[0].count - (*c - ev[0].first) >= max_records - *got)
		kk = 1;
	else if (kk > max_records - *got)
		kk = max_records - *got;
	if (kk > 1) {
		rc = entries_read_some(log, s, k, kk, ev);
		if (rc < 0)
			return rc;
		kk = (size_t)rc;
	}
	for (m = 0; m < kk; m++) {
		uint64_t end = ev[m].off + FRAME_HDR + ev[m].len - ev[0].off;

		if (m > 0 && (end > READ_SPAN_MAX ||
			      ev[m].off != ev[m - 1].off + FRAME_HDR + ev[m - 1].len))
			break;
		span = end;
		want += ev[m].count - (m == 0 ? *c - ev[0].first : 0);
		if (want >= max_records - *got) {
			m++;
			break;
		}
	}
	kk = m;
	if (want > max_records - *got)
		want = max_records - *got;
	buf = span <= SIZE_MAX - sizeof(struct kfs_block)
	      ? kfs_get_result_block(out, (size_t)span) : NULL;
	if (!buf)
		return -ENOMEM;
	rc = kfs_pread_full(s->log_fd, buf, span, ev[0].off);
	if (rc == 0)
		rc = records_grow(out, cap, out->n + want, 0);
	if (rc < 0) {
		kfs_err("%s: reading segment %016" PRIx64 ": %s", log->dir,
			s->first, strerror(-rc));
		return rc;
	}
	p = buf;
	for (m = 0; m < kk && *got < max_records && !*budget_hit; m++) {
		struct fview f;
		unsigned char *data;
		char *key;
		uint32_t j;

		if (frame2_parse(p, (size_t)(buf + span - p), &f) < 0 ||
		    f.first != ev[m].first || f.count != ev[m].count ||
		    f.len != ev[m].len ||
		    (m == 0 ? *c < f.first || *c - f.first >= f.count : *c != f.first)) {
			if (__atomic_exchange_n(&log->bad_logged, *c,
						__ATOMIC_RELAXED) != *c)
				kfs_err("%s: record %" PRIu64 " in segment %016"
					PRIx64 " fails its checksum (the frame of "
					"records %" PRIu64 " to %" PRIu64 ")", log->dir,
					*c, s->first, ev[m].first,
					ev[m].first + ev[m].count - 1);
			return -EIO;   /* what was served before stays */
		}
		/* The key moves one byte back, over the last byte of the
		 * data's checksum (checked already), and ends with a NUL
		 * where its last byte was: the table after it stays. */
		key = (char *)p + FRAME2_HDR - 1;
		memmove(key, f.key, f.key_len);
		key[f.key_len] = '\0';
		data = p + f.head;
		for (j = 0; j < f.count; j++) {
			uint32_t l = get32(f.table + 4 * (size_t)j) & ~LEN_NL;
			struct kfs_record *r;

			if (f.first + j < *c) {
				data += l;
				continue;
			}
			if (*got >= max_records)
				break;
			if (*bytes + f.key_len + l > max_bytes && *got > 0) {
				*budget_hit = 1;
				break;
			}
			*bytes += f.key_len + l;
			r = &out->records[out->n];
			r->key = key;
			r->data = data;
			r->len = l;
			r->arrival_ms = f.arrival_ms;
			r->ehk = NULL;
			r->sub_seq = 0;
			r->user = 0;
			seq_fn(ctx, *c, f.arrival_ms, r->seq);
			out->n++;
			(*got)++;
			(*c)++;
			data += l;
		}
		p += FRAME_HDR + f.len;
	}
	return 0;
}

int kfs_seglog_read(struct kfs_seglog *log, uint64_t from, size_t max_records,
		    size_t max_bytes,
		    void (*seq_fn)(void *ctx, uint64_t counter,
				   int64_t arrival_ms, char *seq),
		    void *ctx,
		    struct kfs_get_result *out, uint64_t *next_out)
{
	struct kfs_block *blocks0 = out->blocks;
	size_t cap = out->n, got = 0, bytes = 0;
	uint64_t c = from;
	int rc = 0;

	while (got < max_records) {
		struct seg *s;
		struct ientry e0, e1;
		uint64_t i, avail, span, to_tip;
		size_t k, m, budget_hit = 0;
		unsigned char *buf, *p, *end;

		pthread_mutex_lock(&log->state_lock);
		k = locate_locked(log, &c);
		if (k == log->n_segs) {
			pthread_mutex_unlock(&log->state_lock);
			break;
		}
		s = log->segs[k];
		seg_ref(s);
		i = c - s->first;
		avail = s->count - i;
		to_tip = log->next - c;
		pthread_mutex_unlock(&log->state_lock);

		/* Room for all the records up to the tip (or the limit) at
		 * once: growing by doubling would copy them over and over. */
		if (got == 0 &&
		    records_grow(out, &cap, out->n + (to_tip < max_records
						      ? (size_t)to_tip
						      : max_records), 1) < 0) {
			seg_unref(s);
			rc = -ENOMEM;
			break;
		}

		if (s->ver == 2) {
			size_t before = got;

			rc = read_pass2(log, s, &c, max_records, max_bytes, &bytes,
					&got, out, &cap, seq_fn, ctx, &budget_hit);
			seg_unref(s);
			if (rc < 0 || budget_hit || got == before)
				break;
			continue;
		}
		k = avail < READ_CHUNK ? (size_t)avail : READ_CHUNK;
		if (k > max_records - got)
			k = max_records - got;
		rc = read_bounds(log, s, i, &k, &e0, &e1);
		if (rc < 0) {
			seg_unref(s);
			break;
		}
		/* The records are read into a block of the result, which
		 * their key and data then point into: no copy of them.  A
		 * pass reads at most READ_SPAN_MAX bytes (or its first
		 * record); the records past them are the next pass's. */
		span = e1.off + FRAME_HDR + e1.len - e0.off;
		if (span > READ_SPAN_MAX)
			span = READ_SPAN_MAX;
		if (span < FRAME_HDR + (uint64_t)e0.len)
			span = FRAME_HDR + (uint64_t)e0.len;
		buf = span <= SIZE_MAX - sizeof(struct kfs_block)
		      ? kfs_get_result_block(out, (size_t)span) : NULL;
		if (!buf) {
			seg_unref(s);
			rc = -ENOMEM;
			break;
		}
		rc = kfs_pread_full(s->log_fd, buf, span, e0.off);
		if (rc == 0)
			rc = records_grow(out, &cap, out->n + k, 0);
		if (rc < 0) {
			kfs_err("%s: reading segment %016" PRIx64 ": %s", log->dir,
				s->first, strerror(-rc));
			seg_unref(s);
			break;
		}
		p = buf;
		end = buf + span;
		for (m = 0; m < k; m++) {
			struct kfs_record *r = &out->records[out->n];
			struct rview rv;
			uint32_t len;
			int fits;
			char *key;

			if (m == k - 1 && m > 0 && e0.off + (uint64_t)(p - buf) != e1.off) {
				kfs_err("%s: index entry %" PRIu64 " of segment %016"
					PRIx64 " is out of place", log->dir, i + m,
					s->first);
				break; /* the next call reports it */
			}
			if ((size_t)(end - p) < FRAME_HDR)
				break;
			len = get32(p);
			fits = (size_t)(end - p) - FRAME_HDR >= len;
			if (!fits && m > 0 && len <= BODY_MAX)
				break; /* past this pass's bytes */
			if (!fits || rec_parse(p, len, &rv) < 0 || rv.counter != c ||
			    (m == 0 && len != e0.len) ||
			    (m == k - 1 && len != e1.len)) {
				if (__atomic_exchange_n(&log->bad_logged, c,
							__ATOMIC_RELAXED) != c)
					kfs_err("%s: record %" PRIu64 " in segment %016"
						PRIx64 " fails its checksum", log->dir,
						c, s->first);
				rc = -EIO;
				break;
			}
			if (bytes + (len - BODY_HDR) > max_bytes && got > 0) {
				budget_hit = 1;
				break;
			}
			bytes += len - BODY_HDR;
			/* The key moves one byte back, over the high byte of
			 * key_len (checked and parsed already), so that it
			 * ends with a NUL where its last byte was: the data
			 * after it stays in place. */
			key = (char *)p + FRAME_HDR + BODY_HDR - 1;
			memmove(key, rv.key, rv.key_len);
			key[rv.key_len] = '\0';
			r->key = key;
			r->data = p + FRAME_HDR + BODY_HDR + rv.key_len;
			r->len = rv.data_len;
			r->arrival_ms = rv.arrival_ms;
			r->ehk = NULL;
			r->sub_seq = 0;
			r->user = 0;
			seq_fn(ctx, c, rv.arrival_ms, r->seq);
			out->n++;
			got++;
			c++;
			p += FRAME_HDR + len;
		}
		seg_unref(s);
		if (rc < 0 || budget_hit || m == 0)
			break;
	}
	if (got == 0) {
		/* Nothing read: the blocks of this call hold nothing. */
		while (out->blocks != blocks0) {
			struct kfs_block *b = out->blocks;
			out->blocks = b->next;
			free(b);
		}
	}
	*next_out = c;
	/* What was read before an error is returned; the error comes back
	 * on the next call, which starts at the bad record. */
	return got > 0 ? 0 : rc;
}

/* ---- retention -------------------------------------------------------- */

int kfs_seglog_purge(struct kfs_seglog *log, int64_t cutoff_ms)
{
	struct seg *gone[64];
	size_t n = 0;

	pthread_mutex_lock(&log->state_lock);
	while (n < 64 && log->n_segs > 1) {
		struct seg *s = log->segs[0];
		if (s->count && s->last_arrival >= cutoff_ms)
			break;
		gone[n++] = s;
		memmove(log->segs, log->segs + 1, (log->n_segs - 1) * sizeof(*log->segs));
		log->n_segs--;
	}
	if (log->trim_floor < log->segs[0]->first)
		log->trim_floor = log->segs[0]->first;
	pthread_mutex_unlock(&log->state_lock);

	for (size_t i = 0; i < n; i++) {
		char name[32];
		/* .log first: an .idx left alone is removed on open. */
		seg_name(name, sizeof(name), gone[i]->first, "log");
		if (unlinkat(log->dir_fd, name, 0) < 0)
			kfs_warn("%s/%s: %s", log->dir, name, strerror(errno));
		seg_name(name, sizeof(name), gone[i]->first, "idx");
		unlinkat(log->dir_fd, name, 0);
		kfs_debug("%s: segment %016" PRIx64 " past retention removed",
			  log->dir, gone[i]->first);
		seg_unref(gone[i]);
	}
	return (int)n;
}
