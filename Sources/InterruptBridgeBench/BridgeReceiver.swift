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
/// busy-poll becomes `DispatchOptions.busyPoll`.
public struct BridgeReceiverFactory: ReceiverFactory {
    let logger: Logger
    /// Whether the dispatcher records ISR timings (`DispatchOptions.recordsTimings`).
    let recordsTimings: Bool

    /// `logger` is the runtime's (its dispatcher logs connects at debug level).
    public init(logger: Logger, recordsTimings: Bool = false) {
        self.logger = logger
        self.recordsTimings = recordsTimings
    }

    public var label: String { recordsTimings ? "bridge-timed" : "bridge" }

    public func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        try BridgeReceiver(vectors: vectors, probe: probe, placement: placement, busyPoll: busyPoll, recordsTimings: recordsTimings,
                           logger: logger)
    }
}

final class BridgeReceiver: Receiver {
    let descriptors: [Int32]
    private let dispatcher: InterruptDispatcher
    private let backend: BenchBackend
    private var connection: MessageConnection?

    init(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool, recordsTimings: Bool = false,
         logger: Logger) throws(BenchError) {
        let affinity = placement.cpu.map { ProcessorAffinity(rawValue: UInt64(1) << UInt64($0)) }
        let options = DispatchOptions(pinning: affinity == nil ? .none : .interruptAffinity,
                                      realtimePriority: placement.fifoPriority.map(Int32.init), busyPoll: busyPoll,
                                      capacity: vectors + 16, threadName: "irqbridge-bench", recordsTimings: recordsTimings)
        do {
            dispatcher = try InterruptDispatcher(logger: logger, options: options)
        } catch {
            throw .bridge("start the dispatcher: \(error)")
        }
        backend = BenchBackend(vectors: vectors)
        let device = InterruptDevice(backend: backend, policy: InterruptPolicy(affinityOverride: affinity))
        do {
            connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, messageID in
                probe.hit(vector: Int(messageID))
                return true
            })
        } catch {
            dispatcher.shutdown()
            throw .bridge("connectMessageBased with \(vectors) MSI-X vector(s): \(error)")
        }
        descriptors = backend.descriptors
        guard descriptors.count == vectors else {
            stop()
            throw .bridge("the runtime enabled \(descriptors.count) of \(vectors) vectors")
        }
    }

    func stop() {
        if let connection {
            dispatcher.disconnect(connection)
            self.connection = nil
        }
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
    private let vectorCount: Int
    // Written by enableInterrupts/disableInterrupts, which the runtime calls from
    // connect/disconnect; the benchmark reads `descriptors` only between those.
    private let state: BenchBackendState

    init(vectors: Int) {
        vectorCount = vectors
        device = SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: vectors).info
        state = BenchBackendState()
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
