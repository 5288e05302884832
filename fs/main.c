/*
 * main.c - kinesisfs: parse options, open the backend, mount, then
 * daemonize last so that start-up errors reach the terminal.
 */
#define FUSE_USE_VERSION 312

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "backend/aws/aws.h"
#include "backend/backend.h"
#include "backend/local/local.h"
#include "backend/producer.h"
#include "backend/versions.h"
#include "fs/mountpoint.h"
#include "fs/ops.h"
#include "fs/options.h"
#include "fs/named.h"
#include "fs/path.h"
#include "fs/stop.h"
#include "lib/log.h"

/* Exit status when records were failed to their writers at the stop
 * (docs/kinesisfs.1, EXIT STATUS). */
#define KFS_EXIT_LOST 2
/* Memory freed that the process keeps for reuse (see main). */
#define KFS_MALLOC_KEEP (16 * 1024 * 1024)

/*
 * Forks; the parent waits for the child to report that the mount is up
 * (one byte on a pipe) and exits with its status.  Returns the write end
 * of the pipe in the child.  stderr stays the terminal's until the child
 * reports success, so start-up errors are seen.
 */
static int fork_daemon(void)
{
	int fds[2];
	pid_t pid;
	char status = 1;

	if (pipe(fds) == -1) {
		perror("kinesisfs: pipe");
		exit(1);
	}
	pid = fork();
	if (pid == -1) {
		perror("kinesisfs: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

/* Detaches the child from the terminal and tells the parent all is well. */
static void finish_daemon(int fd)
{
	int null = open("/dev/null", O_RDWR);
	char ok = 0;

	if (chdir("/") == -1)
		kfs_warn("chdir /: %s", strerror(errno));
	kfs_log_to_syslog();
	if (null != -1) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (write(fd, &ok, 1) != 1)
		kfs_warn("cannot tell the starting process we are up");
	close(fd);
}

static void log_mounted(const char *mountpoint, const struct kfs_options *o)
{
	if (strcmp(o->backend, "local") == 0)
		kfs_info("mounted %s (backend local, data_dir %s)", mountpoint,
			 o->data_dir);
	else
		kfs_info("mounted %s (backend %s)", mountpoint, o->backend);
}

/* Says what became of the records still queued when the mount ended and
 * of the partial lines of files still open then (sent at shutdown): their
 * writers' close gets ENOTCONN once the mount is gone, whatever became of
 * them, so the log is where it shows. */
static void log_drained(struct kfs_producer *prod,
			const struct kfs_producer_stats *before)
{
	struct kfs_producer_stats after;
	uint64_t put, failed;

	kfs_producer_stats(prod, &after);
	put = after.records_put - before->records_put;
	failed = after.records_failed - before->records_failed;
	if (failed)
		kfs_info("unmount: %" PRIu64 " record(s) still queued were "
			 "delivered, %" PRIu64 " not (logged above)", put, failed);
	else if (put)
		kfs_info("unmount: every record still queued was delivered (%"
			 PRIu64 ")", put);
}

/* The stream consumer's name of -o fanout: given, else kinesisfs-HOST
 * (what the service takes of the host name: A-Z a-z 0-9 _ . -). */
static void fanout_name(const struct kfs_options *o, char *out, size_t size)
{
	char host[64] = "";
	size_t n;

	if (o->fanout_name) {
		snprintf(out, size, "%s", o->fanout_name);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	n = (size_t)snprintf(out, size, "kinesisfs-%s", host);
	for (size_t i = strlen("kinesisfs-"); i < n && i < size; i++)
		if (!isalnum((unsigned char)out[i]) && out[i] != '_' &&
		    out[i] != '.' && out[i] != '-')
			out[i] = '-';
}

static int open_backend(const struct kfs_options *o, struct kfs_metrics *m,
			struct kfs_fs *fs, struct kfs_backend **be)
{
	if (strcmp(o->backend, "local") == 0) {
		struct kfs_local_config cfg = {
			.data_dir = o->data_dir,
			.max_record_bytes = o->max_record_size,
			.log_format = o->log_format,
			.segment_bytes = o->segment_bytes,
		};
		return kfs_local_open(&cfg, be);
	}
	if (strcmp(o->backend, "aws") == 0) {
		char consumer[160];
		struct kfs_aws_config cfg = {
			.region = o->region,
			.endpoint = o->endpoint,
			.profile = o->profile,
			.max_record_bytes = o->max_record_size,
			.timeout_ms = o->timeout_ms,
			/* One ListStreams at mount: an endpoint that does
			 * not answer (a container's loopback on a bridge
			 * network) or refuses the credentials fails the
			 * mount with the reason, rather than every later
			 * call with EIO.  -o no_endpoint_check mounts
			 * anyway (the network comes up later): errors then
			 * show on use (EACCES, EIO, SPEC section 5). */
			.probe = !o->no_endpoint_check,
			.metrics = m,
			/* One poller per shard feeds its readers at the tip,
			 * and wakes them as its records come. */
			.poll_ms = o->poll_ms,
			.read_buffer = o->read_buffer,
			.on_records = kfs_fs_on_stored,
			.on_records_arg = fs,
			.fanout_deregister = o->fanout_deregister,
		};

		if (o->fanout || o->fanout_name) {
			fanout_name(o, consumer, sizeof(consumer));
			cfg.fanout = consumer;
		}
		return kfs_aws_open(&cfg, be);
	}
	kfs_err("-o backend=%s is not available in this version", o->backend);
	return -ENOTSUP;
}

/* Threads for FUSE requests when -o max_threads is not given. */
#define KFS_MAX_THREADS_DEFAULT 256

/* 1 when the command line sets -o max_threads. */
static int max_threads_given(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++)
		if (strstr(argv[i], "max_threads="))
			return 1;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct kfs_options opt;
	struct kfs_producer_config pcfg;
	struct kfs_backend *be = NULL;
	struct kfs_producer *prod = NULL;
	struct kfs_producer_stats before, queued;
	struct kfs_metrics *metrics = NULL;
	struct fuse *fuse = NULL;
	struct kfs_fs fs;
	struct kfs_stop stop = { 0 };
	int ret = 1, daemon_fd = -1, fs_ready = 0, stuck = 0, err;
	char *fsname = NULL;

#ifdef __GLIBC__
	/* A read allocates and frees a few MiB per page of records (of up
	 * to KFS_GET_BYTES_MAX), in whatever thread.  glibc's defaults would
	 * map the bigger blocks afresh each time and give freed memory back
	 * to the kernel past 128 KiB, so that every page faults its memory
	 * in again (a fifth of the time of a read): keep it instead. */
	mallopt(M_MMAP_THRESHOLD, KFS_MALLOC_KEEP);
	mallopt(M_TRIM_THRESHOLD, KFS_MALLOC_KEEP);
#endif
	if (kfs_options_parse(&args, &opt) == -1)
		goto out_args;
	if (opt.show_help) {
		kfs_options_usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	if (opt.show_version) {
		printf("kinesisfs %s\n", PACKAGE_VERSION);
		printf("libfuse %s\n", fuse_pkgversion());
		kfs_print_backend_versions(stdout);
		ret = 0;
		goto out_args;
	}
	if (fuse_parse_cmdline(&args, &cmd) == -1)
		goto out_args;
	if (!cmd.mountpoint) {
		fprintf(stderr, "kinesisfs: no mountpoint given (see --help)\n");
		goto out_args;
	}
	if (kfs_options_check(&opt) == -1)
		goto out_args;
	if (asprintf(&fsname, "-ofsname=kinesisfs:%s,subtype=kinesisfs",
		     strcmp(opt.backend, "local") == 0 ? opt.data_dir
						       : opt.backend) < 0 ||
	    fuse_opt_add_arg(&args, fsname) == -1 ||
	    kfs_options_fuse_args(&opt, &args) == -1)
		goto out_args;
	/* -o ca_bundle is AWS_CA_BUNDLE given on the command line: every
	 * HTTPS request (the service, credential endpoints) trusts it.  Set
	 * before any thread starts. */
	if (opt.ca_bundle && setenv("AWS_CA_BUNDLE", opt.ca_bundle, 1) != 0)
		goto out_args;

	/* -d (FUSE's trace of requests, in the foreground) shows our debug
	 * lines too, as -o debug does (docs/metrics.md, "Logs"). */
	kfs_log_init(1, opt.debug || cmd.debug ? KFS_LOG_DEBUG : KFS_LOG_INFO);
	if (!cmd.foreground)
		daemon_fd = fork_daemon();

	metrics = kfs_metrics_new();
	if (!metrics)
		kfs_warn("out of memory: %s is left empty", KFS_METRICS_NAME);
	err = open_backend(&opt, metrics, &fs, &be);
	if (err) {
		fprintf(stderr, "kinesisfs: cannot open the %s backend: %s\n",
			opt.backend, strerror(-err));
		goto out;
	}
	kfs_fs_init(&fs, be, NULL, &opt);
	fs.metrics = metrics;
	{
		char *dir = kfs_options_readers_dir(&opt);

		fs.named = dir ? kfs_named_table_new(dir) : NULL;
		if (!fs.named)
			kfs_warn("out of memory: named readers cannot be opened");
		free(dir);
	}
	fs_ready = 1;
	kfs_producer_config_default(&pcfg);
	pcfg.linger_ms = opt.linger_ms;
	pcfg.aggregate = opt.aggregate;
	pcfg.spread = opt.spread;
	pcfg.agg_max_bytes = opt.agg_max_bytes;
	pcfg.agg_linger_ms = opt.agg_linger_ms;
	pcfg.on_stored = kfs_fs_on_stored;   /* wakes readers at the tip */
	pcfg.on_stored_arg = &fs;
	pcfg.metrics = metrics;
	if (strcmp(opt.backend, "aws") == 0) {
		/* Throttling and failures of the service are retried: the
		 * backoffs of 9 attempts (100 ms doubling, with jitter) add
		 * up to 13 to 26 s, enough to ride out an endpoint gone for
		 * 10 s. */
		pcfg.max_attempts = 9;
		pcfg.backoff_ms = 100;
		pcfg.max_inflight = 4;
	}
	if (kfs_producer_new(be, &pcfg, &prod) != 0) {
		fprintf(stderr, "kinesisfs: out of memory\n");
		goto out;
	}
	fs.prod = prod;
	fuse = fuse_new(&args, &kfs_fuse_ops, sizeof(kfs_fuse_ops), &fs);
	if (!fuse)
		goto out;
	if (kfs_mountpoint_clear_dead(cmd.mountpoint) != 0 ||
	    fuse_mount(fuse, cmd.mountpoint) != 0)
		goto out_destroy;
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out_unmount;
	/* The bound of a stop runs from its signal (fs/stop.h). */
	err = kfs_stop_start(&stop, prod, opt.stop_timeout_ms,
			     cmd.mountpoint);
	if (err) {
		kfs_err("cannot watch for signals: %s", strerror(-err));
		goto out_signals;
	}
	log_mounted(cmd.mountpoint, &opt);
	if (daemon_fd != -1) {
		finish_daemon(daemon_fd);
		daemon_fd = -1;
		/* Said on the terminal; said again where the rest goes. */
		log_mounted(cmd.mountpoint, &opt);
	}
	if (cmd.singlethread) {
		ret = fuse_loop(fuse);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();

		if (!lc)
			goto out_signals;
		/* Readers of views wait in read(2), each holding a thread:
		 * unless told otherwise, allow many more than libfuse's 10. */
		fuse_loop_cfg_set_clone_fd(lc, cmd.clone_fd);
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc, cmd.max_idle_threads);
		fuse_loop_cfg_set_max_threads(lc, max_threads_given(argc, argv)
					      ? cmd.max_threads
					      : KFS_MAX_THREADS_DEFAULT);
		ret = fuse_loop_mt(fuse, lc);
		fuse_loop_cfg_destroy(lc);
	}
	ret = ret < 0 ? 1 : 0;
	kfs_stop_begin(&stop);   /* an unmount: the bound starts now */
	kfs_info("unmounting %s", cmd.mountpoint);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
out:
	if (fs_ready && prod) {
		int left = kfs_stop_left_ms(&stop);

		kfs_producer_stats(prod, &before);
		kfs_fs_shutdown(&fs);
		kfs_producer_stats(prod, &queued);
		if (queued.queued_bytes && left > 0)
			kfs_info("unmount: delivering the %zu bytes of records "
				 "still queued (at most %d s more)",
				 queued.queued_bytes, (left + 999) / 1000);
		/* What is in flight at the end of the bound the watcher
		 * fails (kfs_producer_abandon). */
		stuck = kfs_producer_drain(prod, left) != 0;
		log_drained(prod, &before);
	} else if (fs_ready) {
		kfs_fs_shutdown(&fs);
	}
	if (kfs_stop_failed(&stop) > 0 && ret == 0) {
		kfs_warn("exiting with status %d: %" PRIu64 " record(s) were "
			 "not delivered (logged above)", KFS_EXIT_LOST,
			 kfs_stop_failed(&stop));
		ret = KFS_EXIT_LOST;
	}
	kfs_stop_end(&stop);
	if (stuck) {
		/* A sender is still inside a backend call (a hung
		 * endpoint): the producer, the backend and what on_stored
		 * uses stay allocated; the process ends here. */
		kfs_info("a request to the backend is still unanswered: not "
			 "waiting for it");
		/* Nothing is freed under that sender's feet, and no leak
		 * check at exit counts what it still holds: the process
		 * ends now, as the stop promised. */
		fflush(NULL);
		_exit(ret);
	}
	/* The shards' pollers wake readers too (on_records): they end
	 * before what they use. */
	kfs_aws_stop_pollers(be);
	/* The producer's last deliveries still wake readers (on_stored):
	 * what they use goes after it. */
	kfs_producer_free(prod, 0);
	if (fs_ready)
		kfs_fs_free(&fs);
	kfs_backend_free(be);
	kfs_metrics_free(metrics);
	if (daemon_fd != -1)
		close(daemon_fd); /* the parent reads EOF and exits 1 */
out_args:
	free(fsname);
	free(cmd.mountpoint);
	kfs_options_free(&opt);
	fuse_opt_free_args(&args);
	return ret;
}
