import ArgumentParser
import Foundation
import InterruptBridge
import InterruptBridgeBench
import InterruptBridgeSystem

/// How much `irqbridge bench` measures.
struct BenchMeasurementOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Latency rounds per repetition (after warm-up; 10 to 10000000).")
    var iterations: Int?

    @Option(parsing: .unconditional, help: "Repetitions per scenario (1 to 1000); the report gives medians.")
    var repetitions: Int?

    @Flag(help: "A few seconds in all, for a CI smoke run.")
    var quick = false

    @Flag(name: .customLong("busy-poll"), help: "Also measure busy-poll mode (the dispatch thread spins instead of sleeping).")
    var busyPoll = false

    @Option(name: .customLong("poll-window"), parsing: .unconditional, help: ArgumentHelp(
        "The bridge's poll window limit in microseconds (DispatchOptions.pollWindowLimit; 0: the dispatch thread always sleeps). Default: the runtime's, \(BenchMeasurementOptions.defaultPollWindowMicroseconds).",
        valueName: "US"))
    var pollWindow: Int?

    /// `DispatchOptions.pollWindowLimit`'s default, in microseconds.
    static var defaultPollWindowMicroseconds: Int {
        (BridgeReceiverFactory.defaultPollWindowLimit ?? .zero).wholeMicroseconds
    }

    /// The limit the bridge's dispatcher gets (zero: it always sleeps).
    var pollWindowLimit: Duration? { pollWindow.map { .microseconds($0) } ?? BridgeReceiverFactory.defaultPollWindowLimit }

    @Option(name: .customLong("scenario"), help: ArgumentHelp(
        "Run only this scenario (latency, throughput, cost, storm, scale); repeatable. Default: all (--quick: all but scale).",
        valueName: "NAME"))
    var scenarios: [String] = []

    @Option(name: .customLong("scale-vectors"), parsing: .unconditional, help: ArgumentHelp(
        "The scale scenario's largest vector count, in devices of 64 MSI-X (default 16384; connect curve at N/16, N/4, N). A multiple of 1024, at most 32768.",
        valueName: "N"))
    var scaleVectors: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Also run the latency and throughput scenarios while N CPU-burning threads run beside every side (issue 13's load scenario).",
        valueName: "N"))
    var load: Int?

    @Option(name: .customLong("peer"), help: ArgumentHelp(
        "Measure only this peer beside the bridge and the C floor (\(BenchPeer.names.joined(separator: ", "))); repeatable. Default: all, absent ones reported as absent.",
        valueName: "NAME"))
    var peers: [String] = []

    @Flag(name: .customLong("no-peers"), help: "Measure the bridge against the C floor only.")
    var noPeers = false

    /// The peer names asked for (all by default).
    var peerNames: [String] {
        noPeers ? [] : peers.isEmpty ? BenchPeer.names : BenchPeer.names.filter(peers.contains)
    }

    func validate() throws {
        if let load, !(1...256).contains(load) { throw CommandFailure.badInput("--load must be 1 to 256 threads, got \(load)") }
        for name in peers where !BenchPeer.names.contains(name) {
            throw CommandFailure.badInput("--peer must be one of \(BenchPeer.names.joined(separator: ", ")), not '\(name)'")
        }
        if noPeers, !peers.isEmpty { throw CommandFailure.badInput("--no-peers and --peer contradict each other") }
        for name in scenarios where BenchScenario(rawValue: name) == nil {
            throw CommandFailure.badInput("--scenario must be one of \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")), not '\(name)'")
        }
        let widestWindow = DispatchOptions.maximumPollWindowLimit.wholeMicroseconds
        if let pollWindow, !(0...widestWindow).contains(pollWindow) {
            throw CommandFailure.badInput("--poll-window must be 0 to \(widestWindow) microseconds, not \(pollWindow)")
        }
        if let iterations, !(10...10_000_000).contains(iterations) {
            throw CommandFailure.badInput("--iterations must be 10 to 10000000, got \(iterations)")
        }
        if let repetitions, !(1...1000).contains(repetitions) { throw CommandFailure.badInput("--repetitions must be 1 to 1000, got \(repetitions)") }
        if let scaleVectors, !(1024...32_768).contains(scaleVectors) || !scaleVectors.isMultiple(of: 1024) {
            throw CommandFailure.badInput("--scale-vectors must be a multiple of 1024 from 1024 to 32768, got \(scaleVectors)")
        }
    }

    enum Defaults { case standard, rig }

    func options(defaults: Defaults) -> BenchOptions {
        var options: BenchOptions
        switch (defaults, quick) {
        case (.standard, false): options = BenchOptions()
        case (.standard, true): options = .quick
        case (.rig, false): options = .rig
        case (.rig, true):
            options = .rig
            options.iterations = 100
            options.warmup = 20
            options.repetitions = 6
        }
        if let iterations { options.iterations = iterations }
        if let repetitions { options.repetitions = repetitions }
        options.busyPoll = busyPoll
        options.loadThreads = load ?? 0
        if !scenarios.isEmpty { options.scenarios = Set(scenarios.compactMap(BenchScenario.init(rawValue:))) }
        if let scaleVectors { options.scaleVectors = scaleVectors }
        return options
    }

    func describe(_ options: BenchOptions) -> [String: String] {
        [
            "iterations": String(options.iterations), "warmup": String(options.warmup),
            "repetitions": String(options.repetitions), "throughputInterrupts": String(options.throughputInterrupts),
            "scalingRounds": String(options.scalingRounds), "busyPoll": String(options.busyPoll),
            "pollWindowMicroseconds": String((pollWindowLimit ?? .zero).wholeMicroseconds),
            "gapNanoseconds": String(options.gapNanoseconds), "loadThreads": String(options.loadThreads),
            "scenarios": options.scenarios.map(\.rawValue).sorted().joined(separator: ","),
            "scaleVectors": String(options.scaleVectors), "scaleVectorsPerDevice": String(options.scaleVectorsPerDevice),
        ]
    }
}

/// Where `irqbridge bench` runs its threads. The same placement applies to the
/// bridge's dispatch thread and the C baseline's waiter.
struct BenchPlacementOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Pin the dispatch thread (and the C waiter) to CPU; the writer goes to the next CPU.", valueName: "CPU"))
    var pin: Int?

    @Option(name: .customLong("writer-cpu"), parsing: .unconditional, help: ArgumentHelp(
        "Pin the writer (the simulated device) to CPU: the same CPU as --pin measures a receiver woken on the writer's processor, another one a cross-processor wake-up (default: the CPU after --pin's; unpinned without --pin).",
        valueName: "CPU"))
    var writerCPU: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Run the dispatch thread (and the C waiter) SCHED_FIFO at PRIO (1-99).", valueName: "PRIO"))
    var fifo: Int?

    func validate() throws {
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        if let pin, !(0..<cpus).contains(pin) { throw CommandFailure.badInput("--pin must name an online CPU (0-\(cpus - 1)), got \(pin)") }
        if let writerCPU, !(0..<cpus).contains(writerCPU) {
            throw CommandFailure.badInput("--writer-cpu must name an online CPU (0-\(cpus - 1)), got \(writerCPU)")
        }
        if let fifo, !(1...99).contains(fifo) { throw CommandFailure.badInput("--fifo must be a priority from 1 to 99, got \(fifo)") }
    }

    func apply(to options: BenchOptions) -> BenchOptions {
        var options = options
        options.dispatch = ThreadPlacement(cpu: pin, fifoPriority: fifo)
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        options.writer = ThreadPlacement(cpu: writerCPU ?? pin.map { cpus > 1 ? ($0 + 1) % cpus : $0 })
        return options
    }

    func describe(_ options: BenchOptions) -> [String: String] {
        [
            "dispatchCPU": options.dispatch.cpu.map(String.init) ?? "any",
            "writerCPU": options.writer.cpu.map(String.init) ?? "any",
            "fifoPriority": options.dispatch.fifoPriority.map(String.init) ?? "none",
        ]
    }
}
