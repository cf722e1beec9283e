// The PCI corner of sysfs: which driver a function is bound to, its IOMMU
// group and the group's other members, its UIO node, and the driver_override /
// drivers_probe / unbind attributes used to move it between drivers.
//
// Every path is under `root` (default "/sys"), so tests can stand up a fake
// tree in a temporary directory and read back what would have been written.

import InterruptBridgeCore

/// sysfs paths and attributes for PCI functions.
public struct SysfsPCI: Sendable {
    public var root: String

    public init(root: String = "/sys") { self.root = root }

    public func devicePath(_ address: String) -> String { "\(root)/bus/pci/devices/\(address)" }
    public func driverPath(_ driver: String) -> String { "\(root)/bus/pci/drivers/\(driver)" }

    /// The driver bound to the function, or nil when it has none.
    public func driver(of address: String) -> String? {
        try? FileIO.readlinkBasename(devicePath(address) + "/driver")
    }

    /// Whether the kernel has enabled the function (its `enable` count is above 0); nil
    /// when the attribute cannot be read. Until then, on x86, its `irq` is the Interrupt
    /// Line register firmware left, not the line Linux routes the pin to at enable time.
    public func isEnabled(_ address: String) -> Bool? {
        // A count (enable_cnt), not a flag: a function enabled twice reads 2.
        guard let text = try? FileIO.readText(devicePath(address) + "/enable"),
              let count = UInt32(text.filter { !$0.isWhitespace }) else { return nil }
        return count > 0
    }

    /// Whether `irq` is one of the function's MSI or MSI-X IRQs (sysfs `msi_irqs/`, which
    /// any user may read): while MSI is enabled, Linux reports the first MSI's as `irq`.
    public func isMSIIRQ(_ irq: UInt32, of address: String) -> Bool {
        FileIO.exists(devicePath(address) + "/msi_irqs/\(irq)")
    }

    /// Whether the function exists.
    public func deviceExists(_ address: String) -> Bool { FileIO.exists(devicePath(address)) }

    /// Whether a driver is registered (its module loaded).
    public func driverRegistered(_ driver: String) -> Bool { FileIO.exists(driverPath(driver)) }

    /// The function's IOMMU group number, nil when it is not behind an IOMMU.
    public func iommuGroup(of address: String) -> Int? {
        (try? FileIO.readlinkBasename(devicePath(address) + "/iommu_group")).flatMap { Int($0) }
    }

    /// Every function in an IOMMU group, with its bound driver.
    public func groupMembers(_ group: Int) throws(SystemError) -> [(address: String, driver: String?)] {
        try FileIO.listDirectory("\(root)/kernel/iommu_groups/\(group)/devices").map { ($0, driver(of: $0)) }
    }

    /// The group's reserved IOVA regions (`reserved_regions`: the MSI window, RMRRs), which
    /// no DMA mapping may use; none when the file cannot be read (the kernel then refuses
    /// a mapping there itself).
    public func reservedRegions(ofGroup group: Int) -> [ClosedRange<UInt64>] {
        (try? FileIO.readText("\(root)/kernel/iommu_groups/\(group)/reserved_regions"))
            .map(DeviceAddressSpace.reservedRegions(parsing:)) ?? []
    }

    /// The function's UIO device name ("uio0") when bound to a UIO driver.
    public func uioName(of address: String) -> String? {
        (try? FileIO.listDirectory(devicePath(address) + "/uio"))?.first { $0.hasPrefix("uio") }
    }

    /// The config-space attribute (readable and writable by root).
    public func configPath(_ address: String) -> String { devicePath(address) + "/config" }

    /// BAR `index` as a mappable file (for register access without VFIO).
    public func resourcePath(_ address: String, bar index: Int) -> String { devicePath(address) + "/resource\(index)" }

    /// The current driver_override ("(null)" in sysfs reads back as nil).
    public func driverOverride(of address: String) -> String? {
        guard let text = try? FileIO.readText(devicePath(address) + "/driver_override"), text != "(null)", !text.isEmpty
        else { return nil }
        return text
    }

    /// Sets (or with nil clears) the driver the next probe must choose.
    public func setDriverOverride(_ address: String, _ driver: String?) throws(SystemError) {
        // An empty write would be rejected by some kernels; a newline clears it on all.
        try FileIO.writeText(devicePath(address) + "/driver_override", driver ?? "\n")
    }

    /// Detaches the function from its driver.
    public func unbind(_ address: String, from driver: String) throws(SystemError) {
        try FileIO.writeText(driverPath(driver) + "/unbind", address)
    }

    /// Asks the PCI core to probe drivers for the function (honours driver_override).
    public func probe(_ address: String) throws(SystemError) {
        try FileIO.writeText("\(root)/bus/pci/drivers_probe", address)
    }

    /// Binds the function to a named driver directly.
    public func bind(_ address: String, to driver: String) throws(SystemError) {
        try FileIO.writeText(driverPath(driver) + "/bind", address)
    }

    /// Maps BAR `index` through sysfs (register access without VFIO, e.g. under UIO).
    public func mapResource(_ address: String, bar index: Int) throws(SystemError) -> MappedRegion {
        let path = resourcePath(address, bar: index)
        let file = try FileIO.open(path, .readWrite)
        // The descriptor must stay open until mmap has it (the mapping outlives it).
        return try withExtendedLifetime(file) { () throws(SystemError) in
            let size = try FileIO.size(of: file.rawValue, path)
            return try MappedRegion(fd: file.rawValue, offset: 0, length: size, path)
        }
    }

    /// One register access of BAR `index` through its sysfs resourceN file (pread), for I/O
    /// ports, which cannot be mapped: the kernel carries it out with in/out of that width.
    public func readResource(_ address: String, bar index: Int, at offset: Int, byteCount: Int) throws(SystemError) -> UInt64 {
        let path = resourcePath(address, bar: index)
        let file = try FileIO.open(path, .readWrite)
        return try withExtendedLifetime(file) { () throws(SystemError) in
            try FileIO.readRegister(file.rawValue, at: Int64(offset), byteCount: byteCount, "\(path)+0x\(String(offset, radix: 16))")
        }
    }

    /// One register write of BAR `index` through its sysfs resourceN file (pwrite).
    public func writeResource(_ address: String, bar index: Int, at offset: Int, byteCount: Int, value: UInt64) throws(SystemError) {
        let path = resourcePath(address, bar: index)
        let file = try FileIO.open(path, .readWrite)
        try withExtendedLifetime(file) { () throws(SystemError) in
            try FileIO.writeRegister(file.rawValue, at: Int64(offset), byteCount: byteCount, value: value,
                                     "\(path)+0x\(String(offset, radix: 16))")
        }
    }

    /// The function's class code (sysfs `class`, 0xBBSSPP: base class, subclass,
    /// programming interface), nil when unknown.
    public func classCode(of address: String) -> UInt32? {
        (try? FileIO.readText(devicePath(address) + "/class")).flatMap { text in
            let trimmed = String(text.filter { !$0.isWhitespace })
            return UInt32(trimmed.hasPrefix("0x") ? String(trimmed.dropFirst(2)) : trimmed, radix: 16)
        }
    }

    /// The Linux IRQ the function's INTx is routed to (sysfs `irq`), nil when unknown.
    public func irq(of address: String) -> UInt32? {
        (try? FileIO.readText(devicePath(address) + "/irq")).flatMap { UInt32($0) }
    }

    /// Reads `count` bytes of the function's config space through sysfs (the
    /// hardware's values, not VFIO's virtualised view).
    public func readConfig(_ address: String, at offset: Int, count: Int) throws(SystemError) -> [UInt8] {
        let path = configPath(address)
        let file = try FileIO.open(path, .readOnly)
        var bytes = [UInt8](repeating: 0, count: count)
        let read = try syscall("read \(path)") {
            bytes.withUnsafeMutableBytes { Glibc.pread(file.rawValue, $0.baseAddress, $0.count, off_t(offset)) }
        }
        if read != count { throw SystemError("read \(path) at 0x\(String(offset, radix: 16)): \(read) of \(count) bytes", code: EIO) }
        return bytes
    }
}

#if canImport(Glibc)
import Glibc
#endif
