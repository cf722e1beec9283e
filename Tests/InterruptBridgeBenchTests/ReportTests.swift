import Foundation
import Testing
@testable import InterruptBridgeBench

@Suite struct ReportTests {
    let report = BenchReport(
        results: [
            BenchResult(name: "latency.p50", unit: "ns", bridge: 5500, baseline: 5000, target: .ratioAtMost(1.10)),
            BenchResult(name: "allocations-per-interrupt", unit: "allocs", bridge: 0, baseline: 0, target: .valueAtMost(0)),
            BenchResult(name: "cost.1-vectors.p50", unit: "ns", bridge: nil, baseline: 4000),
        ],
        machine: MachineInfo(hostname: "h", kernel: "k", cpuModel: "c", onlineCPUs: 2, date: "d", loadAverage: 0.5),
        configuration: ["iterations": "10"])

    @Test func tableHasOneLinePerResultAndAVerdictSummary() {
        let lines = report.table().split(separator: "\n").map(String.init)
        #expect(lines.count == 2 + 3 + 1)
        #expect(lines[0].hasPrefix("name"))
        #expect(lines[2].contains("1.10x") && lines[2].hasSuffix("met"))
        #expect(lines[4].contains(" - "))
        #expect(lines.last == "2 of 2 targets met")
    }

    @Test func jsonHasTheDocumentedKeysWithNullsForMissingFigures() throws {
        let object = try JSONSerialization.jsonObject(with: report.json()) as? [String: Any]
        let results = try #require(object?["results"] as? [[String: Any]])
        #expect(results.count == 3)
        for entry in results {
            for key in ["name", "unit", "bridge", "baseline", "ratio"] { #expect(entry[key] != nil, "missing \(key)") }
        }
        #expect(results[0]["ratio"] as? Double == 1.1)
        #expect(results[1]["ratio"] is NSNull)
        #expect(results[2]["bridge"] is NSNull)
        #expect((object?["machine"] as? [String: Any])?["onlineCPUs"] as? Int == 2)
    }
}
