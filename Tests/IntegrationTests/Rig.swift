// What the integration tests know about the QEMU rig: whether they are inside it,
// where its devices are, and how to make them interrupt.
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Logging
import Testing

/// Every integration suite nests in this one, so they run one at a time: a VFIO
/// group can be open only once, and the devices are shared.
@Suite("Integration in the QEMU rig", .serialized, .enabled(if: Rig.available, Rig.integrationSkipReason))
struct RigIntegrationTests {}

/// What this package's integration suites add to the test kit's `Rig` (roles, bind, hot-plug).
extension Rig {
    /// Inside the rig (IRQBRIDGE_RIG=1, set by every rig run) and VFIO exists.
    static let available: Bool = isInside && FileIO.exists(VFIO.containerPath)
    static let integrationSkipReason: Comment = "not inside the QEMU rig (needs IRQBRIDGE_RIG=1 and /dev/vfio/vfio): run scripts/rig/integration.sh"

    /// The rig's pinned addresses (scripts/rig/run.sh --devices edu,edu,ivshmem-doorbell:4),
    /// by role when the run names them.
    static let eduVFIO = device("edu") ?? PCIAddress("0000:00:03.0")!
    static let eduUIO = device("edu2") ?? PCIAddress("0000:00:04.0")!
    static let ivshmem = device("ivshmem-doorbell") ?? PCIAddress("0000:00:05.0")!

    /// Interrupts per case.
    static let count = Int(getenv("IRQBRIDGE_RIG_COUNT").map { String(cString: $0) } ?? "") ?? 2000

    static let logger: Logger = {
        var logger = Logger(label: "irqbridge.integration")
        logger.logLevel = .notice
        return logger
    }()

    /// Binds the device to `driver` (devices start unbound in the rig), through the
    /// library's own binding helper.
    static func bind(_ address: PCIAddress, to driver: UserSpaceDriver) throws {
        try bind(address, to: driver, logger: logger)
    }

    /// What discovery would report for the rig's device, read from sysfs.
    static func deviceInfo(_ address: PCIAddress) throws -> PCIDeviceInfo {
        try SysfsDeviceInfo.read(address)
    }

    /// The kernel's count for the device's VFIO handler (e.g. "vfio-msi[") or UIO line.
    static func kernelCount(_ handler: String, _ address: PCIAddress) throws -> UInt64 {
        try ProcInterruptsLine.total(in: ProcInterrupts.read(), matching: handler, address: address.description) ?? 0
    }

    static func kernelCount(irq: UInt32) throws -> UInt64 {
        try ProcInterruptsLine.total(in: ProcInterrupts.read(), irq: irq) ?? 0
    }
}

/// QEMU's edu device registers (BAR0).
struct Edu {
    static let raise = 0x60
    static let acknowledge = 0x64
    static let status = 0x24
    let bar: MappedRegion

    func interrupt(_ bits: UInt32 = 1) { bar.write32(bits, at: Self.raise) }

    /// What an ISR does: read the status, acknowledge it; true when there was something.
    @discardableResult
    func acknowledgeAll() -> Bool {
        let status = bar.read32(at: Self.status)
        if status != 0 { bar.write32(status, at: Self.acknowledge) }
        return status != 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
