// The clocks a driver reads: the performance counter, interrupt time (since boot), system
// time (since 1601, UTC) and the tick count, in Windows' units over Linux's clocks. None
// allocates or blocks: an ISR may time itself with them.
import InterruptBridgeSystem

/// PLARGE_INTEGER: where C passes `&Time` (NULL where the parameter is optional).
public typealias PLARGE_INTEGER = UnsafeMutablePointer<LARGE_INTEGER>?

/// The performance counter's rate: 10 MHz (100 ns a count), as Windows reports on current
/// hardware, over CLOCK_MONOTONIC.
public let KeQueryPerformanceCounterFrequency: LONGLONG = 10_000_000

/// `KeQueryPerformanceCounter`: the monotonic counter, in counts of 1 / `*PerformanceFrequency`
/// seconds (10 MHz), written to `PerformanceFrequency` when it is not NULL.
public func KeQueryPerformanceCounter(_ PerformanceFrequency: PLARGE_INTEGER) -> LARGE_INTEGER {
    PerformanceFrequency?.pointee = LARGE_INTEGER(QuadPart: KeQueryPerformanceCounterFrequency)
    return LARGE_INTEGER(QuadPart: LONGLONG(MonotonicClock.nanoseconds() / 100))
}

/// `KeQueryInterruptTime`: 100-ns units since the system started (CLOCK_MONOTONIC; it does
/// not count time suspended, where Windows' does).
public func KeQueryInterruptTime() -> ULONGLONG { MonotonicClock.nanoseconds() / 100 }

/// `KeQueryInterruptTimePrecise`: the same, with the performance counter read at that moment.
public func KeQueryInterruptTimePrecise(_ QpcTimeStamp: UnsafeMutablePointer<ULONG64>?) -> ULONGLONG {
    let now = MonotonicClock.nanoseconds() / 100
    QpcTimeStamp?.pointee = now
    return now
}

/// 100-ns units between 1601-01-01 and 1970-01-01 (UTC).
let windowsEpochOffset: LONGLONG = 116_444_736_000_000_000

/// System time now: 100-ns units since 1601-01-01 UTC.
func systemTimeNow() -> LONGLONG { RealtimeClock.nanosecondsSinceUnixEpoch() / 100 + windowsEpochOffset }

/// `KeQuerySystemTime(&CurrentTime)`: 100-ns units since 1601-01-01 UTC (the wall clock).
public func KeQuerySystemTime(_ CurrentTime: UnsafeMutablePointer<LARGE_INTEGER>) {
    CurrentTime.pointee = LARGE_INTEGER(QuadPart: systemTimeNow())
}

/// `KeQuerySystemTimePrecise(&CurrentTime)`: the same (Linux's clock is precise either way).
public func KeQuerySystemTimePrecise(_ CurrentTime: UnsafeMutablePointer<LARGE_INTEGER>) {
    KeQuerySystemTime(CurrentTime)
}

/// `KeQueryTimeIncrement`: 100-ns units a clock tick adds to interrupt time: 156,250
/// (15.625 ms, Windows' default timer resolution).
public func KeQueryTimeIncrement() -> ULONG { 156_250 }

/// `KeQueryTickCount(&CurrentCount)`: clock ticks since the system started
/// (interrupt time / `KeQueryTimeIncrement()`).
public func KeQueryTickCount(_ CurrentCount: UnsafeMutablePointer<LARGE_INTEGER>) {
    CurrentCount.pointee = LARGE_INTEGER(QuadPart: LONGLONG(KeQueryInterruptTime() / ULONGLONG(KeQueryTimeIncrement())))
}
