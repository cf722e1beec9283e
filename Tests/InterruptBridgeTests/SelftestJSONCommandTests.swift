import Foundation
import Testing

/// `irqbridge selftest --json` on the simulated backend, run as a process: one JSON object
/// per case with the dispatch loop's stimulus-to-ISR and ISR figures (per vector), then the totals.
@Suite(.enabled(if: IRQBridgeBinary.path != nil, "irqbridge is not built next to the tests"),
       .enabled(if: TimeoutBinary.path != nil, "no timeout(1) to run irqbridge under"), .timeLimit(.minutes(2)))
struct SelftestJSONCommandTests {
    @Test func everyCaseCarriesLoopMeasuredFiguresPerVector() throws {
        let result = try CommandLineErrorTests.run(["selftest", "--json", "--count", "200"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "three cases and the totals: \(result.standardOutput)")
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.last?["passed"] as? Int == 3 && objects.last?["failed"] as? Int == 0)
        let keys: Set = ["label", "device", "expected", "delivered", "wrongMessages", "kernel", "signals", "passed", "failure", "note",
                         "meanRoundTripNanoseconds", "stimulusToISR", "isrDuration", "raiseToSeen", "vectors"]
        for (object, vectors) in zip(objects.dropLast(), [1, 1, 4]) {
            #expect(Set(object.keys) == keys, "every key, null when not known: \(object.keys.sorted())")
            #expect(object["kernel"] is NSNull && object["failure"] is NSNull, "the simulated backend has no kernel count, and nothing failed")
            #expect(object["passed"] as? Bool == true && object["delivered"] as? Int == 200)
            for key in ["stimulusToISR", "isrDuration", "raiseToSeen"] {
                let figures = try #require(object[key] as? [String: Int], "\(key) in \(object)")
                let (p50, p99, max) = (figures["p50Nanoseconds"] ?? 0, figures["p99Nanoseconds"] ?? 0, figures["maxNanoseconds"] ?? 0)
                #expect(p50 > 0 && p50 <= p99 && p99 <= max, "\(key): \(figures)")
            }
            let perVector = try #require(object["vectors"] as? [[String: Any]])
            #expect(perVector.count == vectors)
            #expect(perVector.map { $0["count"] as? Int ?? 0 }.reduce(0, +) == 200, "every raise timed once")
            #expect(perVector.allSatisfy { ($0["stimulusToISR"] as? [String: Int])?["p50Nanoseconds"] != nil })
        }
    }

    /// A kind named twice in --kinds is one case, not two.
    @Test func aKindNamedTwiceIsTestedOnce() throws {
        let result = try CommandLineErrorTests.run(["selftest", "--json", "--count", "5", "--kinds", "msix,intx,msix"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "two cases and the totals: \(result.standardOutput)")
        #expect(lines.last == #"{"failed":0,"passed":2}"#)
    }
}
