/// A snapshot of one latency recorder of an interrupt object (see `InterruptTimings`):
/// how many durations fell in each bucket of a fixed log-linear layout.
///
/// The layout is HdrHistogram's, with 64 sub-buckets per power of two: durations
/// below 128 ns are counted exactly (1 ns buckets), every longer one in a bucket at
/// most 1/64 (1.6%) of its value wide, so a percentile is right to two significant
/// digits; the last finite bucket ends at 2^34 ns (about 17 s) and a final bucket
/// takes everything longer. The layout never changes, so snapshots of any object
/// and any moment can be subtracted and added bucket by bucket.
public struct LatencyBuckets: Sendable, Hashable {
    /// How many durations each bucket holds, one per `bucketUpperBoundsNanoseconds`.
    public let bucketCounts: [UInt64]
    /// The number of durations recorded (the sum of `bucketCounts`).
    public let count: UInt64
    /// The sum of the durations recorded, in nanoseconds (a Prometheus histogram's `_sum`).
    public let sumNanoseconds: UInt64
    /// The longest duration recorded (0: none), exact: the recorder keeps it beside the buckets.
    let longestNanoseconds: UInt64

    /// No durations.
    public static let empty = LatencyBuckets(bucketCounts: Layout.zeros, sumNanoseconds: 0, longestNanoseconds: 0)

    init(bucketCounts: [UInt64], sumNanoseconds: UInt64, longestNanoseconds: UInt64) {
        precondition(bucketCounts.count == Layout.bucketCount, "a latency snapshot has \(Layout.bucketCount) buckets")
        self.bucketCounts = bucketCounts
        count = bucketCounts.reduce(0, &+)
        self.sumNanoseconds = sumNanoseconds
        self.longestNanoseconds = longestNanoseconds
    }

    /// The largest duration each bucket holds, in nanoseconds, ascending (inclusive
    /// upper bounds, the same for every snapshot; the last is `UInt64.max`, the
    /// bucket of everything above 2^34 ns): a Prometheus histogram's `le` labels.
    public var bucketUpperBoundsNanoseconds: [UInt64] { Layout.upperBounds }

    /// The duration at or below which `p` percent (0...100) of the recorded
    /// durations fall, as HdrHistogram reports it: the upper bound of the bucket
    /// holding that rank (never above `max`). nil when nothing was recorded.
    public func percentile(_ p: Double) -> Duration? {
        guard count > 0 else { return nil }
        let fraction = Swift.min(Swift.max(p, 0), 100) / 100
        // The rank of the wanted duration, 1...count (HdrHistogram's: at least 1).
        let rank = Swift.max(1, UInt64((fraction * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucketCount) in bucketCounts.enumerated() where bucketCount > 0 {
            seen &+= bucketCount
            if seen >= rank { return .nanoseconds(clampedToLongest(Layout.upperBound(of: index), bucket: index)) }
        }
        return max
    }

    /// The longest duration recorded; nil when nothing was. Exact for a recorder's
    /// snapshot; for a difference of snapshots (`subtracting`), the upper bound of
    /// the highest bucket that gained durations (the exact value when it falls there).
    public var max: Duration? {
        guard let highest = bucketCounts.lastIndex(where: { $0 > 0 }) else { return nil }
        return .nanoseconds(clampedToLongest(Layout.upperBound(of: highest), bucket: highest))
    }

    /// The mean duration; nil when nothing was recorded.
    public var mean: Duration? {
        count == 0 ? nil : .nanoseconds(sumNanoseconds / count)
    }

    /// What was recorded after `earlier` (a snapshot of the same recorder taken
    /// before this one): the durations of that interval. A bucket that would go
    /// negative (snapshots of different recorders, or out of order) counts 0.
    public func subtracting(_ earlier: LatencyBuckets) -> LatencyBuckets {
        var counts = bucketCounts
        for index in counts.indices {
            counts[index] = counts[index] >= earlier.bucketCounts[index] ? counts[index] - earlier.bucketCounts[index] : 0
        }
        let sum = sumNanoseconds >= earlier.sumNanoseconds ? sumNanoseconds - earlier.sumNanoseconds : 0
        return LatencyBuckets(bucketCounts: counts, sumNanoseconds: sum, longestNanoseconds: longestNanoseconds)
    }

    /// Both snapshots' durations together (several objects of one vector, say).
    public func adding(_ other: LatencyBuckets) -> LatencyBuckets {
        var counts = bucketCounts
        for index in counts.indices { counts[index] &+= other.bucketCounts[index] }
        return LatencyBuckets(bucketCounts: counts, sumNanoseconds: sumNanoseconds &+ other.sumNanoseconds,
                              longestNanoseconds: Swift.max(longestNanoseconds, other.longestNanoseconds))
    }

    /// A bucket's upper bound, or the exact longest duration when that lies in the bucket.
    private func clampedToLongest(_ bound: UInt64, bucket: Int) -> Int64 {
        let exact = longestNanoseconds > 0 && Layout.index(of: longestNanoseconds) == bucket ? longestNanoseconds : bound
        return Int64(clamping: exact)
    }

    /// The bucket layout (see the type's discussion). `index(of:)` runs on the
    /// interrupt path: a few shifts, no table, no allocation.
    enum Layout {
        /// log2 of the sub-buckets per power of two above the exact range.
        static let subBucketBits = 6
        static let subBuckets = 1 << subBucketBits  // 64
        /// Below this every nanosecond has its own bucket.
        static let exactLimit: UInt64 = 1 << (subBucketBits + 1)  // 128
        /// The highest power of two with buckets of its own: [2^33, 2^34) ns.
        static let highestExponent = 33
        /// The bucket of everything from 2^(highestExponent + 1) ns up.
        static let overflowIndex = Int(exactLimit) + (highestExponent - subBucketBits) * subBuckets
        static let bucketCount = overflowIndex + 1
        static let upperBounds: [UInt64] = (0..<bucketCount).map(upperBound(of:))
        static let zeros = [UInt64](repeating: 0, count: bucketCount)

        /// The bucket of `nanoseconds`.
        @inline(__always)
        static func index(of nanoseconds: UInt64) -> Int {
            if nanoseconds < exactLimit { return Int(truncatingIfNeeded: nanoseconds) }
            let exponent = 63 &- nanoseconds.leadingZeroBitCount  // >= subBucketBits + 1
            if exponent > highestExponent { return overflowIndex }
            let shift = exponent &- subBucketBits
            let subBucket = Int(truncatingIfNeeded: nanoseconds >> UInt64(shift)) &- subBuckets  // 0..<64
            return Int(exactLimit) &+ (exponent &- subBucketBits &- 1) &* subBuckets &+ subBucket
        }

        /// The largest value bucket `index` holds.
        static func upperBound(of index: Int) -> UInt64 {
            if index < Int(exactLimit) { return UInt64(index) }
            if index >= overflowIndex { return .max }
            let exponent = (index - Int(exactLimit)) / subBuckets + subBucketBits + 1
            let subBucket = UInt64((index - Int(exactLimit)) % subBuckets)
            let shift = UInt64(exponent - subBucketBits)
            return ((UInt64(subBuckets) + subBucket + 1) << shift) - 1
        }
    }
}
