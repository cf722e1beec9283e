public import InterruptBridgeCore
public import InterruptBridgeSystem

/// Where a device's interrupts come from: VFIO, UIO, or the simulated backend.
///
/// A backend owns every file descriptor it hands out and closes them in
/// `disableInterrupts` (or when it is closed); the dispatch loop only borrows
/// them, and forgets them before the backend closes them.
public protocol InterruptBackend: AnyObject, Sendable {
    /// The device this backend drives, as discovered (ids, BARs, capabilities).
    var device: PCIDeviceInfo { get }

    /// Which interrupt kinds the backend can deliver for this device, with the
    /// most vectors of each (a VFIO device's VFIO_DEVICE_GET_IRQ_INFO counts,
    /// UIO: INTx only).
    var supportedInterrupts: [InterruptKind: Int] { get }

    /// Enables `count` vectors of `kind` and returns one source per vector,
    /// in vector (message) order. Throws if the kind is unsupported, the count
    /// exceeds what the device has, or the kernel refuses.
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource]

    /// Disables the kind and closes the descriptors of its sources. Idempotent.
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError)

    /// The Message Address and Data the device was programmed with for each
    /// enabled message of `kind`, in message order, where the backend can read
    /// them (MSI capability, MSI-X table); nil where it cannot. Called after
    /// `enableInterrupts`. Default: nil.
    func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]?

    /// Descriptors besides the interrupt vectors that the dispatch loop watches
    /// while any interrupt of the device is connected, and from
    /// `InterruptDispatcher.watchEvents(of:)` on (VFIO's REQ and ERR
    /// eventfds). They must stay open until the backend goes away (or
    /// `releaseAfterRemoval`): the loop may watch them with nothing enabled. When one is readable the loop calls its `read`, which drains it
    /// and says what happened; the loop then acts on each event itself (a
    /// removal request disconnects every interrupt of the device) and publishes
    /// it on the dispatcher's `events()`. Default: none.
    var auxiliarySources: [AuxiliarySource] { get }

    /// Stops one enabled vector from signalling (a contained storm): VFIO detaches
    /// the message's eventfd so the kernel stops handling it. A level-triggered
    /// line needs nothing here: the loop leaves it masked. Default: nothing (the
    /// loop stops watching the descriptor either way).
    func suspendVector(_ kind: InterruptKind, message: Int) throws(BackendError)

    /// Undoes `suspendVector`. Default: nothing.
    func resumeVector(_ kind: InterruptKind, message: Int) throws(BackendError)

    /// Called by the dispatch loop that read a removal request, after it
    /// disconnected the device's interrupts and stopped watching its event
    /// descriptors: give the device back to the kernel, whose unbind waits for
    /// it (VFIO: close the device). Interrupts still enabled (by another loop)
    /// must stay as they are; release once they are disabled. Default: nothing.
    func releaseAfterRemoval()

    /// What the device's own raises pass through, closed by `releaseAfterRemoval` just
    /// before the device is given back, after running the owner's quiesce (see
    /// `RemovalGate`). Default: nil (a backend whose release leaves nothing to order).
    var removalGate: RemovalGate? { get }

    /// Maps BAR `bar` for register access through an address (the WDK facade's
    /// MmMapIoSpace), shared with the device: VFIO's region mmap, sysfs resourceN under
    /// UIO, a simulated device's own memory (every mapping of one BAR shows the same
    /// registers). Throws where the BAR cannot be mapped (I/O ports, a VFIO region without
    /// mmap): `readRegister` and `writeRegister` reach those. Default: unsupported.
    func mapRegisters(bar: Int) throws(BackendError) -> MappedRegion

    /// One access of `byteCount` bytes (1, 2, 4 or 8) at `offset` in BAR `bar`, without a
    /// mapping: a system call for VFIO and UIO (the way to I/O ports, the WDK facade's
    /// READ_PORT_*), memory for a simulated device. Never allocates. Default: unsupported.
    func readRegister(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> UInt64

    /// Writes the low `byteCount` bytes of `value` at `offset` in BAR `bar`, as `readRegister` reads.
    func writeRegister(bar: Int, offset: Int, byteCount: Int, value: UInt64) throws(BackendError)

    /// Lets the device reach memory by DMA (the WDK facade's IoGetDmaAdapter): VFIO sets Bus
    /// Master Enable in its command register when it is off. Throws where the backend can
    /// map no memory for the device (UIO: no IOMMU mapping). Default: unsupported.
    func enableDMA() throws(BackendError)

    /// Allocates `length` bytes, rounded up to whole pages, of zeroed memory the device reads
    /// and writes at a device address whose last byte is at or below `highestAddress` (the
    /// device's DMA mask); the WDK facade's AllocateCommonBuffer. VFIO maps it through the
    /// IOMMU; a simulated device's is plain memory (`SimulatedBackend.deviceMemory`). Throws
    /// when no such range is free, the kernel refuses, or the backend gives no DMA.
    func allocateDMABuffer(length: Int, highestAddress: UInt64) throws(BackendError) -> DMABuffer

    /// Unmaps from the device and frees the buffer `allocateDMABuffer` returned at
    /// `deviceAddress`; its device address may be handed out again. Throws `.kernelLimit`
    /// when no buffer starts there.
    func freeDMABuffer(at deviceAddress: UInt64) throws(BackendError)
}

extension InterruptBackend {
    public func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]? { nil }
    public var auxiliarySources: [AuxiliarySource] { [] }
    public func suspendVector(_ kind: InterruptKind, message: Int) throws(BackendError) {}
    public func resumeVector(_ kind: InterruptKind, message: Int) throws(BackendError) {}
    public func releaseAfterRemoval() {}
    public var removalGate: RemovalGate? { nil }
    public func mapRegisters(bar: Int) throws(BackendError) -> MappedRegion {
        throw .kernelLimit("\(device.address): this backend gives no access to BAR\(bar)'s registers")
    }
    public func readRegister(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> UInt64 {
        throw .kernelLimit("\(device.address): this backend gives no access to BAR\(bar)'s registers")
    }
    public func writeRegister(bar: Int, offset: Int, byteCount: Int, value: UInt64) throws(BackendError) {
        throw .kernelLimit("\(device.address): this backend gives no access to BAR\(bar)'s registers")
    }
    public func enableDMA() throws(BackendError) {
        throw .kernelLimit("\(device.address): this backend maps no memory for the device's DMA")
    }
    public func allocateDMABuffer(length: Int, highestAddress: UInt64) throws(BackendError) -> DMABuffer {
        throw .kernelLimit("\(device.address): this backend maps no memory for the device's DMA")
    }
    public func freeDMABuffer(at deviceAddress: UInt64) throws(BackendError) {
        throw .kernelLimit("\(device.address): this backend maps no memory for the device's DMA")
    }
}

/// How a function gets onto `driver`, for a refusal: the command line's way, and the QEMU
/// rig's (where a user's test runs without irqbridge installed).
func howToBind(_ address: String, to driver: String) -> String {
    "irqbridge bind \(address) --driver \(driver); in the QEMU rig, --bind \(address)=\(driver) or Rig.bind"
}

/// Checks a register access against the BAR's size before a backend makes it: a BAR the
/// device does not have, or an access that leaves it, is `.kernelLimit` with the reason.
func checkRegisterAccess(_ device: PCIDeviceInfo, bar: Int, offset: Int, byteCount: Int) throws(BackendError) {
    guard let size = device.bars.first(where: { $0.index == bar })?.size, size > 0 else {
        try checkRegisterWidth(byteCount)
        throw .kernelLimit("\(device.address) has no BAR\(bar)")
    }
    try checkRegisterAccess(device.address, bar: bar, offset: offset, byteCount: byteCount, within: size)
}

/// The same check against a window of `size` bytes a backend found for the BAR itself
/// (vfio-pci's region).
func checkRegisterAccess(_ address: PCIAddress, bar: Int, offset: Int, byteCount: Int, within size: UInt64) throws(BackendError) {
    try checkRegisterWidth(byteCount)
    guard offset >= 0, UInt64(offset) + UInt64(byteCount) <= size else {
        throw .kernelLimit("\(address): BAR\(bar)+0x\(String(offset, radix: 16)) (\(byteCount * 8)-bit) is outside its 0x\(String(size, radix: 16)) bytes")
    }
}

private func checkRegisterWidth(_ byteCount: Int) throws(BackendError) {
    guard byteCount == 1 || byteCount == 2 || byteCount == 4 || byteCount == 8 else {
        throw .kernelLimit("a register access is 1, 2, 4 or 8 bytes, not \(byteCount)")
    }
}

/// A message-signaled interrupt's routing as programmed into the device.
public struct ProgrammedMessage: Sendable, Hashable {
    public var address: UInt64
    public var data: UInt32
    public init(address: UInt64, data: UInt32) {
        self.address = address
        self.data = data
    }
}

/// A descriptor the dispatch loop watches for a backend, outside the interrupt
/// path (owned by the backend, which closes it only after the loop forgot it).
public struct AuxiliarySource: Sendable {
    /// The descriptor to wait on.
    public var descriptor: Int32
    /// What it is, for logs ("VFIO REQ").
    public var name: String
    /// Called on the dispatch thread when the descriptor is readable: drains it
    /// and returns the events it carried (none: a spurious wake-up).
    public var read: @Sendable () -> [BackendEvent]

    public init(descriptor: Int32, name: String, read: @escaping @Sendable () -> [BackendEvent]) {
        self.descriptor = descriptor
        self.name = name
        self.read = read
    }
}

/// One interrupt vector, as the dispatch loop sees it: a descriptor that becomes
/// readable when the interrupt fires, how to consume the notification, and how
/// to re-enable a level-triggered line after the ISR chain ran (claimed or not).
public struct InterruptSource: Sendable {
    /// The descriptor to wait on (owned by the backend).
    public var descriptor: Int32
    /// How to read and clear one notification.
    public var drain: Drain
    /// Level-triggered lines are masked by the kernel when they fire; this re-enables
    /// them. nil for edge-triggered (message-signaled) vectors. Must not allocate.
    public var unmask: (any InterruptUnmasking)?
    /// The message number (0 for INTx).
    public var message: Int

    public init(descriptor: Int32, drain: Drain, unmask: (any InterruptUnmasking)?, message: Int) {
        self.descriptor = descriptor
        self.drain = drain
        self.unmask = unmask
        self.message = message
    }

    public enum Drain: Sendable {
        /// An eventfd: read 8 bytes, the number of signals since the last read (coalesced).
        case eventfdCounter
        /// A UIO device node: read 4 bytes, the kernel's running interrupt total.
        case uioTotal
    }
}

/// Re-enables a level-triggered interrupt (VFIO unmask, UIO Interrupt Disable clear).
/// Called on the dispatch thread after the ISR chain ran (claimed or not): must not
/// allocate or block.
public protocol InterruptUnmasking: Sendable {
    func unmask() throws(SystemError)
}

/// Something the device or kernel told the backend, outside the interrupt path.
public enum BackendEvent: Sendable {
    /// The kernel asks for the device back (VFIO_PCI_REQ_IRQ_INDEX): every
    /// interrupt object of the device must be disconnected.
    case removalRequested(reason: String)
    /// The device reported an error (VFIO_PCI_ERR_IRQ_INDEX).
    case errorReported(reason: String)
}

/// Why a backend could not do what was asked.
public enum BackendError: Error, Sendable, CustomStringConvertible {
    /// The device has no interrupts of that kind (or fewer vectors than asked).
    case unsupported(kind: InterruptKind, requested: Int, available: Int)
    /// The kernel cannot do this, with the reason (e.g. MSI-X cannot grow once enabled,
    /// INTx without PCI 2.3 masking).
    case kernelLimit(String)
    /// A system call failed.
    case system(SystemError)
    /// The backend was closed or the device removed.
    case closed
    /// A message (vector) number outside those enabled: `enabled` of `kind` are, 0..<enabled.
    case noSuchMessage(kind: InterruptKind, message: Int, enabled: Int)

    public var description: String {
        switch self {
        case let .unsupported(kind, requested, available):
            "\(kind): \(requested) vector(s) requested, the device has \(available)"
        case let .kernelLimit(reason): reason
        // VFIO lets one user of a group (and of a device) at a time: say so, keeping the errno
        // for callers that look at it.
        case let .system(error) where error.code == EBUSY && error.description.contains("/dev/vfio/"):
            error.description + ": the device is open already, by this process or another (VFIO allows one user at a time: "
                + "another irqbridge, a test still running, a VM?)"
        case let .system(error): error.description
        case .closed: "the device was closed or removed"
        case let .noSuchMessage(kind, message, enabled):
            "\(kind) message \(message) is not enabled: " + (enabled == 1 ? "only message 0 is" : "messages 0 to \(enabled - 1) are")
        }
    }
}

#if canImport(Glibc)
import Glibc  // errno names
#endif
