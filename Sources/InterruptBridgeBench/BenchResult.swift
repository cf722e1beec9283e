/// One row of the report: a figure for the bridge, the same figure for the C
/// baseline measured in the same run, their ratio, and the target it is held to.
public struct BenchResult: Sendable, Equatable {
    public var name: String
    public var unit: String
    public var bridge: Double?
    public var baseline: Double?
    public var target: BenchTarget?

    public init(name: String, unit: String, bridge: Double?, baseline: Double?, target: BenchTarget? = nil) {
        self.name = name
        self.unit = unit
        self.bridge = bridge
        self.baseline = baseline
        self.target = target
    }

    /// bridge / baseline.
    public var ratio: Double? { Statistics.ratio(bridge, baseline) }

    /// Whether the target is met; nil when the row has no target or lacks a figure.
    public var verdict: Bool? { target?.isMet(bridge: bridge, ratio: ratio) }
}

/// What a row must achieve (issue 5's targets).
public enum BenchTarget: Sendable, Equatable, CustomStringConvertible {
    /// bridge/baseline <= bound (latency, cost).
    case ratioAtMost(Double)
    /// bridge/baseline >= bound (throughput).
    case ratioAtLeast(Double)
    /// bridge/baseline < bound, strictly (busy-poll beats epoll).
    case ratioBelow(Double)
    /// The bridge figure itself <= bound (allocations, flatness ratios).
    case valueAtMost(Double)

    public func isMet(bridge: Double?, ratio: Double?) -> Bool? {
        switch self {
        case let .ratioAtMost(bound): ratio.map { $0 <= bound }
        case let .ratioAtLeast(bound): ratio.map { $0 >= bound }
        case let .ratioBelow(bound): ratio.map { $0 < bound }
        case let .valueAtMost(bound): bridge.map { $0 <= bound }
        }
    }

    public var description: String {
        switch self {
        case let .ratioAtMost(bound): "ratio <= \(Format.number(bound))"
        case let .ratioAtLeast(bound): "ratio >= \(Format.number(bound))"
        case let .ratioBelow(bound): "ratio < \(Format.number(bound))"
        case let .valueAtMost(bound): "bridge <= \(Format.number(bound))"
        }
    }
}

/// Number formatting shared by the table and the targets.
enum Format {
    static func number(_ value: Double?) -> String {
        guard let value else { return "-" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        if abs(value) >= 100 { return String(Int64(value.rounded())) }
        let scaled = (value * 1000).rounded() / 1000
        return String(scaled)
    }

    static func ratio(_ value: Double?) -> String {
        guard let value else { return "-" }
        let scaled = (value * 100).rounded() / 100
        var text = String(scaled)
        if let dot = text.firstIndex(of: "."), text.distance(from: dot, to: text.endIndex) == 2 { text += "0" }
        return text + "x"
    }
}
