// A stand-in for discovery inside the rig: ids, IRQ, IOMMU group and the MSI/MSI-X
// capabilities of one function, read from sysfs and its config file.
import InterruptBridgeCore
import InterruptBridgeSystem

enum SysfsDeviceInfo {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ address: PCIAddress, sysfs: SysfsPCI = SysfsPCI()) throws -> PCIDeviceInfo {
        let name = address.description
        let config = try readConfig(sysfs.configPath(name))
        func u8(_ offset: Int) -> UInt8 { config[offset] }
        func u16(_ offset: Int) -> UInt16 { UInt16(config[offset]) | UInt16(config[offset + 1]) << 8 }
        func u32(_ offset: Int) -> UInt32 { UInt32(u16(offset)) | UInt32(u16(offset + 2)) << 16 }

        var info = PCIDeviceInfo(address: address, vendorID: u16(0), deviceID: u16(2), classCode: u32(8) >> 8, revision: u8(8))
        info.driver = sysfs.driver(of: name)
        info.iommuGroup = sysfs.iommuGroup(of: name)
        info.interruptPin = InterruptPin(rawValue: u8(0x3d))
        info.irqLine = info.interruptPin == nil ? nil : sysfs.irq(of: name)
        var offset = Int(u8(0x34) & 0xfc)
        var seen = 0
        while offset >= 0x40, offset < 0xff, seen < 48 {
            seen += 1
            let id = u8(offset)
            info.capabilities.append(PCICapabilityHeader(id: id, offset: UInt16(offset)))
            if id == 0x05 {
                let control = u16(offset + 2)
                info.msi = MSICapability(offset: UInt16(offset), messagesCapable: 1 << Int((control >> 1) & 7),
                                         messagesEnabled: 1 << Int((control >> 4) & 7), enabled: control & 1 != 0,
                                         is64BitAddress: control & 0x80 != 0, perVectorMasking: control & 0x100 != 0)
            } else if id == 0x11 {
                let control = u16(offset + 2)
                let table = u32(offset + 4)
                let pba = u32(offset + 8)
                info.msix = MSIXCapability(offset: UInt16(offset), tableSize: Int(control & 0x7ff) + 1, enabled: control & 0x8000 != 0,
                                           functionMasked: control & 0x4000 != 0, tableBAR: Int(table & 7), tableOffset: table & ~7,
                                           pbaBAR: Int(pba & 7), pbaOffset: pba & ~7)
            }
            offset = Int(u8(offset + 1) & 0xfc)
        }
        return info
    }

    static func readConfig(_ path: String) throws -> [UInt8] {
        let file = try FileIO.open(path, .readOnly)
        var bytes = [UInt8](repeating: 0, count: 256)
        try bytes.withUnsafeMutableBytes { buffer in try FileIO.pread(file.rawValue, into: buffer, at: 0, path) }
        return bytes
    }
}
