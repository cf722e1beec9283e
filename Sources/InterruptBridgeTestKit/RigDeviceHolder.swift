// Whether this process still holds a device that Rig.unbind would give back from vfio-pci:
// the kernel's unbind then waits, forever, for this very process to let go.
import InterruptBridgeCore
import InterruptBridgeSystem

extension Rig {
    /// Why unbinding `address` from vfio-pci would wait for this process (nil: it would
    /// not): this process has the device's VFIO group open, so an open backend (a
    /// `VFIOBackend` not yet closed) holds the device.
    static func heldByThisProcess(_ address: PCIAddress) -> String? {
        let device = "/sys/bus/pci/devices/\(address)"
        guard (try? FileIO.readlinkBasename(device + "/driver")) == "vfio-pci",
              let group = try? FileIO.readlinkBasename(device + "/iommu_group"),
              let descriptors = try? FileIO.listDirectory("/proc/self/fd") else { return nil }
        let groupNode = "/dev/vfio/\(group)"
        guard let open = descriptors.first(where: { (try? FileIO.readlink("/proc/self/fd/\($0)")) == groupNode }) else { return nil }
        return "\(address) is still open in this process (its VFIO group \(groupNode), descriptor \(open)): close its backend "
            + "(VFIOBackend.close()) before giving it back; the kernel's unbind waits until every user of the device lets go"
    }
}
