// flock(2), which Glibc's Swift module map shadows with `struct flock` (fcntl's record
// lock), so the function cannot be named from Swift.
#ifndef CIB_FILE_H
#define CIB_FILE_H

/// flock(fd, LOCK_EX | LOCK_NB): 0 when taken, -1 with errno set (EWOULDBLOCK: held
/// through another open file description).
int cib_flock_exclusive_nonblocking(int fd);

#endif
