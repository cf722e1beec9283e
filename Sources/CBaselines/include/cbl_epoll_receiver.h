// The C baseline receiver: the kernel's floor for an eventfd-signalled interrupt,
// one epoll wake-up and one read, then the probe.
#ifndef CBL_EPOLL_RECEIVER_H
#define CBL_EPOLL_RECEIVER_H

#include <stdbool.h>
#include "cbl_probe.h"
#include "cbl_driver.h"

typedef struct cbl_epoll_receiver cbl_epoll_receiver;

/// Starts a thread, placed by `placement`, that waits in epoll_wait on `fds`
/// (vector i = fds[i]), reads each ready eventfd and calls cbl_probe_hit(probe, i).
/// With `busy_poll`, it spins on epoll_wait with a zero timeout instead of
/// sleeping. Returns 0 with *out set, or a positive errno (nothing left running).
int cbl_epoll_receiver_start(const int *fds, size_t nfds, cbl_probe *probe, int busy_poll,
                             const cbl_thread_placement *placement, cbl_epoll_receiver **out);

/// Work done per delivery around the probe. `claim` is the ISR's own work: it
/// acknowledges the device and returns whether the device had interrupted; a delivery
/// it does not claim is counted with cbl_probe_unclaimed, not as a hit (a shared INTx
/// line can wake a listener whose device has nothing pending). `rearm` follows every
/// delivery, claimed or not (the line was masked either way: unmask it). Either may be
/// NULL; without `claim` every delivery is a hit.
typedef struct cbl_delivery_hooks {
    bool (*claim)(void *context, uint32_t vector);
    void (*rearm)(void *context, uint32_t vector);
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
