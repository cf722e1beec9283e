import InterruptBridgeSystem

/// The dispatch loop's view of the kernel: one epoll instance, the slot table
/// of what it watches, and the wake eventfd other threads write to. It yields
/// ready entries and knows nothing of ISRs, chains or connections (the loop
/// and its connection table do), as swift-nio keeps `SelectorEpoll` apart from
/// its event loop.
///
/// epoll data packs (slot index, generation): see `EpollToken` and `SlotTable`.
/// Each slot keeps its entry's `PassRecord`, what the interrupt path reads.
/// `wake()` may be called from any thread, before or after `close()`; everything else
/// from the loop's thread only (or, for a manually stepped loop, from whoever holds its step lock).
final class Selector: @unchecked Sendable {
    // @unchecked: `slots` and `events` are touched only by the owning loop thread
    // (see above); the descriptors are immutable, and writing the wake eventfd
    // from any thread is what it is for.
    private let epoll: OwnedDescriptor
    private let wakeUp: OwnedDescriptor
    /// Borrowed views of the two, read on every wait and wake.
    let epollDescriptor: Int32
    let wakeDescriptor: Int32
    /// Unchecked exclusivity: one thread, never reentrantly (commands and the
    /// interrupt path alternate), so the dynamic check per event proves nothing.
    @exclusivity(unchecked) private var slots: SlotTable<WatchedDescriptor, PassRecord>
    let events: Epoll.EventBuffer

    init(capacity: Int) throws(SystemError) {
        epoll = OwnedDescriptor(adopting: try Epoll.epoll_create1(), name: "epoll")
        wakeUp = try EventFD.open(name: "dispatch loop wake-up")
        epollDescriptor = epoll.rawValue
        wakeDescriptor = wakeUp.rawValue
        try Epoll.add(epollDescriptor, descriptor: wakeDescriptor, events: .readable, data: EpollToken.wake.data)
        slots = SlotTable(capacity: capacity, emptyRecord: .empty)
        events = Epoll.EventBuffer(capacity: min(capacity + 1, 256))
    }

    var capacity: Int { slots.capacity }
    var freeCount: Int { slots.freeCount }

    /// False once `close()` ran: a wake after it writes nothing. Under its lock, so a wake
    /// from another thread (a post, a DPC queued off the loop) never writes to the number
    /// after it was closed, and perhaps reused for a socket or a file.
    private let wakeable = LockedValue(true)

    /// Wakes the loop; nothing once the selector is closed. Any thread; does not allocate.
    func wake() {
        wakeable.withLock { open in
            if open { _ = try? EventFD.write(wakeDescriptor) }
        }
    }

    /// Clears the wake counter (before taking commands, so a later post wakes again).
    func clearWake() { _ = try? EventFD.read(wakeDescriptor) }

    /// Starts watching `entry.descriptor` for readability; records the slot in the
    /// entry and has the entry fill its pass record (`WatchedDescriptor.fill`).
    /// Throws `.full` when no slot is left, or the epoll_ctl error.
    func watch(_ entry: WatchedDescriptor) throws(WatchError) {
        guard let token = slots.reserve() else { throw .full(capacity: slots.capacity) }
        do {
            try Epoll.add(epollDescriptor, descriptor: entry.descriptor, events: .readable, data: token.data)
        } catch {
            slots.unreserve(token)
            throw .system(error)
        }
        slots.store(entry, for: token)
        entry.slot = Int(token.slot)
        let record = slots.record(at: entry.slot)
        record.pointee = PassRecord(descriptor: entry.descriptor, isInterrupt: entry.isInterrupt)
        entry.record = record
        entry.fill(&record.pointee)
    }

    /// Stops watching the entry's descriptor and frees its slot; events already
    /// returned for it can no longer resolve. Call before the descriptor is closed.
    func unwatch(_ entry: WatchedDescriptor) {
        guard entry.slot >= 0 else { return }
        try? Epoll.remove(epollDescriptor, descriptor: entry.descriptor)
        let index = entry.slot
        entry.slot = -1
        entry.record = nil
        slots.release(index)
    }

    /// Stops the kernel reporting the descriptor but keeps its slot (a faulted vector
    /// stays in the table, silent, until it is detached).
    func silence(_ entry: WatchedDescriptor) {
        try? Epoll.remove(epollDescriptor, descriptor: entry.descriptor)
    }

    /// Has the kernel report a silenced entry again (same slot, same token).
    func resume(_ entry: WatchedDescriptor) throws(SystemError) {
        guard entry.slot >= 0 else { return }
        try Epoll.add(epollDescriptor, descriptor: entry.descriptor, events: .readable, data: slots.token(at: entry.slot).data)
    }

    /// Waits for readiness (`timeout` ms; -1 forever, 0 poll). EINTR returns 0. Does not allocate.
    @inline(__always)
    func wait(timeout: Int32) throws(SystemError) -> Int {
        try Epoll.wait(epollDescriptor, into: events, timeout: timeout)
    }

    /// What event `index` of the last wait names: the wake descriptor, a current
    /// entry with its pass record (unretained, valid until the loop next changes the
    /// table), or a stale token (dropped).
    @inline(__always)
    func readiness(at index: Int) -> Readiness {
        let data = events.data(at: index)
        if data == EpollToken.wake.data { return .wake }
        guard let (entry, record) = slots.resolve(EpollToken(data: data)) else { return .stale }
        return .entry(entry, record)
    }

    enum Readiness {
        case wake
        case stale
        case entry(Unmanaged<WatchedDescriptor>, UnsafeMutablePointer<PassRecord>)
    }

    enum WatchError: Error {
        case full(capacity: Int)
        case system(SystemError)
    }

    deinit { slots.deallocate() }

    /// How many of its two descriptors are still open (0 once closed).
    var openDescriptorCount: Int { [epoll, wakeUp].count { !$0.isClosed } }

    /// Closes the epoll and wake descriptors (after the loop has ended).
    func close() {
        wakeable.withLock { open in
            open = false
            wakeUp.close()
        }
        epoll.close()
    }
}

/// Something the loop watches: an interrupt vector's descriptor (`VectorSource`)
/// or a device's event descriptor (`DeviceEventSource`). `isInterrupt` lets the
/// interrupt path tell them apart without a dynamic cast.
class WatchedDescriptor {
    let descriptor: Int32
    let isInterrupt: Bool
    /// The slot the selector stored it in (-1: not watched). Loop thread only.
    var slot = -1
    /// Its pass record in that slot while watched (nil otherwise). Loop thread only.
    var record: UnsafeMutablePointer<PassRecord>?

    init(descriptor: Int32, isInterrupt: Bool) {
        self.descriptor = descriptor
        self.isInterrupt = isInterrupt
    }

    /// Fills what is its own in a new pass record (the selector has set the
    /// descriptor and `isInterrupt`); nothing more for a device's event descriptor.
    func fill(_ record: inout PassRecord) {}
}
