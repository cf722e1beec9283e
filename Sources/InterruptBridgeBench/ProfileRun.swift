/// One throughput run of one receiver, nothing else: what `irqbridge-profile`
/// runs under callgrind, so the receiving thread's instruction total covers
/// exactly one receiver start, `total` interrupts and one stop
/// (scripts/bench/callgrind.sh subtracts two such runs to cancel start-up).
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
}
