// Real INTx through uio_pci_generic: poll /dev/uioN, read the running total,
// re-enable by clearing Interrupt Disable in the Command register.
public import InterruptBridgeCore
public import InterruptBridgeSystem
public import Logging

/// A PCI function bound to uio_pci_generic, as an `InterruptBackend` (INTx only).
///
/// The kernel's handler masks the function (sets Interrupt Disable) on every
/// interrupt; the source's `unmask` clears the bit again after the ISR chain ran.
public final class UIOBackend: InterruptBackend {
    public let device: PCIDeviceInfo
    public let supportedInterrupts: [InterruptKind: Int]
    private let logger: Logger
    let sysfs: SysfsPCI
    private let devRoot: String
    private let state: LockedValue<State>
    private let unmasks = UnmaskCounter()
    /// This process's claim on the function (`UIODevice.claim`), released by `close()`.
    private let claim: OwnedDescriptor
    /// The sysfs resourceN file of each I/O-port BAR, opened once so that a port access
    /// (READ_PORT_*, perhaps in an ISR) is one pread: kept until the backend goes.
    let portFiles: [Int: OwnedDescriptor]

    /// How many times INTx was re-enabled after a claimed interrupt.
    public var unmaskCount: UInt64 { unmasks.total }

    private struct State {
        /// The open node and config file while INTx is enabled.
        var open: UIODevice?
        var closed = false
    }

    /// Checks that the function is bound to uio_pci_generic and has a UIO node, and claims
    /// it for this process (`UIODevice.claim`: another process holding it is `.system` EBUSY,
    /// as VFIO's open of a device in use is). The node itself opens in `enableInterrupts`.
    public init(device: PCIDeviceInfo, sysfs: SysfsPCI = SysfsPCI(), devRoot: String = "/dev", logger: Logger) throws(BackendError) {
        let address = device.address.description
        if let driver = sysfs.driver(of: address), driver != "uio_pci_generic" {
            throw .kernelLimit("\(address) is bound to \(driver), not uio_pci_generic (\(howToBind(address, to: "uio_pci_generic")))")
        }
        guard sysfs.uioName(of: address) != nil else {
            throw .kernelLimit("\(address) has no UIO node: bind it to uio_pci_generic first (\(howToBind(address, to: "uio_pci_generic")))")
        }
        claim = try backendCall { () throws(SystemError) in try UIODevice.claim(address: address, sysfs: sysfs, devRoot: devRoot) }
        // uio_pci_generic's probe enabled the function, which routed its line.
        self.device = device.withEnabledLine(from: sysfs)
        self.sysfs = sysfs
        self.devRoot = devRoot
        var logger = logger
        logger[metadataKey: "device"] = "\(device.address)"
        self.logger = logger
        // uio_pci_generic serves INTx only; it binds a function without a pin too (the
        // kernel warns "No IRQ assigned"), which then has nothing to offer.
        supportedInterrupts = device.interruptPin != nil ? [.intx: 1] : [:]
        var portFiles: [Int: OwnedDescriptor] = [:]
        for bar in device.bars where bar.space == .io && bar.size > 0 {
            portFiles[bar.index] = try? FileIO.open(sysfs.resourcePath(address, bar: bar.index), .readWrite)
        }
        self.portFiles = portFiles
        let state = LockedValue(State())
        self.state = state
        removalGate = RemovalGate(masking: {
            // Gone already, the config file fails (ENODEV): nothing to mask any more.
            state.withLock { state in
                guard let open = state.open else { return }
                try? UIODevice.mask(config: open.config.rawValue)
            }
        }, isGoing: {
            // The node fails as soon as uio_pci_generic has let the card go: the raiser hears it
            // itself, while the config file still reaches the card, instead of waiting for the loop.
            state.withLock { state in state.open.map { UIODevice.hasFailed($0.node.rawValue) } ?? false }
        })
    }

    /// The device's own raises pass it. Closed by the dispatch loop when the node reads the
    /// device gone (`releaseAfterRemoval` closes it too), which masks the line first.
    ///
    /// Why: uio_pci_generic's remove frees the IRQ handler before the reader learns anything
    /// (UIO has no removal request), and the card stays on the bus until the hot-plug finishes.
    /// A raise that lands then (a `trigger` in flight), or a cause pending with the line
    /// unmasked, asserts a level no handler takes: in the rig 100,000 unhandled interrupts on
    /// the line in one pull, and the kernel disabled the IRQ for good ("nobody cared"), so the
    /// card added back at the same address never interrupted again. Interrupt Disable, set
    /// through the still-open config file, drops the level; the gate refuses later raises. No
    /// register of the card is touched: its BAR mappings may be gone already (SIGBUS). Each raise
    /// first polls the node (one poll(2), off the interrupt path): one that finds the card going
    /// closes the gate itself, which narrows the window to the loop's reading of the EIO.
    public let removalGate: RemovalGate?

    /// The open UIO device while INTx is enabled.
    public var uioDevice: UIODevice? { state.withLock { $0.open } }

    // UIO has no device-request or error notification: no auxiliary sources.

    public func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        guard kind == .intx, count == 1 else {
            throw .unsupported(kind: kind, requested: count, available: kind == .intx ? 1 : 0)
        }
        return try state.withLock { (state) throws(BackendError) -> [InterruptSource] in
            if state.closed { throw .closed }
            if state.open != nil { throw .kernelLimit("INTx of \(device.address) is already enabled: UIO delivers it to one source") }
            let uio = try backendCall { () throws(SystemError) in
                let uio = try UIODevice(address: device.address.description, sysfs: sysfs, devRoot: devRoot)
                // Start unmasked (a previous user may have left Interrupt Disable set), with a
                // level the function asserts already raised anew for this listener: the node is
                // open first, so the interrupt the kernel then counts is a new one for it.
                try uio.start()
                return uio
            }
            state.open = uio
            logger.debug("enabled INTx through \(uio.nodePath)")
            return [InterruptSource(descriptor: uio.node.rawValue, drain: .uioTotal, unmask: UIOUnmask(config: uio.config.rawValue, counter: unmasks), message: 0)]
        }
    }

    /// Closes the node and the config file (the kernel keeps the line enabled and
    /// counting; nobody waits on it any more). Idempotent.
    public func disableInterrupts(_ kind: InterruptKind) throws(BackendError) {
        guard kind == .intx else { return }
        state.withLock { $0.open = nil }
    }

    /// After the node read the device gone: masks the line and refuses raises (`removalGate`),
    /// if the dispatch loop has not already.
    public func releaseAfterRemoval() {
        removalGate?.close()
    }

    /// Disables INTx; later enables fail with `.closed`. Idempotent.
    public func close() {
        state.withLock { state in
            state.open = nil
            state.closed = true
        }
        claim.close()
    }
}

/// Clears Interrupt Disable through the config file: two syscalls, no allocation.
///
/// Borrows the config descriptor: the backend closes it in `disableInterrupts`,
/// after the dispatch loop has forgotten the source (the protocol's contract).
struct UIOUnmask: InterruptUnmasking {
    let config: Int32
    let counter: UnmaskCounter
    func unmask() throws(SystemError) {
        try UIODevice.unmask(config: config)
        counter.count()
    }
}
