public import InterruptBridgeCore
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
/// What the dispatcher acts on besides interrupts (a device's removal request,
/// its errors) is published on `events()`.
///
/// `manuallyStepped(logger:options:)` makes a dispatcher with no thread that a
/// test steps by hand (`step()`, `runUntilIdle()`): the same loop, tables and
/// semantics, deterministic.
///
/// Call `shutdown()` when done: connected interrupt objects keep the dispatcher alive.
public final class InterruptDispatcher: Sendable {
    public let logger: Logger
    public let options: DispatchOptions
    let mainLoop: DispatchLoop
    let deferredCalls: DeferredCallQueue
    let eventHub = EventHub()
    /// The processors online when it started (all 64 of group 0 when that cannot be
    /// read): a fully specified or legacy connect's ProcessorEnableMask must name one
    /// of them, as Windows intersects it with its active processors.
    public let onlineProcessors: ProcessorAffinity
    /// No threads: the owner steps the loops (`step()`).
    public let isManuallyStepped: Bool
    // Guarded by its lock: the passive-level loop, started on the first passive connect.
    private let passiveLoop = LockedValue<DispatchLoop?>(nil)
    private let passiveIdentity = Atomic<UInt>(0)
    // Guarded by its lock: devices legacy connects may name by vector (weakly held).
    let registeredDevices = LockedValue<[WeakDevice]>([])
    private let running = Atomic<Bool>(true)

    struct WeakDevice {
        weak var device: InterruptDevice?
    }

    /// Starts the dispatch thread. Throws when the options cannot be honoured
    /// (SCHED_FIFO refused, pinning refused) or a system call fails.
    public convenience init(logger: Logger, options: DispatchOptions = DispatchOptions()) throws(DispatchError) {
        try self.init(logger: logger, options: options, manuallyStepped: false)
    }

    /// A dispatcher without threads, for deterministic tests (the twin of the
    /// threaded one, in the spirit of NIOEmbedded): connect and disconnect apply at
    /// once on the caller's thread, and interrupts are served only when the caller
    /// steps the loop (`step()`, `runUntilIdle()`), on the caller's thread, with the
    /// same ISR semantics (spin locks, IRQL, DIRQL order, DPCs after the batch).
    public static func manuallyStepped(logger: Logger, options: DispatchOptions = DispatchOptions()) throws(DispatchError) -> InterruptDispatcher {
        try InterruptDispatcher(logger: logger, options: options, manuallyStepped: true)
    }

    private init(logger: Logger, options: DispatchOptions, manuallyStepped: Bool) throws(DispatchError) {
        self.logger = logger
        self.options = options
        self.isManuallyStepped = manuallyStepped
        onlineProcessors = (try? SystemFacts.onlineProcessors()) ?? ProcessorAffinity(rawValue: .max)
        let loop = try DispatchLoop(name: options.threadName, options: options, logger: logger, isPassive: false,
                                    events: eventHub, deferredCalls: DeferredCallQueueFactory(), manuallyStepped: manuallyStepped)
        mainLoop = loop
        deferredCalls = loop.deferredCalls!
        try loop.start()
        logger.debug("interrupt dispatcher started", metadata: ["options": "\(options)"])
    }

    deinit { stopLoops() }

    /// Disconnects everything still connected, runs the DPCs still queued and
    /// stops the dispatch threads; ends every `events()` stream. Idempotent.
    /// Must not be called from an ISR or DPC.
    public func shutdown() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        stopLoops()
        logger.debug("interrupt dispatcher stopped")
    }

    private func stopLoops() {
        mainLoop.stop()
        passiveLoop.withLock { $0 }?.stop()
        eventHub.finish()
    }

    /// False once `shutdown()` was called.
    public var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Events the dispatcher acted on (device removal requests, device errors),
    /// from the moment of this call on. Each call returns a stream of its own; it
    /// ends when the dispatcher shuts down. A reader that falls behind loses the
    /// oldest events first (each stream keeps the newest 1024).
    public func events() -> AsyncStream<DispatcherEvent> { eventHub.subscribe() }

    /// Asks every dispatch loop to answer a heartbeat between its batches; returns
    /// at once. A loop that is wedged (an ISR that never returns, a DPC that blocks)
    /// answers nothing, so `heartbeatsAnswered` stops advancing: what a service
    /// watchdog (systemd's `WATCHDOG=1`) should be driven by.
    public func requestHeartbeat() {
        for loop in loops { loop.post(.heartbeat) }
    }

    /// Heartbeat requests answered by the slowest dispatch loop (each loop counts
    /// its own; a passive loop started later counts from its start).
    public var heartbeatsAnswered: UInt64 {
        loops.map { $0.heartbeats.load(ordering: .acquiring) }.min() ?? 0
    }

    /// What the dispatch loops' poll windows did (`DispatchOptions.pollWindowLimit`),
    /// summed over the loops: batches caught by polling instead of a wake-up, and
    /// how often other threads' demand for the processor closed the window for a
    /// hold-off (see `PollWindow`). Both stay 0 when polling is off.
    public var polling: (caughtBatches: UInt64, windowClosings: UInt64) {
        loops.reduce((0, 0)) { sums, loop in
            (sums.0 &+ loop.pollCatches.load(ordering: .relaxed), sums.1 &+ loop.windowClosings.load(ordering: .relaxed))
        }
    }

    /// The descriptors its loops still hold (each loop's epoll and wake eventfd;
    /// 0 once shut down and the threads ended): a leak check of its own, exact
    /// beside whatever else the process opens.
    var openDescriptorCount: Int { loops.reduce(0) { $0 + $1.selector.openDescriptorCount } }

    /// Every interrupt object currently connected.
    public var connectedInterrupts: [InterruptObject] {
        loops.flatMap { $0.connectedByVector.values.flatMap { $0 } }
    }

    /// The objects still connected that one connect call made together with `object`
    /// (every message of a message-based connect, the passive-level ones too), `object`
    /// among them while it is connected; `[object]` for an object connected alone.
    public func objectsConnected(with object: InterruptObject) -> [InterruptObject] {
        guard let set = object.connectSetIdentity else { return [object] }
        let together = connectedInterrupts.filter { $0.connectSetIdentity == set }
        return together.isEmpty ? [object] : together
    }

    private var loops: [DispatchLoop] { [mainLoop] + (passiveLoop.withLock { $0 }.map { [$0] } ?? []) }

    /// True on one of this dispatcher's dispatch threads (inside an ISR or DPC).
    public var isOnDispatchThread: Bool {
        let current = LoopThreadMarker.word.value
        return current != 0 && (current == mainLoop.identity || current == passiveIdentity.load(ordering: .relaxed))
    }

    /// True on any dispatcher's dispatch thread (inside an ISR or DPC of any dispatcher),
    /// where a connect cannot wait for its loop and completes after the caller returns.
    public static var isOnAnyDispatchThread: Bool { LoopThreadMarker.word.value != 0 }

    /// True while the calling thread holds a passive-level object's interrupt lock (inside
    /// its `synchronize`, or between its `acquire()` and `release(_:)`): it is at
    /// PASSIVE_LEVEL, yet the passive dispatch thread may be waiting for that lock.
    public static var isHoldingPassiveInterruptLock: Bool { CurrentLevel.holdsPassiveLock }

    /// Whether the calling thread must not wait for a dispatch loop, which may be waiting
    /// for it: on any dispatch thread (the loop waits for its ISR or DPC to return); above
    /// PASSIVE_LEVEL (the interrupt lock inside `synchronize`, or a spin lock a DPC spins
    /// for); or holding a passive-level interrupt lock, at PASSIVE_LEVEL, that the passive
    /// loop waits for to call a pending ISR.
    static var callerMustNotWaitForLoops: Bool {
        isOnAnyDispatchThread || InterruptLevel.current > .passive || CurrentLevel.holdsPassiveLock
    }

    // MARK: Stepping by hand (manuallyStepped dispatchers)

    /// Runs one batch of each loop on the calling thread: serves every interrupt
    /// ready now (waiting up to `waitingMilliseconds` for one), then the DPCs,
    /// device events and commands. Returns how many descriptors were ready.
    /// Only for a `manuallyStepped` dispatcher; not from an ISR or DPC.
    @discardableResult
    public func step(waitingMilliseconds: Int32 = 0) -> Int {
        loops.reduce(0) { $0 + $1.step(timeoutMilliseconds: waitingMilliseconds) }
    }

    /// Steps until a step finds nothing ready (at most `maximumSteps` times);
    /// returns how many descriptors were served in all.
    @discardableResult
    public func runUntilIdle(maximumSteps: Int = 10_000) -> Int {
        var total = 0
        for _ in 0..<maximumSteps {
            let served = step()
            if served == 0 { break }
            total += served
        }
        return total
    }

    // MARK: DPCs

    /// KeFlushQueuedDpcs: returns once every DPC queued on this dispatcher before the
    /// call has run (or was removed), its routine returned. A DPC queued while they run
    /// may run after. From a dispatch thread (an ISR or DPC of any dispatcher) it returns
    /// at once, since waiting there could wait for itself; so does a dispatcher shut down.
    /// A manually stepped dispatcher runs them on the calling thread, as it applies commands.
    public func flushDeferredCalls() {
        guard !Self.isOnAnyDispatchThread else { return }
        let completion = Completion()
        if mainLoop.post(.flushDeferredCalls(completion)) { try? completion.wait() }
    }

    // MARK: Device events

    /// Watches the device's event descriptors (VFIO's device request and error
    /// interrupts) from now until `unwatchEvents(of:)`, whether or not any of
    /// its interrupts is connected: a removal request then disconnects what is
    /// connected, stops the watch and has the backend give the device back
    /// (`InterruptBackend.releaseAfterRemoval()`), so the kernel's unbind
    /// completes even for a device nothing is connected to. Connecting and
    /// disconnecting its interrupts meanwhile neither watches them twice nor
    /// ends the watch. Served by the main dispatch loop. Returns once the loop
    /// watches them (from a dispatch thread: at the end of the batch).
    public func watchEvents(of device: InterruptDevice) {
        let completion = Self.isOnAnyDispatchThread ? nil : Completion()
        if mainLoop.post(.watchEvents(device, completion)) { try? completion?.wait() }
    }

    /// Undoes `watchEvents(of:)`: the descriptors stay watched while interrupts
    /// of the device are connected.
    public func unwatchEvents(of device: InterruptDevice) {
        let completion = Self.isOnAnyDispatchThread ? nil : Completion()
        if mainLoop.post(.unwatchEvents(device, completion)) { try? completion?.wait() }
    }

    // MARK: Storms

    /// Watches the storm-contained vectors of these objects again now, without
    /// waiting for their back-off (see `StormPolicy`). Objects whose vector is not
    /// contained are left as they are. Returns once the loop has done it (from a
    /// dispatch thread: at the end of the batch).
    public func rearm(_ objects: [InterruptObject]) {
        postToTheirLoops(objects) { .rearm($0, $1) }
    }

    /// Re-arms one object's vector (see `rearm(_:)`).
    public func rearm(_ object: InterruptObject) { rearm([object]) }

    /// Contains the vectors of these objects as a storm rule would have (see
    /// `StormPolicy`): for a rule judged off the interrupt path, such as
    /// `.unquietedLine`, which needs the kernel's count. Counted, logged once,
    /// published as `.stormContained`, re-armed after the vector's back-off or by
    /// `rearm`. A vector already contained, or whose storm policy is disabled, is left
    /// as it is. Returns once the loop has done it (from a dispatch thread: at the end
    /// of the batch).
    public func contain(_ objects: [InterruptObject], rule: StormRule) {
        postToTheirLoops(objects) { .contain($0, rule, $1) }
    }

    /// Judges the vectors of these objects by `policy` from now on (nil: the dispatcher's
    /// `DispatchOptions.storm`), their windows started afresh, without disconnecting them:
    /// for a storm policy changed while the device runs (the daemon's reload). A vector
    /// contained now stays so until its re-arm. The vectors' own card only: a legacy
    /// object's other cards on its line keep their rules. Returns once the loop has done
    /// it (from a dispatch thread: at the end of the batch).
    /// Throws `.invalidOptions` with the reason for rules `StormPolicy.problem` refuses.
    public func setStormPolicy(_ policy: StormPolicy?, for objects: [InterruptObject]) throws(DispatchError) {
        if let problem = policy?.problem { throw .invalidOptions("storm policy: \(problem)") }
        postToTheirLoops(objects) { .setStorm($0, policy, $1) }
    }

    /// Posts one command per loop for the objects it serves (this dispatcher's only) and
    /// waits for each, except on a dispatch thread (which would wait for itself).
    private func postToTheirLoops(_ objects: [InterruptObject], _ command: ([InterruptObject], Completion?) -> LoopCommand) {
        let deferred = Self.isOnAnyDispatchThread
        var completions: [Completion] = []
        for (loop, group) in groupedByLoop(objects.filter { $0.dispatcher === self }) {
            let completion = deferred ? nil : Completion()
            if loop.post(command(group, completion)), let completion { completions.append(completion) }
        }
        for completion in completions { try? completion.wait() }
    }

    // MARK: Active and inactive (power-managed drivers)

    /// Reports the objects inactive (IoReportInterruptInactive): their routines
    /// are not called until reported active again. A vector whose objects are all
    /// inactive is no longer watched and is disabled at the backend (VFIO detaches
    /// a message's eventfd); a level line stays masked once it fires, so what the
    /// device raises meanwhile fires once reported active. Report inactive only
    /// after disabling the interrupt at the device, as Windows asks: a message the
    /// device sends while its VFIO vector is detached is dropped by the kernel.
    ///
    /// Composes with storm containment: a vector is watched only while it is
    /// neither contained nor inactive. Returns once the loop applied it; from a
    /// dispatch thread, above PASSIVE_LEVEL (a spin lock held), or holding a passive-level
    /// object's interrupt lock (inside its `synchronize`), it does not wait: the loop
    /// applies it at the end of the batch, the routine not being called meanwhile only
    /// from the next batch on (a call the loop already began, waiting for the lock the
    /// caller holds, finishes). Objects not connected are ignored.
    public func deactivate(_ objects: [InterruptObject]) { setActive(false, objects) }

    /// Reports the objects active again (IoReportInterruptActive): undoes
    /// `deactivate(_:)`. A level line raised meanwhile, or an eventfd that counted
    /// signals meanwhile, is served at once. Objects are active after connect.
    public func activate(_ objects: [InterruptObject]) { setActive(true, objects) }

    /// `deactivate(_:)` for one object.
    public func deactivate(_ object: InterruptObject) { deactivate([object]) }

    /// `activate(_:)` for one object.
    public func activate(_ object: InterruptObject) { activate([object]) }

    private func setActive(_ active: Bool, _ objects: [InterruptObject]) {
        // An object connected through another dispatcher is that dispatcher's.
        for object in objects where object.dispatcher !== self { object.dispatcher.setActive(active, [object]) }
        // IoReportInterruptActive/Inactive may be called at DISPATCH_LEVEL: a caller above
        // PASSIVE_LEVEL may hold a spin lock a DPC on the loop is spinning for, and one inside
        // `synchronize` of a passive-level object holds the lock the passive loop may wait for,
        // so waiting for the loop would wait forever (as on a dispatch thread, where the loop
        // waits for us).
        let deferred = Self.callerMustNotWaitForLoops
        var completions: [Completion] = []
        for (loop, group) in groupedByLoop(objects.filter { $0.dispatcher === self }) {
            let completion = deferred ? nil : Completion()
            if loop.post(.setActive(active, group, completion)), let completion { completions.append(completion) }
        }
        for completion in completions { try? completion.wait() }
    }

    // MARK: Disconnect

    /// Disconnects one interrupt object (IoDisconnectInterruptEx for a line-based
    /// or fully specified connection). Idempotent.
    ///
    /// From any thread but a dispatch thread, at PASSIVE_LEVEL holding no interrupt lock:
    /// returns when the ISR is not running and will not run again. From any dispatcher's
    /// dispatch thread (its own ISR, another ISR, a DPC), above PASSIVE_LEVEL (a spin lock
    /// or the interrupt lock held), or holding a passive-level object's interrupt lock
    /// (inside its `synchronize`): further calls stop at once (one the loop already began,
    /// waiting for the lock the caller holds, finishes), the rest completes after the
    /// batch. An object of another dispatcher is handed to that one.
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

    /// Disconnects every interrupt object of `device` on this dispatcher, logging
    /// why (a failed device, a driver giving it up). Same guarantees as `disconnect`.
    public func disconnectAll(of device: InterruptDevice, reason: String) {
        let deferred = Self.isOnAnyDispatchThread
        var completions: [Completion] = []
        for loop in loops {
            let completion = deferred ? nil : Completion()
            if loop.post(.detachDevice(device, reason: reason, completion)), let completion { completions.append(completion) }
        }
        for completion in completions { try? completion.wait() }
    }

    /// Disconnects several interrupt objects as one detach per loop (what
    /// `objectsConnected(with:)` returns, say). Same guarantees as `disconnect(_:)`.
    public func disconnect(_ objects: [InterruptObject]) {
        // An object connected through another dispatcher is that dispatcher's to detach.
        for object in objects where object.dispatcher !== self { object.dispatcher.disconnect([object]) }
        let mine = objects.filter { $0.dispatcher === self }
        let claimed = mine.filter { $0.beginDisconnect() }
        // On any dispatch thread (this dispatcher's or another's) waiting could
        // deadlock against a loop that waits for us: defer instead. So could waiting holding
        // a lock the loop needs: above PASSIVE_LEVEL (IoDisconnectInterruptEx's IRQL) the
        // interrupt lock inside KeSynchronizeExecution or a spin lock a DPC spins for, and at
        // PASSIVE_LEVEL a passive-level object's interrupt lock.
        let deferred = Self.callerMustNotWaitForLoops
        // An object someone else began disconnecting (an ISR's deferred disconnect, say)
        // may still be running or hold its device: a caller that can wait asks the loop
        // to detach it too (a second detach is a no-op), so it returns with the same
        // guarantee as the first caller.
        let pending = deferred ? [] : mine.filter { object in object.isDetachPending && !claimed.contains { $0 === object } }
        let detaching = claimed + pending
        guard !detaching.isEmpty else { return }
        var completions: [Completion] = []
        for (loop, group) in groupedByLoop(detaching) {
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

    // MARK: Used by connect

    /// The loop that serves these objects: the passive loop (started on first use)
    /// for passive-level ISRs, the main loop otherwise.
    func loop(for objects: [InterruptObject]) throws(ConnectionError) -> DispatchLoop {
        guard objects.first?.isPassiveLevel == true else { return mainLoop }
        let result: Result<DispatchLoop, ConnectionError> = passiveLoop.withLock { slot in
            if let loop = slot { return .success(loop) }
            guard running.load(ordering: .acquiring) else { return .failure(.dispatcherStopped) }
            var options = options
            options.threadName = String(options.threadName.prefix(12)) + "-pl"
            do {
                let loop = try DispatchLoop(name: options.threadName, options: options, logger: logger, isPassive: true,
                                            events: eventHub, deferredCalls: nil, manuallyStepped: isManuallyStepped)
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

    /// The loop that does not serve these objects, if it exists: a vector's
    /// objects all live on one loop, so the sharing rules are checked against the
    /// other loop's published table before the connect is posted.
    func otherLoop(than loop: DispatchLoop) -> DispatchLoop? {
        loop === mainLoop ? passiveLoop.withLock { $0 } : mainLoop
    }
}
