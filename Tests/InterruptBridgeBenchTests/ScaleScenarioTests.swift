import Logging
import Testing
@testable import InterruptBridgeBench

/// The scale scenario at a small size, with the runtime's own receiver: every row
/// produced with both figures, vectors spread over devices of their own. No
/// figure is asserted (speed is for `irqbridge bench` to print).
@Suite(.serialized) struct ScaleScenarioTests {
    static var small: BenchOptions {
        var options = BaselineHarnessTests.tiny
        options.scenarios = [.scale]
        options.busyPoll = false
        options.scaleVectors = 256
        options.scaleVectorsPerDevice = 16
        return options
    }

    static let rowNames = [
        "scale.cost.1-vector.p50", "scale.cost.256-vectors.p50", "scale.cost.256-vs-1-vectors",
        "scale.cost.256-vectors-16-raised.p50", "scale.cost.256-vectors-16-raised-vs-1",
        "scale.connect-all.16-vectors", "scale.connect.16-vectors", "scale.connect-all.64-vectors", "scale.connect.64-vectors",
        "scale.connect-all.256-vectors", "scale.connect.256-vectors", "scale.connect.256-vs-16-vectors",
        "scale.disconnect-all.16-vectors", "scale.disconnect.16-vectors", "scale.disconnect-all.64-vectors",
        "scale.disconnect.64-vectors", "scale.disconnect-all.256-vectors", "scale.disconnect.256-vectors",
        "scale.disconnect.256-vs-16-vectors",
    ]

    @Test func theScaleRowsCompareTheBridgeWithTheCFloorAtEverySize() throws {
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let results = try BenchSuite(options: Self.small, bridge: BridgeReceiverFactory(logger: logger)).run()
        #expect(results.map(\.name) == Self.rowNames)
        for result in results {
            #expect((result.bridge ?? 0) > 0 && (result.baseline ?? 0) > 0, "\(result.name)")
        }
        #expect(results.filter { $0.target != nil }.map(\.name) == [
            "scale.cost.256-vs-1-vectors", "scale.cost.256-vectors-16-raised-vs-1", "scale.connect.256-vs-16-vectors",
            "scale.disconnect.256-vs-16-vectors",
        ])
    }

    @Test func theSelfCheckRunsTheCFloorOnBothSides() throws {
        let results = try BenchSuite(options: Self.small, bridge: EpollBaselineFactory()).run()
        #expect(results.map(\.name) == Self.rowNames)
    }

    @Test func aSpreadReceiverGivesEachDeviceAVectorRangeOfItsOwn() throws {
        let backends = BenchBackend.spread(vectors: 100, perDevice: 32)
        #expect(backends.map(\.vectorCount) == [32, 32, 32, 4])
        #expect(Set(backends.map(\.device.address)).count == 4)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let probe = try Probe(vectors: 100, samples: 0)
        let receiver = try BridgeReceiverFactory(logger: logger, vectorsPerDevice: 32)
            .start(vectors: 100, probe: probe, placement: ThreadPlacement(), busyPoll: false)
        defer { receiver.stop() }
        #expect(Set(receiver.descriptors).count == 100)
    }

    @Test func quickLeavesScaleOutAndTheFullRunHasIt() {
        #expect(!BenchOptions.quick.scenarios.contains(.scale))
        #expect(BenchOptions().scenarios.contains(.scale))
        #expect(BenchOptions().scaleConnectVectorCounts == [1024, 4096, 16_384])
        #expect(BenchOptions().maximumVectors == 16_384)
        #expect(BenchOptions.quick.maximumVectors == 1024)
    }
}
