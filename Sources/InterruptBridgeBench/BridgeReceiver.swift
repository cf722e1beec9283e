internal import CBaselines
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
public import Logging

/// The bridge side: a simulated MSI-X device whose vectors are connected with
/// `connectMessageBased` through the real runtime (`InterruptDispatcher`, its
/// epoll dispatch thread, interrupt objects, spin locks); the ISR calls the probe.
///
/// Placement maps onto the runtime's own options, so the benchmark exercises
/// them: a pinned CPU becomes the interrupts' affinity (policy override) with
/// `DispatchOptions.Pinning.interruptAffinity`, FIFO becomes `realtimePriority`,
/// busy-poll becomes `DispatchOptions.busyPoll`. The poll window is the runtime's
/// default (`DispatchOptions.pollWindowLimit`) unless the factory is given another.
public struct BridgeReceiverFactory: ReceiverFactory {
    let logger: Logger
    /// Whether the dispatcher records ISR timings (`DispatchOptions.recordsTimings`).
    let recordsTimings: Bool
    /// Vectors per simulated device (nil: one device with every vector). The scale
    /// scenario spreads 16,384 vectors over 256 devices of 64, as a host would.
    let vectorsPerDevice: Int?
    /// The dispatcher's `DispatchOptions.pollWindowLimit` (nil: never polls).
    let pollWindowLimit: Duration?

    /// `logger` is the runtime's (its dispatcher logs connects at debug level).
    public init(logger: Logger, recordsTimings: Bool = false, vectorsPerDevice: Int? = nil,
                pollWindowLimit: Duration? = BridgeReceiverFactory.defaultPollWindowLimit) {
        self.logger = logger
        self.recordsTimings = recordsTimings
        self.vectorsPerDevice = vectorsPerDevice
        self.pollWindowLimit = pollWindowLimit
    }

    /// The runtime's default `DispatchOptions.pollWindowLimit`.
    public static let defaultPollWindowLimit: Duration? = DispatchOptions().pollWindowLimit

    public var label: String { recordsTimings ? "bridge-timed" : "bridge" }

    /// The same receiver with its vectors spread over devices of `vectorsPerDevice`.
    func spreading(vectorsPerDevice: Int) -> BridgeReceiverFactory {
        BridgeReceiverFactory(logger: logger, recordsTimings: recordsTimings, vectorsPerDevice: vectorsPerDevice,
                              pollWindowLimit: pollWindowLimit)
    }

    public func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        try BridgeReceiver(vectors: vectors, vectorsPerDevice: vectorsPerDevice ?? vectors, probe: probe, placement: placement,
                           busyPoll: busyPoll, recordsTimings: recordsTimings, pollWindowLimit: pollWindowLimit, logger: logger)
    }
}

final class BridgeReceiver: Receiver {
    let descriptors: [Int32]
    private let dispatcher: InterruptDispatcher
    private var connections: [MessageConnection] = []

    /// `vectors` MSI-X vectors over devices of `vectorsPerDevice` (the last may
    /// have fewer); vector i of the probe is message i % vectorsPerDevice of
    /// device i / vectorsPerDevice.
    init(vectors: Int, vectorsPerDevice: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool,
         recordsTimings: Bool = false, pollWindowLimit: Duration?, logger: Logger) throws(BenchError) {
        let affinity = placement.cpu.map { ProcessorAffinity(rawValue: UInt64(1) << UInt64($0)) }
        let options = DispatchOptions(pinning: affinity == nil ? .none : .interruptAffinity,
                                      realtimePriority: placement.fifoPriority.map(Int32.init), busyPoll: busyPoll,
                                      capacity: vectors + 16, threadName: "irqbridge-bench", recordsTimings: recordsTimings,
                                      pollWindowLimit: pollWindowLimit)
        do {
            dispatcher = try InterruptDispatcher(logger: logger, options: options)
        } catch {
            throw .bridge("start the dispatcher: \(error)")
        }
        let backends = BenchBackend.spread(vectors: vectors, perDevice: vectorsPerDevice)
        for (index, backend) in backends.enumerated() {
            let device = InterruptDevice(backend: backend, policy: InterruptPolicy(affinityOverride: affinity))
            let first = index * vectorsPerDevice
            do {
                connections.append(try dispatcher.connectMessageBased(device: device, messageRoutine: { _, messageID in
                    probe.hit(vector: first &+ Int(messageID))
                    return true
                }))
            } catch {
                for connection in connections { dispatcher.disconnect(connection) }
                dispatcher.shutdown()
                throw .bridge("connectMessageBased with \(backend.vectorCount) MSI-X vector(s) on \(backend.device.address): \(error)")
            }
        }
        descriptors = backends.flatMap(\.descriptors)
        guard descriptors.count == vectors else {
            stop()
            throw .bridge("the runtime enabled \(descriptors.count) of \(vectors) vectors")
        }
    }

    func stop() {
        for connection in connections { dispatcher.disconnect(connection) }
        connections = []
        dispatcher.shutdown()
    }

    deinit { stop() }
}

/// A simulated MSI-X device for the benchmark. Unlike `SimulatedBackend`, it
/// exposes its vectors' eventfds, so the benchmark's C writer signals them
/// directly, exactly as the kernel signals VFIO's and exactly as the C baseline's
/// writer signals its own: the writer side is identical for both.
final class BenchBackend: InterruptBackend {
    let device: PCIDeviceInfo
    let vectorCount: Int
    // Written by enableInterrupts/disableInterrupts, which the runtime calls from
    // connect/disconnect; the benchmark reads `descriptors` only between those.
    private let state: BenchBackendState

    init(vectors: Int, address: PCIAddress = PCIAddress(bus: 0, device: 3, function: 0)) {
        vectorCount = vectors
        device = SimulatedDevice(address: address, interruptPin: nil, irqLine: nil, msixCount: vectors).info
        state = BenchBackendState()
    }

    /// `vectors` vectors over devices of `perDevice` (the last may have fewer), each
    /// at an address of its own: a message's translated vector names its function
    /// (`ResourceTranslator.messageVector`), so two devices never share a vector.
    static func spread(vectors: Int, perDevice: Int) -> [BenchBackend] {
        let perDevice = max(perDevice, 1)
        return stride(from: 0, to: vectors, by: perDevice).enumerated().map { index, first in
            BenchBackend(vectors: min(perDevice, vectors - first), address: address(ofDevice: index))
        }
    }

    /// Device `index`'s address: 32 devices per bus on buses 0x10...0xff (7,680 devices at most).
    static func address(ofDevice index: Int) -> PCIAddress {
        PCIAddress(bus: UInt8(0x10 + index / 32), device: UInt8(index % 32), function: 0)
    }

    var supportedInterrupts: [InterruptKind: Int] { [.msix: vectorCount] }
    var descriptors: [Int32] { state.descriptors }

    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        guard kind == .msix, count > 0, count <= vectorCount else {
            throw .unsupported(kind: kind, requested: count, available: kind == .msix ? vectorCount : 0)
        }
        var fds = [Int32](repeating: -1, count: count)
        let rc = fds.withUnsafeMutableBufferPointer { cbl_eventfds_open($0.baseAddress, count) }
        guard rc == 0 else { throw .system(SystemError("eventfd", code: rc)) }
        guard state.install(fds) else {
            cbl_eventfds_close(fds, count)
            throw .kernelLimit("MSI-X is already enabled on the benchmark device")
        }
        return fds.enumerated().map { InterruptSource(descriptor: $1, drain: .eventfdCounter, unmask: nil, message: $0) }
    }

    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) {
        let fds = state.remove()
        cbl_eventfds_close(fds, fds.count)
    }

}
