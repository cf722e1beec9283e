// The one owning descriptor type. Everything else borrows its `rawValue`.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor this process owns: closed exactly once, by `close()` or
/// when the owner goes away, whichever comes first.
///
/// Code that only uses the descriptor borrows `rawValue` (an `Int32`, the
/// borrowed view: what epoll, the interrupt path and ioctls take) and must not
/// close it, and must stop using it before the owner closes it.
public final class OwnedDescriptor: Sendable, CustomStringConvertible {
    public let rawValue: Int32
    /// What it is, for messages ("/dev/vfio/7", "eventfd").
    public let name: String
    private let closed = Atomic<Bool>(false)

    /// Takes ownership of an open descriptor.
    public init(adopting rawValue: Int32, name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    deinit { close() }

    /// Closes it now (idempotent). EINTR is not retried: Linux has released the
    /// descriptor anyway.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = Glibc.close(rawValue)
    }

    /// Whether `close()` ran (explicitly or as the owner went away).
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    public var description: String { "\(name) (fd \(rawValue))" }
}
