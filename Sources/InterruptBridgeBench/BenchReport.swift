public import Foundation

/// The printed table and the `--json` document of one benchmark run.
public struct BenchReport: Sendable {
    public var results: [BenchResult]
    /// The peers of this run, in column order, present or absent.
    public var peers: [PeerStatus]
    public var machine: MachineInfo
    /// How the run was configured, in words (the options that matter for reproducing it).
    public var configuration: [String: String]

    public init(results: [BenchResult], peers: [PeerStatus] = [], machine: MachineInfo, configuration: [String: String]) {
        self.results = results
        self.peers = peers
        self.machine = machine
        self.configuration = configuration
    }

    /// A peer column's legend: what it measures, or why it is absent.
    public struct PeerStatus: Sendable, Equatable, Encodable {
        public var name: String
        public var title: String
        /// nil when present.
        public var absentReason: String?

        public init(name: String, title: String, absentReason: String?) {
            self.name = name
            self.title = title
            self.absentReason = absentReason
        }

        public init(_ peer: BenchPeer) {
            self.init(name: peer.name, title: peer.title, absentReason: peer.absentReason)
        }

        public var isPresent: Bool { absentReason == nil }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(title, forKey: .title)
            try container.encode(isPresent ? "present" : "absent", forKey: .status)
            try container.encode(absentReason, forKey: .reason)
        }

        enum CodingKeys: String, CodingKey { case name, title, status, reason }
    }

    /// Columns: name, unit, bridge, C baseline and the bridge's ratio to it, then
    /// each peer's figure and the bridge's ratio to it, the targets and the verdict.
    public func table() -> String {
        var header = ["name", "unit", "bridge", "C floor", "ratio"]
        for peer in peers { header += [peer.name, "ratio"] }
        header += ["targets", "verdict"]
        let rows = results.map(cells)
        let numeric = 2..<(header.count - 2)
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return numeric.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        var lines = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        let verdicts = results.flatMap(\.verdicts)
        lines.append("\(verdicts.filter(\.met).count) of \(verdicts.count) targets met")
        for peer in peers {
            lines.append("\(peer.name): \(peer.title)" + (peer.absentReason.map { " - ABSENT: \($0)" } ?? ""))
        }
        let placed = placementGroups
        if !placed.isEmpty {
            lines.append("woken on the raising processor (share of deliveries, median of repetitions):")
            lines += placed.map { "  \($0.name): \(describe($0.shares))" }
        }
        lines += warnings.map { "warning: \($0)" }
        return lines.joined(separator: "\n")
    }

    /// The C floor's latency p50 above which the run says its machine was idle enough
    /// to halt: raw eventfd + epoll wakes in 1 to 5 us on a busy or physical machine;
    /// a virtual machine whose idle processors halt takes 20 to 40 us per wake-up, for
    /// every side, and its ratios then measure the host's wake-up, not the code.
    public static let haltingLatencyNanoseconds = 20_000.0

    /// Sides whose shares of same-processor wake-ups differ by this much or more
    /// were measured in different conditions: a warning says so.
    public static let placementSpreadWarning = 0.4

    /// The rows that carry placement (the first of each set of runs), with their shares.
    var placementGroups: [(name: String, shares: PlacementShares)] {
        results.compactMap { result in result.placement.map { (result.name, $0) } }
    }

    /// "bridge 93%, C floor 11%, dpdk 50%": every side with a share, in column order.
    func describe(_ shares: PlacementShares) -> String {
        var sides: [(String, Double?)] = [("bridge", shares.bridge), ("C floor", shares.baseline)]
        sides += peers.filter(\.isPresent).map { ($0.name, shares.peers[$0.name]) }
        return sides.compactMap { name, share in share.map { "\(name) \(Int(($0 * 100).rounded()))%" } }
            .joined(separator: ", ")
    }

    /// What makes this run's figures doubtful, in words (printed under the table,
    /// `warnings` in the JSON).
    public var warnings: [String] {
        var warnings: [String] = []
        for group in placementGroups {
            guard let spread = group.shares.spread, spread >= Self.placementSpreadWarning else { continue }
            warnings.append("\(group.name): the sides were woken on the raising processor in different shares "
                + "(\(describe(group.shares))); a same-processor wake-up and a cross-processor one can differ by more "
                + "than the targets' margins, so this group's ratios compare placements as much as code; pin the "
                + "receivers and the writer (--pin, --writer-cpu) to compare one placement")
        }
        for result in results where result.name.hasSuffix("latency.p50") {
            guard let floor = result.baseline, floor > Self.haltingLatencyNanoseconds else { continue }
            // Woken mostly across processors, the floor pays the cross-processor wake-up, halting or not.
            let across = result.placement?.baseline.map { $0 < 0.5 } ?? false
            warnings.append("\(result.name): the C floor's p50 is \(Format.number(floor)) ns, above "
                + "\(Format.number(Self.haltingLatencyNanoseconds)) ns: "
                + (across ? "its receiver was mostly woken from the other processor, or idle processors are halting between "
                    + "interrupts, so every side measures the wake-up; pin the receivers and the writer (--pin, --writer-cpu), "
                    + "or keep the processors busy (e.g. two `chrt --idle 0` spinners, --load)"
                    : "idle processors are probably halting between interrupts (a quiet virtual machine), so every side "
                    + "measures the wake-up; keep the processors busy (e.g. two `chrt --idle 0` spinners) or use --load, "
                    + "--pin or --busy-poll"))
        }
        return warnings
    }

    private func cells(_ result: BenchResult) -> [String] {
        var cells = [result.name, result.unit, Format.number(result.bridge), Format.number(result.baseline), Format.ratio(result.ratio)]
        for peer in peers {
            if let figure = result.peers.first(where: { $0.name == peer.name }), peer.isPresent {
                cells += [Format.number(figure.value), Format.ratio(result.ratio(to: figure))]
            } else {
                cells += [peer.isPresent ? "-" : "absent", "-"]
            }
        }
        var targets: [String] = []
        if let target = result.target {
            // A bound on the bridge's own figure is not a comparison with the C floor.
            if case .valueAtMost = target { targets.append(target.short) } else { targets.append("C \(target.short)") }
        }
        if let target = result.peers.compactMap(\.target).first { targets.append("peers \(target.short)") }
        cells.append(targets.isEmpty ? "-" : targets.joined(separator: ", "))
        let verdicts = result.verdicts
        let missed = verdicts.filter { !$0.met }.map(\.against).filter { $0 != "bound" }
        let met = verdicts.allSatisfy(\.met)
        cells.append(verdicts.isEmpty ? "-" : met ? "met" : missed.isEmpty ? "MISSED" : "MISSED vs \(missed.joined(separator: ", "))")
        return cells
    }

    static func verdict(_ verdict: Bool?) -> String {
        switch verdict {
        case true?: "met"
        case false?: "MISSED"
        case nil: "-"
        }
    }

    /// `{"results":[{name,unit,bridge,baseline,ratio,target,verdict,peers:{NAME:{value,ratio,target,verdict,status}},
    /// onRaisingProcessor:{bridge,baseline,peers:{NAME:share}}|null (on the first row of each set of runs)}...],
    /// "peers":[{name,title,status,reason}], "machine":{...}, "configuration":{...}, "warnings":[String]}`. Every entry names every
    /// peer of the run; an absent peer's figures are null with status "absent".
    public func json() throws -> Data {
        let document = Document(
            results: results.map { result in
                var peerEntries: [String: Document.PeerEntry] = [:]
                for peer in peers {
                    let figure = result.peers.first { $0.name == peer.name }
                    let value = peer.isPresent ? figure?.value : nil
                    let comparable = figure.map { PeerFigure(name: $0.name, value: value, target: $0.target) }
                    peerEntries[peer.name] = Document.PeerEntry(
                        value: value, ratio: Statistics.ratio(result.bridge, value), target: figure?.target?.description,
                        verdict: comparable.flatMap(result.verdict(against:)).map(Self.verdict),
                        status: peer.isPresent ? "present" : "absent")
                }
                return Document.Entry(name: result.name, unit: result.unit, bridge: result.bridge, baseline: result.baseline,
                                      ratio: result.ratio, target: result.target?.description,
                                      verdict: result.verdict.map(Self.verdict), peers: peerEntries,
                                      onRaisingProcessor: result.placement)
            },
            peers: peers, machine: machine, configuration: configuration, warnings: warnings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(document)
    }

    struct Document: Encodable {
        struct Entry: Encodable {
            var name: String
            var unit: String
            var bridge: Double?
            var baseline: Double?
            var ratio: Double?
            var target: String?
            var verdict: String?
            var peers: [String: PeerEntry]
            var onRaisingProcessor: PlacementShares?

            // Absent figures are written as null, not left out: every entry has every key.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(name, forKey: .name)
                try container.encode(unit, forKey: .unit)
                try container.encode(bridge, forKey: .bridge)
                try container.encode(baseline, forKey: .baseline)
                try container.encode(ratio, forKey: .ratio)
                try container.encode(target, forKey: .target)
                try container.encode(verdict, forKey: .verdict)
                try container.encode(peers, forKey: .peers)
                try container.encode(onRaisingProcessor, forKey: .onRaisingProcessor)
            }

            enum CodingKeys: String, CodingKey { case name, unit, bridge, baseline, ratio, target, verdict, peers, onRaisingProcessor }
        }


        struct PeerEntry: Encodable {
            var value: Double?
            var ratio: Double?
            var target: String?
            var verdict: String?
            var status: String

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(value, forKey: .value)
                try container.encode(ratio, forKey: .ratio)
                try container.encode(target, forKey: .target)
                try container.encode(verdict, forKey: .verdict)
                try container.encode(status, forKey: .status)
            }

            enum CodingKeys: String, CodingKey { case value, ratio, target, verdict, status }
        }

        var results: [Entry]
        var peers: [PeerStatus]
        var machine: MachineInfo
        var configuration: [String: String]
        var warnings: [String]
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
