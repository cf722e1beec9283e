internal import CBaselines

/// A receiver users would pick instead of the bridge (issue 13), measured in the
/// same run, with the same writer and probe, interleaved with the other sides.
/// A peer that cannot run here is reported absent, with the reason, never as a failure.
public struct BenchPeer: Sendable {
    /// The column's key in the table and in `--json` ("dpdk", "dpdk-epoll", "libdispatch").
    public let name: String
    /// What it is, in words (the report's legend).
    public let title: String
    /// Present: the receiver to measure. Absent: why not.
    public let availability: Availability

    public enum Availability: Sendable {
        case present(any ReceiverFactory)
        case absent(reason: String)
    }

    public init(name: String, title: String, availability: Availability) {
        self.name = name
        self.title = title
        self.availability = availability
    }

    public var factory: (any ReceiverFactory)? {
        if case let .present(factory) = availability { factory } else { nil }
    }

    public var absentReason: String? {
        if case let .absent(reason) = availability { reason } else { nil }
    }

    /// Every peer's name, in report order.
    public static let names = ["dpdk", "dpdk-epoll", "libdispatch"]

    /// The peers named (all by default), each present or absent on this machine.
    /// Starting DPDK's EAL happens here, once per process.
    public static func available(_ names: [String] = BenchPeer.names) -> [BenchPeer] {
        names.compactMap { name in
            switch name {
            case "dpdk":
                dpdk(name: name, path: .interruptThread,
                     title: "DPDK 22.11 EAL interrupt thread, RTE_INTR_HANDLE_EXT per eventfd")
            case "dpdk-epoll":
                dpdk(name: name, path: .perThreadEpoll,
                     title: "DPDK 22.11 rte_epoll_wait(RTE_EPOLL_PER_THREAD) on a thread of its own")
            case "libdispatch":
                BenchPeer(name: name, title: "DispatchSource.makeReadSource per eventfd, one serial queue (libdispatch owns its threads: no --pin/--fifo)",
                          availability: .present(DispatchSourceReceiverFactory()))
            default: nil
            }
        }
    }

    private static func dpdk(name: String, path: DPDKReceiverFactory.Path, title: String) -> BenchPeer {
        switch DPDKReceiverFactory.open() {
        case .success:
            BenchPeer(name: name, title: title, availability: .present(DPDKReceiverFactory(path: path, label: name)))
        case let .failure(reason):
            BenchPeer(name: name, title: title, availability: .absent(reason: reason.description))
        }
    }
}
