public import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization

/// The default backend where no hardware is present: a software PCI function
/// (`SimulatedDevice`) whose interrupts a test or demo raises with
/// `raise(message:)`, delivered through real eventfds exactly as VFIO delivers
/// hardware interrupts.
///
/// INTx behaves like a VFIO INTx line: it is masked when it fires and stays
/// masked until the dispatch loop unmasks it (after the ISR chain ran); a
/// raise while masked is held pending and fires on unmask, and with
/// `holdsLineUntilAcknowledged` a line still asserted at unmask fires again.
/// MSI and MSI-X messages are edge-triggered: each raise is one eventfd signal.
public final class SimulatedBackend: InterruptBackend {
    public let configuration: SimulatedDevice
    public let device: PCIDeviceInfo

    // Guarded by its lock: which kind is enabled and its vectors, open exactly
    // while interrupts are enabled.
    private let enabled = LockedValue<(kind: InterruptKind, vectors: [SimulatedVector])?>(nil)
    // Guarded by its lock: the event descriptor (signalled when an event is
    // queued, like VFIO's REQ/ERR eventfds: open from first use until the device
    // is released after a removal, or goes away) and the events not yet read.
    private let deviceEvents = LockedValue<DeviceEvents>(DeviceEvents())
    // Guarded by its lock: every vector eventfd it made that may still be open
    // (weakly held; the closed ones are pruned at each enable), for `openDescriptorCount`.
    private let madeVectorDescriptors = LockedValue<[WeakDescriptor]>([])
    private let raised = Atomic<UInt64>(0)
    private let dropped = Atomic<UInt64>(0)
    private let discarded = Atomic<UInt64>(0)
    private let enableCount = Atomic<Int>(0)
    private let releases = Atomic<Int>(0)
    /// The BARs' memory (`registers(bar:)`).
    let registerMemory = SimulatedRegisters()
    /// The DMA buffers and the device addresses they have (`deviceMemory(at:count:)`).
    let dmaMemory = SimulatedDMAMemory()

    public init(_ configuration: SimulatedDevice) {
        self.configuration = configuration
        self.device = configuration.info
    }

    public convenience init(msixVectors: Int) {
        self.init(SimulatedDevice(interruptPin: .a, irqLine: 11, msixCount: msixVectors))
    }

    public var supportedInterrupts: [InterruptKind: Int] {
        var result: [InterruptKind: Int] = [:]
        if configuration.interruptPin != nil, configuration.irqLine != nil { result[.intx] = 1 }
        if configuration.msiCount > 0 { result[.msi] = configuration.msiCount }
        if configuration.msixCount > 0 { result[.msix] = configuration.msixCount }
        return result
    }

    public func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        let available = supportedInterrupts[kind] ?? 0
        guard count > 0, count <= available else { throw .unsupported(kind: kind, requested: count, available: available) }
        let result: Result<[InterruptSource], BackendError> = enabled.withLock { state in
            // Given back after a removal request, as a VFIO device is closed then: a driver's
            // connect after a surprise removal fails here as it does on the hardware. Read
            // under this lock, which the release takes too, so the two cannot interleave.
            if deviceEvents.withLock({ $0.released }) { return .failure(.closed) }
            if let current = state {
                return .failure(.kernelLimit("\(current.kind) is already enabled on the simulated device"))
            }
            // On failure the descriptors made so far close with their owners.
            do throws(SystemError) {
                let vectors = try (0..<count).map { message throws(SystemError) in
                    SimulatedVector(eventfd: try EventFD.open(name: "simulated \(kind) \(message)"), message: message,
                                    levelTriggered: kind == .intx, holdsUntilAcknowledged: configuration.holdsLineUntilAcknowledged)
                }
                state = (kind, vectors)
                madeVectorDescriptors.withLock { made in
                    made.removeAll { $0.descriptor?.isClosed ?? true }
                    made += vectors.map { WeakDescriptor(descriptor: $0.eventfd) }
                }
            } catch {
                return .failure(.system(error))
            }
            let vectors = state!.vectors
            return .success(vectors.map { vector in
                InterruptSource(descriptor: vector.descriptor, drain: .eventfdCounter,
                                unmask: vector.levelTriggered ? SimulatedUnmask(vector: vector) : nil, message: vector.message)
            })
        }
        let sources = try result.get()
        enableCount.add(1, ordering: .relaxed)
        return sources
    }

    public func disableInterrupts(_ kind: InterruptKind) throws(BackendError) {
        let taken = enabled.withLock { state -> [SimulatedVector]? in
            guard let current = state, current.kind == kind else { return nil }
            state = nil
            return current.vectors
        }
        guard let vectors = taken else { return }
        for vector in vectors {
            if let left = try? EventFD.read(vector.descriptor) { discarded.add(left, ordering: .relaxed) }
            vector.eventfd.close()
        }
    }

    /// The device's event descriptor (like VFIO's REQ and ERR eventfds): the
    /// dispatch loop reads the events `requestRemoval` and `reportError` queued.
    /// Opened on first use and kept until `releaseAfterRemoval` (none after it),
    /// so a loop may watch it with no interrupt enabled, as it watches VFIO's.
    public var auxiliarySources: [AuxiliarySource] {
        guard let events = deviceEvents.withLock({ $0.open() }) else { return [] }
        return [AuxiliarySource(descriptor: events, name: "simulated events") { [self] in
            deviceEvents.withLock { state in
                _ = try? EventFD.read(events)
                defer { state.pending = [] }
                return state.pending
            }
        }]
    }

    /// The device's own raises pass it (`SelftestStimulus.simulated`); closed by
    /// `releaseAfterRemoval`, after the owner's quiesce.
    public let removalGate: RemovalGate? = RemovalGate()

    /// The device is given back after a removal request: its event descriptor
    /// closes (the loop stopped watching it first), later events are refused, and
    /// enabling interrupts throws `.closed`, as on a VFIO device closed after removal;
    /// so do the driver's register accesses, and its BAR mappings read zeroes
    /// (`registers(bar:)`, the device's side, stays the test's).
    public func releaseAfterRemoval() {
        // As VFIO does: the owner's quiesce while the device is still there (its registers
        // too), then the release.
        removalGate?.close()
        registerMemory.release()
        enabled.withLock { _ in
            deviceEvents.withLock { state in
                state.released = true
                state.pending = []
                state.descriptor?.close()
                state.descriptor = nil
            }
        }
        releases.add(1, ordering: .relaxed)
    }

    /// Message routing as an x86 APIC would program it: address 0xFEE00000 with
    /// the destination processor in bits 12...19, data = a vector number per message.
    public func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]? {
        enabled.withLock { state in
            guard let state, state.kind == kind, kind.isMessageSignaled else { return nil }
            // Multi-message MSI has one Message Data, the device ORing the message number into
            // its low bits, so the base is aligned to the count (0x40 serves all 32); each MSI-X
            // entry has its own.
            return state.vectors.map {
                ProgrammedMessage(address: 0xfee0_0000, data: kind == .msi ? UInt32(0x40 | $0.message) : UInt32(0x41 + $0.message))
            }
        }
    }

    // MARK: Driving the device (tests, demos)

    /// The device signals message `message` (0 for INTx). Returns false when
    /// that interrupt is not enabled (no one could see it). Callable from any thread.
    @discardableResult
    public func raise(message: Int = 0) -> Bool { raise(message: message, count: 1) }

    /// Sends `count` messages at once on a message-signaled vector (one eventfd
    /// write of `count`: the dispatcher sees them coalesced, as a device's burst,
    /// and counts each in `deliveredSignalCount`); a line is asserted once.
    /// Returns false, counting all of them dropped, when the vector is not enabled.
    @discardableResult
    public func raise(message: Int, count: UInt64) -> Bool {
        guard count > 0 else { return true }
        let delivered = enabled.withLock { state -> Bool in
            guard let state, message >= 0, message < state.vectors.count else { return false }
            // Counted before the signal, so a reader never sees more signals than raises.
            raised.add(count, ordering: .relaxed)
            state.vectors[message].assert(count: count)
            return true
        }
        if !delivered { dropped.add(count, ordering: .relaxed) }
        return delivered
    }

    /// The device stops asserting its INTx line (its ISR cleared the cause, as
    /// writing edu's 0x64 register does). Callable from an ISR.
    public func acknowledge() {
        enabled.withLock { state in state?.vectors.first?.acknowledge() }
    }

    /// The kernel asks for the device back (VFIO's REQ interrupt). The
    /// dispatcher watching the device's events (for its connected interrupts, or
    /// `watchEvents(of:)`) reads it on its loop thread, disconnects them, releases
    /// the device, then publishes `.deviceRemoved` on its `events()`. Returns
    /// false (nothing is queued) once the device was released after a removal.
    @discardableResult
    public func requestRemoval(reason: String) -> Bool {
        queue(.removalRequested(reason: reason))
    }

    /// The device reports an error (VFIO's ERR interrupt), published as
    /// `.deviceError` by the dispatcher watching it. False once released.
    @discardableResult
    public func reportError(reason: String) -> Bool {
        queue(.errorReported(reason: reason))
    }

    private func queue(_ event: BackendEvent) -> Bool {
        deviceEvents.withLock { state in
            guard let descriptor = state.open() else { return false }
            state.pending.append(event)
            _ = try? EventFD.write(descriptor)
            return true
        }
    }

    /// How many times the device was released after a removal request.
    public var releaseCount: Int { releases.load(ordering: .relaxed) }

    /// Raises accepted (interrupt enabled).
    public var raisedCount: UInt64 { raised.load(ordering: .relaxed) }
    /// Raises refused because the interrupt was not enabled.
    public var droppedCount: UInt64 { dropped.load(ordering: .relaxed) }
    /// Signals still unread in an eventfd when it was closed (raised after the
    /// last ISR pass, before disconnect).
    public var discardedCount: UInt64 { discarded.load(ordering: .relaxed) }
    /// How many times interrupts were enabled.
    public var enabledTimes: Int { enableCount.load(ordering: .relaxed) }
    /// The kind currently enabled, if any.
    public var enabledKind: InterruptKind? { enabled.withLock { $0?.kind } }
    /// The descriptors it holds open now: the eventfd of each vector it made that
    /// was not closed (at disable, or as its last owner went away), and its event
    /// descriptor from first use until `releaseAfterRemoval`. A per-device leak
    /// check, exact beside whatever else the process opens (0 after the last
    /// disconnect, but for the event descriptor once it was watched).
    public var openDescriptorCount: Int {
        let vectors = madeVectorDescriptors.withLock { made in made.count { !($0.descriptor?.isClosed ?? true) } }
        let events = deviceEvents.withLock { $0.descriptor.map { $0.isClosed ? 0 : 1 } ?? 0 }
        return vectors + events
    }

    /// Whether the INTx line is masked (fired and not yet unmasked).
    public var isLineMasked: Bool { enabled.withLock { $0?.vectors.first?.isMasked ?? false } }
}

/// The simulated device's event descriptor and queue (guarded by the backend's lock).
private struct DeviceEvents {
    var descriptor: OwnedDescriptor?
    var pending: [BackendEvent] = []
    var released = false

    /// The descriptor, opened on first use; nil once released (or if it cannot be opened).
    mutating func open() -> Int32? {
        guard !released else { return nil }
        if descriptor == nil { descriptor = try? EventFD.open(name: "simulated events") }
        return descriptor?.rawValue
    }
}

private struct WeakDescriptor {
    weak var descriptor: OwnedDescriptor?
}

/// One simulated vector: its eventfd and, for INTx, the line's mask state.
/// State bits change with atomics only, so the dispatch loop's unmask takes no lock.
final class SimulatedVector: Sendable {
    let eventfd: OwnedDescriptor
    /// `eventfd`'s borrowed view.
    let descriptor: Int32
    let message: Int
    let levelTriggered: Bool
    let holdsUntilAcknowledged: Bool
    private let state = Atomic<UInt8>(0)

    private static let masked: UInt8 = 1
    private static let asserted: UInt8 = 2
    private static let pending: UInt8 = 4

    init(eventfd: OwnedDescriptor, message: Int, levelTriggered: Bool, holdsUntilAcknowledged: Bool) {
        self.eventfd = eventfd
        self.descriptor = eventfd.rawValue
        self.message = message
        self.levelTriggered = levelTriggered
        self.holdsUntilAcknowledged = holdsUntilAcknowledged
    }

    var isMasked: Bool { state.load(ordering: .acquiring) & Self.masked != 0 }

    /// The device asserts the line / sends the message (`count` messages at once).
    func assert(count: UInt64 = 1) {
        guard levelTriggered else {
            signal(count)
            return
        }
        var current = state.load(ordering: .acquiring)
        while true {
            var next = current
            if holdsUntilAcknowledged { next |= Self.asserted }
            let fires = current & Self.masked == 0
            if fires { next |= Self.masked } else { next |= Self.pending }
            let (exchanged, original) = state.compareExchange(expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged {
                if fires { signal() }
                return
            }
            current = original
        }
    }

    func acknowledge() {
        state.bitwiseAnd(~(Self.asserted | Self.pending), ordering: .acquiringAndReleasing)
    }

    /// The dispatch loop re-enables the line: fires again at once if the device
    /// still asserts it or a raise arrived while masked. Does not allocate or lock.
    func unmask() {
        var current = state.load(ordering: .acquiring)
        while true {
            let refires = current & (Self.asserted | Self.pending) != 0
            let next = refires ? (current & ~Self.pending) | Self.masked : current & ~Self.masked
            let (exchanged, original) = state.compareExchange(expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged {
                if refires { signal() }
                return
            }
            current = original
        }
    }

    private func signal(_ count: UInt64 = 1) {
        _ = try? EventFD.write(descriptor, count)
    }
}

/// The loop's handle to re-enable a simulated INTx line.
struct SimulatedUnmask: InterruptUnmasking {
    let vector: SimulatedVector
    func unmask() throws(SystemError) { vector.unmask() }
}
