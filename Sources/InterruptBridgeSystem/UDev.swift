import CLibUDev
#if canImport(Glibc)
import Glibc
#endif
public import InterruptBridgeCore

/// libudev: the PCI functions the kernel knows, and the device nodes through
/// which user space reaches their interrupts. Works without a udev daemon:
/// libudev reads sysfs and the `DEVNAME` the kernel puts in each uevent file.
public enum UDev {
    /// A PCI function as udev sees it.
    public struct PCIFunction: Sendable, Hashable {
        public var address: PCIAddress
        public var syspath: String
        public var driver: String?
    }

    /// Every function of the `pci` subsystem, sorted by address.
    public static func pciFunctions() throws(SystemError) -> [PCIFunction] {
        let context = try Context()
        var functions: [PCIFunction] = []
        for syspath in try context.enumerate(subsystem: "pci") {
            guard let device = udev_device_new_from_syspath(context.udev, syspath) else { continue }
            defer { udev_device_unref(device) }
            guard let name = string(udev_device_get_sysname(device)), let address = PCIAddress(name) else { continue }
            functions.append(PCIFunction(address: address, syspath: syspath, driver: string(udev_device_get_driver(device))))
        }
        return functions.sorted { $0.address < $1.address }
    }

    /// The nodes that deliver a function's interrupts: `/dev/vfio/<group>` when it is
    /// bound to vfio-pci, `/dev/uioN` when bound to a UIO driver. Empty when neither.
    public static func deviceNodes(for address: PCIAddress) throws(SystemError) -> DeviceNodes {
        let context = try Context()
        guard let device = udev_device_new_from_subsystem_sysname(context.udev, "pci", address.description) else {
            return DeviceNodes()
        }
        defer { udev_device_unref(device) }
        var nodes = DeviceNodes()
        if string(udev_device_get_driver(device)) == "vfio-pci", let group = groupName(of: device),
           let vfio = udev_device_new_from_subsystem_sysname(context.udev, "vfio", group) {
            nodes.vfioGroup = string(udev_device_get_devnode(vfio)) ?? "/dev/vfio/\(group)"
            udev_device_unref(vfio)
        }
        nodes.uio = try context.children(of: device, subsystem: "uio").lazy.compactMap { syspath -> String? in
            guard let child = udev_device_new_from_syspath(context.udev, syspath) else { return nil }
            defer { udev_device_unref(child) }
            return string(udev_device_get_devnode(child)) ?? string(udev_device_get_sysname(child)).map { "/dev/" + $0 }
        }.first
        return nodes
    }

    /// The IOMMU group's name ("7") from the function's `iommu_group` link.
    private static func groupName(of device: OpaquePointer) -> String? {
        guard let syspath = string(udev_device_get_syspath(device)) else { return nil }
        return try? FileIO.readlinkBasename(syspath + "/iommu_group")
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    /// One `struct udev` context (not thread-safe: used by one call, then released).
    final class Context {
        let udev: OpaquePointer

        init() throws(SystemError) {
            guard let udev = udev_new() else { throw SystemError.errno("udev_new") }
            self.udev = udev
        }

        deinit { udev_unref(udev) }

        func enumerate(subsystem: String) throws(SystemError) -> [String] {
            try scan("enumerate \(subsystem) devices") { udev_enumerate_add_match_subsystem($0, subsystem) }
        }

        func children(of parent: OpaquePointer, subsystem: String) throws(SystemError) -> [String] {
            try scan("enumerate \(subsystem) children") { enumerate in
                let matched = udev_enumerate_add_match_subsystem(enumerate, subsystem)
                return matched < 0 ? matched : udev_enumerate_add_match_parent(enumerate, parent)
            }
        }

        private func scan(_ operation: String, _ match: (OpaquePointer) -> Int32) throws(SystemError) -> [String] {
            guard let enumerate = udev_enumerate_new(udev) else { throw SystemError.errno("udev_enumerate_new") }
            defer { udev_enumerate_unref(enumerate) }
            var result = match(enumerate)
            if result >= 0 { result = udev_enumerate_scan_devices(enumerate) }
            guard result >= 0 else { throw SystemError(operation, code: -result) }
            var paths: [String] = []
            var entry = udev_enumerate_get_list_entry(enumerate)
            while let current = entry {
                if let name = UDev.string(udev_list_entry_get_name(current)) { paths.append(name) }
                entry = udev_list_entry_get_next(current)
            }
            return paths
        }
    }
}
