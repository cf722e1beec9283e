#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC as nanoseconds: a vDSO call, no system call entry and no
/// allocation, so the dispatch loop may read it on the interrupt path (storm
/// detection reads it once per block of interrupts).
public enum MonotonicClock {
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        _ = clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}

extension Duration {
    /// The duration in whole nanoseconds (negative durations give 0).
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
