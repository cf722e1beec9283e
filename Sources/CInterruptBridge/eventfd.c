// Why this file exists: <sys/eventfd.h> is not part of Glibc's Swift module map,
// so neither eventfd(2) nor its EFD_* flags are visible to Swift.
#include "cib_eventfd.h"
#include <sys/eventfd.h>

const int CIB_EFD_CLOEXEC = EFD_CLOEXEC;
const int CIB_EFD_NONBLOCK = EFD_NONBLOCK;
const int CIB_EFD_SEMAPHORE = EFD_SEMAPHORE;

int cib_eventfd(unsigned int initval, int flags) { return eventfd(initval, flags); }
