public import CInterruptBridge

/// The processor's cycle counter (`cib_cycle_counter`), and its rate measured
/// once per process against CLOCK_MONOTONIC: a clock for spans of microseconds
/// that the dispatch loop can read once per batch for a few instructions.
public enum CycleCounter {
    /// The counter now, in ticks.
    @inlinable @inline(__always)
    public static func now() -> UInt64 { cib_cycle_counter() }

    /// Ticks per nanosecond, measured the first time it is asked (about 200 us of
    /// spinning on the calling thread, once per process).
    public static let ticksPerNanosecond: Double = measureRate(over: 200_000)

    /// `duration` in ticks (at least 1 for a positive duration).
    public static func ticks(_ duration: Duration) -> UInt64 {
        let nanoseconds = duration.nanoseconds
        guard nanoseconds > 0 else { return 0 }
        return max(1, UInt64((Double(nanoseconds) * ticksPerNanosecond).rounded()))
    }

    /// `ticks` in nanoseconds.
    public static func nanoseconds(_ ticks: UInt64) -> UInt64 {
        UInt64((Double(ticks) / ticksPerNanosecond).rounded())
    }

    private static func measureRate(over span: UInt64) -> Double {
        let startTime = MonotonicClock.nanoseconds()
        let startTicks = now()
        var elapsed: UInt64 = 0
        var ticks: UInt64 = 0
        repeat {
            elapsed = MonotonicClock.nanoseconds() &- startTime
            ticks = now() &- startTicks
        } while elapsed < span
        // A counter that did not move (no TSC) would make every window empty:
        // fall back to one tick per nanosecond, which is what the fallback counts.
        guard ticks > 0 else { return 1 }
        return Double(ticks) / Double(elapsed)
    }
}
