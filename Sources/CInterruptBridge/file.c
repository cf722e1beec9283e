// Why this file exists: see cib_file.h (stdout, flock(2), pipe2(2) and mremap(2) are not nameable from Swift).
#define _GNU_SOURCE
#include "cib_file.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

int cib_flock_exclusive_nonblocking(int fd) { return flock(fd, LOCK_EX | LOCK_NB); }

int cib_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

void *cib_mremap_second_view(void *base, unsigned long length) {
    void *view = mremap(base, 0, length, MREMAP_MAYMOVE);
    return view == MAP_FAILED ? NULL : view;
}

int cib_stdout_write(const void *bytes, size_t length) {
    size_t written = length == 0 ? 0 : fwrite(bytes, 1, length, stdout);
    return fflush(stdout) == 0 && written == length ? 0 : -1;
}

int cib_stdout_failed(int *error) {
    *error = 0;
    if (fflush(stdout) != 0) {
        *error = errno;
        return 1;
    }
    return ferror(stdout) ? 1 : 0;
}
