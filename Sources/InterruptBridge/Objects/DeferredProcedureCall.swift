import Synchronization

/// A deferred procedure call (backs `KDPC`): work an ISR queues to run later,
/// off the interrupt lock.
///
/// Queued DPCs run on the dispatcher's dispatch thread after the ISRs of the
/// current batch have returned (or promptly, when queued from another thread),
/// at DISPATCH_LEVEL, holding no interrupt lock. A DPC is queued at most once:
/// `enqueue` returns false while it is already queued (KeInsertQueueDpc), and
/// the arguments of the first insertion are the ones delivered. It may be
/// queued again as soon as its routine starts. Enqueuing does not allocate.
public final class DeferredProcedureCall: Sendable {
    /// KDEFERRED_ROUTINE: the DPC, SystemArgument1, SystemArgument2 (the
    /// DeferredContext is `dpc.deferredContext`).
    public typealias Routine = @Sendable (_ dpc: DeferredProcedureCall, _ argument1: OpaqueContext, _ argument2: OpaqueContext) -> Void

    /// The DeferredContext given at initialization.
    public let deferredContext: OpaqueContext
    let routine: Routine
    let queue: DeferredCallQueue
    let dispatcher: InterruptDispatcher

    // Guarded by the queue protocol: `queued` false -> true by the inserter, which then
    // owns `argument1`, `argument2` and `next` until the dispatch thread pops the DPC.
    let queued = Atomic<Bool>(false)
    let argument1 = Atomic<UInt>(0)
    let argument2 = Atomic<UInt>(0)
    let next = Atomic<UInt>(0)
    let runs = Atomic<UInt64>(0)

    /// KeInitializeDpc: a DPC that runs `routine` on `dispatcher`'s dispatch thread.
    public init(dispatcher: InterruptDispatcher, deferredContext: OpaqueContext = .none, routine: @escaping Routine) {
        self.dispatcher = dispatcher
        self.queue = dispatcher.deferredCalls
        self.deferredContext = deferredContext
        self.routine = routine
    }

    /// KeInsertQueueDpc: queues the DPC with two arguments. Returns false (and
    /// changes nothing) if it is already queued. Callable from any thread,
    /// including an ISR. Does not allocate.
    @discardableResult
    public func enqueue(_ argument1: OpaqueContext = .none, _ argument2: OpaqueContext = .none) -> Bool {
        guard queued.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        self.argument1.store(argument1.bits, ordering: .relaxed)
        self.argument2.store(argument2.bits, ordering: .relaxed)
        queue.push(self)
        return true
    }

    /// Whether the DPC is queued and has not started yet.
    public var isQueued: Bool { queued.load(ordering: .acquiring) }

    /// How many times the routine has run.
    public var runCount: UInt64 { runs.load(ordering: .relaxed) }

    /// Called by the dispatch thread: marks it unqueued, then runs the routine.
    func run() {
        let first = OpaqueContext(bits: argument1.load(ordering: .relaxed))
        let second = OpaqueContext(bits: argument2.load(ordering: .relaxed))
        queued.store(false, ordering: .releasing)
        routine(self, first, second)
        runs.add(1, ordering: .relaxed)
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

    func push(_ dpc: DeferredProcedureCall) {
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
    /// running (until the queue is empty). Dispatch thread only. Does not allocate.
    func drain() {
        while true {
            var bits = head.exchange(0, ordering: .acquiringAndReleasing)
            if bits == 0 { return }
            // Reverse the popped chain so DPCs run in the order they were queued.
            var reversed: UInt = 0
            while bits != 0 {
                let dpc = Unmanaged<DeferredProcedureCall>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue()
                let following = dpc.next.load(ordering: .relaxed)
                dpc.next.store(reversed, ordering: .relaxed)
                reversed = bits
                bits = following
            }
            while reversed != 0 {
                let dpc = Unmanaged<DeferredProcedureCall>.fromOpaque(UnsafeRawPointer(bitPattern: reversed)!).takeRetainedValue()
                reversed = dpc.next.load(ordering: .relaxed)
                let previous = CurrentLevel.raise(to: .dispatch)
                dpc.run()
                CurrentLevel.value = previous
            }
        }
    }
}
