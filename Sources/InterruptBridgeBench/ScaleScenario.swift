internal import CBaselines
import InterruptBridge
import InterruptBridgeCore
import Logging

/// Issue 13, part 3: does the bridge scale to a host's worth of vectors?
///
/// - Cost per interrupt (ping-pong p50, the cost group's figure) with
///   `scaleVectors` connected (16,384: 256 simulated devices x 64 MSI-X) against 1,
///   for the bridge and the C floor (the same number of eventfds in one epoll);
///   the target is the bridge's 16384-vs-1 ratio within 1.2. Every round raises
///   the next vector of a walk over all of them, so each meets a vector whose
///   state (the kernel's and the bridge's) left the cache: the strict reading.
///   A second figure keeps all 16,384 connected and raises one device's 64, so
///   only what being connected costs is measured, held to the same 1.2.
/// - Connect-all and disconnect-all wall time at a sixteenth, a quarter and all of
///   `scaleVectors` (1,024, 4,096, 16,384), per vector, against the C floor's
///   eventfd + EPOLL_CTL_ADD and EPOLL_CTL_DEL + close (`cbl_epoll_register_cycle`).
///   Linear means the per-vector time does not grow: the target is the bridge's
///   per-vector time at the largest size within 1.5x of the smallest's. 1.5, not
///   1.0: the kernel's own part is not flat (epoll keeps descriptors in a
///   red-black tree, O(log n) per insert: log2 16384 / log2 1024 = 1.4; the
///   descriptor table is reallocated as it grows), and the C floor's ratio in
///   the same run shows how much of any growth is the kernel's.
///
/// Every block builds its devices and dispatcher anew (not timed), then times the
/// connects of every device, then the disconnects; the bridge and C alternate
/// blocks, which goes first rotating, like every ratio here.
extension BenchSuite {
    enum ScaleTargets {
        static let costRatio = BenchTarget.valueAtMost(1.2)
        static let perVectorGrowth = BenchTarget.valueAtMost(1.5)
    }

    func scaleRows(progress: (String) -> Void) throws(BenchError) -> [BenchResult] {
        let largest = options.scaleVectors, perDevice = options.scaleVectorsPerDevice
        let layout = "\(Self.deviceCount(largest, perDevice)) devices x \(min(perDevice, largest)) MSI-X"
        // The bridge side spreads its vectors over devices; the C floor has one epoll whatever the count.
        let spread = { (factory: any ReceiverFactory) -> any ReceiverFactory in
            (factory as? BridgeReceiverFactory)?.spreading(vectorsPerDevice: perDevice) ?? factory
        }
        var rows: [BenchResult] = []
        var costs: [Int: (bridge: Double?, baseline: Double?)] = [:]
        for vectors in [1, largest] {
            progress("scale: cost per interrupt (\(vectors == 1 ? "1 vector" : "\(vectors) connected vectors, \(layout)"), "
                + "\(options.scalingRounds) rounds x \(options.repetitions))")
            let cost = try measure(includingPeers: false) { runner, factory throws(BenchError) in
                try runner.pingPong(spread(factory), scenario: "scale-cost-\(vectors)", vectors: vectors, rounds: options.scalingRounds)
            }
            let bridge = LatencyFigures(cost.bridge).p50, baseline = LatencyFigures(cost.baseline).p50
            costs[vectors] = (bridge, baseline)
            rows.append(BenchResult(name: "scale.cost.\(vectors)-vector\(vectors == 1 ? "" : "s").p50", unit: "ns",
                                    bridge: bridge, baseline: baseline, placement: placement(cost)))
        }
        rows.append(BenchResult(
            name: "scale.cost.\(largest)-vs-1-vectors", unit: "x",
            bridge: Statistics.ratio(costs[largest]?.bridge, costs[1]?.bridge),
            baseline: Statistics.ratio(costs[largest]?.baseline, costs[1]?.baseline), target: ScaleTargets.costRatio))
        // The same connected set with interrupts on one device's vectors only: what being
        // connected costs, apart from each round meeting a vector whose state is out of cache.
        let active = min(perDevice, largest)
        progress("scale: cost per interrupt (\(largest) connected vectors, \(active) raised, \(options.scalingRounds) rounds x \(options.repetitions))")
        let hot = try measure(includingPeers: false) { runner, factory throws(BenchError) in
            try runner.pingPong(spread(factory), scenario: "scale-cost-\(largest)-\(active)-active", vectors: largest,
                                activeVectors: active, rounds: options.scalingRounds)
        }
        let hotBridge = LatencyFigures(hot.bridge).p50, hotBaseline = LatencyFigures(hot.baseline).p50
        rows.append(BenchResult(name: "scale.cost.\(largest)-vectors-\(active)-raised.p50", unit: "ns", bridge: hotBridge,
                                baseline: hotBaseline, placement: placement(hot)))
        rows.append(BenchResult(
            name: "scale.cost.\(largest)-vectors-\(active)-raised-vs-1", unit: "x", bridge: Statistics.ratio(hotBridge, costs[1]?.bridge),
            baseline: Statistics.ratio(hotBaseline, costs[1]?.baseline), target: ScaleTargets.costRatio))

        let sizes = options.scaleConnectVectorCounts
        progress("scale: connect and disconnect all (\(sizes.map(String.init).joined(separator: ", ")) vectors, "
            + "devices of \(perDevice), x \(options.repetitions))")
        var bridgeCycles: [Int: [ConnectCycle]] = [:], baselineCycles: [Int: [ConnectCycle]] = [:]
        let bridgeCycle: (Int) throws(BenchError) -> ConnectCycle
        if let factory = bridge as? BridgeReceiverFactory {
            bridgeCycle = { vectors throws(BenchError) in
                try ConnectCycle.bridge(vectors: vectors, perDevice: perDevice, logger: factory.logger)
            }
        } else {
            bridgeCycle = { vectors throws(BenchError) in try ConnectCycle.epoll(vectors: vectors, perDevice: perDevice) }
        }
        for repetition in 0..<max(options.repetitions, 1) {
            for vectors in sizes {
                for side in 0..<2 {
                    if (repetition + side) % 2 == 0 {
                        bridgeCycles[vectors, default: []].append(try bridgeCycle(vectors))
                    } else {
                        baselineCycles[vectors, default: []].append(try ConnectCycle.epoll(vectors: vectors, perDevice: perDevice))
                    }
                }
            }
        }
        for (operation, figure) in [("connect", \ConnectCycle.connectNanoseconds), ("disconnect", \ConnectCycle.disconnectNanoseconds)] {
            var perVector: [Int: (bridge: Double?, baseline: Double?)] = [:]
            for vectors in sizes {
                let bridgeTotal = Statistics.median((bridgeCycles[vectors] ?? []).map { Double($0[keyPath: figure]) })
                let baselineTotal = Statistics.median((baselineCycles[vectors] ?? []).map { Double($0[keyPath: figure]) })
                rows.append(BenchResult(name: "scale.\(operation)-all.\(vectors)-vectors", unit: "ms",
                                        bridge: bridgeTotal.map { $0 / 1e6 }, baseline: baselineTotal.map { $0 / 1e6 }))
                perVector[vectors] = (bridgeTotal.map { $0 / Double(vectors) }, baselineTotal.map { $0 / Double(vectors) })
                rows.append(BenchResult(name: "scale.\(operation).\(vectors)-vectors", unit: "ns/vector",
                                        bridge: perVector[vectors]?.bridge, baseline: perVector[vectors]?.baseline))
            }
            if let smallest = sizes.first, let largest = sizes.last, smallest < largest {
                rows.append(BenchResult(
                    name: "scale.\(operation).\(largest)-vs-\(smallest)-vectors", unit: "x",
                    bridge: Statistics.ratio(perVector[largest]?.bridge, perVector[smallest]?.bridge),
                    baseline: Statistics.ratio(perVector[largest]?.baseline, perVector[smallest]?.baseline),
                    target: ScaleTargets.perVectorGrowth))
            }
        }
        return rows
    }

    static func deviceCount(_ vectors: Int, _ perDevice: Int) -> Int { (vectors + max(perDevice, 1) - 1) / max(perDevice, 1) }
}

/// One connect-all and disconnect-all, timed (nanoseconds of wall time).
struct ConnectCycle: Equatable {
    var connectNanoseconds: UInt64
    var disconnectNanoseconds: UInt64

    /// The bridge: `vectors` MSI-X vectors over devices of `perDevice`, each device
    /// connected with `connectMessageBased` on one dispatcher (the real runtime:
    /// command to the loop thread, connection table, backend enable, epoll watch),
    /// then each connection disconnected. Devices and the dispatcher are made
    /// before and shut down after the timed parts. Checks every vector was
    /// enabled, and every descriptor closed again.
    static func bridge(vectors: Int, perDevice: Int, logger: Logger) throws(BenchError) -> ConnectCycle {
        let dispatcher: InterruptDispatcher
        do {
            dispatcher = try InterruptDispatcher(logger: logger, options: DispatchOptions(capacity: vectors + 16,
                                                                                       threadName: "irqbridge-scale"))
        } catch {
            throw .bridge("start the dispatcher: \(error)")
        }
        defer { dispatcher.shutdown() }
        let backends = BenchBackend.spread(vectors: vectors, perDevice: perDevice)
        let devices = backends.map { InterruptDevice(backend: $0) }
        var connections: [MessageConnection] = []
        connections.reserveCapacity(devices.count)
        let start = cbl_now_ns()
        for device in devices {
            do {
                connections.append(try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true }))
            } catch {
                for connection in connections { dispatcher.disconnect(connection) }
                throw .bridge("scale: connect \(device.backend.device.address) (\(connections.count) of \(devices.count) connected): \(error)")
            }
        }
        let connected = cbl_now_ns()
        let enabled = backends.reduce(0) { $0 + $1.descriptors.count }
        for connection in connections { dispatcher.disconnect(connection) }
        let disconnected = cbl_now_ns()
        guard enabled == vectors else { throw .bridge("scale: the runtime enabled \(enabled) of \(vectors) vectors") }
        let open = backends.reduce(0) { $0 + $1.descriptors.count }
        guard open == 0 else { throw .bridge("scale: \(open) descriptors still enabled after every disconnect") }
        return ConnectCycle(connectNanoseconds: connected - start, disconnectNanoseconds: disconnected - connected)
    }

    /// The C floor: eventfd + EPOLL_CTL_ADD per vector, then EPOLL_CTL_DEL + close.
    static func epoll(vectors: Int, perDevice: Int) throws(BenchError) -> ConnectCycle {
        var connect: UInt64 = 0, disconnect: UInt64 = 0
        let rc = cbl_epoll_register_cycle(vectors, max(perDevice, 1), &connect, &disconnect)
        guard rc == 0 else { throw .system("scale: \(vectors) eventfds into one epoll", code: rc) }
        return ConnectCycle(connectNanoseconds: connect, disconnectNanoseconds: disconnect)
    }
}
