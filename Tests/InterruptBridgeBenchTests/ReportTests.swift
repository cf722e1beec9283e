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

    @Test func aHaltingMachineIsNamedUnderTheTableAndInTheJSON() throws {
        #expect(report.warnings.isEmpty)
        #expect(report.table().split(separator: "\n").last == "2 of 2 targets met")
        var halting = report
        halting.results[0] = BenchResult(name: "latency.p50", unit: "ns", bridge: 41000, baseline: 39000)
        halting.results.append(BenchResult(name: "load-2.latency.p50", unit: "ns", bridge: 4000, baseline: 3900))
        #expect(halting.warnings.count == 1)
        let last = try #require(halting.table().split(separator: "\n").last)
        #expect(last.hasPrefix("warning: latency.p50: the C floor's p50 is 39000 ns"))
        let object = try JSONSerialization.jsonObject(with: halting.json()) as? [String: Any]
        #expect((object?["warnings"] as? [String])?.count == 1)
        // Where the floor was woken across processors, the warning says that first.
        var across = halting
        across.results[0].placement = PlacementShares(bridge: 0.1, baseline: 0.1)
        #expect(across.warnings.first?.contains("mostly woken from the other processor") == true)
        #expect(halting.warnings.first?.contains("mostly woken from the other processor") == false)
        let quiet = try JSONSerialization.jsonObject(with: report.json()) as? [String: Any]
        #expect((quiet?["warnings"] as? [String]) == [])
    }

    /// Issue 13: one column pair per peer; an absent peer says so in every row and in
    /// the legend, is never judged, and never counts as a missed target.
    let peerReport = BenchReport(
        results: [
            BenchResult(name: "latency.p50", unit: "ns", bridge: 900, baseline: 1000, target: .ratioAtMost(1.05),
                        peers: [PeerFigure(name: "dpdk", value: nil, target: .ratioAtMost(1.0)),
                                PeerFigure(name: "libdispatch", value: 800, target: .ratioAtMost(1.0))]),
            BenchResult(name: "busy-poll.p50", unit: "ns", bridge: 100, baseline: 100,
                        peers: [PeerFigure(name: "dpdk", value: nil), PeerFigure(name: "libdispatch", value: nil)]),
        ],
        peers: [.init(name: "dpdk", title: "DPDK", absentReason: "librte_eal.so.23 not loadable"),
                .init(name: "libdispatch", title: "libdispatch", absentReason: nil)],
        machine: MachineInfo(hostname: "h", kernel: "k", cpuModel: "c", onlineCPUs: 2, date: "d", loadAverage: 0.5),
        configuration: [:])

    @Test func absentPeersAreShownAsAbsentAndNotJudged() {
        let lines = peerReport.table().split(separator: "\n").map(String.init)
        let header = lines[0].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(header == ["name", "unit", "bridge", "C", "floor", "ratio", "dpdk", "ratio", "libdispatch", "ratio", "targets", "verdict"])
        let latency = lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(latency.contains("absent"))
        #expect(latency.contains("0.90x"))  // vs C
        #expect(latency.contains("1.13x"))  // vs libdispatch: 900 / 800
        #expect(lines[2].hasSuffix("MISSED vs libdispatch"))
        #expect(lines[3].contains(" - ") && lines[3].contains("absent"))
        #expect(lines.contains("1 of 2 targets met"))
        #expect(lines.contains("dpdk: DPDK - ABSENT: librte_eal.so.23 not loadable"))
        #expect(lines.last == "libdispatch: libdispatch")
    }

    @Test func jsonCarriesEveryPeerInEveryEntryWithItsStatus() throws {
        let object = try JSONSerialization.jsonObject(with: peerReport.json()) as? [String: Any]
        let results = try #require(object?["results"] as? [[String: Any]])
        for entry in results {
            let peers = try #require(entry["peers"] as? [String: [String: Any]])
            #expect(Set(peers.keys) == ["dpdk", "libdispatch"])
            for (_, peer) in peers {
                for key in ["value", "ratio", "target", "verdict", "status"] { #expect(peer[key] != nil, "missing \(key)") }
            }
            #expect(peers["dpdk"]?["status"] as? String == "absent")
            #expect(peers["dpdk"]?["value"] is NSNull)
            #expect(peers["dpdk"]?["verdict"] is NSNull)
        }
        let latency = try #require(results.first?["peers"] as? [String: [String: Any]])
        #expect(latency["libdispatch"]?["value"] as? Double == 800)
        #expect(latency["libdispatch"]?["ratio"] as? Double == 1.125)
        #expect(latency["libdispatch"]?["verdict"] as? String == "MISSED")
        #expect(latency["libdispatch"]?["status"] as? String == "present")
        let legend = try #require(object?["peers"] as? [[String: Any]])
        #expect(legend.map { $0["name"] as? String } == ["dpdk", "libdispatch"])
        #expect(legend[0]["status"] as? String == "absent" && legend[0]["reason"] as? String == "librte_eal.so.23 not loadable")
        #expect(legend[1]["status"] as? String == "present" && legend[1]["reason"] is NSNull)
    }

    @Test func aBoundOnTheBridgesOwnFigureIsNotAComparisonWithC() {
        let report = BenchReport(
            results: [BenchResult(name: "allocations-per-interrupt", unit: "allocs", bridge: 1, baseline: 0, target: .valueAtMost(0))],
            machine: MachineInfo(hostname: "h", kernel: "k", cpuModel: "c", onlineCPUs: 2, date: "d", loadAverage: nil),
            configuration: [:])
        let row = report.table().split(separator: "\n").map(String.init)[2]
        #expect(row.contains("bridge<=0") && !row.contains("C bridge"))
        #expect(row.hasSuffix("MISSED"))
    }
    /// One placement line per row that carries it (the first of each set of runs, even
    /// when another set's shares are the same); sides woken on the raising processor in
    /// very different shares get a warning naming them.
    @Test func placementIsPrintedOncePerGroupAndAWideSpreadIsAWarning() throws {
        let together = PlacementShares(bridge: 0.95, baseline: 0.9, peers: ["libdispatch": 0.85])
        let apart = PlacementShares(bridge: 0.9, baseline: 0.1, peers: ["libdispatch": 0.5])
        let report = BenchReport(
            results: [
                BenchResult(name: "latency.p50", unit: "ns", bridge: 900, baseline: 1000, placement: together),
                BenchResult(name: "latency.p99", unit: "ns", bridge: 900, baseline: 1000),
                BenchResult(name: "throughput.1-vector", unit: "interrupts/s", bridge: 9, baseline: 10, placement: together),
                BenchResult(name: "throughput.64-vectors", unit: "interrupts/s", bridge: 9, baseline: 10, placement: apart),
                BenchResult(name: "cost.1024-vs-1-vectors", unit: "x", bridge: 1.1, baseline: 1.0),
            ],
            peers: [.init(name: "dpdk", title: "DPDK", absentReason: "not installed"),
                    .init(name: "libdispatch", title: "libdispatch", absentReason: nil)],
            machine: MachineInfo(hostname: "h", kernel: "k", cpuModel: "c", onlineCPUs: 2, date: "d", loadAverage: nil),
            configuration: [:])
        let lines = report.table().split(separator: "\n").map(String.init)
        let heading = try #require(lines.firstIndex { $0.hasPrefix("woken on the raising processor") })
        #expect(lines[heading + 1] == "  latency.p50: bridge 95%, C floor 90%, libdispatch 85%")
        #expect(lines[heading + 2] == "  throughput.1-vector: bridge 95%, C floor 90%, libdispatch 85%")
        #expect(lines[heading + 3] == "  throughput.64-vectors: bridge 90%, C floor 10%, libdispatch 50%")
        #expect(!lines[heading + 4].hasPrefix("  "))
        #expect(report.warnings.count == 1)
        #expect(report.warnings.first?.hasPrefix("throughput.64-vectors: the sides were woken on the raising processor") == true)
        let object = try JSONSerialization.jsonObject(with: report.json()) as? [String: Any]
        let results = try #require(object?["results"] as? [[String: Any]])
        let shares = try #require(results[3]["onRaisingProcessor"] as? [String: Any])
        #expect(shares["bridge"] as? Double == 0.9 && shares["baseline"] as? Double == 0.1)
        #expect((shares["peers"] as? [String: Double]) == ["libdispatch": 0.5])
        #expect(results[1]["onRaisingProcessor"] is NSNull)
        #expect(results[4]["onRaisingProcessor"] is NSNull)
    }
}
