internal import CBaselines

/// What both sides of a ratio provide: a receiver of eventfd-signalled interrupts
/// that calls `probe.hit(vector:)` on every delivery.
public protocol ReceiverFactory: Sendable {
    /// "bridge" or "baseline", for error messages.
    var label: String { get }
    /// Starts receiving on `vectors` vectors; the returned receiver's descriptors
    /// are what the writer raises, in vector order.
    func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver
}

/// A running receiver. `stop()` must leave nothing running and nothing open.
public protocol Receiver: AnyObject {
    var descriptors: [Int32] { get }
    func stop()
}

/// Where a thread runs: a CPU to pin it to, and a SCHED_FIFO priority.
public struct ThreadPlacement: Sendable, Equatable {
    public var cpu: Int?
    public var fifoPriority: Int?

    public init(cpu: Int? = nil, fifoPriority: Int? = nil) {
        self.cpu = cpu
        self.fifoPriority = fifoPriority
    }

    var raw: cbl_thread_placement {
        cbl_thread_placement(cpu: Int32(cpu ?? -1), fifo_priority: Int32(fifoPriority ?? 0))
    }
}

/// The C baseline: raw eventfds and one thread in epoll_wait (CBaselines).
public struct EpollBaselineFactory: ReceiverFactory {
    public init() {}
    public var label: String { "baseline" }

    public func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        try EpollBaselineReceiver(vectors: vectors, probe: probe, placement: placement, busyPoll: busyPoll)
    }
}

final class EpollBaselineReceiver: Receiver {
    let descriptors: [Int32]
    private let placement: UnsafeMutablePointer<cbl_thread_placement>
    private let fds: UnsafeMutablePointer<Int32>
    private var receiver: OpaquePointer?

    init(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) {
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
        rc = cbl_epoll_receiver_start(fds, vectors, probe.raw, busyPoll ? 1 : 0, self.placement, &started)
        guard rc == 0 else {
            cbl_eventfds_close(fds, vectors)
            fds.deallocate()
            self.placement.deallocate()
            throw .system("start the C epoll receiver", code: rc)
        }
        receiver = started
    }

    func stop() {
        guard let receiver else { return }
        cbl_epoll_receiver_stop(receiver)
        self.receiver = nil
        cbl_eventfds_close(fds, descriptors.count)
    }

    deinit {
        stop()
        fds.deallocate()
        placement.deallocate()
    }
}
