#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which operation, and the errno it failed with.
/// Every throwing function in InterruptBridgeSystem throws this and nothing else.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The call that failed, with enough context to act on ("open /dev/vfio/7").
    public var operation: String
    /// The errno value.
    public var code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// A SystemError for the current errno.
    public static func errno(_ operation: String) -> SystemError {
        SystemError(operation, code: Glibc.errno)
    }

    /// Whether the call failed because the device behind the descriptor went away: a read
    /// of a UIO device that was unbound wakes with EIO (ENODEV on some kernels), ENXIO a
    /// device node whose driver left.
    public var isDeviceGone: Bool { code == EIO || code == ENODEV || code == ENXIO }

    /// The errno's symbolic name where known ("EBUSY"), else its number.
    public var name: String { Self.names[code] ?? "errno \(code)" }

    public var description: String {
        "\(operation): \(String(cString: strerror(code))) (\(name))"
    }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
        ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EINVAL: "EINVAL", EMFILE: "EMFILE", ENOSPC: "ENOSPC", ENOSYS: "ENOSYS",
        ENOTTY: "ENOTTY", ERANGE: "ERANGE", EOPNOTSUPP: "EOPNOTSUPP",
        // The control socket's: callers compare these names (a stale socket is ECONNREFUSED).
        ECONNREFUSED: "ECONNREFUSED", ENOTSOCK: "ENOTSOCK", EPIPE: "EPIPE", ECONNRESET: "ECONNRESET",
        EADDRINUSE: "EADDRINUSE", ETIMEDOUT: "ETIMEDOUT", ENAMETOOLONG: "ENAMETOOLONG",
    ]
}
