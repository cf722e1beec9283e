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
        var epollBaseline = LatencyFigures([])
        if options.scenarios.contains(.latency) {
            progress("latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
            let (rows, baseline) = try latencyRows()
            results += rows
            epollBaseline = baseline
        }
        if options.scenarios.contains(.throughput) {
            for vectors in [1, options.throughputVectors] {
                progress("throughput (\(vectors) vector(s), \(options.throughputInterrupts) interrupts x \(options.repetitions))")
                results += try throughputRows(vectors: vectors)
            }
        }
        if options.scenarios.contains(.cost) {
            results += try costRows(progress: progress)
        }
        if options.scenarios.contains(.storm) {
            results += try stormRows(progress: progress)
        }
        if options.busyPoll {
            progress("busy-poll latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
            results += try busyPollRows(epollBaseline: epollBaseline)
        }
        return results
    }

    private func latencyRows() throws(BenchError) -> ([BenchResult], baseline: LatencyFigures) {
        let latency = try pairs(options.repetitions) { runner, factory throws(BenchError) in
            try runner.pingPong(factory, scenario: "latency", vectors: 1, rounds: options.iterations)
        }
        let bridge = LatencyFigures(latency.bridge), baseline = LatencyFigures(latency.baseline)
        let rows = [
            BenchResult(name: "latency.p50", unit: "ns", bridge: bridge.p50, baseline: baseline.p50, target: .ratioAtMost(1.10)),
            BenchResult(name: "latency.p99", unit: "ns", bridge: bridge.p99, baseline: baseline.p99, target: .ratioAtMost(1.10)),
            BenchResult(name: "latency.p99.9", unit: "ns", bridge: bridge.p999, baseline: baseline.p999),
            allocationRow(latency),
        ]
        return (rows, baseline)
    }

    /// Interrupts per second (the target), and the receiving thread's CPU time
    /// per interrupt (information: the bridge's own work, free of scheduling effects).
    private func throughputRows(vectors: Int) throws(BenchError) -> [BenchResult] {
        let throughput = try pairs(options.repetitions) { runner, factory throws(BenchError) in
            try runner.saturate(factory, scenario: "throughput", vectors: vectors, total: options.throughputInterrupts)
        }
        let name = "throughput.\(vectors)-vector\(vectors == 1 ? "" : "s")"
        return [
            BenchResult(name: name, unit: "interrupts/s", bridge: Statistics.median(throughput.bridge.map(\.interruptsPerSecond)),
                        baseline: Statistics.median(throughput.baseline.map(\.interruptsPerSecond)), target: .ratioAtLeast(0.90)),
            BenchResult(name: "\(name).receiver-cpu", unit: "ns/interrupt",
                        bridge: Statistics.median(throughput.bridge.map(\.receiverCPUPerInterrupt)),
                        baseline: Statistics.median(throughput.baseline.map(\.receiverCPUPerInterrupt))),
        ]
    }

    private func costRows(progress: (String) -> Void) throws(BenchError) -> [BenchResult] {
        var rows: [BenchResult] = []
        var costByCount: [Int: BenchResult] = [:]
        for vectors in options.scalingVectorCounts {
            progress("cost per interrupt (\(vectors) connected vector(s), \(options.scalingRounds) rounds x \(options.repetitions))")
            let cost = try pairs(options.repetitions) { runner, factory throws(BenchError) in
                try runner.pingPong(factory, scenario: "cost-\(vectors)", vectors: vectors, rounds: options.scalingRounds)
            }
            let row = BenchResult(name: "cost.\(vectors)-vectors.p50", unit: "ns",
                                  bridge: LatencyFigures(cost.bridge).p50, baseline: LatencyFigures(cost.baseline).p50)
            costByCount[vectors] = row
            rows.append(row)
        }
        if let smallest = options.scalingVectorCounts.min(), let largest = options.scalingVectorCounts.max(), smallest < largest,
           let low = costByCount[smallest], let high = costByCount[largest] {
            rows.append(BenchResult(
                name: "cost.\(largest)-vs-\(smallest)-vectors", unit: "x",
                bridge: Statistics.ratio(high.bridge, low.bridge), baseline: Statistics.ratio(high.baseline, low.baseline),
                target: .valueAtMost(1.2)))
        }
        return rows
    }

    /// Busy-poll against busy-poll (no target: information), and the bridge's
    /// busy-poll p50 against the C epoll p50 (the issue's target), when latency ran.
    private func busyPollRows(epollBaseline: LatencyFigures) throws(BenchError) -> [BenchResult] {
        let busy = try pairs(options.repetitions) { runner, factory throws(BenchError) in
            try runner.pingPong(factory, scenario: "busy-poll", vectors: 1, rounds: options.iterations, busyPoll: true)
        }
        let bridge = LatencyFigures(busy.bridge), baseline = LatencyFigures(busy.baseline)
        return [
            BenchResult(name: "busy-poll.p50", unit: "ns", bridge: bridge.p50, baseline: baseline.p50),
            BenchResult(name: "busy-poll.p99", unit: "ns", bridge: bridge.p99, baseline: baseline.p99),
            BenchResult(name: "busy-poll.p50-vs-epoll.p50", unit: "ns", bridge: bridge.p50, baseline: epollBaseline.p50,
                        target: epollBaseline.p50 == nil ? nil : .ratioBelow(1.0)),
        ]
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

    /// The worst repetition, not the median: one allocating run is a failure.
    private func allocationRow(_ latency: Pairs<PingPongRun>) -> BenchResult {
        BenchResult(name: "allocations-per-interrupt", unit: "allocs",
                    bridge: latency.bridge.compactMap(\.allocationsPerInterrupt).max(),
                    baseline: latency.baseline.compactMap(\.allocationsPerInterrupt).max(),
                    target: .valueAtMost(0))
    }
}
