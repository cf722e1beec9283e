// Why this file exists: see cib_file.h (flock(2) is not nameable from Swift).
#include "cib_file.h"
#include <sys/file.h>

int cib_flock_exclusive_nonblocking(int fd) { return flock(fd, LOCK_EX | LOCK_NB); }
