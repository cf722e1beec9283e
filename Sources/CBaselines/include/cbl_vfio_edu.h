// The raw-C VFIO round trip on QEMU's edu device (1234:11e8), the floor the
// bridge's VFIO backend is measured against inside the QEMU rig.
//
// The one raw-C edu round trip: the benchmark's floor and the rig's probes
// (scripts/rig/probes/edu-roundtrip.c, built with these sources) both run it.
//
// Round trip, as both sides run it: a writer thread stores to edu's register
// 0x60 (raise), the receiving thread wakes on the vector's eventfd, the ISR work
// reads 0x24 (status) and writes it to 0x64 (acknowledge), then the probe is
// hit (so a sample is write -> acknowledged) and, for INTx, the line is unmasked.
#ifndef CBL_VFIO_EDU_H
#define CBL_VFIO_EDU_H

#include <stdint.h>
#include <stddef.h>
#include "cbl_probe.h"
#include "cbl_driver.h"

/// edu's registers (BAR0 offsets).
extern const uint32_t CBL_EDU_RAISE;        // 0x60: write raises an interrupt, ORs into status
extern const uint32_t CBL_EDU_STATUS;       // 0x24: interrupt status
extern const uint32_t CBL_EDU_ACKNOWLEDGE;  // 0x64: write clears status bits

/// The ISR's work on edu: read the status and acknowledge it. Returns the status
/// (0: not edu's interrupt). `bar0` is the mapped BAR0.
uint32_t cbl_edu_acknowledge(volatile void *bar0);

/// Which interrupt the raw loop enables.
typedef enum cbl_edu_interrupt { CBL_EDU_INTX = 0, CBL_EDU_MSI = 1 } cbl_edu_interrupt;

/// How the raw VFIO loop enables, raises and re-arms edu's interrupt. The
/// defaults (all zero but `kind`) are the benchmark's floor; the others are the
/// rig's proofs (scripts/rig/probes/edu-roundtrip.c runs them all through here).
typedef struct cbl_edu_options {
    cbl_edu_interrupt kind;
    /// INTx: unmask by writing an eventfd registered with VFIO_IRQ_SET_ACTION_UNMASK
    /// (the bridge's way) instead of the ACTION_UNMASK ioctl.
    int unmask_by_eventfd;
    /// Raise with VFIO_IRQ_SET_ACTION_TRIGGER (DATA_NONE), the path a tool takes
    /// for a device it does not know, instead of edu's register (still acknowledged).
    int loopback_trigger;
    /// MSI: leave Bus Master Enable clear, so every MSI is dropped (proves loss is seen).
    int no_bus_master;
} cbl_edu_options;

/// cbl_vfio_edu_roundtrip with options.
int cbl_vfio_edu_roundtrip_with(const char *bdf, const cbl_edu_options *options, cbl_probe *probe, uint64_t rounds,
                                uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *receiver,
                                const cbl_thread_placement *writer, char *error, size_t error_size);

/// The same round trip through uio_pci_generic (edu bound to it): the receiving
/// thread reads /dev/uioN's 4-byte count, acknowledges, then re-enables INTx by
/// clearing Interrupt Disable (Command bit 10) through sysfs config, since
/// uio_pci_generic masks the line that way and has no irqcontrol.
int cbl_uio_edu_roundtrip(const char *bdf, cbl_probe *probe, uint64_t rounds, uint64_t gap_ns, uint64_t timeout_ns,
                          const cbl_thread_placement *receiver, const cbl_thread_placement *writer, char *error,
                          size_t error_size);

/// Runs `warmup + rounds` round trips on the edu device at `bdf` (which must be
/// bound to vfio-pci) with raw VFIO ioctls: opens container, group and device,
/// maps BAR0, sets Bus Master Enable, enables `kind` with one eventfd, starts the
/// receiving thread (epoll_wait, read, acknowledge, probe, unmask for INTx), and
/// drives it with the writer of cbl_driver.h storing to 0x60. Everything is
/// closed before returning. Returns 0, or a positive errno with a message in `error`.
int cbl_vfio_edu_roundtrip(const char *bdf, cbl_edu_interrupt kind, cbl_probe *probe, uint64_t rounds,
                           uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *receiver,
                           const cbl_thread_placement *writer, char *error, size_t error_size);

/// Maps `size` bytes of a VFIO region (`offset` in the device fd) a second time,
/// for the shared writer and ISR code. Returns NULL with errno set on failure.
volatile void *cbl_map_region(int device_fd, uint64_t offset, size_t size);
/// Unmaps what cbl_map_region mapped.
void cbl_unmap_region(volatile void *base, size_t size);

/// The writer half alone, for the bridge's run: round i waits for delivery i-1,
/// spins `gap_ns`, stamps probe->sent_ns and stores `value` to bar0 + offset.
/// Runs on a new thread placed by `placement`. Same results as cbl_drive_pingpong.
int cbl_drive_pingpong_mmio(cbl_probe *probe, volatile void *bar0, uint32_t offset, uint32_t value, uint64_t rounds,
                            uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *placement);

#endif
