internal import CBaselines

/// DPDK 22.11 as a peer (CBaselines' `cbl_dpdk_*`): librte_eal loaded at run
/// time, EAL started once per process without hugepages or PCI probing.
public struct DPDKReceiverFactory: ReceiverFactory {
    public enum Path: Sendable {
        /// The EAL interrupt thread, one RTE_INTR_HANDLE_EXT callback per eventfd.
        case interruptThread
        /// rte_epoll_wait on the receiving thread's own DPDK epoll instance.
        case perThreadEpoll
    }

    /// Why DPDK cannot run here (the library is missing, or EAL start-up failed).
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    let path: Path
    public let label: String

    init(path: Path, label: String) {
        self.path = path
        self.label = label
    }

    /// Loads librte_eal and starts EAL; the result is the same for every later call.
    static func open() -> Result<Void, Unavailable> { opened }

    private static let opened: Result<Void, Unavailable> = {
        var reason = [CChar](repeating: 0, count: 512)
        let rc = cbl_dpdk_open(20_000_000_000, &reason, reason.count)
        if rc == 0 { return .success(()) }
        return .failure(Unavailable(description: String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
    }()

    public func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        try DPDKReceiver(path: path, vectors: vectors, probe: probe, placement: placement)
    }
}

final class DPDKReceiver: Receiver {
    let descriptors: [Int32]
    private let fds: UnsafeMutablePointer<Int32>
    private let placement: UnsafeMutablePointer<cbl_thread_placement>
    private var receiver: OpaquePointer?

    init(path: DPDKReceiverFactory.Path, vectors: Int, probe: Probe, placement: ThreadPlacement) throws(BenchError) {
        fds = .allocate(capacity: vectors)
        var rc = cbl_eventfds_open(fds, vectors)
        guard rc == 0 else {
            fds.deallocate()
            throw .system("eventfd", code: rc)
        }
        self.placement = .allocate(capacity: 1)
        self.placement.initialize(to: placement.raw)
        descriptors = Array(UnsafeBufferPointer(start: fds, count: vectors))
        var started: OpaquePointer?
        let rawPath = path == .interruptThread ? CBL_DPDK_INTERRUPT_THREAD : CBL_DPDK_PER_THREAD_EPOLL
        rc = cbl_dpdk_receiver_start(rawPath, fds, vectors, probe.raw, self.placement, &started)
        guard rc == 0 else {
            cbl_eventfds_close(fds, vectors)
            fds.deallocate()
            self.placement.deallocate()
            throw .system("start DPDK's \(path == .interruptThread ? "interrupt thread" : "per-thread epoll") receiver", code: rc)
        }
        receiver = started
    }

    func stop() {
        guard let receiver else { return }
        cbl_dpdk_receiver_stop(receiver)
        self.receiver = nil
        cbl_eventfds_close(fds, descriptors.count)
    }

    deinit {
        stop()
        fds.deallocate()
        placement.deallocate()
    }
}
