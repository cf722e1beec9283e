// Giving back a device this process still holds: the kernel's unbind from vfio-pci then
// waits for this very process, which is fine while a dispatcher hears the kernel's request
// and lets go, and forever when nothing does (a backend left open, not connected or watched).
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import Synchronization

extension Rig {
    /// How long a give-back of a device held here may wait for this process to let go.
    static let holderPatience: Duration = .seconds(10)

    /// Runs `giveBack` (an unbind, or a bind to another driver) and returns what it returned.
    /// When this process holds the device under vfio-pci, it runs on a thread of its own
    /// and `RigError` says so if it has not finished within ``holderPatience`` (that thread
    /// then finishes once the device is let go: closing its backend completes the unbind).
    static func givingBack<Result: Sendable>(_ address: PCIAddress,
                                             _ giveBack: @escaping @Sendable () throws -> Result) throws -> Result {
        guard let held = heldByThisProcess(address) else { return try giveBack() }
        let outcome = Mutex<Swift.Result<Result, any Error>?>(nil)
        let handle = try PThread.spawn(name: "rig give-back") {
            let result = Swift.Result { try giveBack() }  // blocks in the kernel: not under the lock the caller polls
            outcome.withLock { $0 = result }
        }
        let deadline = ContinuousClock.now + holderPatience
        while ContinuousClock.now < deadline {
            if let done = outcome.withLock({ $0 }) {
                try? PThread.join(handle)
                return try done.get()
            }
            PThread.sleep(for: .milliseconds(10))
        }
        PThread.detach(handle)
        throw RigError(held + "; the kernel's unbind has waited \(holderPatience) for it (nothing connected to or watching the device "
                       + "hears its request): close the device's backend before giving it back; the unbind then completes")
    }

    /// Why unbinding `address` from vfio-pci waits for this process (nil: it does not):
    /// this process has the device's VFIO group open, so a backend of it is open.
    static func heldByThisProcess(_ address: PCIAddress) -> String? {
        let sysfs = SysfsPCI()
        guard sysfs.driver(of: address.description) == "vfio-pci", let group = sysfs.iommuGroup(of: address.description),
              let descriptors = try? FileIO.listDirectory("/proc/self/fd") else { return nil }
        let groupNode = "/dev/vfio/\(group)"
        guard let open = descriptors.first(where: { (try? FileIO.readlink("/proc/self/fd/\($0)")) == groupNode }) else { return nil }
        return "\(address) is still open in this process (its VFIO group \(groupNode), descriptor \(open))"
    }
}
