public import Foundation

/// The printed table and the `--json` document of one benchmark run.
public struct BenchReport: Sendable {
    public var results: [BenchResult]
    public var machine: MachineInfo
    /// How the run was configured, in words (the options that matter for reproducing it).
    public var configuration: [String: String]

    public init(results: [BenchResult], machine: MachineInfo, configuration: [String: String]) {
        self.results = results
        self.machine = machine
        self.configuration = configuration
    }

    /// Columns: name, unit, bridge, baseline, ratio (bridge/baseline), target, verdict.
    public func table() -> String {
        let header = ["name", "unit", "bridge", "baseline", "ratio", "target", "verdict"]
        let rows = results.map { result in
            [result.name, result.unit, Format.number(result.bridge), Format.number(result.baseline),
             Format.ratio(result.ratio), result.target?.description ?? "-", Self.verdict(result.verdict)]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index >= 2 && index <= 4 ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        var lines = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        let met = results.filter { $0.verdict == true }.count
        let judged = results.filter { $0.verdict != nil }.count
        lines.append("\(met) of \(judged) targets met")
        return lines.joined(separator: "\n")
    }

    static func verdict(_ verdict: Bool?) -> String {
        switch verdict {
        case true?: "met"
        case false?: "MISSED"
        case nil: "-"
        }
    }

    /// `{"results":[{name,unit,bridge,baseline,ratio,target,verdict}...], "machine":{...}, "configuration":{...}}`.
    public func json() throws -> Data {
        let document = Document(
            results: results.map {
                Document.Entry(name: $0.name, unit: $0.unit, bridge: $0.bridge, baseline: $0.baseline, ratio: $0.ratio,
                               target: $0.target?.description, verdict: $0.verdict.map(Self.verdict))
            },
            machine: machine, configuration: configuration)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(document)
    }

    struct Document: Codable {
        struct Entry: Codable {
            var name: String
            var unit: String
            var bridge: Double?
            var baseline: Double?
            var ratio: Double?
            var target: String?
            var verdict: String?

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
            }
        }
        var results: [Entry]
        var machine: MachineInfo
        var configuration: [String: String]
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
