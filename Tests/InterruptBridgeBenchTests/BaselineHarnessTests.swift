import Foundation
import Testing
@testable import InterruptBridgeBench

/// The harness itself, run with the C baseline on both sides: every raised
/// interrupt is delivered, every row is produced, nothing is left open.
/// No figure is asserted (speed is for `irqbridge bench` to print).
@Suite(.serialized) struct BaselineHarnessTests {
    static var tiny: BenchOptions {
        var options = BenchOptions.quick
        options.iterations = 50
        options.warmup = 10
        options.repetitions = 2
        options.throughputInterrupts = 200
        options.throughputVectors = 8
        options.scalingVectorCounts = [1, 32]
        options.scalingRounds = 40
        options.busyPoll = true
        options.gapNanoseconds = 1_000
        return options
    }

    @Test func suiteProducesEveryRowWithBothFigures() throws {
        let suite = BenchSuite(options: Self.tiny, bridge: EpollBaselineFactory())
        let results = try suite.run()
        #expect(results.map(\.name) == [
            "latency.p50", "latency.p99", "latency.p99.9", "allocations-per-interrupt",
            "throughput.1-vector", "throughput.1-vector.receiver-cpu", "throughput.8-vectors", "throughput.8-vectors.receiver-cpu",
            "cost.1-vectors.p50", "cost.32-vectors.p50", "cost.32-vs-1-vectors",
            "busy-poll.p50", "busy-poll.p99", "busy-poll.p50-vs-epoll.p50",
        ])
        // The first row of each set of runs says where both sides' deliveries were made.
        let placed = ["latency.p50", "throughput.1-vector", "throughput.8-vectors", "cost.1-vectors.p50", "cost.32-vectors.p50",
                      "busy-poll.p50"]
        #expect(results.filter { $0.placement != nil }.map(\.name) == placed)
        for result in results {
            guard let placement = result.placement else { continue }
            #expect(placement.bridge.map { (0...1).contains($0) } == true && placement.baseline.map { (0...1).contains($0) } == true)
        }
        for result in results where result.name != "allocations-per-interrupt" {
            // A receiver CPU share may round to 0 at tick granularity in a tiny run; every other figure is positive.
            let isCPU = result.name.hasSuffix(".receiver-cpu")
            #expect(isCPU ? (result.bridge ?? -1) >= 0 && (result.baseline ?? -1) >= 0
                          : (result.bridge ?? 0) > 0 && (result.baseline ?? 0) > 0, "\(result.name)")
        }
    }

    @Test func everyVectorIsDeliveredAndLatencyIsRecorded() throws {
        let runner = ScenarioRunner(options: Self.tiny)
        let run = try runner.pingPong(EpollBaselineFactory(), scenario: "test", vectors: 16, rounds: 100)
        #expect(run.samples.count == 100)
        let figures = LatencyFigures([run])
        let p50 = try #require(figures.p50), p99 = try #require(figures.p99), p999 = try #require(figures.p999)
        #expect(p50 > 0 && p50 <= p99 && p99 <= p999)
        let saturation = try runner.saturate(EpollBaselineFactory(), scenario: "test", vectors: 16, total: 1_000)
        #expect(saturation.interruptsPerSecond > 0)
        // Tick-granular CPU time: over 1,000 interrupts the receiver's share may round to 0.
        #expect(saturation.receiverCPUPerInterrupt.isFinite && saturation.receiverCPUPerInterrupt >= 0)
    }

    /// The placement record follows the pinning: a receiver pinned to the writer's
    /// processor makes every delivery there, one pinned to another makes none.
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount > 1, "needs two processors"))
    func deliveriesAreCountedOnTheRaisingProcessorOrNot() throws {
        for (receiverCPU, expected) in [(1, 1.0), (0, 0.0)] {
            var options = Self.tiny
            options.dispatch = ThreadPlacement(cpu: receiverCPU)
            options.writer = ThreadPlacement(cpu: 1)
            let runner = ScenarioRunner(options: options)
            let run = try runner.pingPong(EpollBaselineFactory(), scenario: "test", vectors: 2, rounds: 100)
            #expect(run.onRaisingProcessorShare == expected, "receiver on CPU \(receiverCPU)")
            let saturation = try runner.saturate(EpollBaselineFactory(), scenario: "test", vectors: 2, total: 500)
            #expect(saturation.onRaisingProcessorShare == expected, "receiver on CPU \(receiverCPU)")
        }
        var untracked = Self.tiny
        untracked.tracksPlacement = false
        #expect(try ScenarioRunner(options: untracked).pingPong(EpollBaselineFactory(), scenario: "test", vectors: 1, rounds: 20)
            .onRaisingProcessorShare == nil)
    }

    /// Tests of other suites may hold descriptors for a moment, so the check is
    /// scaled instead of exact: a receiver leaking even one of its 6 descriptors
    /// would leave 200 behind, far above anything transient.
    @Test func receiverClosesEverythingItOpened() throws {
        let rounds = 200
        let before = try openDescriptorCount()
        for _ in 0..<rounds {
            let probe = try Probe(vectors: 4, samples: 0)
            let receiver = try EpollBaselineFactory().start(vectors: 4, probe: probe, placement: ThreadPlacement(), busyPoll: false)
            #expect(receiver.descriptors.count == 4)
            receiver.stop()
        }
        #expect(try openDescriptorCount() - before < rounds)
    }

    @Test func aStalledReceiverIsReportedNotAwaitedForever() throws {
        var options = Self.tiny
        options.timeoutNanoseconds = 50_000_000
        let runner = ScenarioRunner(options: options)
        #expect(throws: BenchError.self) {
            _ = try runner.pingPong(SilentReceiverFactory(), scenario: "stall", vectors: 1, rounds: 10)
        }
    }

    private func openDescriptorCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }
}

/// A receiver that never delivers: the writer must time out with `.stalled`.
struct SilentReceiverFactory: ReceiverFactory {
    var label: String { "silent" }
    func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        SilentReceiver(descriptors: [Int32](repeating: FileHandle.nullDevice.fileDescriptor, count: vectors))
    }
}

final class SilentReceiver: Receiver {
    let descriptors: [Int32]
    init(descriptors: [Int32]) { self.descriptors = descriptors }
    func stop() {}
}
