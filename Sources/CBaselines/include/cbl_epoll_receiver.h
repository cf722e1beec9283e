// The C baseline receiver: the kernel's floor for an eventfd-signalled interrupt,
// one epoll wake-up and one read, then the probe.
#ifndef CBL_EPOLL_RECEIVER_H
#define CBL_EPOLL_RECEIVER_H

#include "cbl_probe.h"
#include "cbl_driver.h"

typedef struct cbl_epoll_receiver cbl_epoll_receiver;

/// Starts a thread, placed by `placement`, that waits in epoll_wait on `fds`
/// (vector i = fds[i]), reads each ready eventfd and calls cbl_probe_hit(probe, i).
/// With `busy_poll`, it spins on epoll_wait with a zero timeout instead of
/// sleeping. Returns 0 with *out set, or a positive errno (nothing left running).
int cbl_epoll_receiver_start(const int *fds, size_t nfds, cbl_probe *probe, int busy_poll,
                             const cbl_thread_placement *placement, cbl_epoll_receiver **out);

/// Work done per delivery around the probe: `before_hit` is the ISR's own work
/// (acknowledge the device), `after_hit` what follows a claimed ISR (unmask).
/// Either may be NULL.
typedef struct cbl_delivery_hooks {
    void (*before_hit)(void *context, uint32_t vector);
    void (*after_hit)(void *context, uint32_t vector);
    void *context;
    /// Bytes read per delivery: 0 for an eventfd's 8, 4 for /dev/uioN's interrupt count.
    size_t read_size;
} cbl_delivery_hooks;

/// cbl_epoll_receiver_start with hooks (copied; NULL for none).
int cbl_epoll_receiver_start_hooked(const int *fds, size_t nfds, cbl_probe *probe, int busy_poll,
                                    const cbl_thread_placement *placement, const cbl_delivery_hooks *hooks,
                                    cbl_epoll_receiver **out);

/// Stops and joins the thread, frees the receiver. The fds stay open (the caller's).
void cbl_epoll_receiver_stop(cbl_epoll_receiver *receiver);

#endif
