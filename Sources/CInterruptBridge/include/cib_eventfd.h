// eventfd(2) and epoll(7) pieces Glibc's Swift module map does not expose.
#ifndef CIB_EVENTFD_H
#define CIB_EVENTFD_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

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

// The two system calls the dispatch loop makes per interrupt, made directly.
// glibc's read(2) and epoll_wait(2) are cancellation points: each wraps the
// call in __pthread_enable_asynccancel/__pthread_disable_asynccancel, about 60
// instructions per interrupt under callgrind, more than the loop's own work on
// the call. The dispatch threads are never cancelled (they stop by command), so
// they make the calls without that bookkeeping. Both return the result, or
// -errno (the kernel's convention), never touching errno.

/// A system call with up to four arguments, returning the result or -errno.
static inline long cib_direct_syscall4(long number, long a1, long a2, long a3, long a4) {
#if defined(__x86_64__)
    long result;
    register long r10 __asm__("r10") = a4;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "0"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                     : "rcx", "r11", "memory");
    return result;
#else
    long result = syscall(number, a1, a2, a3, a4);
    return result == -1 ? -errno : result;
#endif
}

/// read(2) of an eventfd's 8-byte counter: 8, or -errno (-EAGAIN: the counter is zero).
static inline long cib_eventfd_read_direct(int descriptor, uint64_t *value) {
    return cib_direct_syscall4(SYS_read, descriptor, (long)value, sizeof(uint64_t), 0);
}

/// epoll_wait(2): how many events were stored, or -errno.
static inline int cib_epoll_wait_direct(int epoll, struct epoll_event *events, int capacity, int timeout) {
#if defined(SYS_epoll_wait)
    return (int)cib_direct_syscall4(SYS_epoll_wait, epoll, (long)events, capacity, timeout);
#else
    // No epoll_wait on arm64: epoll_pwait with no signal mask is the same call.
    long result = syscall(SYS_epoll_pwait, epoll, events, capacity, timeout, (void *)0, 8);
    return result == -1 ? -errno : (int)result;
#endif
}

#endif
