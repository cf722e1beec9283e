// stdout, which Swift 6 cannot name (a global mutable variable); flock(2), which Glibc's Swift module map shadows with `struct flock` (fcntl's record
// lock), so the function cannot be named from Swift; pipe2(2), which glibc declares
// only under _GNU_SOURCE; and mremap(2), which is variadic (Swift imports no variadic C).
#ifndef CIB_FILE_H
#define CIB_FILE_H

#include <stddef.h>

/// flock(fd, LOCK_EX | LOCK_NB): 0 when taken, -1 with errno set (EWOULDBLOCK: held
/// through another open file description).
int cib_flock_exclusive_nonblocking(int fd);

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start. 0, or -1 with errno set.
int cib_pipe_cloexec(int fds[2]);

/// mremap(base, 0, length, MREMAP_MAYMOVE): a second mapping of the pages of the shared
/// mapping at `base` (MAP_SHARED; old size 0 duplicates rather than moves). The new
/// address, or NULL with errno set.
void *cib_mremap_second_view(void *base, unsigned long length);

/// Writes `length` bytes through the C library's stdout stream and flushes it; a failure
/// stays in the stream's error flag for cib_stdout_failed. Returns 0, or -1 on failure.
int cib_stdout_write(const void *bytes, size_t length);

/// Flushes stdout and says whether everything written to it arrived: 0 when it did; 1 when
/// this flush failed (`*error` = its errno) or an earlier write had failed (ferror: a
/// line-buffered stdout, as under `stdbuf -oL`, fails at each newline and has nothing left to
/// flush; `*error` = 0, the earlier errno being gone).
int cib_stdout_failed(int *error);

#endif
