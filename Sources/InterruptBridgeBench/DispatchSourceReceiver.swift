import Dispatch
#if canImport(Glibc)
import Glibc
#endif
internal import CBaselines

/// libdispatch as a peer (issue 13): what a Swift program gets from the
/// toolchain without the bridge. One `DispatchSource.makeReadSource` per
/// eventfd, all on one serial queue; the handler reads the eventfd and calls
/// the probe. libdispatch owns its threads, so `--pin`/`--fifo` do not apply.
public struct DispatchSourceReceiverFactory: ReceiverFactory {
    public init() {}
    public var label: String { "libdispatch" }

    public func start(vectors: Int, probe: Probe, placement: ThreadPlacement, busyPoll: Bool) throws(BenchError) -> any Receiver {
        try DispatchSourceReceiver(vectors: vectors, probe: probe)
    }
}

final class DispatchSourceReceiver: Receiver {
    let descriptors: [Int32]
    private let fds: UnsafeMutablePointer<Int32>
    private var sources: [any DispatchSourceRead] = []
    /// Left once per source by its cancel handler: the fds may close only after every handler has run.
    private let cancelled = DispatchGroup()

    init(vectors: Int, probe: Probe) throws(BenchError) {
        fds = .allocate(capacity: vectors)
        let rc = cbl_eventfds_open(fds, vectors)
        guard rc == 0 else {
            fds.deallocate()
            throw .system("eventfd", code: rc)
        }
        descriptors = Array(UnsafeBufferPointer(start: fds, count: vectors))
        let queue = DispatchQueue(label: "irqbridge.bench.libdispatch")
        for (vector, fd) in descriptors.enumerated() {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler {
                var count: UInt64 = 0
                if read(fd, &count, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size {
                    probe.hit(vector: vector)
                }
            }
            cancelled.enter()
            source.setCancelHandler { [cancelled] in cancelled.leave() }
            source.resume()
            sources.append(source)
        }
    }

    func stop() {
        guard !sources.isEmpty else { return }
        for source in sources { source.cancel() }
        sources = []
        cancelled.wait()
        cbl_eventfds_close(fds, descriptors.count)
    }

    deinit {
        stop()
        fds.deallocate()
    }
}
