#if canImport(Glibc)
public import Glibc
#endif

/// CLOCK_MONOTONIC as nanoseconds: a vDSO call, no system call entry and no
/// allocation, so the dispatch loop may read it on the interrupt path (storm
/// detection reads it once per block of interrupts).
public enum MonotonicClock {
    ///
    /// Inlinable, and the timespec unprotected: the loop reads the clock twice per ISR
    /// call when it records timings, and a call across modules plus a stack-protector
    /// check cost more than the arithmetic.
    @inlinable @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        _ = _withUnprotectedUnsafeMutablePointer(to: &now) { clock_gettime(CLOCK_MONOTONIC, $0) }
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}

extension Duration {
    /// The duration in whole nanoseconds (negative durations give 0). A negative duration
    /// under a second has 0 seconds and negative attoseconds, so it is tested as a whole:
    /// testing the seconds alone let -0.5 us through to a trapping UInt64 conversion (a
    /// paced raise's sleep, computed a moment after its deadline was checked).
    public var nanoseconds: UInt64 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// The duration in whole microseconds (negative durations give 0).
    public var wholeMicroseconds: Int { Int(nanoseconds / 1000) }
}

/// CLOCK_REALTIME as nanoseconds since the Unix epoch (wall-clock time: it steps when the
/// clock is set; measure intervals with `MonotonicClock`).
public enum RealtimeClock {
    public static func nanosecondsSinceUnixEpoch() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
    }
}
