/* options.c - see options.h. */
#define FUSE_USE_VERSION 31
#include "options.h"

#include <errno.h>
#include <fuse.h>
#include <fuse_opt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend/kpl/agg.h"

#define KFS_OPT(t, p) { t, offsetof(struct kfs_options, p), 1 }

static const struct fuse_opt kfs_opt_spec[] = {
	KFS_OPT("backend=%s", backend),
	KFS_OPT("data_dir=%s", data_dir),
	KFS_OPT("state_dir=%s", state_dir),
	KFS_OPT("region=%s", region),
	KFS_OPT("endpoint=%s", endpoint),
	KFS_OPT("profile=%s", profile),
	KFS_OPT("shards=%s", shards_s),
	KFS_OPT("record=%s", record_s),
	KFS_OPT("linger_ms=%s", linger_s),
	KFS_OPT("aggregate", aggregate),
	KFS_OPT("spread", spread),
	KFS_OPT("aggregate_max_bytes=%s", agg_max_bytes_s),
	KFS_OPT("aggregate_linger_ms=%s", agg_linger_s),
	KFS_OPT("max_record_size=%s", max_record_s),
	KFS_OPT("poll_ms=%s", poll_s),
	KFS_OPT("read_buffer=%s", read_buffer_s),
	KFS_OPT("fanout", fanout),
	KFS_OPT("fanout=%s", fanout_name),
	KFS_OPT("fanout_deregister", fanout_deregister),
	KFS_OPT("log_format=%s", log_format_s),
	KFS_OPT("segment_bytes=%s", segment_bytes_s),
	KFS_OPT("ca_bundle=%s", ca_bundle),
	KFS_OPT("allow_other", allow_other),
	KFS_OPT("allow_root", allow_root),
	KFS_OPT("no_default_permissions", no_default_permissions),
	KFS_OPT("timeout_ms=%s", timeout_s),
	KFS_OPT("stop_timeout=%s", stop_timeout_s),
	KFS_OPT("allow_delete", allow_delete),
	KFS_OPT("no_endpoint_check", no_endpoint_check),
	KFS_OPT("read_only", read_only),
	KFS_OPT("ro", read_only),
	{ "rw", offsetof(struct kfs_options, read_only), 0 },
	KFS_OPT("uid=%s", uid_s),
	KFS_OPT("gid=%s", gid_s),
	KFS_OPT("file_mode=%s", file_mode_s),
	KFS_OPT("dir_mode=%s", dir_mode_s),
	KFS_OPT("debug", debug),
	KFS_OPT("--help", show_help),
	KFS_OPT("-h", show_help),
	KFS_OPT("--version", show_version),
	KFS_OPT("-V", show_version),
	FUSE_OPT_END
};

/* Options of mount(8), fstab and systemd that only they act on: a
 * mount through the helper or an fstab line gets them, FUSE knows none.
 * Those ending in '=' or '-' are prefixes. */
static const char *const kfs_mount_only_opts[] = {
	"defaults", "auto", "noauto", "_netdev", "nofail", "user", "nouser",
	"users", "owner", "comment=", "x-", NULL
};

/* fuse_opt_parse's callback: drops mount(8)'s options, keeps the
 * others for FUSE, and takes up to two arguments aside. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct kfs_options *o = data;

	if (key == FUSE_OPT_KEY_OPT) {
		for (int i = 0; kfs_mount_only_opts[i]; i++) {
			const char *m = kfs_mount_only_opts[i];
			size_t n = strlen(m);
			int prefix = m[n - 1] == '=' || m[n - 1] == '-';

			if (prefix ? strncmp(arg, m, n) == 0 : strcmp(arg, m) == 0)
				return 0;
		}
		return 1;
	}
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (o->source) {
		fprintf(stderr, "kinesisfs: %s: too many arguments: expected "
			"[SOURCE] MOUNTPOINT (see --help)\n", arg);
		return -1;
	}
	o->source = o->mountpoint;
	o->mountpoint = strdup(arg);
	if (!o->mountpoint) {
		fprintf(stderr, "kinesisfs: out of memory\n");
		return -1;
	}
	return 0;
}

int kfs_options_parse(struct fuse_args *args, struct kfs_options *o)
{
	memset(o, 0, sizeof(*o));
	if (fuse_opt_parse(args, o, kfs_opt_spec, opt_proc) == -1)
		return -1;
	/* fuse_parse_cmdline takes the mountpoint from args. */
	if (o->mountpoint && fuse_opt_add_arg(args, o->mountpoint) == -1)
		return -1;
	return 0;
}

/* Parses a whole number in base `base` in [min, max]; 0 or -1. */
static int parse_num(const char *name, const char *s, int base, long min,
		     long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, base);
	if (errno || end == s || *end || v < min || v > max) {
		if (base == 8)
			fprintf(stderr, "kinesisfs: -o %s=%s: expected an octal "
				"mode from 0 to %lo\n", name, s, max);
		else
			fprintf(stderr, "kinesisfs: -o %s=%s: expected a number "
				"from %ld to %ld\n", name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_long(const char *name, const char *s, long min, long max,
		      long *out)
{
	return parse_num(name, s, 10, min, max, out);
}

/* Sets *field from SOURCE, unless an -o option gave it another value. */
static int source_sets(char **field, const char *value, const char *name,
		       const char *source)
{
	if (*field && strcmp(*field, value) != 0) {
		fprintf(stderr, "kinesisfs: SOURCE %s and -o %s=%s disagree\n",
			source, name, *field);
		return -1;
	}
	if (!*field && !(*field = strdup(value))) {
		fprintf(stderr, "kinesisfs: out of memory\n");
		return -1;
	}
	return 0;
}

/*
 * SOURCE, the first of two arguments (the device field of mount(8) and
 * fstab): an absolute path is the local engine's data_dir, "aws" or
 * "aws:REGION" the AWS backend, "local" the local engine, "kinesisfs"
 * nothing (the options say all).  0, or -1 after saying why.
 */
static int apply_source(struct kfs_options *o)
{
	const char *s = o->source;

	if (!s || strcmp(s, "kinesisfs") == 0)
		return 0;
	if (strcmp(s, "local") == 0)
		return source_sets(&o->backend, "local", "backend", s);
	if (s[0] == '/')
		return source_sets(&o->backend, "local", "backend", s) == -1 ||
		       source_sets(&o->data_dir, s, "data_dir", s) == -1 ? -1 : 0;
	if (strcmp(s, "aws") == 0)
		return source_sets(&o->backend, "aws", "backend", s);
	if (strncmp(s, "aws:", 4) == 0 && s[4])
		return source_sets(&o->backend, "aws", "backend", s) == -1 ||
		       source_sets(&o->region, s + 4, "region", s) == -1 ? -1 : 0;
	fprintf(stderr, "kinesisfs: SOURCE %s: expected an absolute path (the "
		"local engine's data_dir), local, aws, aws:REGION or "
		"kinesisfs\n", s);
	return -1;
}

/*
 * Makes *path absolute against the working directory the command was run
 * from: the daemon moves to / once in the background, and a relative
 * data_dir or ca_bundle would then name another place.  0, or -1 after
 * saying why.
 */
static int absolute_path(char **path, const char *opt)
{
	char cwd[PATH_MAX], *abs;

	if (!*path || (*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "kinesisfs: -o %s=%s: cannot resolve it against "
			"the working directory: %s\n", opt, *path, strerror(errno));
		return -1;
	}
	if (asprintf(&abs, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, *path) == -1) {
		fprintf(stderr, "kinesisfs: out of memory\n");
		return -1;
	}
	free(*path);
	*path = abs;
	return 0;
}

/* uid=, gid=, file_mode=, dir_mode=; 0, or -1 when one is bad. */
static int check_owner(struct kfs_options *o)
{
	long uid = getuid(), gid = getgid(), fmode = 0644, dmode = 0755;
	/* (uid_t)-1 means "unchanged" to chown: not an owner.  Each is
	 * checked, so that every bad one is reported. */
	int bad = (o->uid_s &&
		   parse_num("uid", o->uid_s, 10, 0, 0xfffffffe, &uid)) |
		  (o->gid_s &&
		   parse_num("gid", o->gid_s, 10, 0, 0xfffffffe, &gid)) |
		  (o->file_mode_s &&
		   parse_num("file_mode", o->file_mode_s, 8, 0, 0777, &fmode)) |
		  (o->dir_mode_s &&
		   parse_num("dir_mode", o->dir_mode_s, 8, 0, 0777, &dmode));

	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	o->file_mode = (mode_t)fmode;
	o->dir_mode = (mode_t)dmode;
	return bad ? -1 : 0;
}

int kfs_options_fuse_args(const struct kfs_options *o, struct fuse_args *args)
{
	if (o->allow_other && fuse_opt_add_arg(args, "-oallow_other") == -1)
		return -1;
	if (o->allow_root && fuse_opt_add_arg(args, "-oallow_root") == -1)
		return -1;
	if (o->read_only && fuse_opt_add_arg(args, "-oro") == -1)
		return -1;
	/* A shared mount lets the kernel check owners and modes, as on a
	 * disk: others may read streams but not write or make them. */
	if ((o->allow_other || o->allow_root) && !o->no_default_permissions &&
	    fuse_opt_add_arg(args, "-odefault_permissions") == -1)
		return -1;
	return 0;
}

char *kfs_options_default_data_dir(void)
{
	const char *env = getenv("KINESISFS_DATA_DIR");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	char *out = NULL;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/kinesisfs");
	if (xdg && *xdg) {
		if (asprintf(&out, "%s/kinesisfs", xdg) < 0)
			return NULL;
		return out;
	}
	if (asprintf(&out, "%s/.local/share/kinesisfs", home ? home : ".") < 0)
		return NULL;
	return out;
}

char *kfs_options_readers_dir(const struct kfs_options *o)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int local = strcmp(o->backend, "local") == 0;
	char *out = NULL;
	int n;

	if (o->state_dir)
		n = asprintf(&out, "%s/%s", o->state_dir,
			     local ? "readers" : "aws-readers");
	else if (local)
		n = asprintf(&out, "%s/readers", o->data_dir);
	else if (geteuid() == 0)
		n = asprintf(&out, "/var/lib/kinesisfs/aws-readers");
	else if (xdg && *xdg)
		n = asprintf(&out, "%s/kinesisfs/aws-readers", xdg);
	else
		n = asprintf(&out, "%s/.local/state/kinesisfs/aws-readers",
			     home ? home : ".");
	return n < 0 ? NULL : out;
}

int kfs_options_check(struct kfs_options *o)
{
	int bad = 0;
	long v;

	if (apply_source(o) == -1 || check_owner(o) == -1)
		bad = 1;
	if (!o->backend)
		o->backend = strdup("local");
	if (strcmp(o->backend, "local") != 0 && strcmp(o->backend, "aws") != 0) {
		fprintf(stderr, "kinesisfs: -o backend=%s: expected local or aws\n",
			o->backend);
		bad = 1;
	}
	o->shards = 1;
	if (o->shards_s) {
		if (parse_long("shards", o->shards_s, 1, 1024, &v) == 0)
			o->shards = (int)v;
		else
			bad = 1;
	}
	o->framing = KFS_FRAMING_LINE;
	if (o->record_s) {
		if (strcmp(o->record_s, "line") == 0) {
			o->framing = KFS_FRAMING_LINE;
		} else if (strcmp(o->record_s, "write") == 0) {
			o->framing = KFS_FRAMING_WRITE;
		} else {
			fprintf(stderr, "kinesisfs: -o record=%s: expected line "
				"or write\n", o->record_s);
			bad = 1;
		}
	}
	o->linger_ms = 20;
	if (o->linger_s) {
		if (parse_long("linger_ms", o->linger_s, 0, 60000, &v) == 0)
			o->linger_ms = (int)v;
		else
			bad = 1;
	}
	o->agg_max_bytes = KFS_AGG_MAX_BYTES_DEFAULT;
	if (o->agg_max_bytes_s) {
		/* Room for the magic, the message's tables and the digest
		 * at the low end; one record's limit at the high end. */
		if (parse_long("aggregate_max_bytes", o->agg_max_bytes_s, 1024,
			       KFS_RECORD_LIMIT_DEFAULT - KFS_KEY_MAX, &v) == 0)
			o->agg_max_bytes = (size_t)v;
		else
			bad = 1;
	}
	o->agg_linger_ms = 100;
	if (o->agg_linger_s) {
		if (parse_long("aggregate_linger_ms", o->agg_linger_s, 0, 60000,
			       &v) == 0)
			o->agg_linger_ms = (int)v;
		else
			bad = 1;
	}
	o->max_record_size = KFS_RECORD_LIMIT_DEFAULT;
	if (o->max_record_s) {
		if (parse_long("max_record_size", o->max_record_s, 2,
			       KFS_RECORD_LIMIT_MAX, &v) == 0)
			o->max_record_size = (size_t)v;
		else
			bad = 1;
	}
	o->log_format = 0;   /* the engine's default */
	if (o->log_format_s) {
		if (parse_long("log_format", o->log_format_s, 1, 2, &v) == 0)
			o->log_format = (int)v;
		else
			bad = 1;
	}
	o->segment_bytes = 0;   /* the engine's default */
	if (o->segment_bytes_s) {
		if (parse_long("segment_bytes", o->segment_bytes_s,
			       KFS_SEGMENT_BYTES_MIN, KFS_SEGMENT_BYTES_MAX,
			       &v) == 0)
			o->segment_bytes = (uint64_t)v;
		else
			bad = 1;
	}
	o->poll_ms = KFS_POLL_MS_DEFAULT;
	if (o->poll_s) {
		if (parse_long("poll_ms", o->poll_s, KFS_POLL_MS_MIN, 60000,
			       &v) == 0)
			o->poll_ms = (int)v;
		else
			bad = 1;
	}
	o->read_buffer = KFS_READ_BUFFER_DEFAULT;
	if (o->read_buffer_s) {
		if (parse_long("read_buffer", o->read_buffer_s,
			       KFS_READ_BUFFER_MIN, 1L << 32, &v) == 0)
			o->read_buffer = (size_t)v;
		else
			bad = 1;
	}
	if (o->allow_other && o->allow_root) {
		fprintf(stderr, "kinesisfs: -o allow_other and -o allow_root "
			"exclude each other\n");
		bad = 1;
	}
	if (absolute_path(&o->ca_bundle, "ca_bundle") == -1)
		bad = 1;
	if (o->ca_bundle && access(o->ca_bundle, R_OK) != 0) {
		fprintf(stderr, "kinesisfs: -o ca_bundle=%s: %s\n", o->ca_bundle,
			strerror(errno));
		bad = 1;
	}
	o->timeout_ms = 0;
	if (o->timeout_s) {
		if (parse_long("timeout_ms", o->timeout_s, 100, 600000, &v) == 0)
			o->timeout_ms = (int)v;
		else
			bad = 1;
	}
	o->stop_timeout_ms = KFS_STOP_TIMEOUT_DEFAULT * 1000;
	if (o->stop_timeout_s) {
		if (parse_long("stop_timeout", o->stop_timeout_s, 1, 3600, &v) == 0)
			o->stop_timeout_ms = (int)v * 1000;
		else
			bad = 1;
	}
	if (!o->data_dir) {
		o->data_dir = kfs_options_default_data_dir();
		if (!o->data_dir) {
			fprintf(stderr, "kinesisfs: out of memory\n");
			bad = 1;
		}
	}
	if (absolute_path(&o->data_dir, "data_dir") == -1)
		bad = 1;
	if (o->state_dir && absolute_path(&o->state_dir, "state_dir") == -1)
		bad = 1;
	return bad ? -1 : 0;
}

void kfs_options_usage(const char *prog)
{
	printf(
"usage: %s [options] [SOURCE] MOUNTPOINT\n"
"\n"
"Mounts Kinesis data streams as a filesystem: a directory per stream, a file\n"
"per shard; appending a line to a file puts a record, reading a shard file\n"
"reads its records.\n"
"\n"
"SOURCE (what mount(8) and fstab call the device; default: kinesisfs):\n"
"    /ABSOLUTE/PATH         the local engine on that data_dir\n"
"    local                  the local engine (-o data_dir or its default)\n"
"    aws, aws:REGION        the AWS backend (in that region)\n"
"    kinesisfs              nothing: the options say all\n"
"\n"
"kinesisfs options:\n"
"    -o backend=local|aws   engine serving the streams (default: local)\n"
"    -o data_dir=DIR        local engine's directory (default:\n"
"                           $KINESISFS_DATA_DIR, else /var/lib/kinesisfs as\n"
"                           root, else $XDG_DATA_HOME/kinesisfs)\n"
"    -o state_dir=DIR       named readers' positions (default: data_dir;\n"
"                           aws: /var/lib/kinesisfs as root, else\n"
"                           $XDG_STATE_HOME/kinesisfs)\n"
"    -o region=R            AWS region (default: AWS_REGION, AWS_DEFAULT_REGION,\n"
"                           the profile's region)\n"
"    -o endpoint=URL        Kinesis endpoint (default: AWS_ENDPOINT_URL_KINESIS,\n"
"                           AWS_ENDPOINT_URL, else the region's endpoint)\n"
"    -o profile=NAME        AWS profile (default: AWS_PROFILE, else default)\n"
"    -o shards=N            shard count of a stream made with mkdir (default: 1)\n"
"    -o record=line|write   one record per line, or per write(2) (default: line)\n"
"    -o linger_ms=N         longest a record waits to be batched (default: 20)\n"
"    -o aggregate           pack the records of each key into KPL aggregated\n"
"                           records (every stream; per stream: the xattr\n"
"                           user.kinesis.aggregate)\n"
"    -o aggregate_max_bytes=N  largest aggregated record (default: 51200)\n"
"    -o aggregate_linger_ms=N  longest a record of an aggregating stream\n"
"                           waits to be packed (default: 100)\n"
"    -o spread              spread each file's records over the open shards\n"
"                           of its stream (explicit hash keys; per stream:\n"
"                           the xattr user.kinesis.spread)\n"
"    -o max_record_size=N   largest record, data plus key, in bytes\n"
"                           (default: 1048576, at most 10485760)\n"
"    -o log_format=1|2      format of the segment files the local engine\n"
"                           starts (default: 2; 1 is readable by kinesisfs\n"
"                           0.1.0; existing files keep theirs)\n"
"    -o segment_bytes=N     size at which the local engine starts a new\n"
"                           segment file, 65536 to 1073741824; retention\n"
"                           frees disk by whole segments (default: 67108864)\n"
"    -o poll_ms=N           how often a reader waiting at the tip looks for\n"
"                           records on AWS (default: 1000, at least 200)\n"
"    -o read_buffer=N       AWS: bytes the shards' pollers keep for readers\n"
"                           a little behind, all shards together (default:\n"
"                           33554432, at least 1048576)\n"
"    -o fanout[=NAME]       AWS: enhanced fan-out: readers at the tip get\n"
"                           records pushed by SubscribeToShard, through the\n"
"                           stream consumer NAME (default: kinesisfs-HOST),\n"
"                           registered when missing and kept\n"
"    -o fanout_deregister   AWS: deregister the consumers used at unmount\n"
"    -o ca_bundle=FILE      CA certificates (PEM) that TLS trusts for the\n"
"                           service (default: AWS_CA_BUNDLE, else the\n"
"                           system's); certificates are always verified\n"
"    -o timeout_ms=N        longest wait for the answer to one request on AWS,\n"
"                           then it is tried again (default: 30000, 60000 for\n"
"                           PutRecords and GetRecords)\n"
"    -o no_endpoint_check   AWS: mount without checking that the endpoint\n"
"                           answers and takes the credentials (one\n"
"                           ListStreams call; default: checked, the mount\n"
"                           fails with the reason), for mounts that come up\n"
"                           before the network\n"
"    -o stop_timeout=N      seconds a stop (SIGTERM, SIGINT, SIGHUP, unmount)\n"
"                           gives queued records to be delivered, from the\n"
"                           signal; then they fail and the daemon exits 2,\n"
"                           1 to 3600 (default: 30)\n"
"    -o allow_delete        let rmdir delete a stream (default: off, EPERM)\n"
"    -o debug               log debug messages; -d does too (default: off)\n"
"    -o read_only, -o ro    mount read-only: writes, mkdir, rmdir and\n"
"                           setfattr give EROFS (default: off, -o rw)\n"
"    -o uid=N, -o gid=N     owner and group shown on every file and\n"
"                           directory (default: the mounting user's)\n"
"    -o file_mode=MODE      octal permission bits of files; views drop the\n"
"                           write bits (default: 0644)\n"
"    -o dir_mode=MODE       octal permission bits of directories\n"
"                           (default: 0755)\n"
"    -h, --help             print this help\n"
"    -V, --version          print the version\n"
"\n"
"Reading (in a stream directory S; see docs/reading.md):\n"
"    SHARD                  a shard file (e.g. shardId-000000000000): from\n"
"                           TRIM_HORIZON to the current tip, then EOF\n"
"    KEY                    any other name: the records of partition key KEY\n"
"    SHARD@POSITION         the shard from POSITION, following: at the tip a\n"
"                           read waits for new records (poll works)\n"
"    @POSITION              every shard of S, parents before children\n"
"    KEY@POSITION           the records of KEY from POSITION, following\n"
"    VIEW.jsonl             any view above as JSON lines: SequenceNumber,\n"
"                           ApproximateArrivalTimestamp, PartitionKey, ShardId,\n"
"                           Data, DataEncoding (utf8 or base64)\n"
"  POSITION is one of the shard iterator types:\n"
"    TRIM_HORIZON           the oldest retained record\n"
"    LATEST                 records put from now on\n"
"    AT_SEQUENCE_NUMBER=N   record N\n"
"    AFTER_SEQUENCE_NUMBER=N  the record after N\n"
"    AT_TIMESTAMP=T         the first record at or after T: ISO 8601\n"
"                           (2026-11-25T10:00:00.5Z, ...+01:00) or epoch\n"
"                           seconds (1764064800.5)\n"
"  e.g. cat S/shardId-000000000000@LATEST, cat S/@TRIM_HORIZON.jsonl | jq .\n"
"\n"
"FUSE options:\n"
"    -f                     stay in the foreground, log to stderr (default:\n"
"                           daemonize once mounted, log to syslog)\n"
"    -d                     FUSE debug output (implies -f)\n"
"    -s                     single-threaded (default: multi-threaded)\n"
"    -o allow_other         let other users use the mount (default: only\n"
"                           the user who mounts); implies default_permissions\n"
"    -o allow_root          let root use the mount too; implies\n"
"                           default_permissions (default: off)\n"
"    -o no_default_permissions  with allow_other/allow_root: the kernel does\n"
"                           not check owners and modes (anyone may write)\n"
"    -o default_permissions the kernel checks owners and modes (default: on\n"
"                           with allow_other/allow_root, else off)\n"
"    -o auto_unmount        unmount when the daemon exits (default: off)\n"
"    -o max_threads=N       threads serving requests; a reader waiting in a\n"
"                           view holds one (default here: 256)\n"
"    -o max_idle_threads=N  idle threads kept (default: libfuse's)\n"
"    -o clone_fd            a /dev/fuse descriptor per thread (default: off)\n"
"    -o nosuid, nodev, noexec, suid, dev, exec  as for any mount (default\n"
"                           as root: nosuid,nodev)\n"
"  Options mount(8), fstab and systemd add are accepted and ignored:\n"
"    defaults, auto, noauto, _netdev, nofail, user, nouser, users, owner,\n"
"    comment=*, x-* (x-systemd.automount, ...).\n"
"\n"
"See kinesisfs(1) and docs/ for the layout, semantics and errors.\n",
	       prog);
}

void kfs_options_free(struct kfs_options *o)
{
	free(o->backend);
	free(o->data_dir);
	free(o->state_dir);
	free(o->region);
	free(o->endpoint);
	free(o->profile);
	free(o->shards_s);
	free(o->record_s);
	free(o->linger_s);
	free(o->max_record_s);
	free(o->log_format_s);
	free(o->segment_bytes_s);
	free(o->read_buffer_s);
	free(o->fanout_name);
	free(o->poll_s);
	free(o->agg_max_bytes_s);
	free(o->agg_linger_s);
	free(o->ca_bundle);
	free(o->timeout_s);
	free(o->stop_timeout_s);
	free(o->uid_s);
	free(o->gid_s);
	free(o->file_mode_s);
	free(o->dir_mode_s);
	free(o->source);
	free(o->mountpoint);
	memset(o, 0, sizeof(*o));
}
