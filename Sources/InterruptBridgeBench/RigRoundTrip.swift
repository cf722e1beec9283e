internal import CBaselines

/// Which edu interrupt a rig round trip uses.
public enum EduInterrupt: String, Sendable, CaseIterable {
    case msi
    case intx
}

/// One side of the rig round trip "write edu 0x60 -> ISR runs -> acknowledge":
/// runs `warmup + rounds` round trips on the edu device at `address`, calling
/// `probe.hit(vector: 0)` after each acknowledgement, and closes everything.
public protocol EduRoundTripper: Sendable {
    var label: String { get }
    func run(address: String, interrupt: EduInterrupt, probe: Probe, rounds: Int, options: BenchOptions) throws(BenchError)
}

/// The floor: raw VFIO ioctls, a C receiving thread, the shared C writer (CBaselines).
public struct RawVFIOEduRoundTripper: EduRoundTripper {
    public init() {}
    public var label: String { "baseline" }

    public func run(address: String, interrupt: EduInterrupt, probe: Probe, rounds: Int, options: BenchOptions) throws(BenchError) {
        var receiver = options.dispatch.raw
        var writer = options.writer.raw
        var message = [CChar](repeating: 0, count: 256)
        let rc = cbl_vfio_edu_roundtrip(address, interrupt == .msi ? CBL_EDU_MSI : CBL_EDU_INTX, probe.raw, UInt64(rounds),
                                        options.gapNanoseconds, options.timeoutNanoseconds, &receiver, &writer,
                                        &message, message.count)
        guard rc == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw .rig("raw VFIO round trip on \(address) (\(interrupt.rawValue)): \(text)")
        }
    }
}

/// The rig scenarios: for MSI and INTx, bridge and raw C VFIO in the same boot,
/// interleaved, medians over repetitions.
public struct RigRoundTripSuite: Sendable {
    public let address: String
    public let options: BenchOptions
    public let bridge: any EduRoundTripper
    public let baseline: any EduRoundTripper

    public init(address: String, options: BenchOptions, bridge: any EduRoundTripper,
                baseline: any EduRoundTripper = RawVFIOEduRoundTripper()) {
        self.address = address
        self.options = options
        self.bridge = bridge
        self.baseline = baseline
    }

    public func run(progress: (String) -> Void = { _ in }) throws(BenchError) -> [BenchResult] {
        var results: [BenchResult] = []
        for interrupt in EduInterrupt.allCases {
            progress("rig round trip, edu \(interrupt.rawValue) at \(address) (\(options.iterations) rounds x \(options.repetitions))")
            var bridgeRuns: [PingPongRun] = []
            var baselineRuns: [PingPongRun] = []
            for repetition in 0..<max(options.repetitions, 1) {
                let bridgeFirst = repetition.isMultiple(of: 2)
                for isBridge in [bridgeFirst, !bridgeFirst] {
                    if isBridge {
                        bridgeRuns.append(try measure(bridge, interrupt))
                    } else {
                        baselineRuns.append(try measure(baseline, interrupt))
                    }
                }
            }
            let name = "rig.edu-\(interrupt.rawValue).roundtrip"
            let bridgeFigures = LatencyFigures(bridgeRuns), baselineFigures = LatencyFigures(baselineRuns)
            results.append(BenchResult(name: "\(name).p50", unit: "ns", bridge: bridgeFigures.p50,
                                       baseline: baselineFigures.p50, target: .ratioAtMost(1.10)))
            results.append(BenchResult(name: "\(name).p99", unit: "ns", bridge: bridgeFigures.p99, baseline: baselineFigures.p99))
        }
        return results
    }

    private func measure(_ side: any EduRoundTripper, _ interrupt: EduInterrupt) throws(BenchError) -> PingPongRun {
        let total = options.warmup + options.iterations
        let probe = try Probe(vectors: 1, samples: total)
        probe.reset(allocationWindow: nil)
        try side.run(address: address, interrupt: interrupt, probe: probe, rounds: total, options: options)
        return PingPongRun(samples: probe.samples(options.warmup..<total), allocationsPerInterrupt: nil)
    }
}
