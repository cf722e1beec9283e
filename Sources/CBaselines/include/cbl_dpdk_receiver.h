// A peer the bridge is measured against (issue 13): DPDK 22.11's interrupt
// handling, on the same eventfds, the same writer and the same probe.
//
// DPDK stays optional. Nothing here links against it: librte_eal.so.23 is
// loaded at run time (dlopen/dlsym) and only DPDK's public functions are
// called. The two structures DPDK's per-thread epoll path needs are mirrored
// below; scripts/bench/dpdk-abi-check.c compiles them against the installed
// headers and fails if they drift (scripts/bench/run.sh --peers runs it).
#ifndef CBL_DPDK_RECEIVER_H
#define CBL_DPDK_RECEIVER_H

#include <stddef.h>
#include <stdint.h>
#include "cbl_probe.h"
#include "cbl_driver.h"

/// The shared object loaded at run time (package librte-eal23, pulled in by libdpdk-dev).
extern const char *const CBL_DPDK_EAL_LIBRARY;

/// Mirrors of <rte_epoll.h> (DPDK 22.11) and the one <rte_interrupts.h> constant used.
typedef struct cbl_rte_epoll_data {
    uint32_t event;
    void *data;
    void (*cb_fun)(int fd, void *arg);
    void *cb_arg;
} cbl_rte_epoll_data;

typedef struct cbl_rte_epoll_event {
    uint32_t status;
    int fd;
    int epfd;
    cbl_rte_epoll_data epdata;
} cbl_rte_epoll_event;

enum {
    CBL_RTE_INTR_HANDLE_EXT = 7,     // enum rte_intr_handle_type: "external handler", DPDK does not read the fd
    CBL_RTE_EPOLL_PER_THREAD = -1,   // rte_epoll_*: the calling thread's own epoll instance
    CBL_RTE_INTR_INSTANCE_F_PRIVATE = 0,
};

/// Loads librte_eal and starts the EAL once per process (later calls return the
/// first call's result): no hugepages, no PCI probing, no shared config files,
/// no telemetry, the main lcore allowed on every CPU this process may use (so
/// EAL pins no thread), logs to stderr at warning level. EAL start-up runs on a
/// helper thread and is given `timeout_ns`; past that the peer is reported
/// absent and the benchmark goes on. Returns 0, or a positive errno with the
/// reason in `reason` (ENOENT: the library is not installed).
int cbl_dpdk_open(uint64_t timeout_ns, char *reason, size_t reason_size);

/// Which of DPDK's two interrupt paths receives.
typedef enum cbl_dpdk_path {
    /// The EAL interrupt thread ("eal-intr-thread"): one RTE_INTR_HANDLE_EXT handle
    /// per eventfd, rte_intr_callback_register; the callback reads the eventfd
    /// (EXT handles are not read by DPDK) and calls the probe.
    CBL_DPDK_INTERRUPT_THREAD = 0,
    /// A thread of ours in rte_epoll_wait(RTE_EPOLL_PER_THREAD) over the eventfds
    /// added with rte_epoll_ctl (DPDK's Rx-interrupt path); reads, then the probe.
    CBL_DPDK_PER_THREAD_EPOLL = 1,
} cbl_dpdk_path;

typedef struct cbl_dpdk_receiver cbl_dpdk_receiver;

/// Starts receiving on `fds` (vector i = fds[i]) through `path`. The placement
/// applies to the receiving thread (for the interrupt thread: applied from
/// inside one of its callbacks). cbl_dpdk_open must have succeeded. Returns 0
/// with *out set, or a positive errno with nothing left registered.
int cbl_dpdk_receiver_start(cbl_dpdk_path path, const int *fds, size_t nfds, cbl_probe *probe,
                            const cbl_thread_placement *placement, cbl_dpdk_receiver **out);

/// Unregisters everything (waiting for a running callback), stops our thread if
/// any, frees the receiver. The fds stay open (the caller's).
void cbl_dpdk_receiver_stop(cbl_dpdk_receiver *receiver);

#endif
