/*
 * seglog.h - one shard's append-only, segmented, checksummed log.
 *
 * A seglog is a directory of segment files (layout in seglog.c).  Each
 * record gets the next value of a per-shard counter, starting at 0; the
 * engine turns counters into sequence numbers.  Records are read back by
 * counter, by arrival time or by byte offset of the shard rendered as a
 * file, always through the index: nothing loads a whole shard in memory.
 *
 * Thread safety: every function may be called from many threads at once,
 * except kfs_seglog_close(), which must be the last call.  Appends are
 * serialized per log; reads never wait for an append's disk write.
 */
#ifndef KFS_SEGLOG_H
#define KFS_SEGLOG_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

#define KFS_SEGLOG_SEGMENT_BYTES_DEFAULT ((uint64_t)64 * 1024 * 1024)
/* Counters reserved at a time (see kfs_seglog_append), and the most
 * records one append takes. */
#define KFS_SEGLOG_RESERVE_BLOCK (1 << 20)
/* How far past what the files show an unreadable reservation is taken to
 * be.  Reservations are raised without syncing the records (only the
 * header is made durable), so a power cut may leave far fewer records
 * than counters handed out; 2^32 is more than any unsynced backlog. */
#define KFS_SEGLOG_RESERVE_UNKNOWN ((uint64_t)1 << 32)

struct kfs_seglog;

/* One record to append; everything is borrowed for the call. */
struct kfs_seglog_in {
	const void *key;      /* partition key bytes */
	size_t key_len;       /* 0 to KFS_KEY_MAX */
	const void *data;     /* record data */
	size_t len;           /* data bytes, at most KFS_RECORD_LIMIT_MAX */
};

/* What kfs_seglog_stat() reports about the retained records. */
struct kfs_seglog_stat {
	uint64_t first;             /* counter of the first retained record */
	uint64_t next;              /* counter the next append gets */
	uint64_t bytes[KFS_FRAMING_COUNT]; /* retained bytes per framing */
	int64_t newest_arrival_ms;  /* of the newest retained record, or -1 */
};

/* Formats of segment files (seglog.c): 1 stores each record with its
 * own header and index entry; 2 stores the records of one key appended
 * together as a frame (one header, the key once, a length per record)
 * with one index entry.  A log may hold segments of both; each new
 * segment gets the log's format. */
#define KFS_SEGLOG_FORMAT_DEFAULT 2

/* Creates the first, empty segment of a new log in the existing directory
 * dir_fd (files 0600), durably (fdatasync, then fsync of the directory),
 * in `format` (1, 2, or 0 for the default). */
int kfs_seglog_create(int dir_fd, uint64_t first_counter, int format);

/*
 * Opens the log in `dir`, recovering its tail: index entries written
 * since the last sync are checked against the log, missing ones rebuilt
 * from it, and a torn or corrupt log tail is truncated to the last valid
 * record (logged with kfs_warn); one synced record that fails while the
 * records after it check out is kept in place instead, reads of it
 * failing with -EIO (logged with kfs_err).  Counters the lost records may have had
 * are never given again, even when no byte of them is left: the next
 * counter is past what the files show and past the durable reservation
 * (see kfs_seglog_append), which after anything but a clean close
 * (kfs_seglog_unreserve) leaves a gap that reads skip.  Only tails are
 * read, never whole logs.
 * segment_bytes: size at which a new segment starts (0: the default).
 * format: of the segments it starts (1, 2, or 0 for the default); those
 * there stay as they are, whatever their format.
 * On success *out is the caller's, freed with kfs_seglog_close().
 */
int kfs_seglog_open(const char *dir, uint64_t segment_bytes, int format,
		    struct kfs_seglog **out);

/* Closes the files and frees the log; NULL is a no-op.  Does not sync,
 * nor give back the reservation: see kfs_seglog_unreserve(). */
void kfs_seglog_close(struct kfs_seglog *log);

/*
 * Appends n records with one write at the tail (then their index
 * entries).  They get the counters *first_out .. *first_out + n - 1 and
 * the arrival time *arrival_out = max(now_ms, previous arrival), so that
 * arrival times never decrease within a log.  All or nothing: on error
 * (-ENOSPC, -EIO, ...) the files are cut back to the previous tail.
 * -ENOSPC too when the counters are used up (next would pass 2^64 - 1).
 * After kfs_seglog_seal() it gives -ESHUTDOWN; n is 1 to
 * KFS_SEGLOG_RESERVE_BLOCK, else -EINVAL.
 * Counters are handed out only below a reservation made durable first:
 * when the batch would pass it, the append reserves the next
 * KFS_SEGLOG_RESERVE_BLOCK counters (one fdatasync of the .idx), so that
 * a power cut losing the records whole cannot make an open give their
 * counters again.  Appends never sync the records themselves.
 */
int kfs_seglog_append(struct kfs_seglog *log, const struct kfs_seglog_in *v,
		      size_t n, int64_t now_ms, uint64_t *first_out,
		      int64_t *arrival_out);

/* Refuses further appends; *end_out is the counter after the last
 * record.  Idempotent. */
void kfs_seglog_seal(struct kfs_seglog *log, uint64_t *end_out);

/* Takes back kfs_seglog_seal() (when the change that sealed the log
 * could not be committed). */
void kfs_seglog_unseal(struct kfs_seglog *log);

/* fdatasync of what was appended since the last sync.  0 or -errno. */
int kfs_seglog_sync(struct kfs_seglog *log);

/*
 * A clean close, before kfs_seglog_close() (or on sealing): syncs, then
 * gives back the reserved counters past kfs_seglog_next(), durably, so
 * that the next open goes on from there without a gap.  A later append
 * reserves again.  Nothing to do (no disk access) when already done.
 * 0 or -errno (logged; the reservation then stays, and the next open
 * skips to it).
 */
int kfs_seglog_unreserve(struct kfs_seglog *log);

/* 1 when records were appended since the last kfs_seglog_sync(). */
int kfs_seglog_dirty(struct kfs_seglog *log);

/* The counter the next append gets. */
uint64_t kfs_seglog_next(struct kfs_seglog *log);

/*
 * The trim horizon for records older than cutoff_ms: the first record
 * whose arrival is >= cutoff_ms, or kfs_seglog_next() when none.  It never
 * moves back, even when the cutoff does (retention raised).
 */
int kfs_seglog_trim_horizon(struct kfs_seglog *log, int64_t cutoff_ms,
			    uint64_t *out);

/* The first counter >= from whose arrival is >= ts_ms (next when none). */
int kfs_seglog_find_time(struct kfs_seglog *log, uint64_t from, int64_t ts_ms,
			 uint64_t *out);

/* Bytes, rendered with f, of every record before `counter` since the log
 * began: an absolute position (differences are what callers use). */
int kfs_seglog_bytes_before(struct kfs_seglog *log, uint64_t counter,
			    enum kfs_framing f, uint64_t *out);

/*
 * The record holding absolute byte `pos` (same scale as
 * kfs_seglog_bytes_before) with f: its counter and the absolute position
 * of its first byte.  pos at or past the end gives next and the end.
 */
int kfs_seglog_find_byte(struct kfs_seglog *log, enum kfs_framing f,
			 uint64_t pos, uint64_t *counter_out,
			 uint64_t *start_out);

/* Trim horizon, tip, retained bytes and newest arrival, for cutoff_ms. */
int kfs_seglog_stat(struct kfs_seglog *log, int64_t cutoff_ms,
		    struct kfs_seglog_stat *out);

/*
 * Reads records from counter `from` on (skipping counters lost to
 * retention or corruption) into out->records / out->n, appending to what
 * out holds: at most max_records and max_bytes of key + data, but at least
 * one record when there is one.  seq_fn writes each record's sequence
 * number (the engine alone knows the shard's identity).  Every record's
 * checksum is verified.
 * *next_out is the counter after the last record read (or where reading
 * would resume).  A record failing its checksum gives -EIO (logged) when
 * nothing was read before it.  The records' keys and data are in blocks
 * of out (kfs_get_result_block), so out must hold no records that own
 * theirs; all is freed with kfs_get_result_clear().
 */
int kfs_seglog_read(struct kfs_seglog *log, uint64_t from, size_t max_records,
		    size_t max_bytes,
		    void (*seq_fn)(void *ctx, uint64_t counter,
				   int64_t arrival_ms, char *seq),
		    void *ctx,
		    struct kfs_get_result *out, uint64_t *next_out);

/* Deletes the segments (never the one being appended to) whose every
 * record arrived before cutoff_ms.  Returns how many, or -errno. */
int kfs_seglog_purge(struct kfs_seglog *log, int64_t cutoff_ms);

/* Number of segment files in use (for tests and diagnostics). */
size_t kfs_seglog_segments(struct kfs_seglog *log);

#endif
