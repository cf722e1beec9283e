/// Runs every scenario for the bridge and the C baseline in the same process,
/// interleaved (the side that goes first alternates per repetition), and
/// reduces each figure to the median over repetitions.
public struct BenchSuite: Sendable {
    public let options: BenchOptions
    public let bridge: any ReceiverFactory
    public let baseline: any ReceiverFactory

    public init(options: BenchOptions, bridge: any ReceiverFactory, baseline: any ReceiverFactory = EpollBaselineFactory()) {
        self.options = options
        self.bridge = bridge
        self.baseline = baseline
    }

    /// All rows of the report. `progress` is told what runs next (for a terminal).
    public func run(progress: (String) -> Void = { _ in }) throws(BenchError) -> [BenchResult] {
        var results: [BenchResult] = []
        progress("latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
        let latency = try pairs(options.repetitions) { runner, factory throws(BenchError) in
            try runner.pingPong(factory, scenario: "latency", vectors: 1, rounds: options.iterations)
        }
        let latencyBridge = LatencyFigures(latency.bridge), latencyBaseline = LatencyFigures(latency.baseline)
        results += [
            BenchResult(name: "latency.p50", unit: "ns", bridge: latencyBridge.p50, baseline: latencyBaseline.p50, target: .ratioAtMost(1.10)),
            BenchResult(name: "latency.p99", unit: "ns", bridge: latencyBridge.p99, baseline: latencyBaseline.p99, target: .ratioAtMost(1.10)),
            BenchResult(name: "latency.p99.9", unit: "ns", bridge: latencyBridge.p999, baseline: latencyBaseline.p999),
        ]
        results.append(allocationRow(latency))

        for vectors in [1, options.throughputVectors] {
            progress("throughput (\(vectors) vector(s), \(options.throughputInterrupts) interrupts x \(options.repetitions))")
            let throughput = try pairs(options.repetitions) { runner, factory throws(BenchError) in
                try runner.saturate(factory, scenario: "throughput", vectors: vectors, total: options.throughputInterrupts)
            }
            results.append(row("throughput.\(vectors)-vector\(vectors == 1 ? "" : "s")", "interrupts/s", throughput, \.self, .ratioAtLeast(0.90)))
        }

        var costByCount: [Int: (bridge: Double?, baseline: Double?)] = [:]
        for vectors in options.scalingVectorCounts {
            progress("cost per interrupt (\(vectors) connected vector(s), \(options.scalingRounds) rounds x \(options.repetitions))")
            let cost = try pairs(options.repetitions) { runner, factory throws(BenchError) in
                try runner.pingPong(factory, scenario: "cost-\(vectors)", vectors: vectors, rounds: options.scalingRounds)
            }
            let costRow = BenchResult(name: "cost.\(vectors)-vectors.p50", unit: "ns",
                                      bridge: LatencyFigures(cost.bridge).p50, baseline: LatencyFigures(cost.baseline).p50)
            costByCount[vectors] = (costRow.bridge, costRow.baseline)
            results.append(costRow)
        }
        if let smallest = options.scalingVectorCounts.min(), let largest = options.scalingVectorCounts.max(), smallest < largest,
           let low = costByCount[smallest], let high = costByCount[largest] {
            results.append(BenchResult(
                name: "cost.\(largest)-vs-\(smallest)-vectors", unit: "x",
                bridge: Statistics.ratio(high.bridge, low.bridge), baseline: Statistics.ratio(high.baseline, low.baseline),
                target: .valueAtMost(1.2)))
        }

        if options.busyPoll {
            progress("busy-poll latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
            let busy = try pairs(options.repetitions) { runner, factory throws(BenchError) in
                try runner.pingPong(factory, scenario: "busy-poll", vectors: 1, rounds: options.iterations, busyPoll: true)
            }
            let busyBridge = LatencyFigures(busy.bridge), busyBaseline = LatencyFigures(busy.baseline)
            results.append(BenchResult(name: "busy-poll.p50", unit: "ns", bridge: busyBridge.p50, baseline: busyBaseline.p50))
            results.append(BenchResult(name: "busy-poll.p99", unit: "ns", bridge: busyBridge.p99, baseline: busyBaseline.p99))
            results.append(BenchResult(name: "busy-poll.p50-vs-epoll.p50", unit: "ns", bridge: busyBridge.p50,
                                       baseline: latencyBaseline.p50, target: .ratioBelow(1.0)))
        }
        return results
    }

    /// Each side's figures over the repetitions.
    struct Pairs<Figure> {
        var bridge: [Figure] = []
        var baseline: [Figure] = []
    }

    private func pairs<Figure>(_ repetitions: Int, _ measure: (ScenarioRunner, any ReceiverFactory) throws(BenchError) -> Figure)
        throws(BenchError) -> Pairs<Figure> {
        let runner = ScenarioRunner(options: options)
        var result = Pairs<Figure>()
        for repetition in 0..<max(repetitions, 1) {
            if repetition.isMultiple(of: 2) {
                result.bridge.append(try measure(runner, bridge))
                result.baseline.append(try measure(runner, baseline))
            } else {
                result.baseline.append(try measure(runner, baseline))
                result.bridge.append(try measure(runner, bridge))
            }
        }
        return result
    }

    private func row<Figure>(_ name: String, _ unit: String, _ pairs: Pairs<Figure>, _ figure: KeyPath<Figure, Double>,
                             _ target: BenchTarget?) -> BenchResult {
        BenchResult(name: name, unit: unit,
                    bridge: Statistics.median(pairs.bridge.map { $0[keyPath: figure] }),
                    baseline: Statistics.median(pairs.baseline.map { $0[keyPath: figure] }),
                    target: target)
    }

    /// The worst repetition, not the median: one allocating run is a failure.
    private func allocationRow(_ latency: Pairs<PingPongRun>) -> BenchResult {
        BenchResult(name: "allocations-per-interrupt", unit: "allocs",
                    bridge: latency.bridge.compactMap(\.allocationsPerInterrupt).max(),
                    baseline: latency.baseline.compactMap(\.allocationsPerInterrupt).max(),
                    target: .valueAtMost(0))
    }
}
