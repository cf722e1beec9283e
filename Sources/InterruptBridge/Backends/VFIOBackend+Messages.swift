// Reading back the Message Address and Data the kernel programmed into the
// device, for IO_INTERRUPT_MESSAGE_INFO (MessageAddress, MessageData).
public import InterruptBridgeCore
import InterruptBridgeSystem

extension VFIOBackend {
    /// MSI: the capability as the hardware holds it (sysfs config; VFIO's config
    /// region shows a virtualised copy). MSI-X: the table in its BAR, mapped
    /// through VFIO (possible where the kernel offers MSI-X table mmap, i.e. with
    /// interrupt remapping). With remapping on, the address is in remappable
    /// format (bit 4 set) and the data is the remapping subhandle: what the
    /// device really writes. nil when they cannot be read.
    public func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]? {
        switch kind {
        case .intx:
            return nil
        case .msi:
            guard let msi = device.msi, let count = enabledVectorCount(.msi) else { return nil }
            let length = msi.is64BitAddress ? 14 : 10
            guard let bytes = try? sysfs.readConfig(device.address.description, at: Int(msi.offset), count: length) else { return nil }
            let low = UInt64(littleEndian32(bytes, 4))
            let high = msi.is64BitAddress ? UInt64(littleEndian32(bytes, 8)) : 0
            let dataOffset = msi.is64BitAddress ? 12 : 8
            let data = UInt32(bytes[dataOffset]) | UInt32(bytes[dataOffset + 1]) << 8
            // Multiple-message MSI: message N writes data | N to the same address.
            return (0..<count).map { ProgrammedMessage(address: high << 32 | low, data: data | UInt32($0)) }
        case .msix:
            guard let msix = device.msix, let count = enabledVectorCount(.msix),
                  let table = try? vfioDevice?.mapBAR(msix.tableBAR) else { return nil }
            return (0..<count).compactMap { entry in
                let base = Int(msix.tableOffset) + entry * 16
                guard base + 12 <= table.length else { return nil }
                let address = UInt64(table.read32(at: base + 4)) << 32 | UInt64(table.read32(at: base))
                return ProgrammedMessage(address: address, data: table.read32(at: base + 8))
            }
        }
    }

    private func littleEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
