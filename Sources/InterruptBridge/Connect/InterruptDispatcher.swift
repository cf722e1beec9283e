import InterruptBridgeCore
import InterruptBridgeSystem
public import Logging
import Synchronization

/// The runtime: owns the dispatch threads and connects interrupt service
/// routines to devices' interrupts, with the semantics of `IoConnectInterruptEx`.
///
/// One dispatch thread waits in epoll on every connected interrupt's
/// descriptor and runs the ISR chains holding the interrupts' spin locks,
/// highest DIRQL first, then the queued DPCs. Passive-level ISRs get a second
/// thread of their own (started on first use), where they may block.
///
/// Connect calls may be made from any thread. An ISR may run before connect
/// returns. `disconnect` returns only when the object's ISR is not running and
/// never will again; called on a dispatch thread (from an ISR or DPC) it cannot
/// wait for that, so it stops further calls at once and completes the
/// disconnect after the current batch (the WDK's deferred disconnect).
///
/// Call `shutdown()` when done: connected interrupt objects keep the dispatcher alive.
public final class InterruptDispatcher: Sendable {
    public let logger: Logger
    public let options: DispatchOptions
    let mainLoop: DispatchLoop
    let deferredCalls: DeferredCallQueue
    // Guarded by its lock: the passive-level loop, started on the first passive connect.
    private let passiveLoop = LockedValue<DispatchLoop?>(nil)
    private let passiveIdentity = Atomic<UInt>(0)
    // Guarded by its lock: who is connected where (sharing checks, legacy lookups).
    private let registry = LockedValue(Registry())
    private let running = Atomic<Bool>(true)

    struct Registry {
        var byVector: [UInt32: [InterruptObject]] = [:]
        var devices: [InterruptDevice] = []
    }

    /// Starts the dispatch thread. Throws when the options cannot be honoured
    /// (SCHED_FIFO refused, pinning refused) or a system call fails.
    public init(logger: Logger, options: DispatchOptions = DispatchOptions()) throws(DispatchError) {
        self.logger = logger
        self.options = options
        let loop = try DispatchLoop(name: options.threadName, options: options, logger: logger, isPassive: false,
                                    deferredCalls: DeferredCallQueueFactory())
        mainLoop = loop
        deferredCalls = loop.deferredCalls!
        try loop.start()
        logger.debug("interrupt dispatcher started", metadata: ["options": "\(options)"])
    }

    deinit { stopLoops() }

    /// Disconnects everything still connected, runs the DPCs still queued and
    /// stops the dispatch threads. Idempotent. Must not be called from an ISR or DPC.
    public func shutdown() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        stopLoops()
        logger.debug("interrupt dispatcher stopped")
    }

    private func stopLoops() {
        mainLoop.stop()
        passiveLoop.withLock { $0 }?.stop()
    }

    /// False once `shutdown()` was called.
    public var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Every interrupt object currently connected.
    public var connectedInterrupts: [InterruptObject] {
        registry.withLock { $0.byVector.values.flatMap { $0 } }
    }

    /// True on one of this dispatcher's dispatch threads (inside an ISR or DPC).
    public var isOnDispatchThread: Bool {
        let current = LoopThreadMarker.word.value
        return current != 0 && (current == mainLoop.identity || current == passiveIdentity.load(ordering: .relaxed))
    }

    /// True on any dispatcher's dispatch thread.
    static var isOnAnyDispatchThread: Bool { LoopThreadMarker.word.value != 0 }

    // MARK: Devices known by vector (legacy IoConnectInterrupt has no device parameter)

    /// Makes a device's vectors reachable by `connectLegacy`, which names only a vector.
    public func register(_ device: InterruptDevice) {
        registry.withLock { registry in
            if !registry.devices.contains(where: { $0 === device }) { registry.devices.append(device) }
        }
    }

    /// Forgets a device registered with `register(_:)` (its connections are unaffected).
    public func unregister(_ device: InterruptDevice) {
        registry.withLock { $0.devices.removeAll { $0 === device } }
    }

    // MARK: Disconnect

    /// Disconnects one interrupt object (IoDisconnectInterruptEx for a line-based
    /// or fully specified connection). Idempotent.
    ///
    /// From any thread but a dispatch thread: returns when the ISR is not running
    /// and will not run again. From any dispatcher's dispatch thread (its own
    /// ISR, another ISR, a DPC): further calls stop at once, the rest completes
    /// after the batch. An object of another dispatcher is handed to that one.
    public func disconnect(_ object: InterruptObject) {
        disconnect([object])
    }

    /// Disconnects every message of a message-based connection.
    public func disconnect(_ table: MessageTable) {
        disconnect(table.interruptObjects)
    }

    /// Disconnects what a message-based connect produced.
    public func disconnect(_ connection: MessageConnection) {
        disconnect(connection.interruptObjects)
    }

    /// Disconnects every interrupt object of `device`, logging why (a removal
    /// request from the kernel, a failed device).
    public func disconnectAll(of device: InterruptDevice, reason: String) {
        let objects = registry.withLock { registry in
            registry.byVector.values.flatMap { $0.filter { $0.device === device } }
        }
        guard !objects.isEmpty else { return }
        logger.warning("disconnecting \(objects.count) interrupt(s) of \(device): \(reason)")
        disconnect(objects)
    }

    func disconnect(_ objects: [InterruptObject]) {
        // An object connected through another dispatcher is that dispatcher's to detach.
        for object in objects where object.dispatcher !== self { object.dispatcher.disconnect([object]) }
        let claimed = objects.filter { object in
            guard object.dispatcher === self else { return false }
            for state in [InterruptObject.Lifecycle.connecting, .connected] {
                if object.lifecycle.compareExchange(expected: state.rawValue, desired: InterruptObject.Lifecycle.disconnecting.rawValue,
                                                    ordering: .acquiringAndReleasing).exchanged { return true }
            }
            return false
        }
        guard !claimed.isEmpty else { return }
        // On any dispatch thread (this dispatcher's or another's) waiting could
        // deadlock against a loop that waits for us: defer instead.
        let deferred = Self.isOnAnyDispatchThread
        var completions: [Completion] = []
        for (loop, group) in groupedByLoop(claimed) {
            let completion = deferred ? nil : Completion()
            if loop.post(.detach(group, completion)), let completion { completions.append(completion) }
        }
        for completion in completions { try? completion.wait() }
    }

    private func groupedByLoop(_ objects: [InterruptObject]) -> [(DispatchLoop, [InterruptObject])] {
        let passive = objects.filter(\.isPassiveLevel)
        let main = objects.filter { !$0.isPassiveLevel }
        var groups: [(DispatchLoop, [InterruptObject])] = []
        if !main.isEmpty { groups.append((mainLoop, main)) }
        if !passive.isEmpty, let loop = passiveLoop.withLock({ $0 }) { groups.append((loop, passive)) }
        return groups
    }

    // MARK: Used by connect, the loops and devices

    /// Records the objects after checking that their vectors can take them (sharing rules).
    func reserve(_ objects: [InterruptObject]) throws(ConnectionError) {
        let conflict: ConnectionError? = registry.withLock { registry in
            for object in objects {
                let existing = registry.byVector[object.vector] ?? []
                guard let first = existing.first else { continue }
                if !object.shareVector || existing.contains(where: { !$0.shareVector }) {
                    return .sharingConflict(vector: object.vector, reason: "it is connected, and not every connection asked to share it")
                }
                if first.mode != object.mode {
                    return .sharingConflict(vector: object.vector, reason: "connected \(first.mode), asked \(object.mode)")
                }
                if first.isPassiveLevel != object.isPassiveLevel {
                    return .sharingConflict(vector: object.vector, reason: "passive-level and device-level ISRs cannot share a vector")
                }
            }
            for object in objects { registry.byVector[object.vector, default: []].append(object) }
            return nil
        }
        if let conflict { throw conflict }
    }

    /// Drops an object from the registry (the loop calls this when it detached it).
    func forget(_ object: InterruptObject) {
        registry.withLock { registry in
            registry.byVector[object.vector]?.removeAll { $0 === object }
            if registry.byVector[object.vector]?.isEmpty == true { registry.byVector[object.vector] = nil }
        }
    }

    func registeredDevice(with vector: UInt32) -> InterruptDevice? {
        registry.withLock { $0.devices.first { $0.assignedVector(vector) != nil } }
    }

    /// The loop that serves passive-level ISRs, started on first use.
    func passiveDispatchLoop() throws(ConnectionError) -> DispatchLoop {
        let result: Result<DispatchLoop, ConnectionError> = passiveLoop.withLock { slot in
            if let loop = slot { return .success(loop) }
            guard running.load(ordering: .acquiring) else { return .failure(.dispatcherStopped) }
            var options = options
            options.threadName = String(options.threadName.prefix(12)) + "-pl"
            do {
                let loop = try DispatchLoop(name: options.threadName, options: options, logger: logger, isPassive: true, deferredCalls: nil)
                try loop.start()
                passiveIdentity.store(loop.identity, ordering: .relaxed)
                slot = loop
                return .success(loop)
            } catch {
                return .failure(.insufficientResources("cannot start the passive-level dispatch thread: \(error)"))
            }
        }
        return try result.get()
    }

    /// A device told its backend something (removal requested, error reported).
    func deviceReported(_ event: BackendEvent, device: InterruptDevice) {
        switch event {
        case let .removalRequested(reason):
            disconnectAll(of: device, reason: "removal requested: \(reason)")
        case let .errorReported(reason):
            logger.error("device \(device) reported an error: \(reason)")
        }
    }
}
