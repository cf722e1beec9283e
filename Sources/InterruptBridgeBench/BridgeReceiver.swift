/// The bridge side: ISRs connected on a simulated device through the real runtime.
/// (Filled in once the runtime lands; until then it refuses to start.)
public struct BridgeReceiverFactory: ReceiverFactory {
    let options: BenchOptions
    public init(options: BenchOptions) throws(BenchError) { self.options = options }
    public var label: String { "bridge" }
    public func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        throw .bridge("the runtime is not available in this build")
    }
}

/// The bridge side of the rig round trip: the VFIO backend and IoConnectInterruptEx.
/// (Filled in once the VFIO backend lands; until then it refuses to start.)
public struct BridgeEduRoundTripper: EduRoundTripper {
    public init() {}
    public var label: String { "bridge" }
    public func run(address: String, interrupt: EduInterrupt, probe: Probe, rounds: Int, options: BenchOptions) throws(BenchError) {
        throw .bridge("the VFIO backend is not available in this build")
    }
}
