/// What the access layer (libpci, live or from a dump) read about one function,
/// before interpretation: identity, libpci's resource view and raw config bytes.
/// `PCIDeviceInfo(snapshot:)` turns it into the model, purely.
public struct PCIFunctionSnapshot: Sendable, Hashable {
    public var address: PCIAddress
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var subsystemVendorID: UInt16?
    public var subsystemID: UInt16?
    /// The IRQ libpci reports (sysfs `irq` live, the Interrupt Line register in a dump).
    public var irq: Int32
    /// libpci's `base_addr[6]`: addresses with the BAR's flag bits in the low 4 bits.
    public var baseAddresses: [UInt64]
    /// libpci's `size[6]`; all 0 where unknown (dump files carry no sizes).
    public var sizes: [UInt64]
    public var vendorName: String?
    public var deviceName: String?
    public var className: String?
    public var driver: String?
    public var iommuGroup: Int?
    /// Config space bytes from offset 0, as many as were readable.
    public var config: [UInt8]

    public init(address: PCIAddress, vendorID: UInt16, deviceID: UInt16, subsystemVendorID: UInt16? = nil, subsystemID: UInt16? = nil,
                irq: Int32 = 0, baseAddresses: [UInt64] = [], sizes: [UInt64] = [], vendorName: String? = nil, deviceName: String? = nil,
                className: String? = nil, driver: String? = nil, iommuGroup: Int? = nil, config: [UInt8]) {
        self.address = address
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.subsystemVendorID = subsystemVendorID
        self.subsystemID = subsystemID
        self.irq = irq
        self.baseAddresses = baseAddresses
        self.sizes = sizes
        self.vendorName = vendorName
        self.deviceName = deviceName
        self.className = className
        self.driver = driver
        self.iommuGroup = iommuGroup
        self.config = config
    }
}

extension PCIDeviceInfo {
    /// Decodes a snapshot: capabilities and the INTx pin from config space, BARs from libpci's view.
    /// Throws when config space is truncated or its capability list is malformed. Exactly the
    /// 64-byte header (a reader without root, an `lspci -x` dump) decodes with the capabilities
    /// marked unreadable (`capabilitiesUnreadable`) when the header says there are some.
    public init(snapshot: PCIFunctionSnapshot, deviceNodes: DeviceNodes = DeviceNodes()) throws(PCIConfigSpaceError) {
        let config = try PCIConfigSpace(bytes: snapshot.config)
        let pin = config.interruptPin
        let headerOnly = config.bytes.count == PCIConfigSpace.headerSize && config.hasCapabilityList
        self.init(
            address: snapshot.address,
            vendorID: snapshot.vendorID,
            deviceID: snapshot.deviceID,
            subsystemVendorID: snapshot.subsystemVendorID,
            subsystemID: snapshot.subsystemID,
            classCode: config.classCode,
            revision: config.revision,
            vendorName: snapshot.vendorName,
            deviceName: snapshot.deviceName,
            className: snapshot.className,
            driver: snapshot.driver,
            iommuGroup: snapshot.iommuGroup,
            bars: PCIBar.decode(baseAddresses: snapshot.baseAddresses, sizes: snapshot.sizes),
            interruptPin: pin,
            // As lspci: a line is reported when there is a pin or the kernel gave the function an IRQ.
            irqLine: pin != nil || snapshot.irq > 0 ? UInt32(clamping: snapshot.irq) : nil,
            msi: headerOnly ? nil : try config.msiCapability(),
            msix: headerOnly ? nil : try config.msixCapability(),
            capabilities: headerOnly ? [] : try config.capabilities(),
            deviceNodes: deviceNodes)
        extendedCapabilities = headerOnly ? [] : try config.extendedCapabilities()
        capabilitiesUnreadable = headerOnly
    }
}

extension PCIBar {
    /// BARs from libpci's `base_addr`/`size` arrays. Flag bits (low nibble) follow the
    /// BAR encoding: bit 0 I/O; for memory, bits 2:1 = 0b10 for 64-bit and bit 3 prefetchable.
    /// Registers with neither address nor size (unused, or the upper half of a 64-bit BAR) are left out.
    public static func decode(baseAddresses: [UInt64], sizes: [UInt64]) -> [PCIBar] {
        var bars: [PCIBar] = []
        for index in baseAddresses.indices {
            let raw = baseAddresses[index]
            let size = index < sizes.count ? sizes[index] : 0
            guard raw != 0 || size != 0 else { continue }
            if raw & 0x1 != 0 {
                bars.append(PCIBar(index: index, address: raw & ~0x3, size: size, space: .io))
            } else {
                bars.append(PCIBar(index: index, address: raw & ~0xf, size: size, space: .memory,
                                   is64Bit: raw & 0x6 == 0x4, prefetchable: raw & 0x8 != 0))
            }
        }
        return bars
    }
}
