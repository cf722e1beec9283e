// The writer side of every eventfd benchmark, shared by bridge and baseline runs.
#ifndef CBL_DRIVER_H
#define CBL_DRIVER_H

#include "cbl_probe.h"

/// Where and how the writer (or receiver) thread runs.
typedef struct cbl_thread_placement {
    /// CPU to pin to, or -1 to let the scheduler choose.
    int cpu;
    /// SCHED_FIFO priority (1...99), or 0 for the default policy.
    int fifo_priority;
} cbl_thread_placement;

/// Applies a placement to the calling thread. Returns 0 or a positive errno.
int cbl_apply_placement(const cbl_thread_placement *placement);

/// Latency, one interrupt in flight at a time: for round i, waits until the
/// receiver has recorded delivery i-1, spins `gap_ns` (so the receiver is back
/// asleep), stores the time in probe->sent_ns and writes 1 to
/// fds[(i * stride) % nfds]. Runs on a new thread placed by `placement` and
/// returns when all `rounds` deliveries were seen: 0, ETIMEDOUT if the receiver
/// went `timeout_ns` without a delivery, or another positive errno.
int cbl_drive_pingpong(cbl_probe *probe, const int *fds, size_t nfds, size_t stride, uint64_t rounds,
                       uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *placement);

/// Throughput, every vector kept busy: writes each of the `nfds` eventfds whose
/// credit is free (the receiver frees it on delivery, so no write coalesces),
/// until `total` interrupts were raised and delivered. Stores the elapsed time,
/// and the writer thread's own CPU time in probe->writer_cpu_ns.
/// Same thread and result rules as cbl_drive_pingpong.
int cbl_drive_saturate(cbl_probe *probe, const int *fds, size_t nfds, uint64_t total, uint64_t timeout_ns,
                       const cbl_thread_placement *placement, uint64_t *elapsed_ns);

/// Raises one interrupt by other means than an eventfd write or a register
/// store (e.g. VFIO's loopback trigger ioctl). Returns 0 or a positive errno.
typedef int (*cbl_raise_fn)(void *context);

/// cbl_drive_pingpong where round i calls raise(context) instead of writing an
/// eventfd (one vector). Same thread and result rules.
int cbl_drive_pingpong_raise(cbl_probe *probe, cbl_raise_fn raise, void *context, uint64_t rounds, uint64_t gap_ns,
                             uint64_t timeout_ns, const cbl_thread_placement *placement);

/// Creates `count` non-blocking, close-on-exec eventfds into `fds`. Returns 0,
/// or a positive errno with none left open.
int cbl_eventfds_open(int *fds, size_t count);
/// Closes `count` descriptors.
void cbl_eventfds_close(const int *fds, size_t count);

#endif
