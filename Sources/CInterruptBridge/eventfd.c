// Why this file exists: <sys/eventfd.h> is not part of Glibc's Swift module map,
// so neither eventfd(2) nor its EFD_* flags are visible to Swift; and
// epoll_event is a packed struct whose field access is clearer in C.
#include "cib_eventfd.h"
#include <sys/eventfd.h>

const int CIB_EFD_CLOEXEC = EFD_CLOEXEC;
const int CIB_EFD_NONBLOCK = EFD_NONBLOCK;
const int CIB_EFD_SEMAPHORE = EFD_SEMAPHORE;

#if defined(__x86_64__)
_Static_assert(sizeof(struct epoll_event) == 12, "epoll_event is packed on x86-64");
#endif

int cib_eventfd(unsigned int initval, int flags) { return eventfd(initval, flags); }

