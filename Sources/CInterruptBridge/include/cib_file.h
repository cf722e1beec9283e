// flock(2), which Glibc's Swift module map shadows with `struct flock` (fcntl's record
// lock), so the function cannot be named from Swift; and pipe2(2), which glibc declares
// only under _GNU_SOURCE.
#ifndef CIB_FILE_H
#define CIB_FILE_H

/// flock(fd, LOCK_EX | LOCK_NB): 0 when taken, -1 with errno set (EWOULDBLOCK: held
/// through another open file description).
int cib_flock_exclusive_nonblocking(int fd);

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start. 0, or -1 with errno set.
int cib_pipe_cloexec(int fds[2]);

#endif
