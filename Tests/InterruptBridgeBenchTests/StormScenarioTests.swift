import Logging
import Testing
@testable import InterruptBridgeBench

/// The storm scenario with the runtime's own receiver: every row produced, and
/// the storm really ran (and was contained) during the storming blocks. No
/// latency figure is asserted (speed is for `irqbridge bench` to print).
@Suite(.serialized) struct StormScenarioTests {
    @Test func theStormRowsCompareAHealthyVectorBesideAStormWithNoStorm() throws {
        var options = BaselineHarnessTests.tiny
        options.scenarios = [.storm]
        options.busyPoll = false
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let results = try BenchSuite(options: options, bridge: BridgeReceiverFactory(logger: logger)).run()
        #expect(results.map(\.name) == [
            "storm.contained.p50", "storm.contained.p99", "storm.storming.p50", "storm.storming.p99", "storm.storming.trips-per-block",
        ])
        for result in results.prefix(4) {
            #expect((result.bridge ?? 0) > 0 && (result.baseline ?? 0) > 0, "\(result.name)")
        }
        #expect((results.last?.bridge ?? 0) >= 1, "the storming device was contained in every storming block")
    }

    @Test func withoutTheRuntimesReceiverThereAreNoStormRows() throws {
        var options = BaselineHarnessTests.tiny
        options.scenarios = [.storm]
        #expect(try BenchSuite(options: options, bridge: EpollBaselineFactory()).stormRows { _ in }.isEmpty)
    }
}
