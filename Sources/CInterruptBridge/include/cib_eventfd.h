// eventfd(2) and epoll(7) pieces Glibc's Swift module map does not expose.
#ifndef CIB_EVENTFD_H
#define CIB_EVENTFD_H

#include <stdint.h>
#include <sys/epoll.h>

/// Flags for cib_eventfd, mirrored from <sys/eventfd.h>.
extern const int CIB_EFD_CLOEXEC;
extern const int CIB_EFD_NONBLOCK;
extern const int CIB_EFD_SEMAPHORE;

/// eventfd(2). Returns the new descriptor or -1 with errno set.
int cib_eventfd(unsigned int initval, int flags);

/// epoll_event is `__attribute__((packed))` on x86-64 (12 bytes, data at offset 4):
/// Swift imports the layout faithfully, but these accessors keep the packing out of Swift.
/// `static inline`: the dispatch loop reads one per ready descriptor, and a call into
/// the shim cost about ten instructions per interrupt where the load is one.
static inline uint64_t cib_epoll_event_data(const struct epoll_event *event) { return event->data.u64; }
static inline uint32_t cib_epoll_event_events(const struct epoll_event *event) { return event->events; }

#endif
