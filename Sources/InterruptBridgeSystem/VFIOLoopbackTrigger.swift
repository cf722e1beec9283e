// VFIO's loopback trigger resolved once for a run of raises: the device's descriptor
// and one prebuilt VFIO_DEVICE_SET_IRQS request per sub-index, so a raise is one
// ioctl. `irqbridge trigger`, the daemon's trigger requests and the selftest's
// loopback cases raise through it; the selftest's stimulus-to-ISR latency counts
// everything a raise runs after its mark (issue 11: in the TCG rig the lock, the
// closure and the stack-built request of `VFIODevice.trigger` cost 1.7 to 2.4 us).
import CInterruptBridge

/// Makes the kernel signal an enabled interrupt index's eventfds as if the device had
/// interrupted (VFIO_DEVICE_SET_IRQS, DATA_NONE | ACTION_TRIGGER, one sub-index).
///
/// Everything is resolved at creation: `fire` takes no lock, builds nothing and
/// does not allocate. The trigger holds its `VFIODevice` (and so the descriptor)
/// open while it lives: keep one for a run of raises, not for the device's
/// lifetime, since closing a device (a VFIO removal request) waits for its last
/// holder. Firing an index that was disabled since throws EINVAL.
public final class VFIOLoopbackTrigger: @unchecked Sendable {
    // @unchecked: `requests` is written only in init, then only read (by the
    // kernel, through `fire`) until deinit frees it; every other field is a `let`.
    public let device: VFIODevice
    public let index: VFIO.IRQIndex
    /// Sub-indexes 0..<count can be fired.
    public let count: Int
    private let descriptor: Int32
    private let requests: UnsafeMutablePointer<cib_vfio_irq_set_header>

    /// Prepares sub-indexes 0..<`count` of `index` on `device`.
    public init(device: VFIODevice, index: VFIO.IRQIndex, count: Int) {
        precondition(count >= 1 && count <= Int(CIB_VFIO_IRQ_SET_MAX_COUNT), "\(count) sub-indexes: 1...\(CIB_VFIO_IRQ_SET_MAX_COUNT)")
        self.device = device
        self.index = index
        self.count = count
        descriptor = device.descriptor.rawValue
        requests = .allocate(capacity: count)
        for subindex in 0..<count {
            (requests + subindex).initialize(to: cib_vfio_irq_set_header(
                argsz: UInt32(MemoryLayout<cib_vfio_irq_set_header>.size),
                flags: CIB_VFIO_IRQ_SET_DATA_NONE | CIB_VFIO_IRQ_SET_ACTION_TRIGGER,
                index: index.rawValue, start: UInt32(subindex), count: 1))
        }
    }

    deinit { requests.deallocate() }

    /// Fires sub-index `subindex`: one ioctl. A sub-index outside 0..<count is
    /// EINVAL, as the kernel answers one past the index's vectors.
    public func fire(_ subindex: Int) throws(SystemError) {
        guard subindex >= 0, subindex < count else {
            throw SystemError("VFIO_DEVICE_SET_IRQS \(index) trigger \(subindex) (\(count) sub-indexes prepared)", code: EINVAL)
        }
        let request = UnsafePointer(requests + subindex)
        _ = try syscall("VFIO_DEVICE_SET_IRQS \(index) trigger \(subindex)") { cib_vfio_device_set_irqs_prepared(descriptor, request) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
