// eventfd(2) descriptors a backend hands to the kernel: VFIO signals them
// (trigger) or is signalled through them (unmask, an irqfd).
#if canImport(Glibc)
import Glibc
#endif
import CInterruptBridge

/// An eventfd this process owns, non-blocking and close-on-exec, closed when
/// the owner goes away. `Sendable`: the descriptor never changes.
public final class InterruptEventFD: Sendable {
    public let rawValue: Int32

    public init() throws(SystemError) {
        rawValue = try syscall("eventfd") { cib_eventfd(0, CIB_EFD_CLOEXEC | CIB_EFD_NONBLOCK) }
    }

    deinit { _ = Glibc.close(rawValue) }

    /// Adds 1 to the counter (wakes a waiter, or tells the kernel to act on an irqfd).
    /// No allocation: safe on the interrupt path.
    public func signal() throws(SystemError) {
        var one: UInt64 = 1
        _ = try syscall("write eventfd") { Glibc.write(rawValue, &one, 8) }
    }

    /// Reads and clears the counter; nil when it was 0.
    public func drain() throws(SystemError) -> UInt64? { try Self.drain(rawValue) }

    /// Reads and clears the counter of a borrowed non-blocking eventfd; nil when it was 0.
    public static func drain(_ descriptor: Int32) throws(SystemError) -> UInt64? {
        var value: UInt64 = 0
        guard try nonBlockingSyscall("read eventfd", { Glibc.read(descriptor, &value, 8) }) != nil else { return nil }
        return value
    }
}
