// Percentiles of what the dispatch loop recorded (`LatencyBuckets`), computed off the
// interrupt path: the buckets of one or more objects are folded into an HdrHistogram
// (hdrhistogram-swift), which the selftest and `irqbridge watch` read p50/p99 from.
public import InterruptBridge
import Histogram

/// p50, p99 and the maximum of one or more latency snapshots (several vectors, or
/// the objects sharing one), through HdrHistogram.
public struct LatencySummary: Sendable {
    /// How many durations were folded in.
    public var count: UInt64
    public var p50: Duration?
    public var p99: Duration?
    public var max: Duration?

    /// Folds the snapshots into one histogram: each bucket's count at the bucket's
    /// upper bound (HdrHistogram's "highest equivalent value", what
    /// `LatencyBuckets.percentile` reports too), the top bucket at the exact maximum.
    public init(_ snapshots: [LatencyBuckets]) {
        // Nothing recorded (most vectors of a many-vector card a watch samples): no histogram to
        // make, whose buckets cost a watch of 200 vectors seconds per sample in the rig's guest.
        guard snapshots.contains(where: { $0.count > 0 }) else {
            count = 0
            return
        }
        // Two significant digits: the recorder's own resolution (1/64 per bucket).
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 1 << 36,
                                          numberOfSignificantValueDigits: .two)
        histogram.autoResize = true
        var longest: Duration?
        for snapshot in snapshots {
            let bounds = snapshot.bucketUpperBoundsNanoseconds
            let snapshotMax = snapshot.max
            let maxNanoseconds = snapshotMax.map { Self.nanoseconds($0) } ?? 0
            for (index, bucketCount) in snapshot.bucketCounts.enumerated() where bucketCount > 0 {
                _ = histogram.record(Swift.min(bounds[index], maxNanoseconds), count: bucketCount)
            }
            if let snapshotMax, longest.map({ snapshotMax > $0 }) ?? true { longest = snapshotMax }
        }
        count = histogram.totalCount
        guard count > 0 else { return }
        p50 = .nanoseconds(Int64(clamping: histogram.valueAtPercentile(50)))
        p99 = .nanoseconds(Int64(clamping: histogram.valueAtPercentile(99)))
        max = longest
    }

    public init(_ snapshot: LatencyBuckets) { self.init([snapshot]) }

    /// (p50, p99, max) when anything was recorded.
    public var figures: (p50: Duration, p99: Duration, max: Duration)? {
        guard let p50, let p99, let max else { return nil }
        return (p50, p99, max)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
    }
}

/// One vector of a selftest case: what its dispatch loop recorded.
public struct SelftestVectorTimings: Sendable, CustomStringConvertible {
    /// The message number (0 for a line).
    public var message: UInt32
    public var vector: UInt32
    public var stimulusToISR: LatencyBuckets
    public var isrDuration: LatencyBuckets

    public init(_ object: InterruptObject) {
        message = object.messageID
        vector = object.vector
        let timings = object.timings
        stimulusToISR = timings.stimulusToISR
        isrDuration = timings.isrDuration
    }

    /// "message 3 vector 0x..: 400 raised, stimulus->ISR p50 ... ISR p50 ...".
    public var description: String {
        var text = "message \(message) vector 0x\(String(vector, radix: 16)): \(stimulusToISR.count) timed"
        if let figures = LatencySummary(stimulusToISR).figures { text += ", to ISR \(SelftestResult.percentiles(figures))" }
        if let figures = LatencySummary(isrDuration).figures { text += ", ISR \(SelftestResult.percentiles(figures))" }
        return text
    }
}
