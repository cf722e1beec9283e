// Real interrupts through vfio-pci: INTx (eventfd + unmask irqfd), MSI and MSI-X
// (one eventfd per vector), the device-request and error interrupts as events.
public import InterruptBridgeCore
public import InterruptBridgeSystem
public import Logging
import Synchronization

/// A PCI function bound to vfio-pci, as an `InterruptBackend`.
///
/// vfio-pci enables one interrupt kind at a time, and MSI/MSI-X sets cannot grow
/// once enabled (VFIO_IRQ_INFO_NORESIZE): both are reported as
/// `BackendError.kernelLimit` with what to do instead. Every descriptor the
/// backend opens is owned by an object that closes it, so an error on any path
/// leaks nothing.
public final class VFIOBackend: InterruptBackend {
    public let device: PCIDeviceInfo
    public let supportedInterrupts: [InterruptKind: Int]
    /// The device-request (REQ) and error (ERR) interrupt counts (0 when absent).
    public let requestInterrupts: Int
    public let errorInterrupts: Int

    let logger: Logger
    let sysfs: SysfsPCI
    private let unmasks = UnmaskCounter()

    /// How many times INTx was unmasked after a claimed interrupt (for tests and
    /// the selftest, which must not raise the next interrupt before the unmask).
    public var unmaskCount: UInt64 { unmasks.total }
    private let state: LockedValue<State>
    /// Signalled by the kernel for VFIO_PCI_REQ_IRQ_INDEX / VFIO_PCI_ERR_IRQ_INDEX.
    private let requestSignal: OwnedDescriptor?
    private let errorSignal: OwnedDescriptor?
    /// Where each BAR's region lies in the device file (index 0...5; nil: no such region),
    /// read once so that a register access is one pread (`readRegister`).
    let barRegions: [VFIO.RegionInfo?]
    /// The device for register accesses (MmMapIoSpace, READ_PORT_*), until `close()`: its
    /// own lock, held only to copy the reference, so an ISR's port access never waits behind
    /// the state lock, which a connect holds across its ioctls.
    let registerDevice: LockedValue<VFIODevice?>
    /// The DMA buffers allocated and not yet freed, by IOVA (VFIOBackend+DMA.swift): their
    /// own lock, taken across the map and unmap ioctls, never on the interrupt path.
    let dmaBuffers = LockedValue<[UInt64: VFIODMABuffer]>([:])

    private struct State {
        /// nil once closed or given back to the kernel after a removal request.
        var device: VFIODevice?
        var enabled: Enabled?
        /// The kernel asked for the device back: close it as soon as no interrupts are enabled.
        var removalRequested = false
    }

    private struct Enabled {
        var kind: InterruptKind
        var triggers: [OwnedDescriptor]
        var unmask: OwnedDescriptor?
    }

    /// Opens the device through its IOMMU group (`device.iommuGroup`, or sysfs when nil).
    ///
    /// Throws `.kernelLimit` naming the devices that keep the group from being viable,
    /// and `.system` when the container, group or device cannot be opened.
    public convenience init(device: PCIDeviceInfo, container: VFIOContainer? = nil, sysfs: SysfsPCI = SysfsPCI(),
                            logger: Logger) throws(BackendError) {
        let address = device.address.description
        guard let groupNumber = device.iommuGroup ?? sysfs.iommuGroup(of: address) else {
            throw .kernelLimit("\(address) has no IOMMU group: VFIO needs an IOMMU (intel_iommu=on, or a vIOMMU with interrupt remapping)")
        }
        // Not on vfio-pci, the device has no VFIO node to open (a bare ENOENT otherwise).
        let driver = sysfs.driver(of: address)
        if driver != "vfio-pci" {
            throw .kernelLimit("\(address) is bound to \(driver ?? "no driver"), not vfio-pci (\(howToBind(address, to: "vfio-pci")))")
        }
        let group: VFIOGroup
        do {
            switch try VFIOGroup.open(groupNumber, container: container ?? VFIOContainer(), sysfs: sysfs) {
            case let .success(opened): group = opened
            case let .failure(notViable): throw BackendError.kernelLimit(notViable.refusal(opening: address))
            }
            try self.init(device: device, vfio: group.openDevice(address), sysfs: sysfs, logger: logger)
        } catch let error as BackendError {
            throw error
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            throw .kernelLimit("\(address): \(error)")
        }
    }

    /// Wraps an already-open VFIO device.
    public init(device: PCIDeviceInfo, vfio: VFIODevice, sysfs: SysfsPCI = SysfsPCI(), logger: Logger) throws(BackendError) {
        // Opening the function through vfio-pci enabled it, which routed its line.
        self.device = device.withEnabledLine(from: sysfs)
        self.sysfs = sysfs
        var logger = logger
        logger[metadataKey: "device"] = "\(device.address)"
        self.logger = logger
        do {
            var supported: [InterruptKind: Int] = [:]
            for (kind, index) in [(InterruptKind.intx, VFIO.IRQIndex.intx), (.msi, .msi), (.msix, .msix)] {
                let count = try vfio.irqInfo(index).count
                if count > 0 { supported[kind] = count }
            }
            supportedInterrupts = supported
            requestInterrupts = try Self.optionalCount(.req, of: vfio)
            errorInterrupts = try Self.optionalCount(.err, of: vfio)
        } catch {
            throw .system(error)
        }
        barRegions = (0..<6).map { bar in (try? vfio.regionInfo(bar: bar)).flatMap { $0.size > 0 ? $0 : nil } }
        requestSignal = Self.signal(.req, of: vfio, count: requestInterrupts, logger: logger)
        errorSignal = Self.signal(.err, of: vfio, count: errorInterrupts, logger: logger)
        state = LockedValue(State(device: vfio))
        registerDevice = LockedValue(vfio)
    }

    deinit { close() }

    /// REQ and ERR exist only where vfio-pci offers them: ERR on PCI Express functions
    /// (EINVAL elsewhere), REQ on kernels since 4.1.
    private static func optionalCount(_ index: VFIO.IRQIndex, of vfio: VFIODevice) throws(SystemError) -> Int {
        guard vfio.info.irqs > Int(index.rawValue) else { return 0 }
        do throws(SystemError) {
            return try vfio.irqInfo(index).count
        } catch where error.code == EINVAL {
            return 0
        }
    }

    /// How many vectors of `kind` are enabled now (nil: the kind is not enabled).
    func enabledVectorCount(_ kind: InterruptKind) -> Int? {
        state.withLock { state in state.enabled.flatMap { $0.kind == kind ? $0.triggers.count : nil } }
    }

    /// The open VFIO device (config space, BARs, loopback trigger), nil once closed.
    public var vfioDevice: VFIODevice? { state.withLock { $0.device } }

    /// The REQ and ERR eventfds, watched by the dispatch loop while any interrupt
    /// of the device is connected or from `InterruptDispatcher.watchEvents(of:)`
    /// on. They stay open until the backend goes away, so the loop can never be
    /// left watching a closed descriptor.
    public var auxiliarySources: [AuxiliarySource] {
        var sources: [AuxiliarySource] = []
        let address = device.address
        if let request = requestSignal {
            sources.append(AuxiliarySource(descriptor: request.rawValue, name: "VFIO REQ") { [weak self] in
                guard (try? EventFD.read(request.rawValue)) != nil, let self else { return [] }
                // The loop disconnects the device's interrupts next, then calls
                // `releaseAfterRemoval`: the device is closed only once they are all
                // marked disconnected, so nobody sees it gone with an object connected.
                // The loop logs the removal with this reason; its owner hears of it as an event.
                logger.debug("the kernel asks for \(address) back")
                return [.removalRequested(reason: "the kernel asks for \(address) back (vfio-pci release request: unbind or hot-unplug)")]
            })
        }
        if let error = errorSignal {
            sources.append(AuxiliarySource(descriptor: error.rawValue, name: "VFIO ERR") { [weak self] in
                guard (try? EventFD.read(error.rawValue)) != nil, let self else { return [] }
                logger.debug("\(address) reported an error")  // the loop logs it, with the reason
                return [.errorReported(reason: "\(address) reported an uncorrectable PCI Express error (AER)")]
            })
        }
        return sources
    }

    /// The device's own raises pass it; closed (after the owner's quiesce) when the device is
    /// given back after a removal request.
    public let removalGate: RemovalGate? = RemovalGate()

    /// After a removal request: closes the device now if no interrupts are enabled
    /// (nothing was connected), else as soon as they are disabled.
    public func releaseAfterRemoval() {
        state.withLock { $0.removalRequested = true }
        releaseIfRequested()
    }

    private func releaseIfRequested() {
        let release = state.withLock { $0.removalRequested && $0.enabled == nil && $0.device != nil }
        if release {
            // First the owner's quiesce, with no raise in flight and none to come: once closed,
            // the card cannot be reached, and vfio-pci does not reset it on a removal.
            removalGate?.close()
            logger.info("closing the VFIO device after the kernel's removal request")
            // close() also unmaps the DMA buffers from the IOMMU and releases the device from
            // every register mapping (MmMapIoSpace, a profile's BARs), which would hold it open
            // in the kernel, whose unbind waits for it: each address reads zeroes from now on.
            close()
        }
    }

    /// Creates an eventfd and has the kernel signal it for the REQ or ERR index.
    private static func signal(_ index: VFIO.IRQIndex, of vfio: VFIODevice, count: Int, logger: Logger) -> OwnedDescriptor? {
        guard count > 0 else { return nil }
        do throws(SystemError) {
            let eventfd = try EventFD.open(name: "VFIO \(index)")
            try vfio.enableInterrupts(index, eventfds: [eventfd.rawValue])
            return eventfd
        } catch {
            logger.warning("cannot watch the \(index) interrupt: \(error)")
            return nil
        }
    }

    public func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        try state.withLock { (state) throws(BackendError) -> [InterruptSource] in
            guard let vfio = state.device else { throw .closed }
            let available = supportedInterrupts[kind] ?? 0
            guard count >= 1, count <= available else { throw .unsupported(kind: kind, requested: count, available: available) }
            if let enabled = state.enabled {
                if enabled.kind == kind && kind.isMessageSignaled {
                    throw .kernelLimit("\(kind) is already enabled with \(enabled.triggers.count) vector(s) \(Self.enabledElsewhere) and VFIO cannot add vectors to an "
                        + "enabled \(kind) set (VFIO_IRQ_INFO_NORESIZE): disable it, then enable all \(count) at once")
                }
                throw .kernelLimit("vfio-pci enables one interrupt kind at a time and \(enabled.kind) is enabled \(Self.enabledElsewhere): disable it before enabling \(kind)")
            }
            let enabled = try Self.enable(kind, count: count, on: vfio, device: device)
            state.enabled = enabled
            logger.debug("enabled \(count) \(kind) vector(s)")
            let unmasking = enabled.unmask.map { EventFDUnmask(eventfd: $0.rawValue, counter: unmasks) }
            return enabled.triggers.enumerated().map { message, trigger in
                InterruptSource(descriptor: trigger.rawValue, drain: .eventfdCounter, unmask: unmasking, message: message)
            }
        }
    }

    /// Creates the eventfds and hands them to the kernel. On failure everything made
    /// here is closed (the owners go away) and the index is left disabled.
    private static func enable(_ kind: InterruptKind, count: Int, on vfio: VFIODevice, device: PCIDeviceInfo) throws(BackendError) -> Enabled {
        let index = index(of: kind)
        let triggers = try backendCall { () throws(SystemError) in try (0..<count).map { message throws(SystemError) in try EventFD.open(name: "VFIO \(kind) trigger \(message)") } }
        if kind.isMessageSignaled { try backendCall { () throws(SystemError) in try vfio.enableBusMaster() } }
        do throws(SystemError) {
            try vfio.enableInterrupts(index, eventfds: triggers.map(\.rawValue))
        } catch {
            guard kind == .intx, error.code == EBUSY || error.code == EINVAL else { throw .system(error) }
            throw .kernelLimit("INTx of \(device.address) cannot be enabled (\(error.name)): without PCI 2.3 INTx masking "
                + "vfio-pci needs the line exclusively, and IRQ \(device.irqLine.map { String($0) } ?? "?") is in use")
        }
        guard kind == .intx else { return Enabled(kind: kind, triggers: triggers, unmask: nil) }
        do throws(SystemError) {
            let unmask = try EventFD.open(name: "VFIO INTx unmask")
            try vfio.setUnmaskEventFD(.intx, unmask.rawValue)
            // A line the device asserts already (a cause a previous user left pending: the
            // status register's Interrupt bit) is served at once, as under UIO, whether or not
            // the interrupt controller delivers a level that was high before the handler came
            // (QEMU's IO-APIC does not when the level rose while Linux left the pin masked and
            // edge-triggered, as it does once an IRQ is freed; nor any interrupt after it while the
            // level stays high: the TestKit article's "cannot emulate" list).
            // Masked first, as vfio-pci's handler leaves a line it signalled: the first pass's
            // unmask then finds a cause the ISR did not clear and signals again, as for any
            // interrupt (unmasked, the line would go silent after that one pass).
            // (0xffff: a function gone from the bus reads all ones; nothing to serve.)
            if let status = try? vfio.readConfig(UInt16.self, at: 0x06), status != 0xffff, status & 0x08 != 0 {
                try? vfio.mask(.intx)
                _ = try? EventFD.write(triggers[0].rawValue)
            }
            return Enabled(kind: kind, triggers: triggers, unmask: unmask)
        } catch {
            try? vfio.disableInterrupts(index)
            throw .system(error)
        }
    }

    public func disableInterrupts(_ kind: InterruptKind) throws(BackendError) {
        try state.withLock { (state) throws(BackendError) in
            guard let enabled = state.enabled, enabled.kind == kind else { return }
            // The eventfds close when `enabled` goes away, whatever the kernel says.
            state.enabled = nil
            do throws(SystemError) {
                try state.device?.disableInterrupts(Self.index(of: kind))
            } catch {
                throw .system(error)
            }
            logger.debug("disabled \(kind) (\(enabled.triggers.count) vector(s))")
        }
        releaseIfRequested()
    }

    /// Disables everything, unmaps the DMA buffers from the IOMMU, releases the device
    /// from every BAR mapping still alive (each address then reads zeroes, as after a
    /// removal), and drops the backend's hold on the device (then on its group and
    /// container, once no other device holds them). The kernel's unbind then waits for
    /// nothing of the backend's; it still waits while something else keeps the
    /// `VFIODevice` (a reference taken from `vfioDevice`, a `VFIOLoopbackTrigger` of a run
    /// in progress). The device's request and error eventfds close with the backend
    /// object, which a connected or watching dispatcher may still read. Idempotent.
    public func close() {
        registerDevice.withLock { $0 = nil }
        // The device reaches no DMA buffer from now on (none is mapped once the device is
        // let go: allocateDMABuffer looks at it under the buffers' lock); their memory stays
        // until freed.
        unmapDMABuffersFromDevice()
        let (device, enabled) = state.withLock { state in
            defer { state.device = nil; state.enabled = nil }
            return (state.device, state.enabled)
        }
        guard let device else { return }
        if let enabled { try? device.disableInterrupts(Self.index(of: enabled.kind)) }
        if requestSignal != nil { try? device.disableInterrupts(.req) }
        if errorSignal != nil { try? device.disableInterrupts(.err) }
        // A mapping kept past close (a MappedRegion, MmMapIoSpace) held the device open in the
        // kernel: a test's `defer { close() }` then Rig.unbind waited forever.
        device.barMappings.detachAll()
    }

    /// Detaches the eventfd of one enabled MSI/MSI-X vector (VFIO_DEVICE_SET_IRQS
    /// with fd -1 for that subindex): the kernel frees the vector's handler, so a
    /// storming vector costs nothing until `resumeVector`. INTx: nothing (the loop
    /// leaves the line masked). MSI without per-vector masking: nothing either (see
    /// `detachesWhenSuspended`); the loop has stopped watching the eventfd, so the
    /// storm costs the kernel's handler and no more.
    public func suspendVector(_ kind: InterruptKind, message: Int) throws(BackendError) {
        guard Self.detachesWhenSuspended(kind, device) else { return }
        try setTrigger(kind, message: message, attached: false)
    }

    /// Attaches the vector's eventfd again.
    public func resumeVector(_ kind: InterruptKind, message: Int) throws(BackendError) {
        guard Self.detachesWhenSuspended(kind, device) else { return }
        try setTrigger(kind, message: message, attached: true)
    }

    /// Whether a contained vector's eventfd is detached. Not for MSI on a function
    /// without per-vector masking: freeing the vector's handler has the kernel write a
    /// zero message into the capability (msi_domain_deactivate), which the function,
    /// its MSI still enabled and unmaskable, then uses: each interrupt of the storm
    /// becomes a DMA write to address 0, an IOMMU fault (seen in the rig with edu), or,
    /// with no IOMMU, a write to memory at 0. MSI-X and maskable MSI are masked first.
    static func detachesWhenSuspended(_ kind: InterruptKind, _ device: PCIDeviceInfo) -> Bool {
        switch kind {
        case .msix: true
        case .msi: device.msi?.perVectorMasking == true
        case .intx: false
        }
    }

    private func setTrigger(_ kind: InterruptKind, message: Int, attached: Bool) throws(BackendError) {
        guard kind.isMessageSignaled else { return }
        try state.withLock { (state) throws(BackendError) in
            guard let device = state.device, let enabled = state.enabled, enabled.kind == kind,
                  message >= 0, message < enabled.triggers.count else { throw .closed }
            let descriptor = attached ? enabled.triggers[message].rawValue : -1
            try backendCall { () throws(SystemError) in
                try device.enableInterrupts(Self.index(of: kind), eventfds: [descriptor], start: message)
            }
        }
    }

    /// Makes the device's own interrupt path fire vector `message` (VFIO loopback
    /// trigger): the kernel signals the eventfd as if the device had interrupted.
    public func triggerLoopback(message: Int = 0) throws(BackendError) {
        try state.withLock { (state) throws(BackendError) in
            let (device, enabled) = try Self.triggerable(state, self.device.address)
            guard message >= 0, message < enabled.triggers.count else {
                throw .noSuchMessage(kind: enabled.kind, message: message, enabled: enabled.triggers.count)
            }
            do throws(SystemError) { try device.trigger(Self.index(of: enabled.kind), subindex: message) } catch { throw .system(error) }
        }
    }

    /// VFIO's loopback trigger for every vector enabled now, resolved once for a run
    /// of raises: firing it takes neither the backend's lock nor a closure, only the
    /// ioctl (the selftest's stimulus-to-ISR latency counts what a raise runs). It
    /// holds the device open while it lives, so drop it when the run ends; after a
    /// disable it fails with EINVAL. Throws as `triggerLoopback` does: `.closed` once the
    /// device is closed or going, `.kernelLimit` while nothing is enabled.
    public func loopbackTrigger() throws(BackendError) -> VFIOLoopbackTrigger {
        try state.withLock { (state) throws(BackendError) in
            let (device, enabled) = try Self.triggerable(state, self.device.address)
            return device.loopbackTrigger(Self.index(of: enabled.kind), count: enabled.triggers.count)
        }
    }

    /// The open device and what is enabled on it, for a loopback raise: `.closed` once the
    /// device is closed or the kernel asked for it back (its interrupts are being
    /// disconnected), `.kernelLimit` while nothing is enabled (VFIO triggers only an
    /// enabled vector).
    private static func triggerable(_ state: State, _ address: PCIAddress) throws(BackendError) -> (VFIODevice, Enabled) {
        guard let device = state.device, !state.removalRequested else { throw .closed }
        guard let enabled = state.enabled else {
            throw .kernelLimit("no interrupts of \(address) are enabled: VFIO triggers only an enabled vector (connect it first)")
        }
        return (device, enabled)
    }

    /// Who most likely enabled what an enable finds enabled already.
    private static let enabledElsewhere = "(connected through this backend already: by another InterruptDevice or dispatcher?)"

    static func index(of kind: InterruptKind) -> VFIO.IRQIndex {
        switch kind {
        case .intx: .intx
        case .msi: .msi
        case .msix: .msix
        }
    }
}

/// Runs a system-layer call, wrapping its error for the backend's callers.
func backendCall<T>(_ body: () throws(SystemError) -> T) throws(BackendError) -> T {
    do throws(SystemError) { return try body() } catch { throw .system(error) }
}

/// Unmasks VFIO INTx by signalling the unmask irqfd: one eventfd write, no
/// ioctl, no allocation.
///
/// Borrows the eventfd: the backend closes it in `disableInterrupts`, after the
/// dispatch loop has forgotten the source (the protocol's contract).
struct EventFDUnmask: InterruptUnmasking {
    let eventfd: Int32
    let counter: UnmaskCounter
    func unmask() throws(SystemError) {
        try EventFD.write(eventfd)
        counter.count()
    }
}

/// How many times a backend re-enabled its line (an atomic add: no allocation, no lock).
final class UnmaskCounter: Sendable {
    private let value = Atomic<UInt64>(0)
    func count() { value.add(1, ordering: .releasing) }
    var total: UInt64 { value.load(ordering: .acquiring) }
}

#if canImport(Glibc)
import Glibc
#endif
