// eventfd(2) descriptors a backend hands to the kernel: VFIO signals them
// (trigger) or is signalled through them (unmask, an irqfd). The calls
// themselves are EventFD's; this type only adds ownership.
#if canImport(Glibc)
import Glibc
#endif

/// An eventfd this process owns, non-blocking and close-on-exec, closed when
/// the owner goes away. `Sendable`: the descriptor never changes.
public final class InterruptEventFD: Sendable {
    public let rawValue: Int32

    public init() throws(SystemError) {
        rawValue = try EventFD.eventfd(flags: [.nonBlocking])
    }

    deinit { _ = Glibc.close(rawValue) }

    /// Adds 1 to the counter (wakes a waiter, or tells the kernel to act on an irqfd).
    /// No allocation: safe on the interrupt path.
    public func signal() throws(SystemError) { try EventFD.write(rawValue) }

    /// Reads and clears the counter; nil when it was 0.
    public func drain() throws(SystemError) -> UInt64? { try EventFD.read(rawValue) }
}
