internal import CBaselines

/// Runs every scenario for the bridge, the C baseline and each present peer in
/// the same process, interleaved (which side goes first rotates per
/// repetition), and reduces each figure to the median over repetitions.
public struct BenchSuite: Sendable {
    public let options: BenchOptions
    public let bridge: any ReceiverFactory
    public let baseline: any ReceiverFactory
    /// Peers users would pick instead (issue 13); absent ones get empty columns.
    public let peers: [BenchPeer]

    public init(options: BenchOptions, bridge: any ReceiverFactory, baseline: any ReceiverFactory = EpollBaselineFactory(),
                peers: [BenchPeer] = []) {
        self.options = options
        self.bridge = bridge
        self.baseline = baseline
        self.peers = peers
    }

    /// Issue 13's targets: against the C floor, and against every peer.
    enum Targets {
        static let latency = BenchTarget.ratioAtMost(1.05)
        static let throughput = BenchTarget.ratioAtLeast(0.97)
        static let peerLatency = BenchTarget.ratioAtMost(1.0)
        static let peerThroughput = BenchTarget.ratioAtLeast(1.0)
        static let loadedLatencyP99 = BenchTarget.ratioAtMost(1.10)
        static let loadedThroughputManyVectors = BenchTarget.ratioAtLeast(0.93)
    }

    /// All rows of the report. `progress` is told what runs next (for a terminal).
    public func run(progress: (String) -> Void = { _ in }) throws(BenchError) -> [BenchResult] {
        var results: [BenchResult] = []
        var epollBaseline = LatencyFigures([])
        if options.scenarios.contains(.latency) {
            progress("latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
            let (rows, baseline) = try latencyRows(prefix: "", loaded: false)
            results += rows
            epollBaseline = baseline
        }
        if options.scenarios.contains(.throughput) {
            for vectors in [1, options.throughputVectors] {
                progress("throughput (\(vectors) vector(s), \(options.throughputInterrupts) interrupts x \(options.repetitions))")
                results += try throughputRows(vectors: vectors, prefix: "", loaded: false)
            }
        }
        if options.scenarios.contains(.cost) {
            results += try costRows(progress: progress)
        }
        if options.scenarios.contains(.storm) {
            results += try stormRows(progress: progress)
        }
        if options.scenarios.contains(.scale) {
            results += try scaleRows(progress: progress)
        }
        if options.busyPoll {
            progress("busy-poll latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
            results += try busyPollRows(epollBaseline: epollBaseline)
        }
        if options.loadThreads > 0 {
            results += try loadedRows(progress: progress)
        }
        return results
    }

    private func latencyRows(prefix: String, loaded: Bool) throws(BenchError) -> ([BenchResult], baseline: LatencyFigures) {
        let latency = try measure { runner, factory throws(BenchError) in
            try runner.pingPong(factory, scenario: "\(prefix)latency", vectors: 1, rounds: options.iterations)
        }
        var rows = [
            row("\(prefix)latency.p50", "ns", latency, target: loaded ? nil : Targets.latency,
                peerTarget: loaded ? nil : Targets.peerLatency) { LatencyFigures($0).p50 },
            row("\(prefix)latency.p99", "ns", latency, target: loaded ? Targets.loadedLatencyP99 : Targets.latency,
                peerTarget: loaded ? nil : Targets.peerLatency, placed: false) { LatencyFigures($0).p99 },
            row("\(prefix)latency.p99.9", "ns", latency, placed: false) { LatencyFigures($0).p999 },
        ]
        // The worst repetition, not the median: one allocating run is a failure.
        if !loaded {
            rows.append(row("allocations-per-interrupt", "allocs", latency, target: .valueAtMost(0), placed: false) {
                $0.compactMap(\.allocationsPerInterrupt).max()
            })
        }
        return (rows, LatencyFigures(latency.baseline))
    }

    /// Interrupts per second (the target), and the receiving side's CPU time per
    /// interrupt (information: its own work, free of who-waits-for-whom effects;
    /// left out under load, where the burning threads' CPU would be counted too).
    private func throughputRows(vectors: Int, prefix: String, loaded: Bool) throws(BenchError) -> [BenchResult] {
        let throughput = try measure { runner, factory throws(BenchError) in
            try runner.saturate(factory, scenario: "\(prefix)throughput", vectors: vectors, total: options.throughputInterrupts)
        }
        let name = "\(prefix)throughput.\(vectors)-vector\(vectors == 1 ? "" : "s")"
        let target = loaded ? (vectors == 1 ? nil : Targets.loadedThroughputManyVectors) : Targets.throughput
        var rows = [
            row(name, "interrupts/s", throughput, target: target, peerTarget: loaded ? nil : Targets.peerThroughput) {
                Statistics.median($0.map(\.interruptsPerSecond))
            },
        ]
        if !loaded {
            rows.append(row("\(name).receiver-cpu", "ns/interrupt", throughput, placed: false) {
                Statistics.median($0.map(\.receiverCPUPerInterrupt))
            })
        }
        return rows
    }

    private func costRows(progress: (String) -> Void) throws(BenchError) -> [BenchResult] {
        var rows: [BenchResult] = []
        var costByCount: [Int: BenchResult] = [:]
        for vectors in options.scalingVectorCounts {
            progress("cost per interrupt (\(vectors) connected vector(s), \(options.scalingRounds) rounds x \(options.repetitions))")
            let cost = try measure { runner, factory throws(BenchError) in
                try runner.pingPong(factory, scenario: "cost-\(vectors)", vectors: vectors, rounds: options.scalingRounds)
            }
            let row = row("cost.\(vectors)-vectors.p50", "ns", cost) { LatencyFigures($0).p50 }
            costByCount[vectors] = row
            rows.append(row)
        }
        if let smallest = options.scalingVectorCounts.min(), let largest = options.scalingVectorCounts.max(), smallest < largest,
           let low = costByCount[smallest], let high = costByCount[largest] {
            rows.append(BenchResult(
                name: "cost.\(largest)-vs-\(smallest)-vectors", unit: "x",
                bridge: Statistics.ratio(high.bridge, low.bridge), baseline: Statistics.ratio(high.baseline, low.baseline),
                target: .valueAtMost(1.2),
                peers: zip(low.peers, high.peers).map { PeerFigure(name: $0.name, value: Statistics.ratio($1.value, $0.value)) }))
        }
        return rows
    }

    /// Busy-poll against busy-poll, bridge and C only (the peers have no such
    /// mode; information), and the bridge's busy-poll p50 against the C epoll
    /// p50 (the issue's target), when latency ran.
    private func busyPollRows(epollBaseline: LatencyFigures) throws(BenchError) -> [BenchResult] {
        let busy = try measure(includingPeers: false) { runner, factory throws(BenchError) in
            try runner.pingPong(factory, scenario: "busy-poll", vectors: 1, rounds: options.iterations, busyPoll: true)
        }
        let bridge = LatencyFigures(busy.bridge), baseline = LatencyFigures(busy.baseline)
        let noPeers = peers.map { PeerFigure(name: $0.name, value: nil) }
        return [
            BenchResult(name: "busy-poll.p50", unit: "ns", bridge: bridge.p50, baseline: baseline.p50, peers: noPeers,
                        placement: placement(busy)),
            BenchResult(name: "busy-poll.p99", unit: "ns", bridge: bridge.p99, baseline: baseline.p99, peers: noPeers),
            BenchResult(name: "busy-poll.p50-vs-epoll.p50", unit: "ns", bridge: bridge.p50, baseline: epollBaseline.p50,
                        target: epollBaseline.p50 == nil ? nil : .ratioBelow(1.0), peers: noPeers),
        ]
    }

    /// The latency and throughput scenarios again, every side, while
    /// `options.loadThreads` threads burn CPU for the whole group.
    private func loadedRows(progress: (String) -> Void) throws(BenchError) -> [BenchResult] {
        let threads = options.loadThreads
        var load: OpaquePointer?
        let rc = cbl_load_start(threads, &load)
        guard rc == 0 else { throw .system("start \(threads) load thread(s)", code: rc) }
        defer { cbl_load_stop(load) }
        let prefix = "load-\(threads)."
        progress("under load (\(threads) CPU-burning thread(s)): latency (1 vector, \(options.iterations) rounds x \(options.repetitions))")
        var rows = try latencyRows(prefix: prefix, loaded: true).0
        for vectors in [1, options.throughputVectors] {
            progress("under load (\(threads) CPU-burning thread(s)): throughput (\(vectors) vector(s))")
            rows += try throughputRows(vectors: vectors, prefix: prefix, loaded: true)
        }
        return rows
    }

    /// Each side's figures over the repetitions; a peer's under its name (absent peers have none).
    struct SideFigures<Figure> {
        var bridge: [Figure] = []
        var baseline: [Figure] = []
        var peers: [String: [Figure]] = [:]
    }

    /// Runs `measure` `options.repetitions` times for every side, rotating which goes first.
    func measure<Figure>(includingPeers: Bool = true,
                                 _ measure: (ScenarioRunner, any ReceiverFactory) throws(BenchError) -> Figure)
        throws(BenchError) -> SideFigures<Figure> {
        let runner = ScenarioRunner(options: options)
        var sides: [(name: String?, factory: any ReceiverFactory)] = [(nil, bridge), (nil, baseline)]
        if includingPeers {
            sides += peers.compactMap { peer in peer.factory.map { (peer.name, $0) } }
        }
        var figures = [[Figure]](repeating: [], count: sides.count)
        for repetition in 0..<max(options.repetitions, 1) {
            for offset in sides.indices {
                let side = (repetition + offset) % sides.count
                figures[side].append(try measure(runner, sides[side].factory))
            }
        }
        var result = SideFigures<Figure>(bridge: figures[0], baseline: figures[1])
        for (index, side) in sides.enumerated() {
            if let name = side.name { result.peers[name] = figures[index] }
        }
        return result
    }

    /// A row whose every figure is `reduce` over that side's repetitions. The first
    /// row of the rows made from one set of runs carries their placement (`placed`).
    private func row<Figure>(_ name: String, _ unit: String, _ figures: SideFigures<Figure>, target: BenchTarget? = nil,
                             peerTarget: BenchTarget? = nil, placed: Bool = true, _ reduce: ([Figure]) -> Double?) -> BenchResult {
        BenchResult(name: name, unit: unit, bridge: reduce(figures.bridge), baseline: reduce(figures.baseline), target: target,
                    peers: peers.map { peer in
                        PeerFigure(name: peer.name, value: figures.peers[peer.name].flatMap(reduce), target: peerTarget)
                    },
                    placement: placed ? placement(figures) : nil)
    }

    /// Each side's median share of deliveries on the raising processor, when its runs tracked it.
    func placement<Figure>(_ figures: SideFigures<Figure>) -> PlacementShares? {
        func share(_ runs: [Figure]?) -> Double? {
            guard let placed = runs as? [any PlacedRun] else { return nil }
            return Statistics.median(placed.compactMap(\.onRaisingProcessorShare))
        }
        let shares = PlacementShares(bridge: share(figures.bridge), baseline: share(figures.baseline),
                                     peers: figures.peers.compactMapValues { share($0) })
        return shares.bridge == nil && shares.baseline == nil && shares.peers.isEmpty ? nil : shares
    }
}
