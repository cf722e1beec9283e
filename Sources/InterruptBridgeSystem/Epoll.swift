public import CInterruptBridge
#if canImport(Glibc)
import Glibc
#endif

/// epoll(7), keeping the C names. The dispatch loop's only wait primitive.
public enum Epoll {
    /// Readiness bits (EPOLLIN, ...).
    public struct Events: OptionSet, Sendable {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: EPOLLIN.rawValue)
        public static let error = Events(rawValue: EPOLLERR.rawValue)
        public static let hangUp = Events(rawValue: EPOLLHUP.rawValue)
    }

    /// A preallocated array of epoll_event the loop waits into: allocated once,
    /// reused for every wait, so the interrupt path does not allocate.
    public struct EventBuffer: ~Copyable {
        @usableFromInline let storage: UnsafeMutablePointer<epoll_event>
        public let capacity: Int

        public init(capacity: Int) {
            precondition(capacity > 0)
            self.capacity = capacity
            storage = .allocate(capacity: capacity)
            storage.initialize(repeating: epoll_event(), count: capacity)
        }

        deinit { storage.deallocate() }

        /// The 64-bit user data of event `index`.
        @inlinable @inline(__always) public func data(at index: Int) -> UInt64 { cib_epoll_event_data(storage + index) }
        /// The readiness bits of event `index`.
        @inlinable @inline(__always) public func events(at index: Int) -> Events { Events(rawValue: cib_epoll_event_events(storage + index)) }
    }

    public static func epoll_create1() throws(SystemError) -> Int32 {
        try syscall("epoll_create1") { CInterruptBridge.epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    /// EPOLL_CTL_ADD with `data` packed into epoll_event.data.u64.
    public static func add(_ epoll: Int32, descriptor: Int32, events: Events, data: UInt64) throws(SystemError) {
        var event = epoll_event()
        event.events = events.rawValue
        event.data.u64 = data
        _ = try syscall("epoll_ctl ADD \(descriptor)") { epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) }
    }

    /// EPOLL_CTL_DEL. ENOENT (never added / already gone) is not an error.
    public static func remove(_ epoll: Int32, descriptor: Int32) throws(SystemError) {
        var event = epoll_event()
        if epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, &event) == 0 { return }
        let code = Glibc.errno
        if code == ENOENT { return }
        throw SystemError("epoll_ctl DEL \(descriptor)", code: code)
    }

    /// epoll_wait into `buffer`; returns how many events are ready. `timeout` in
    /// milliseconds: -1 waits, 0 polls. EINTR returns 0. Does not allocate.
    ///
    /// Inlinable and a direct system call (not glibc's cancellation-point wrapper:
    /// see `cib_epoll_wait_direct`): the dispatch loop makes it once per batch.
    @inlinable @inline(__always)
    public static func wait(_ epoll: Int32, into buffer: borrowing EventBuffer, timeout: Int32) throws(SystemError) -> Int {
        let result = cib_epoll_wait_direct(epoll, buffer.storage, Int32(truncatingIfNeeded: buffer.capacity), timeout)
        if result >= 0 { return Int(result) }
        return try waitFailed(code: -result)
    }

    /// `wait`'s failure: EINTR is no event (0), anything else is thrown.
    @usableFromInline
    static func waitFailed(code: Int32) throws(SystemError) -> Int {
        if code == EINTR { return 0 }
        throw SystemError("epoll_wait", code: code)
    }
}
