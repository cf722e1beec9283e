internal import CBaselines
#if canImport(Glibc)
import Glibc
#endif

/// A run that knows where its deliveries were made relative to their raise.
protocol PlacedRun {
    /// The share of deliveries (0...1) made on the processor that raised them;
    /// nil when not tracked.
    var onRaisingProcessorShare: Double? { get }
}

/// Figures of one ping-pong run (one interrupt in flight at a time).
struct PingPongRun: PlacedRun {
    /// Latency of each measured round (ns), in round order.
    var samples: [Double]
    /// Heap allocations on the receiving thread per delivered interrupt, where counted.
    var allocationsPerInterrupt: Double?
    var onRaisingProcessorShare: Double?
}

/// Figures of one throughput run.
struct SaturationRun: PlacedRun {
    var interruptsPerSecond: Double
    /// CPU time the receiving side (dispatch thread, C waiter, DPDK's thread,
    /// libdispatch's threads) spent per delivered interrupt: user + system,
    /// independent of who waited for whom.
    var receiverCPUPerInterrupt: Double
    var onRaisingProcessorShare: Double?
}

/// Latency percentiles of several runs: each run's percentile, then the median
/// over runs. Runs of the two sides alternate in short blocks, so both see the
/// same mix of machine load, and the median keeps one block that a burst of
/// load stalled for milliseconds from deciding a tail figure (pooling the
/// samples let a single disturbed block set p99 at 14x in an A/B run here).
struct LatencyFigures {
    var p50: Double?
    var p99: Double?
    var p999: Double?

    init(_ runs: [PingPongRun]) {
        let sortedRuns = runs.map { $0.samples.sorted() }.filter { !$0.isEmpty }
        func median(_ percent: Double) -> Double? {
            Statistics.median(sortedRuns.compactMap { Statistics.percentile($0, percent) })
        }
        p50 = median(50)
        p99 = median(99)
        p999 = median(99.9)
    }
}

/// Runs one scenario on one side (bridge or baseline): starts the receiver,
/// drives it with the shared C writer, stops it, and reduces the samples.
struct ScenarioRunner {
    let options: BenchOptions

    /// Latency: `rounds` interrupts one at a time, walking the vectors with
    /// `stride` (coprime with the count, so every vector is visited). With
    /// `activeVectors`, all `vectors` are connected but only the first
    /// `activeVectors` are raised.
    func pingPong(_ factory: any ReceiverFactory, scenario: String, vectors: Int, activeVectors: Int? = nil, rounds: Int,
                  busyPoll: Bool = false) throws(BenchError) -> PingPongRun {
        let warmup = options.warmup
        let total = warmup + rounds
        let probe = try Probe(vectors: vectors, samples: total)
        probe.reset(allocationWindow: warmup...(total - 1), tracksPlacement: options.tracksPlacement)
        let receiver = try factory.start(vectors: vectors, probe: probe, placement: options.dispatch, busyPoll: busyPoll)
        defer { receiver.stop() }
        var writer = options.writer.raw
        let raised = min(activeVectors ?? vectors, vectors)
        let rc = receiver.descriptors.withUnsafeBufferPointer { fds in
            cbl_drive_pingpong(probe.raw, fds.baseAddress, raised, Self.stride(for: raised), UInt64(total),
                               options.gapNanoseconds, options.timeoutNanoseconds, &writer)
        }
        try check(rc, probe: probe, side: factory.label, scenario: scenario, expected: total)
        return PingPongRun(
            samples: probe.samples(warmup..<total),
            allocationsPerInterrupt: probe.allocationsInWindow.map { Double($0) / Double(max(rounds - 1, 1)) },
            onRaisingProcessorShare: probe.onRaisingProcessorShare
        )
    }

    /// Throughput: every vector kept busy (one interrupt in flight per vector, so
    /// none coalesce) until `total` were delivered.
    func saturate(_ factory: any ReceiverFactory, scenario: String, vectors: Int, total: Int) throws(BenchError) -> SaturationRun {
        let probe = try Probe(vectors: vectors, samples: 0)
        probe.reset(allocationWindow: 0...(total - 1), tracksPlacement: options.tracksPlacement)
        let receiver = try factory.start(vectors: vectors, probe: probe, placement: options.dispatch, busyPoll: false)
        defer { receiver.stop() }
        var writer = options.writer.raw
        var elapsed: UInt64 = 0
        let rc = receiver.descriptors.withUnsafeBufferPointer { fds in
            cbl_drive_saturate(probe.raw, fds.baseAddress, vectors, UInt64(total), options.timeoutNanoseconds, &writer, &elapsed)
        }
        try check(rc, probe: probe, side: factory.label, scenario: scenario, expected: total)
        return SaturationRun(interruptsPerSecond: Double(total) / (Double(max(elapsed, 1)) / 1e9),
                             receiverCPUPerInterrupt: probe.receivingSideCPUNanoseconds / Double(max(total - 1, 1)),
                             onRaisingProcessorShare: probe.onRaisingProcessorShare)
    }

    private func check(_ rc: Int32, probe: Probe, side: String, scenario: String, expected: Int) throws(BenchError) {
        if rc == ETIMEDOUT {
            throw .stalled(side: side, scenario: scenario, delivered: probe.hits, expected: expected)
        }
        guard rc == 0 else { throw .system("\(scenario): the writer thread", code: rc) }
        guard probe.strayHits == 0 else {
            throw .bridge("\(scenario): \(probe.strayHits) deliveries named a vector that was never raised")
        }
    }

    /// A stride coprime with `count`, so the walk visits every vector before repeating.
    static func stride(for count: Int) -> Int {
        var candidate = 97
        while count > 1, gcd(candidate, count) != 1 { candidate += 2 }
        return candidate
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
