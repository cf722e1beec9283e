import InterruptBridgeSystem
import Synchronization

/// A spin lock (backs `KSPIN_LOCK`): the interrupt spin lock that the ISR chain
/// of a vector runs holding, and that `InterruptObject.synchronize` and
/// `acquire()` take from any other thread.
///
/// Acquisition spins briefly, then yields the processor between attempts, so a
/// holder preempted on a busy machine does not starve its waiters. It is not
/// recursive: acquiring it twice on one thread deadlocks, as in Windows.
/// Several interrupt objects may share one lock (the `spinLock:` parameter of
/// the connect calls), which serialises their ISRs against each other.
///
/// Acquiring it again on the thread that holds it (an ISR calling
/// `synchronize` on its own interrupt) would spin forever; it stops the
/// process with a message naming the mistake instead, as Windows bugchecks.
public final class InterruptSpinLock: Sendable {
    private let state = Atomic<Bool>(false)
    /// The holder's pthread_self, for the recursion check (0: free). Written by
    /// the holder only, read by waiters in the slow path.
    private let owner = Atomic<UInt>(0)

    public init() {}

    /// Takes the lock, spinning (then yielding) until it is free. Does not allocate.
    @inline(__always)
    public func lock() {
        if !state.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { lockSlowPath() }
        owner.store(PThread.currentIdentity, ordering: .relaxed)
    }

    /// Takes the lock if it is free. Does not block.
    @inline(__always)
    public func tryLock() -> Bool {
        guard state.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        owner.store(PThread.currentIdentity, ordering: .relaxed)
        return true
    }

    /// Releases the lock. Only its holder may call this.
    @inline(__always)
    public func unlock() {
        owner.store(0, ordering: .relaxed)
        state.store(false, ordering: .releasing)
    }

    /// Runs `body` holding the lock and returns its result unchanged.
    @inline(__always)
    public func withLock<Result: ~Copyable, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Whether some thread holds the lock right now (a diagnostic: the answer may
    /// be stale by the time it is read).
    public var isLocked: Bool { state.load(ordering: .relaxed) }

    private func lockSlowPath() {
        if owner.load(ordering: .relaxed) == PThread.currentIdentity {
            preconditionFailure("InterruptSpinLock acquired again by the thread that holds it "
                + "(KeSynchronizeExecution or KeAcquireInterruptSpinLock from the interrupt's own ISR?): this would never return")
        }
        var spins = 0
        while true {
            // Test before test-and-set: wait on a plain load, not on the cache line's ownership.
            while state.load(ordering: .relaxed) {
                spins += 1
                if spins >= 128 { PThread.yieldProcessor() }
            }
            if state.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { return }
        }
    }
}
