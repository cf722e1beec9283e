// How a selftest makes a device interrupt, and how its ISR quiets the device.
public import InterruptBridge
public import InterruptBridgeSystem

/// A way to make a device raise message (or line) N, and the acknowledgement its
/// ISR performs. `acknowledge` runs inside the ISR: it must not allocate or block.
public struct SelftestStimulus: Sendable {
    /// For the report ("edu register 0x60").
    public var name: String
    /// Makes the device interrupt on `message` (0 for INTx).
    public var raise: @Sendable (_ message: Int) throws -> Void
    /// What the ISR does to quiet the device; returns whether the device had
    /// something pending (the ISR's claim).
    public var acknowledge: @Sendable () -> Bool
    /// Whether the kernel's IRQ handler sees these interrupts (a VFIO loopback
    /// trigger does not go through it, so /proc/interrupts does not count it).
    public var kernelCounts: Bool
    /// Quiets the device before the ISR is connected, as a driver's start-device
    /// code does: a level interrupt a previous user left asserted is never seen by
    /// the kernel when INTx is enabled (measured on the rig), so it is cleared first.
    public var quiesce: @Sendable () -> Void

    public init(name: String, kernelCounts: Bool, raise: @escaping @Sendable (_ message: Int) throws -> Void,
                acknowledge: @escaping @Sendable () -> Bool, quiesce: @escaping @Sendable () -> Void = {}) {
        self.quiesce = quiesce
        self.name = name
        self.kernelCounts = kernelCounts
        self.raise = raise
        self.acknowledge = acknowledge
    }

    /// QEMU's edu (1234:11e8): write 0x60 to interrupt; the ISR reads the status
    /// at 0x24 and writes it to 0x64 to acknowledge.
    public static func edu(_ bar: MappedRegion) -> SelftestStimulus {
        SelftestStimulus(name: "edu register 0x60", kernelCounts: true,
                         raise: { _ in bar.write32(1, at: 0x60) },
                         acknowledge: {
                             let status = bar.read32(at: 0x24)
                             if status != 0 { bar.write32(status, at: 0x64) }
                             return status != 0
                         },
                         quiesce: { bar.write32(bar.read32(at: 0x24), at: 0x64) })
    }

    /// ivshmem-doorbell (1af4:1110): ring our own doorbell (BAR0 offset 12 =
    /// own ID << 16 | vector); MSI-X needs no acknowledgement.
    public static func ivshmemDoorbell(_ vfio: VFIODevice) throws(SystemError) -> SelftestStimulus {
        let ownID = try vfio.readBAR32(0, at: 8)
        return SelftestStimulus(name: "ivshmem doorbell", kernelCounts: true,
                                raise: { message in try vfio.writeBAR32(0, at: 12, ownID << 16 | UInt32(message)) },
                                acknowledge: { true })
    }

    /// Any vfio-pci device: VFIO_IRQ_SET_ACTION_TRIGGER makes the kernel signal
    /// the vector's eventfd as the device would (bypassing the IRQ handler).
    public static func vfioLoopback(_ backend: VFIOBackend) -> SelftestStimulus {
        SelftestStimulus(name: "VFIO loopback trigger", kernelCounts: false,
                         raise: { message in try backend.triggerLoopback(message: message) },
                         acknowledge: { true })
    }

    /// The simulated backend: write its eventfds; the ISR acknowledges the line.
    public static func simulated(_ backend: SimulatedBackend) -> SelftestStimulus {
        SelftestStimulus(name: "simulated eventfd write", kernelCounts: false,
                         raise: { message in
                             guard backend.raise(message: message) else { throw BackendError.closed }
                         },
                         acknowledge: {
                             backend.acknowledge()
                             return true
                         })
    }
}
