/// One row of the report: a figure for the bridge, the same figure for the C
/// baseline (the floor) and for each peer, all measured in the same run, the
/// bridge's ratio to each, and the targets they are held to.
public struct BenchResult: Sendable, Equatable {
    public var name: String
    public var unit: String
    public var bridge: Double?
    public var baseline: Double?
    /// Held against the C baseline.
    public var target: BenchTarget?
    /// The peers' figures, in report order (empty when the row has none).
    public var peers: [PeerFigure]
    /// Where each side's deliveries were made: on the first row of the rows one
    /// set of runs produced (nil on the others, on derived rows and where
    /// placement was not tracked).
    public var placement: PlacementShares?

    public init(name: String, unit: String, bridge: Double?, baseline: Double?, target: BenchTarget? = nil,
                peers: [PeerFigure] = [], placement: PlacementShares? = nil) {
        self.name = name
        self.unit = unit
        self.bridge = bridge
        self.baseline = baseline
        self.target = target
        self.peers = peers
        self.placement = placement
    }

    /// bridge / baseline.
    public var ratio: Double? { Statistics.ratio(bridge, baseline) }

    /// Whether the target against the C baseline is met; nil when there is none or a figure is missing.
    public var verdict: Bool? { target?.isMet(bridge: bridge, ratio: ratio) }

    /// bridge / the peer's figure.
    public func ratio(to peer: PeerFigure) -> Double? { Statistics.ratio(bridge, peer.value) }

    /// Whether the target against `peer` is met; nil when there is none, the peer is absent or a figure is missing.
    public func verdict(against peer: PeerFigure) -> Bool? {
        guard peer.value != nil else { return nil }
        return peer.target?.isMet(bridge: bridge, ratio: ratio(to: peer))
    }

    /// Every judged target: the C baseline's ("C", or "bound" for a bound on the
    /// bridge's own figure), then each peer's, by name.
    public var verdicts: [(against: String, met: Bool)] {
        var all: [(against: String, met: Bool)] = []
        if let verdict, let target {
            if case .valueAtMost = target { all.append(("bound", verdict)) } else { all.append(("C", verdict)) }
        }
        for peer in peers { if let met = verdict(against: peer) { all.append((peer.name, met)) } }
        return all
    }
}

/// Each side's share (0...1) of deliveries made on the processor that raised
/// them, the median over the row's repetitions. On a virtual machine a wake-up
/// on the raising processor and one across processors differ by up to tens of
/// microseconds, so two sides with very different shares were not measured in
/// the same conditions, whatever their code.
public struct PlacementShares: Sendable, Equatable, Encodable {
    public var bridge: Double?
    public var baseline: Double?
    /// By peer name; absent peers are left out.
    public var peers: [String: Double]

    public init(bridge: Double?, baseline: Double?, peers: [String: Double] = [:]) {
        self.bridge = bridge
        self.baseline = baseline
        self.peers = peers
    }

    /// The widest gap between two sides' shares (nil with fewer than two).
    public var spread: Double? {
        let shares = [bridge, baseline].compactMap { $0 } + peers.values
        guard shares.count > 1, let low = shares.min(), let high = shares.max() else { return nil }
        return high - low
    }

    /// `{bridge, baseline, peers: {NAME: share}}`; a missing side's share is written as null.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(bridge, forKey: .bridge)
        try container.encode(baseline, forKey: .baseline)
        try container.encode(peers, forKey: .peers)
    }

    enum CodingKeys: String, CodingKey { case bridge, baseline, peers }
}

/// One peer's figure in a row. `value` is nil when the peer is absent on this
/// machine or does not take part in the row's scenario (busy-poll).
public struct PeerFigure: Sendable, Equatable {
    public var name: String
    public var value: Double?
    public var target: BenchTarget?

    public init(name: String, value: Double?, target: BenchTarget? = nil) {
        self.name = name
        self.value = value
        self.target = target
    }
}

/// What a row must achieve (issue 5's targets, tightened by issue 13).
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

    /// The bound alone, for the table's targets column ("<=1.05x", "bridge<=0").
    var short: String {
        switch self {
        case let .ratioAtMost(bound): "<=\(Format.number(bound))x"
        case let .ratioAtLeast(bound): ">=\(Format.number(bound))x"
        case let .ratioBelow(bound): "<\(Format.number(bound))x"
        case let .valueAtMost(bound): "bridge<=\(Format.number(bound))"
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
