// The probe: what a receiver (the bridge's ISR, or the C baseline's waiter)
// calls once per delivered interrupt, and what the writer watches.
#ifndef CBL_PROBE_H
#define CBL_PROBE_H

#include <stdint.h>
#include <stddef.h>
#include <stdatomic.h>

/// Shared between one writer thread and one receiver thread. Fields written by
/// the writer are marked (writer), by the receiver (receiver).
typedef struct cbl_probe {
    /// (writer) CLOCK_MONOTONIC time, in ns, at which the interrupt in flight was raised.
    _Atomic uint64_t sent_ns;
    /// (receiver) Deliveries seen so far; the writer waits on it.
    _Atomic uint64_t hits;
    /// (writer sets, receiver clears) One credit flag per vector: set while an
    /// interrupt on that vector is in flight, so no two writes coalesce.
    _Atomic uint8_t *in_flight;
    size_t vector_count;
    /// (receiver) Latency samples, delivery i -> samples[i] (ns); NULL when not measuring latency.
    uint64_t *samples;
    size_t sample_capacity;
    /// The receiver reads its thread's allocation counters at these deliveries.
    uint64_t window_first_hit;
    uint64_t window_last_hit;
    /// (receiver) Allocation counters of the receiving thread at the window's edges.
    uint64_t allocations_at_first;
    uint64_t allocations_at_last;
    /// (receiver) CPU time of the whole process (CLOCK_PROCESS_CPUTIME_ID, ns) at
    /// the window's edges: the receiving side's work on every thread it uses
    /// (libdispatch hops between threads), plus the writer's (writer_cpu_ns).
    uint64_t process_cpu_ns_at_first;
    uint64_t process_cpu_ns_at_last;
    /// (receiver) The thread (pthread_self) that made the window's first and last
    /// deliveries: thread-local allocation counters compare only when they match.
    uint64_t thread_at_first;
    uint64_t thread_at_last;
    /// (writer) CPU time the writer thread used in cbl_drive_saturate, to subtract
    /// from the process's.
    uint64_t writer_cpu_ns;
    /// (receiver) A delivery named a vector outside 0..<vector_count.
    _Atomic uint64_t stray_hits;
    /// (receiver) Deliveries the device did not claim: its status showed nothing pending.
    /// On a shared INTx line uio_pci_generic's handler claims for a device that is masked
    /// with its interrupt still pending when another device on the line fires, so its
    /// listener can wake once more for an interrupt it has already handled. Not hits.
    _Atomic uint64_t unclaimed_deliveries;
    /// Set before a run (cbl_probe_track_placement): the writer records the
    /// processor it raised on, the receiver counts deliveries made on that same
    /// processor. Off by default, so instruction counts under callgrind carry
    /// none of it.
    int tracks_placement;
    /// (writer) The processor the interrupt in flight was raised on (-1: unknown).
    _Atomic int32_t sent_cpu;
    /// (receiver) Deliveries made on the processor their interrupt was raised on.
    uint64_t same_cpu_hits;
} cbl_probe;

/// Prepares a probe for `vector_count` vectors and, if `sample_capacity` > 0,
/// that many latency samples. Returns 0, or -ENOMEM.
int cbl_probe_init(cbl_probe *probe, size_t vector_count, size_t sample_capacity);
/// Frees what cbl_probe_init allocated.
void cbl_probe_destroy(cbl_probe *probe);
/// Resets counters and credits between runs (keeps the buffers).
void cbl_probe_reset(cbl_probe *probe);

/// Records one delivery on `vector`: the latency sample (now - sent_ns), the
/// allocation window's edges, then clears the vector's credit and counts the hit.
/// Called on the receiving thread (inside the ISR for the bridge). Never allocates.
void cbl_probe_hit(cbl_probe *probe, uint32_t vector);

/// Turns the placement record on or off for the next run (call between runs).
void cbl_probe_track_placement(cbl_probe *probe, int on);
/// Writer side: records the calling thread's processor as the one the next
/// interrupt is raised on (nothing when the record is off).
void cbl_probe_note_raise_cpu(cbl_probe *probe);

/// Deliveries seen so far (acquire), and deliveries that named an unknown vector.
uint64_t cbl_probe_hits(const cbl_probe *probe);
uint64_t cbl_probe_stray_hits(const cbl_probe *probe);
/// Receiver side: counts a delivery the device did not claim (see unclaimed_deliveries).
void cbl_probe_unclaimed(cbl_probe *probe);
uint64_t cbl_probe_unclaimed_deliveries(const cbl_probe *probe);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t cbl_now_ns(void);
/// The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID) in nanoseconds.
uint64_t cbl_thread_cpu_ns(void);

/// True when the allocation counter (CAllocationCounter's malloc interposer) is
/// linked into this process, so allocations_at_* mean something.
int cbl_allocation_counting_available(void);

/// The calling thread's allocation count (0 when counting is unavailable).
uint64_t cbl_thread_allocations(void);

#endif
