/* options.h - the command line (SPEC section 1). */
#ifndef KFS_OPTIONS_H
#define KFS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"

#define KFS_POLL_MS_DEFAULT 1000
#define KFS_STOP_TIMEOUT_DEFAULT 30 /* s: -o stop_timeout */
#define KFS_READ_BUFFER_DEFAULT (32u << 20) /* -o read_buffer */
#define KFS_READ_BUFFER_MIN (1u << 20)
#define KFS_POLL_MS_MIN 200      /* the service's 5 reads a second a shard */
/* -o segment_bytes: small segments are for tests and small devices (a
 * retention pass frees disk by whole segments); below 64 KiB a segment
 * would hold a few records and the files would multiply, past 1 GiB one
 * segment kept whole for a day would be too much disk. */
#define KFS_SEGMENT_BYTES_MIN 65536L
#define KFS_SEGMENT_BYTES_MAX 1073741824L

struct fuse_args;

/* Every -o option of kinesisfs; strings are owned (freed by
 * kfs_options_free).  Unknown options are left in the args for FUSE. */
struct kfs_options {
	char *backend;           /* "local" or "aws" */
	char *data_dir;          /* local engine's directory */
	char *state_dir;         /* named readers' state (NULL: the default) */
	char *region;            /* AWS region */
	char *endpoint;          /* Kinesis endpoint URL */
	char *profile;           /* AWS profile */
	char *shards_s;          /* shard count for mkdir, as given */
	char *record_s;          /* "line" or "write", as given */
	char *linger_s;          /* linger_ms, as given */
	int aggregate;           /* -o aggregate: KPL aggregation */
	int spread;              /* -o spread: over the shards */
	char *agg_max_bytes_s;   /* aggregate_max_bytes, as given */
	char *agg_linger_s;      /* aggregate_linger_ms, as given */
	char *max_record_s;      /* max_record_size, as given */
	char *poll_s;            /* poll_ms, as given */
	char *read_buffer_s;     /* read_buffer, as given */
	int fanout;              /* -o fanout: enhanced fan-out */
	char *fanout_name;       /* -o fanout=NAME: its consumer's name */
	int fanout_deregister;   /* -o fanout_deregister */
	char *log_format_s;      /* log_format, as given */
	char *segment_bytes_s;   /* segment_bytes, as given */
	char *ca_bundle;         /* CA certificates for TLS, PEM file */
	int allow_other;         /* FUSE's allow_other (given back to FUSE) */
	int allow_root;          /* FUSE's allow_root (given back to FUSE) */
	int no_default_permissions; /* the kernel does not check modes */
	char *timeout_s;         /* timeout_ms, as given */
	char *stop_timeout_s;    /* stop_timeout, as given */
	int allow_delete;        /* rmdir deletes streams */
	int no_endpoint_check;   /* aws: no ListStreams at mount */
	int read_only;           /* -o read_only / ro: EROFS, kernel's ro too */
	char *uid_s;             /* owner shown on every node, as given */
	char *gid_s;             /* group shown on every node, as given */
	char *file_mode_s;       /* permission bits of files, as given */
	char *dir_mode_s;        /* permission bits of directories, as given */
	char *source;            /* SOURCE, the first of two arguments */
	char *mountpoint;        /* the last argument, given back to FUSE */
	int debug;               /* our debug log (-o debug) */
	int show_help;           /* --help / -h */
	int show_version;        /* --version / -V */

	/* Parsed and checked by kfs_options_check(): */
	int shards;              /* >= 1 */
	enum kfs_framing framing;
	int linger_ms;           /* >= 0 */
	size_t agg_max_bytes;    /* of one aggregated record */
	int agg_linger_ms;       /* >= 0 */
	size_t max_record_size;  /* data + key, up to 10 MiB */
	int poll_ms;             /* a follower at the tip looks this often */
	size_t read_buffer;      /* AWS: what the shards' pollers keep */
	int log_format;          /* local segment files started: 1, 2; 0 default */
	uint64_t segment_bytes;  /* local segment rotation size; 0 default */
	int timeout_ms;          /* one request's answer on AWS; 0: defaults */
	int stop_timeout_ms;     /* bound of a stop, from its signal */
	uid_t uid;               /* default: the mounting user's */
	gid_t gid;               /* default: the mounting user's group */
	mode_t file_mode;        /* default 0644 (views: without write bits) */
	mode_t dir_mode;         /* default 0755 */
};

/* Takes kinesisfs's options out of args (the rest stays for FUSE), and
 * the options mount(8) and systemd add that mean nothing here (noauto,
 * _netdev, x-systemd.*, ...).  Of two arguments the first is SOURCE
 * (kfs_options_check applies it) and the second the mountpoint, which
 * stays in args.  Returns 0, or -1 after printing why to stderr. */
int kfs_options_parse(struct fuse_args *args, struct kfs_options *o);
/* Fills defaults and checks values; prints one line per problem and
 * returns -1 when one is bad. */
int kfs_options_check(struct kfs_options *o);
/* Gives FUSE its mount options back, with default_permissions added
 * when the mount is shared (allow_other, allow_root) unless
 * no_default_permissions is given.  0, or -1 when out of memory. */
int kfs_options_fuse_args(const struct kfs_options *o, struct fuse_args *args);
/* The default data_dir for this user (SPEC section 1); caller frees. */
char *kfs_options_default_data_dir(void);
/* Where named readers keep their state (docs/reading.md): under
 * -o state_dir, else the local engine's data_dir, else (aws)
 * /var/lib/kinesisfs as root or $XDG_STATE_HOME/kinesisfs; caller frees,
 * NULL when out of memory. */
char *kfs_options_readers_dir(const struct kfs_options *o);
void kfs_options_usage(const char *prog);
void kfs_options_free(struct kfs_options *o);

#endif
