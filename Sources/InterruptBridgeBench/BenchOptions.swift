internal import InterruptBridgeSystem

/// The scenario groups of the eventfd suite.
public enum BenchScenario: String, Sendable, CaseIterable {
    /// Dispatch latency p50/p99/p99.9 and allocations per interrupt.
    case latency
    /// Sustained interrupts per second, 1 and many vectors.
    case throughput
    /// Cost per interrupt as connected vectors grow.
    case cost
    /// A healthy vector's latency beside a storming one (`StormScenario.swift`).
    case storm
    /// Cost per interrupt with 16,384 vectors connected (256 devices x 64 MSI-X)
    /// against 1, and connect/disconnect time per vector at 1k, 4k, 16k
    /// (`ScaleScenario.swift`). Not in `quick`: each block connects 16,384 vectors.
    case scale
}

/// How much to measure and where the threads run. The same options apply to
/// both sides of every ratio.
public struct BenchOptions: Sendable, Equatable {
    /// Latency rounds per repetition (after warm-up).
    public var iterations: Int = 4_000
    /// Rounds run and discarded before each latency measurement.
    public var warmup: Int = 200
    /// Repetitions per scenario, in short blocks: bridge and baseline alternate
    /// (and which goes first), so machine load hits both sides alike. Every
    /// figure is the median over blocks of that block's figure.
    public var repetitions: Int = 15
    /// Interrupts raised per throughput run.
    public var throughputInterrupts: Int = 20_000
    /// Vectors in flight in the many-vector throughput scenario.
    public var throughputVectors: Int = 64
    /// Connected vector counts for the cost-per-interrupt scenario.
    public var scalingVectorCounts: [Int] = [1, 16, 64, 256, 1024]
    /// Rounds per vector count in the cost-per-interrupt scenario (and the scale scenario's).
    public var scalingRounds: Int = 2_000
    /// The scale scenario's largest vector count (issue 13: 16,384); its connect
    /// curve is measured at a sixteenth, a quarter and all of it.
    public var scaleVectors: Int = 16_384
    /// MSI-X vectors per simulated device in the scale scenario.
    public var scaleVectorsPerDevice: Int = 64
    /// Where the receiving thread runs: the bridge's dispatch thread, the C waiter.
    public var dispatch = ThreadPlacement()
    /// Where the writer thread (the "device") runs.
    public var writer = ThreadPlacement()
    /// Also measure busy-poll mode (bridge and C spinning instead of sleeping).
    public var busyPoll = false
    /// CPU-burning threads for the load scenario (0: no load scenario). The
    /// latency and throughput scenarios run again, every side, while they burn.
    public var loadThreads = 0
    /// Which scenarios to run (all by default; fewer for profiling one of them).
    public var scenarios: Set<BenchScenario> = Set(BenchScenario.allCases)
    /// Pause between latency rounds, so the receiver is asleep when the interrupt comes.
    public var gapNanoseconds: UInt64 = 20_000
    /// A receiver that delivers nothing for this long has lost an interrupt.
    public var timeoutNanoseconds: UInt64 = 2_000_000_000
    /// Record, for every side, the share of deliveries made on the processor that
    /// raised them (printed under the table). Off for `irqbridge-profile`, so
    /// callgrind's instruction counts carry none of it.
    public var tracksPlacement = true

    public init() {}

    /// Small enough for a CI smoke run (a few seconds), large enough to exercise every path.
    public static var quick: BenchOptions {
        var options = BenchOptions()
        options.iterations = 1_000
        options.warmup = 100
        options.repetitions = 4
        options.throughputInterrupts = 5_000
        options.scalingRounds = 300
        options.scenarios.remove(.scale)
        return options
    }

    /// The scale scenario's connect curve: a sixteenth, a quarter and all of `scaleVectors`.
    public var scaleConnectVectorCounts: [Int] { [scaleVectors / 16, scaleVectors / 4, scaleVectors] }

    /// The most vectors any scenario connects (for the descriptor limit).
    public var maximumVectors: Int {
        max(scalingVectorCounts.max() ?? 1, throughputVectors, scenarios.contains(.scale) ? scaleVectors : 1, 1)
    }
}

extension BenchOptions {
    /// Raises the process's soft descriptor limit to its hard limit and checks that
    /// the largest scenario fits: one side runs at a time, each opening one eventfd
    /// per vector, plus the runtime's and the process's own (256 spare). Throws
    /// `.descriptorLimit` naming both numbers when the hard limit is too low.
    public func raiseDescriptorLimit() throws(BenchError) {
        let needed = maximumVectors + 256
        let limit: Int
        do {
            limit = try FileIO.raiseDescriptorLimitToHardLimit()
        } catch {
            throw .system("raise RLIMIT_NOFILE to its hard limit (\(error.operation))", code: error.code)
        }
        if limit < needed { throw .descriptorLimit(needed: needed, hardLimit: limit) }
    }
}

extension BenchOptions {
    /// Defaults for the QEMU rig, where every MMIO access and interrupt goes
    /// through software emulation (round trips of 10-100 us): fewer rounds, a
    /// longer gap so each round starts from a sleeping receiver, and many short
    /// blocks: a TCG guest on a loaded host stalls for milliseconds at a time,
    /// and only fine interleaving spreads those stalls evenly over both sides.
    public static var rig: BenchOptions {
        var options = BenchOptions()
        options.iterations = 300
        options.warmup = 50
        options.repetitions = 20
        options.gapNanoseconds = 100_000
        options.timeoutNanoseconds = 5_000_000_000
        return options
    }
}
