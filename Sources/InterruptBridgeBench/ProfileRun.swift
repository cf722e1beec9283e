/// One run of one receiver, nothing else: what `irqbridge-profile` runs under
/// callgrind, so the receiving thread's instruction total covers exactly one
/// receiver start, `total` interrupts and one stop (scripts/bench/callgrind.sh
/// subtracts two such runs to cancel start-up). Either a throughput run
/// (`saturate`) or the scale group's walk (`walk`): one interrupt at a time,
/// each on the next vector of a walk over all of them.
public struct ProfileRun: Sendable {
    public let factory: any ReceiverFactory
    public var options: BenchOptions

    public init(factory: any ReceiverFactory, options: BenchOptions = BenchOptions()) {
        self.factory = factory
        self.options = options
        self.options.tracksPlacement = false
    }

    /// Interrupts per second and the receiving side's CPU ns per interrupt of one run.
    public func saturate(vectors: Int, total: Int) throws(BenchError) -> (interruptsPerSecond: Double, receiverCPUPerInterrupt: Double) {
        try options.raiseDescriptorLimit()
        let run = try ScenarioRunner(options: options).saturate(factory, scenario: "profile", vectors: vectors, total: total)
        return (run.interruptsPerSecond, run.receiverCPUPerInterrupt)
    }

    /// `total` interrupts one at a time (ping-pong), walking `vectors` vectors spread over
    /// devices of `vectorsPerDevice` as the scale group connects them (the bridge; the C
    /// waiter keeps one epoll), so every interrupt meets a vector whose state left the
    /// cache once there are thousands. Returns the median round trip in nanoseconds.
    public func walk(vectors: Int, vectorsPerDevice: Int = 64, total: Int) throws(BenchError) -> Double {
        try options.raiseDescriptorLimit()
        var options = options
        options.warmup = 0
        let spread = (factory as? BridgeReceiverFactory)?.spreading(vectorsPerDevice: vectorsPerDevice) ?? factory
        let run = try ScenarioRunner(options: options).pingPong(spread, scenario: "profile-walk", vectors: vectors, rounds: total)
        return LatencyFigures([run]).p50 ?? 0
    }
}
