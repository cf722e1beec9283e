/// Order statistics over benchmark samples. Pure functions, no allocation beyond the sort.
public enum Statistics {
    /// The nearest-rank percentile (0...100) of `sorted`, which must be ascending.
    /// nil for an empty sample.
    public static func percentile(_ sorted: [Double], _ percent: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let clamped = min(max(percent, 0), 100)
        // The small epsilon keeps 99.9% of 1000 at rank 999 despite binary rounding.
        let rank = Int((clamped / 100 * Double(sorted.count) - 1e-9).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// The median of unordered values (mean of the middle two for an even count).
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
    }

    /// bridge / baseline, or nil where the ratio means nothing (a zero or absent baseline).
    public static func ratio(_ bridge: Double?, _ baseline: Double?) -> Double? {
        guard let bridge, let baseline, baseline != 0 else { return nil }
        return bridge / baseline
    }
}
