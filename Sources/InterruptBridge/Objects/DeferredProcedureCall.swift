import InterruptBridgeCore
import Synchronization

/// A deferred procedure call whose context and arguments are `OpaqueContext`
/// pointers: the runtime's `KDPC`. (The WDK facade's `KDPC` is the same class
/// carrying `PVOID` values.)
public typealias DeferredProcedureCall = DeferredCall<OpaqueContext>

/// A deferred procedure call (backs `KDPC`): work an ISR queues to run later,
/// off the interrupt lock, with a context given at initialization and two
/// arguments given at each insertion.
///
/// Queued DPCs run on the dispatcher's dispatch thread after the ISRs of the
/// current batch have returned (or promptly, when queued from another thread),
/// at DISPATCH_LEVEL (a threaded DPC at PASSIVE_LEVEL, see `isThreaded`),
/// holding no interrupt lock. A DPC is queued at most once: `enqueue` returns
/// false while it is already queued (KeInsertQueueDpc), and the arguments of the
/// first insertion are the ones delivered. `remove` takes a queued DPC off the
/// queue before it starts (KeRemoveQueueDpc). It may be queued again as soon as
/// its routine starts, or once removed. Enqueuing and removing neither allocate
/// nor lock.
public final class DeferredCall<Argument: Sendable>: DeferredCallNode, @unchecked Sendable {
    // @unchecked: `argument1`/`argument2` are plain stored properties guarded by the
    // node's `state` protocol (see DeferredCallNode): only the thread that moved the
    // state into `inserting`, `removing` or `running` touches them, and it publishes
    // with a releasing store that the next owner's acquiring exchange reads. The
    // rest is immutable after init.

    /// KDEFERRED_ROUTINE: the DPC, SystemArgument1, SystemArgument2 (the
    /// DeferredContext is `dpc.deferredContext`).
    public typealias Routine = @Sendable (_ dpc: DeferredCall<Argument>, _ argument1: Argument, _ argument2: Argument) -> Void

    /// The DeferredContext given at initialization.
    public let deferredContext: Argument
    let routine: Routine
    private var argument1: Argument?
    private var argument2: Argument?

    /// KeInitializeDpc (KeInitializeThreadedDpc when `threaded`): a DPC that runs
    /// `routine` on `dispatcher`'s dispatch thread with `deferredContext`.
    public init(dispatcher: InterruptDispatcher, deferredContext: Argument, threaded: Bool = false,
                routine: @escaping Routine) {
        self.deferredContext = deferredContext
        self.routine = routine
        super.init(dispatcher: dispatcher, isThreaded: threaded)
    }

    /// KeInsertQueueDpc: queues the DPC with two arguments. Returns false (and
    /// changes nothing) if it is already queued. Callable from any thread,
    /// including an ISR. Does not allocate.
    @discardableResult
    public func enqueue(_ argument1: Argument, _ argument2: Argument) -> Bool {
        guard let onQueue = claimForInsertion() else { return false }
        self.argument1 = argument1
        self.argument2 = argument2
        publishInsertion(wasOnQueue: onQueue)
        return true
    }

    /// KeRemoveQueueDpc: if the DPC is queued and has not started, takes it off the
    /// queue (it will not run for that insertion) and returns the arguments it was
    /// queued with; otherwise (not queued, already running, or being queued right now
    /// by another thread) returns nil and changes nothing. Callable from any thread.
    /// Does not allocate.
    public func remove() -> (argument1: Argument, argument2: Argument)? {
        guard claimForRemoval() else { return nil }
        let arguments = take()
        publishRemoval()
        return arguments
    }

    /// KeRemoveQueueDpc's BOOLEAN: true when the DPC was queued and now will not run.
    @discardableResult
    public func dequeue() -> Bool { remove() != nil }

    private func take() -> (Argument, Argument) {
        guard let first = argument1.take(), let second = argument2.take() else {
            preconditionFailure("DeferredCall: a queued DPC without its arguments")
        }
        return (first, second)
    }

    override func runClaimed() {
        let (first, second) = take()
        releaseAfterRun()
        routine(self, first, second)
    }
}

extension DeferredCall where Argument == OpaqueContext {
    /// KeInitializeDpc with the context defaulting to NULL.
    public convenience init(dispatcher: InterruptDispatcher, threaded: Bool = false, routine: @escaping Routine) {
        self.init(dispatcher: dispatcher, deferredContext: .none, threaded: threaded, routine: routine)
    }

    /// KeInsertQueueDpc with both arguments NULL.
    @discardableResult
    public func enqueue() -> Bool { enqueue(.none, .none) }
}

/// What every DPC shares, whatever its argument type: the queue link and the
/// lock-free state protocol that decides who may touch the arguments. Not
/// subclassable outside the module; use `DeferredCall`.
///
/// `state` moves through these phases (each arrow one atomic compare-exchange or
/// store by the thread named):
///
///     idle ─insert─► inserting ─insert─► queued ─drain─► running ─drain─► idle
///     queued ─remove─► removing ─remove─► cancelled ─drain─► idle
///     cancelled ─insert─► insertingOnQueue ─insert─► queued
///
/// `queued`, `cancelled`, `insertingOnQueue` and `removing` mean the node is on
/// the queue's list (or its inserter is about to push it). A removed DPC stays on
/// the list, marked `cancelled`, because the list is a lock-free stack that cannot
/// unlink from the middle; the drain skips it. Inserting it again reuses that
/// place (it is not pushed twice). When the drain meets a node whose inserter or
/// remover is mid-way, it does not wait: it hands the node off the list
/// (`inserting` / `removedOffQueue`), and that thread finishes accordingly.
public class DeferredCallNode: @unchecked Sendable {
    // @unchecked: every stored property is atomic or immutable after init.
    enum Phase: UInt8 {
        case idle, inserting, queued, running, removing, cancelled, insertingOnQueue, removedOffQueue
    }

    let state = Atomic<UInt8>(Phase.idle.rawValue)
    /// The queue's intrusive link: written by the pusher and the drain only.
    let next = Atomic<UInt>(0)
    let runs = Atomic<UInt64>(0)
    let queue: DeferredCallQueue
    /// The dispatcher whose dispatch thread runs the DPC; nil once it is gone. Weak:
    /// a DPC is usually held by what its routine serves (a device, a driver's
    /// extension), and a strong reference here closed a cycle through the
    /// dispatcher that kept its loops and tables alive after shutdown (issue 10).
    /// Enqueuing needs only `queue`.
    public weak let dispatcher: InterruptDispatcher?
    /// KeInitializeThreadedDpc: the routine runs at PASSIVE_LEVEL (as KeGetCurrentIrql
    /// reports it), on the same dispatch thread, in queue order with the other DPCs.
    /// Windows runs such a routine at DISPATCH_LEVEL when threaded DPCs are disabled,
    /// so it must not block either way; here it never preempts or is preempted by
    /// another DPC.
    public let isThreaded: Bool

    init(dispatcher: InterruptDispatcher, isThreaded: Bool) {
        self.dispatcher = dispatcher
        self.queue = dispatcher.deferredCalls
        self.isThreaded = isThreaded
    }

    /// Whether the DPC is queued and has not started yet.
    public var isQueued: Bool {
        switch Phase(rawValue: state.load(ordering: .acquiring)) {
        case .queued?, .inserting?, .insertingOnQueue?: true
        default: false
        }
    }

    /// How many times the routine has run.
    public var runCount: UInt64 { runs.load(ordering: .relaxed) }

    /// The level the routine runs at.
    var level: InterruptLevel { isThreaded ? .passive : .dispatch }

    // MARK: The protocol (callers own the arguments between claim and publish)

    /// Claims the arguments for an insertion: nil if the DPC is already queued (or
    /// being dequeued or removed this instant); otherwise whether it is still on the list.
    final func claimForInsertion() -> Bool? {
        var current = state.load(ordering: .relaxed)
        while true {
            let target: Phase
            switch Phase(rawValue: current) {
            case .idle?: target = .inserting
            case .cancelled?: target = .insertingOnQueue
            default: return nil
            }
            let (exchanged, original) = state.compareExchange(expected: current, desired: target.rawValue,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return target == .insertingOnQueue }
            current = original
        }
    }

    /// Publishes the arguments: the DPC is queued; pushes it if it is not on the list.
    final func publishInsertion(wasOnQueue: Bool) {
        if wasOnQueue {
            let (exchanged, _) = state.compareExchange(expected: Phase.insertingOnQueue.rawValue, desired: Phase.queued.rawValue,
                                                       ordering: .acquiringAndReleasing)
            if exchanged { return }
            // The drain took it off the list meanwhile (insertingOnQueue -> inserting): push it.
        }
        state.store(Phase.queued.rawValue, ordering: .releasing)
        queue.push(self)
    }

    /// Claims a queued DPC's arguments for removal; false if it is not queued.
    final func claimForRemoval() -> Bool {
        state.compareExchange(expected: Phase.queued.rawValue, desired: Phase.removing.rawValue,
                              ordering: .acquiringAndReleasing).exchanged
    }

    /// Ends a removal: cancelled on the list, or idle if the drain already took it off.
    final func publishRemoval() {
        let (exchanged, _) = state.compareExchange(expected: Phase.removing.rawValue, desired: Phase.cancelled.rawValue,
                                                   ordering: .acquiringAndReleasing)
        if !exchanged { state.store(Phase.idle.rawValue, ordering: .releasing) }
    }

    /// The drain, after taking the arguments: the DPC may be queued again.
    final func releaseAfterRun() {
        state.store(Phase.idle.rawValue, ordering: .releasing)
    }

    /// Takes the claimed arguments, releases the DPC and calls the routine. Dispatch thread only.
    func runClaimed() { preconditionFailure("DeferredCallNode is only subclassed by DeferredCall") }

    /// Called by the drain for a node it popped off the list: runs it if it is
    /// queued, skips it otherwise (see the phase diagram). Never waits.
    final func drained() {
        var current = state.load(ordering: .relaxed)
        while true {
            let target: Phase
            switch Phase(rawValue: current) {
            case .queued?: target = .running
            case .cancelled?: target = .idle
            case .insertingOnQueue?: target = .inserting
            case .removing?: target = .removedOffQueue
            default: preconditionFailure("DeferredCall: phase \(current) on the queue")
            }
            let (exchanged, original) = state.compareExchange(expected: current, desired: target.rawValue,
                                                              ordering: .acquiringAndReleasing)
            if exchanged {
                guard target == .running else { return }
                let previous = CurrentLevel.raise(to: level)
                runClaimed()
                CurrentLevel.value = previous
                runs.add(1, ordering: .relaxed)
                return
            }
            current = original
        }
    }
}

/// The dispatcher's queue of DPCs: a lock-free intrusive stack (push from any
/// thread, take-all by the dispatch thread), so queuing from an ISR neither
/// allocates nor locks. Taking all and reversing gives insertion order.
final class DeferredCallQueue: Sendable {
    private let head = Atomic<UInt>(0)
    /// Wakes the dispatch loop when a DPC is queued from outside it.
    let wake: @Sendable () -> Void
    let isOnDispatchThread: @Sendable () -> Bool

    init(wake: @escaping @Sendable () -> Void, isOnDispatchThread: @escaping @Sendable () -> Bool) {
        self.wake = wake
        self.isOnDispatchThread = isOnDispatchThread
    }

    func push(_ dpc: DeferredCallNode) {
        // The queue holds a +1 reference while the DPC is on it.
        let bits = UInt(bitPattern: Unmanaged.passRetained(dpc).toOpaque())
        var current = head.load(ordering: .relaxed)
        while true {
            dpc.next.store(current, ordering: .relaxed)
            let (exchanged, original) = head.compareExchange(expected: current, desired: bits, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        if current == 0 && !isOnDispatchThread() { wake() }
    }

    var isEmpty: Bool { head.load(ordering: .acquiring) == 0 }

    /// Runs every queued DPC in insertion order, including ones queued while
    /// running (until the queue is empty); skips removed ones. Dispatch thread
    /// only. Does not allocate.
    func drain() {
        while true {
            var bits = head.exchange(0, ordering: .acquiringAndReleasing)
            if bits == 0 { return }
            // Reverse the popped chain so DPCs run in the order they were queued.
            var reversed: UInt = 0
            while bits != 0 {
                let dpc = Unmanaged<DeferredCallNode>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue()
                let following = dpc.next.load(ordering: .relaxed)
                dpc.next.store(reversed, ordering: .relaxed)
                reversed = bits
                bits = following
            }
            while reversed != 0 {
                let dpc = Unmanaged<DeferredCallNode>.fromOpaque(UnsafeRawPointer(bitPattern: reversed)!).takeRetainedValue()
                reversed = dpc.next.load(ordering: .relaxed)
                dpc.drained()
            }
        }
    }
}
