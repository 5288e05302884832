/* lock.h - one mount per data_dir: data_dir/LOCK, flock'd for as long as
 * the daemon runs, naming its holder. */
#ifndef KFS_LOCAL_LOCK_H
#define KFS_LOCAL_LOCK_H

/* Opens and locks data_fd/LOCK (data_dir names it in messages) and writes
 * the holder into it: the lock's descriptor, or -EBUSY when another
 * process holds it (logged, naming that process as it can be found from
 * here), or -errno (logged). */
int kfs_lock_take(int data_fd, const char *data_dir);
/* Writes this process as the holder again (after a fork): 0 or -errno. */
int kfs_lock_note_holder(int lock_fd);

#endif
