import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Synchronization

/// One dispatch loop: its selector, its thread (or none, when stepped by
/// hand), and the command queue other threads post to.
///
/// Everything the interrupt path reads (the selector's table, the connection
/// table) belongs to the loop's thread alone (`LoopState`); other threads
/// change it only by posting a `LoopCommand` and waking the selector, so a
/// descriptor is forgotten by the loop (EPOLL_CTL_DEL, slot generation bumped)
/// before anyone closes it.
final class DispatchLoop: Sendable {
    let name: String
    let options: DispatchOptions
    let logger: Logger
    /// Passive loops serve passive-level ISRs only; they may block.
    let isPassive: Bool
    /// Created here, used by the loop's thread (see `Selector`).
    let selector: Selector
    /// Tags the loop's thread (see `LoopThreadMarker`); unique per loop.
    let identity: UInt
    /// The DPC queue this loop drains after each batch (the main loop only).
    let deferredCalls: DeferredCallQueue?
    /// Where the loop publishes what it saw happen (the dispatcher's event stream).
    let events: EventHub
    /// No thread: the owner steps the loop by hand (`step`), and commands posted
    /// from outside a step are applied at once on the poster's thread.
    let isManuallyStepped: Bool
    /// What the loop is serving, for the stuck-ISR watchdog.
    let serving = ServiceProbe()
    /// Reports ISRs that run too long (nil: off, or a manually stepped loop).
    private let watchdog: StuckISRWatchdog?

    // Guarded by its lock: commands posted by other threads, taken by the loop thread.
    private let commands = LockedValue<[LoopCommand]>([])
    // Guarded by its lock: the running thread, set by start() and cleared by stop().
    private let thread = LockedValue<PThread.Handle?>(nil)
    // Guarded by its lock: a manually stepped loop's state (created on first step).
    private let manualState = LockedValue<LoopState?>(nil)
    /// What is connected, by vector: written by the loop thread after each
    /// transition (a copy of what its table holds), read by other threads.
    private let published = LockedValue<[UInt32: [InterruptObject]]>([:])
    /// Commands are taken (`post`) until the loop stops or its thread ends on its own (an
    /// epoll failure): a command posted after could never be answered. Written under the
    /// commands' lock, so no post queues a command after the last take.
    private let accepting = Atomic<Bool>(true)
    /// `stop()` ran (it does its work once).
    private let stopped = Atomic<Bool>(false)
    /// Heartbeat requests the loop thread has answered (see `LoopCommand.heartbeat`).
    let heartbeats = Atomic<UInt64>(0)
    private let closesOnExit = Atomic<Bool>(false)
    /// Batches the loop caught by polling instead of sleeping, and times a contended
    /// processor closed its poll window (see `PollWindow`). Written by the loop thread only.
    let pollCatches = Atomic<UInt64>(0)
    let windowClosings = Atomic<UInt64>(0)
    /// Polls ended by one yield that kept the loop off its processor (for tests: a
    /// run without any saw an uncontended processor).
    let pollsCutShort = Atomic<UInt64>(0)

    private static let identities = Atomic<UInt>(1)

    init(name: String, options: DispatchOptions, logger: Logger, isPassive: Bool, events: EventHub,
         deferredCalls: DeferredCallQueueFactory?, manuallyStepped: Bool = false) throws(DispatchError) {
        guard (1...DispatchOptions.maximumCapacity).contains(options.capacity) else {
            throw .invalidOptions("capacity \(options.capacity) must be 1...\(DispatchOptions.maximumCapacity)")
        }
        if let priority = options.realtimePriority, !(1...99).contains(priority) {
            throw .invalidOptions("SCHED_FIFO priority \(priority) must be 1...99")
        }
        if let problem = options.storm.problem { throw .invalidOptions("storm policy: \(problem)") }
        if let threshold = options.stuckISRThreshold, threshold <= .zero {
            throw .invalidOptions("the stuck-ISR threshold must be positive (nil turns the watchdog off)")
        }
        if let limit = options.pollWindowLimit, !(Duration.zero...DispatchOptions.maximumPollWindowLimit).contains(limit) {
            throw .invalidOptions("the poll window limit \(limit) must be 0...\(DispatchOptions.maximumPollWindowLimit) (nil or 0 turns polling off)")
        }
        self.name = name
        self.options = options
        self.logger = logger
        self.isPassive = isPassive
        self.events = events
        self.isManuallyStepped = manuallyStepped
        let identity = Self.identities.add(1, ordering: .relaxed).newValue
        self.identity = identity
        do {
            selector = try Selector(capacity: options.capacity)
        } catch {
            throw .system(error)
        }
        self.deferredCalls = deferredCalls?.make(selector, identity)
        let published = self.published
        let serving = self.serving
        if !manuallyStepped, let threshold = options.stuckISRThreshold {
            watchdog = StuckISRWatchdog(loopName: name, probe: serving, threshold: threshold, logger: logger,
                                        level: options.faultLevel(.warning), events: events,
                                        device: { vector in published.withLock { $0[vector]?.first?.device } })
        } else {
            watchdog = nil
        }
    }

    /// Starts the thread and applies the realtime priority and explicit pinning.
    /// A manually stepped loop has no thread: nothing to start.
    func start() throws(DispatchError) {
        guard !isManuallyStepped else { return }
        let handle: PThread.Handle
        do {
            handle = try PThread.spawn(name: name) { [self] in self.runOnThread() }
        } catch {
            selector.close()
            throw .system(error)
        }
        thread.withLock { $0 = handle }
        do throws(DispatchError) {
            do {
                try watchdog?.start()
            } catch {
                throw DispatchError.system(error)
            }
            if let priority = options.realtimePriority {
                do {
                    try PThread.setRealtimePriority(handle, priority: priority)
                } catch {
                    throw DispatchError.realtimeRefused(priority: priority, error)
                }
            }
            if case let .processors(affinity) = options.pinning {
                do {
                    try PThread.setAffinity(handle, mask: affinity.rawValue)
                } catch {
                    throw DispatchError.pinningRefused(affinity, error)
                }
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Stops the thread (disconnecting whatever is still connected on it), joins
    /// it and closes the selector. Idempotent. On the loop thread itself (the
    /// last reference dropped inside an ISR or DPC) it cannot join: the thread
    /// then detaches itself and closes the selector as it exits.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if isManuallyStepped {
            refuseCommands()
            withManualState { state in state.tearDown() }
            // The state holds this loop: dropping it ends the cycle (a stopped loop
            // is never stepped again: `step` checks `accepting` first).
            manualState.withLock { $0 = nil }
            selector.close()
            return
        }
        watchdog?.stop()
        commands.withLock { queue in
            accepting.store(false, ordering: .releasing)
            queue.append(.stop)
        }
        selector.wake()
        if isCurrentThread {
            closesOnExit.store(true, ordering: .releasing)
            return
        }
        if let handle = thread.withLock({ $0.take() }) {
            do {
                try PThread.join(handle)
            } catch {
                logger.error("joining dispatch thread \(name): \(error)")
            }
        }
        selector.close()
    }

    /// True on this loop's thread (inside one of its ISRs, DPCs or steps).
    var isCurrentThread: Bool { LoopThreadMarker.word.value == identity }

    /// Queues a command for the loop thread. False once the loop is stopping.
    /// A manually stepped loop applies it at once unless posted from inside a step.
    @discardableResult
    func post(_ command: LoopCommand) -> Bool {
        let accepted = commands.withLock { queue in
            guard accepting.load(ordering: .acquiring) else { return false }
            queue.append(command)
            return true
        }
        guard accepted else { return false }
        if isManuallyStepped {
            if !isCurrentThread { withManualState { _ = $0.applyCommands() } }
        } else {
            selector.wake()
        }
        return true
    }

    /// Refuses every later `post` (the loop is ending: what it takes last is the last).
    func refuseCommands() {
        commands.withLock { _ in accepting.store(false, ordering: .releasing) }
    }

    /// Takes every queued command (loop thread).
    func takeCommands() -> [LoopCommand] {
        commands.withLock { queue in
            var taken: [LoopCommand] = []
            swap(&taken, &queue)
            return taken
        }
    }

    // MARK: Manual stepping (the deterministic twin)

    /// Runs one batch of a manually stepped loop on the caller's thread: serves
    /// what is ready now (`timeoutMilliseconds` 0: do not wait), runs the DPCs,
    /// handles device events and commands. Returns how many descriptors were
    /// ready (the wake descriptor included); 0 once stopped.
    func step(timeoutMilliseconds: Int32) -> Int {
        precondition(isManuallyStepped, "only a manually stepped dispatcher is stepped by hand")
        guard accepting.load(ordering: .acquiring) else { return 0 }
        return withManualState { state in
            _ = state.step(timeout: timeoutMilliseconds)
            return state.lastBatchSize
        }
    }

    private func withManualState<R>(_ body: (LoopState) -> R) -> R {
        manualState.withLock { slot in
            let state = slot ?? LoopState(loop: self)
            slot = state
            let previous = LoopThreadMarker.word.value
            LoopThreadMarker.word.value = identity
            defer { LoopThreadMarker.word.value = previous }
            return body(state)
        }
    }

    // MARK: What is connected (published by the loop thread)

    func publish(attached objects: [InterruptObject]) {
        published.withLock { table in
            for object in objects { table[object.vector, default: []].append(object) }
        }
    }

    func publish(detached objects: [InterruptObject]) {
        published.withLock { table in
            for object in objects {
                table[object.vector]?.removeAll { $0 === object }
                if table[object.vector]?.isEmpty == true { table[object.vector] = nil }
            }
        }
    }

    /// The objects connected on this loop, by vector, as of its last transition.
    var connectedByVector: [UInt32: [InterruptObject]] { published.withLock { $0 } }

    private func runOnThread() {
        LoopThreadMarker.word.value = identity
        LoopState(loop: self).run()
        LoopThreadMarker.word.value = 0
        if closesOnExit.load(ordering: .acquiring), let handle = thread.withLock({ $0.take() }) {
            PThread.detach(handle)
            selector.close()
        }
    }
}

/// Which dispatch loop the calling thread runs (0: none).
enum LoopThreadMarker {
    static let word = ThreadLocalWord()
}

/// Builds the main loop's DPC queue once the loop's selector and identity exist.
struct DeferredCallQueueFactory: Sendable {
    func make(_ selector: Selector, _ identity: UInt) -> DeferredCallQueue {
        DeferredCallQueue(
            wake: { selector.wake() },
            isOnDispatchThread: { LoopThreadMarker.word.value == identity })
    }
}

/// What other threads ask of the loop thread.
enum LoopCommand: Sendable {
    /// Connect these objects (all of one device and kind); a legacy line object also
    /// hears the other devices' lines given (see `ConnectionTable.listen(_:to:)`).
    case attach([InterruptObject], listeningTo: [InterruptDevice], Completion?)
    /// Disconnect these objects.
    case detach([InterruptObject], Completion?)
    /// Disconnect every object of the device on this loop, logging why.
    case detachDevice(InterruptDevice, reason: String, Completion?)
    /// Watch the device's event descriptors (removal requests, errors) until
    /// `unwatchEvents`, connected or not.
    case watchEvents(InterruptDevice, Completion?)
    /// Undo `watchEvents` (they stay watched while interrupts of the device are connected).
    case unwatchEvents(InterruptDevice, Completion?)
    /// Re-arm the storm-contained vectors of these objects.
    case rearm([InterruptObject], Completion?)
    /// Contain these objects' vectors as storming under `rule`, from outside the loop.
    case contain([InterruptObject], StormRule, Completion?)
    /// Judge the objects' own vectors by this storm policy from now on (nil: the loop's default).
    case setStorm([InterruptObject], StormPolicy?, Completion?)
    /// Run the DPCs queued now, then finish (KeFlushQueuedDpcs): a DPC queued after this
    /// batch's drain would otherwise still wait when the command is applied.
    case flushDeferredCalls(Completion)
    /// Answer a heartbeat request: count it in `heartbeats` (proves the loop turns).
    case heartbeat
    /// Report these objects active (true) or inactive (false).
    case setActive(Bool, [InterruptObject], Completion?)
    /// Tear everything down and end the thread.
    case stop
}

/// How a waiting caller learns that the loop applied its command.
final class Completion: Sendable {
    private let signal = OneShotSignal()
    private let failure = LockedValue<ConnectionError?>(nil)

    func finish(_ error: ConnectionError? = nil) {
        failure.withLock { $0 = error }
        signal.signal()
    }

    func wait() throws(ConnectionError) {
        signal.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
