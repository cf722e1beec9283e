// A stimulus's raise resolved once for a run of raises (a selftest case, a
// `trigger` request): VFIO's loopback trigger becomes one ioctl with nothing looked
// up per raise; a register program or the simulated backend keeps its `raise`.
import InterruptBridgeSystem

/// How a run of raises makes the device interrupt, from `SelftestStimulus.prepared()`.
///
/// Keep it for the run only: a loopback raise holds the VFIO device open. Whatever
/// runs between `InterruptObject.markStimulus()` and the raise's system call is
/// counted in the stimulus-to-ISR latency, so `raise` does the least it can: for a
/// loopback, one switch and the prepared ioctl (no lock, closure or allocation;
/// in the TCG rig the closure, backend lock and request building it replaces took
/// 1.7 to 2.4 us per raise).
public struct PreparedRaise: Sendable {
    private enum Method: Sendable {
        case loopback(VFIOLoopbackTrigger)
        case stimulus(@Sendable (_ message: Int) throws -> Void)
    }

    private let method: Method

    init(loopback trigger: VFIOLoopbackTrigger) { method = .loopback(trigger) }
    init(stimulus raise: @escaping @Sendable (_ message: Int) throws -> Void) { method = .stimulus(raise) }

    /// Makes the device interrupt on `message` (0 for INTx).
    public func raise(_ message: Int) throws {
        switch method {
        case .loopback(let trigger): try trigger.fire(message)
        case .stimulus(let raise): try raise(message)
        }
    }

    /// Whether it raises through VFIO's prepared loopback trigger.
    public var isLoopback: Bool {
        if case .loopback = method { true } else { false }
    }
}
