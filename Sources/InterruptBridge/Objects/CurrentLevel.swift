public import InterruptBridgeCore
// Thread-locals only (InterruptBridgeSystem's ThreadIRQL and ThreadPassiveLocks, inline loads and stores): no syscalls here.
import InterruptBridgeSystem

/// The IRQL the calling thread is modelled to run at: a device IRQL inside an
/// ISR or while holding an interrupt lock, DISPATCH_LEVEL inside a DPC,
/// PASSIVE_LEVEL otherwise. Kept per thread, no allocation.
///
/// A C thread-local (initial-exec) rather than a `ThreadLocalWord`: the ISR
/// path reads and writes it four times per interrupt, and a pthread key costs a
/// swift_once plus a libc call each time (about 110 instructions per interrupt
/// under callgrind) where this is one %fs-relative load or store.
enum CurrentLevel {
    @inline(__always)
    static var value: InterruptLevel {
        get { InterruptLevel(ThreadIRQL.value) }
        set { ThreadIRQL.value = newValue.rawValue }
    }

    /// Whether the calling thread holds a passive-level object's interrupt lock (see
    /// `InterruptObject.acquire()`): it is at PASSIVE_LEVEL, yet the passive dispatch
    /// thread may be waiting for that lock, so the thread must not wait for the loop.
    @inline(__always)
    static var holdsPassiveLock: Bool { ThreadPassiveLocks.held != 0 }

    /// Counts a passive-level interrupt lock taken (`+1`) or released (`-1`) by the
    /// calling thread. Wrapping: the interrupt path gets no overflow check.
    @inline(__always)
    static func countPassiveLock(_ delta: Int32) {
        ThreadPassiveLocks.held = ThreadPassiveLocks.held &+ UInt32(bitPattern: delta)
    }

    /// Raises (or sets) the level for the duration of a lock hold; returns the previous level.
    @inline(__always)
    static func raise(to level: InterruptLevel) -> InterruptLevel {
        let previous = value
        value = level
        return previous
    }
}

extension InterruptLevel {
    /// The level the calling thread runs at, as the bridge models it (KeGetCurrentIrql).
    public static var current: InterruptLevel { CurrentLevel.value }

    /// Raises the calling thread's modelled level to `level` and returns the previous
    /// one (KeRaiseIrql). Raising to a level below the current one stops the process,
    /// as Windows bug-checks (IRQL_NOT_GREATER_OR_EQUAL). Does not allocate.
    public static func raiseCurrent(to level: InterruptLevel) -> InterruptLevel {
        let previous = CurrentLevel.value
        precondition(level >= previous, "KeRaiseIrql to \(level) below the current IRQL \(previous) (IRQL_NOT_GREATER_OR_EQUAL)")
        CurrentLevel.value = level
        return previous
    }

    /// Lowers the calling thread's modelled level to `level`, the value an earlier
    /// raise returned (KeLowerIrql). Lowering to a level above the current one stops
    /// the process, as Windows bug-checks (IRQL_NOT_LESS_OR_EQUAL). Does not allocate.
    public static func lowerCurrent(to level: InterruptLevel) {
        let current = CurrentLevel.value
        precondition(level <= current, "KeLowerIrql to \(level) above the current IRQL \(current) (IRQL_NOT_LESS_OR_EQUAL)")
        CurrentLevel.value = level
    }
}
