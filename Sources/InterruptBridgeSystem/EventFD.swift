public import CInterruptBridge
#if canImport(Glibc)
import Glibc
#endif

/// eventfd(2): the counter the kernel (VFIO irqfd) or the simulated backend
/// signals, and the dispatch loop's wake-up channel.
public enum EventFD {
    public struct Flags: OptionSet, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let closeOnExec = Flags(rawValue: CIB_EFD_CLOEXEC)
        public static let nonBlocking = Flags(rawValue: CIB_EFD_NONBLOCK)
        public static let semaphore = Flags(rawValue: CIB_EFD_SEMAPHORE)
    }

    /// Creates an eventfd this process owns (non-blocking, close-on-exec).
    public static func open(name: String = "eventfd") throws(SystemError) -> OwnedDescriptor {
        OwnedDescriptor(adopting: try eventfd(flags: [.nonBlocking]), name: name)
    }

    /// Creates an eventfd (close-on-exec is always added); the caller closes it.
    public static func eventfd(initialValue: UInt32 = 0, flags: Flags = [.nonBlocking]) throws(SystemError) -> Int32 {
        try syscall("eventfd") { cib_eventfd(initialValue, flags.union(.closeOnExec).rawValue) }
    }

    /// Reads and clears the counter: the number of signals since the last read.
    /// nil when the counter is zero (non-blocking descriptor). Does not allocate.
    ///
    /// The dispatch loop's per-interrupt read: inlinable, a direct system call
    /// (not glibc's cancellation-point wrapper: see `cib_eventfd_read_direct`), and
    /// the error handling out of line.
    @inlinable @inline(__always)
    public static func read(_ descriptor: Int32) throws(SystemError) -> UInt64? {
        var value: UInt64 = 0
        // Unprotected: a plain `&value` gave the caller (the dispatch loop's pass) a
        // stack-protector check, four instructions per interrupt for an 8-byte read.
        let result = _withUnprotectedUnsafeMutablePointer(to: &value) { cib_eventfd_read_direct(descriptor, $0) }
        if result == 8 { return value }
        return try readFailed(descriptor, result: result)
    }

    /// `read`'s other outcomes: EAGAIN is nil (nothing signalled), EINTR retries,
    /// EBADF and EFAULT trap (as `syscall` does), anything else is thrown.
    @usableFromInline
    static func readFailed(_ descriptor: Int32, result: Int) throws(SystemError) -> UInt64? {
        var result = result
        var value: UInt64 = 0
        while true {
            if result == 8 { return value }
            let code = Int32(clamping: -result)
            switch code {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR: result = cib_eventfd_read_direct(descriptor, &value)
            case EBADF, EFAULT: preconditionFailure("read eventfd: \(SystemError("read eventfd \(descriptor)", code: code))")
            case 1...: throw SystemError("read eventfd", code: code)
            default: throw SystemError("read eventfd: \(result) bytes, not 8", code: EIO)
            }
        }
    }

    /// Adds `value` to the counter (signals the descriptor). Does not allocate.
    /// Returns false when the counter would overflow (EAGAIN on a non-blocking fd).
    @discardableResult
    @inline(__always)
    public static func write(_ descriptor: Int32, _ value: UInt64 = 1) throws(SystemError) -> Bool {
        var value = value
        let count = try nonBlockingSyscall("write eventfd") {
            withUnsafeBytes(of: &value) { Glibc.write(descriptor, $0.baseAddress, 8) }
        }
        return count != nil
    }
}

/// close(2) for descriptors a caller closes by hand (`OwnedDescriptor` closes its own).
public enum FileDescriptors {
    /// close(2). EINTR is not retried (Linux has released the descriptor anyway).
    public static func close(_ descriptor: Int32) throws(SystemError) {
        if Glibc.close(descriptor) == -1 {
            let code = Glibc.errno
            if code == EINTR { return }
            precondition(code != EBADF, "close(\(descriptor)): not an open descriptor (closed twice?)")
            throw SystemError("close", code: code)
        }
    }
}
