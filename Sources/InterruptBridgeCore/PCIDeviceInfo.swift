/// Everything InterruptBridge knows about one PCI function: identity, BARs and
/// interrupt capabilities. Produced by discovery (libpci, or a simulated device)
/// and turned into CM resource descriptors by `ResourceTranslator`.
public struct PCIDeviceInfo: Sendable, Hashable, Codable {
    public var address: PCIAddress
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var subsystemVendorID: UInt16?
    public var subsystemID: UInt16?
    /// Base class, subclass and programming interface, as 0xBBSSPP.
    public var classCode: UInt32
    public var revision: UInt8
    /// Names from the pci.ids database, where present.
    public var vendorName: String?
    public var deviceName: String?
    public var className: String?
    /// The kernel driver bound to the function (sysfs `driver` link), if any.
    public var driver: String?
    /// The IOMMU group number, if the function is behind an IOMMU.
    public var iommuGroup: Int?
    public var bars: [PCIBar]
    /// INTx pin the function uses (nil when the Interrupt Pin register is 0).
    public var interruptPin: InterruptPin?
    /// The IRQ the INTx pin is routed to (nil when not routed or no pin).
    public var irqLine: UInt32?
    /// Whether `irqLine` is the line Linux routed the pin to. False while the function is
    /// not enabled and its IRQ is still the Interrupt Line register's value, which firmware
    /// wrote: Linux routes the pin when the function is first enabled (VFIO's open, a
    /// driver's probe) and may give it another line then. Nil: not known (a dump, no IRQ).
    public var isIRQRouted: Bool?
    /// True when `irqLine` is not the INTx line but the IRQ of the function's first MSI:
    /// Linux reports that while MSI is enabled (its driver, or VFIO, uses MSI), and the line
    /// is not known until MSI is disabled again. (With MSI-X the line stays reported.)
    public var irqLineIsMSI = false
    public var msi: MSICapability?
    public var msix: MSIXCapability?
    /// Every capability in the standard list, in list order.
    public var capabilities: [PCICapabilityHeader]
    /// Every PCI Express extended capability (config space 0x100 and up), in list order;
    /// empty for conventional functions and when only 256 bytes were readable.
    public var extendedCapabilities: [PCIExtendedCapabilityHeader] = []
    /// True when the header says the function has a capability list but only the 64-byte
    /// standard header was readable: the kernel shows no more to a reader without root, and
    /// `lspci -x` dumps no more. `msi`, `msix` and the capability lists are then not known,
    /// which is not the same as absent.
    public var capabilitiesUnreadable = false
    /// Device nodes that deliver this function's interrupts to user space.
    public var deviceNodes: DeviceNodes
    /// How messages name the function instead of its address: a simulated device's name
    /// (the daemon's simulated devices sit at addresses no bus has). Nil for real functions.
    public var displayName: String?

    public init(
        address: PCIAddress, vendorID: UInt16, deviceID: UInt16,
        subsystemVendorID: UInt16? = nil, subsystemID: UInt16? = nil,
        classCode: UInt32 = 0, revision: UInt8 = 0,
        vendorName: String? = nil, deviceName: String? = nil, className: String? = nil,
        driver: String? = nil, iommuGroup: Int? = nil, bars: [PCIBar] = [],
        interruptPin: InterruptPin? = nil, irqLine: UInt32? = nil,
        msi: MSICapability? = nil, msix: MSIXCapability? = nil,
        capabilities: [PCICapabilityHeader] = [], deviceNodes: DeviceNodes = DeviceNodes()
    ) {
        self.address = address
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.subsystemVendorID = subsystemVendorID
        self.subsystemID = subsystemID
        self.classCode = classCode
        self.revision = revision
        self.vendorName = vendorName
        self.deviceName = deviceName
        self.className = className
        self.driver = driver
        self.iommuGroup = iommuGroup
        self.bars = bars
        self.interruptPin = interruptPin
        self.irqLine = irqLine
        self.msi = msi
        self.msix = msix
        self.capabilities = capabilities
        self.deviceNodes = deviceNodes
    }
}

/// INTx pins A to D (Interrupt Pin register values 1 to 4).
public enum InterruptPin: UInt8, Sendable, Hashable, Codable, CustomStringConvertible {
    case a = 1, b = 2, c = 3, d = 4
    public var description: String { ["INTA", "INTB", "INTC", "INTD"][Int(rawValue) - 1] }
}

/// One Base Address Register.
public struct PCIBar: Sendable, Hashable, Codable {
    public enum Space: String, Sendable, Hashable, Codable { case memory, io }
    public var index: Int
    public var address: UInt64
    public var size: UInt64
    public var space: Space
    public var is64Bit: Bool
    public var prefetchable: Bool

    public init(index: Int, address: UInt64, size: UInt64, space: Space, is64Bit: Bool = false, prefetchable: Bool = false) {
        self.index = index
        self.address = address
        self.size = size
        self.space = space
        self.is64Bit = is64Bit
        self.prefetchable = prefetchable
    }
}

/// A capability list entry: its id and where it sits in config space.
public struct PCICapabilityHeader: Sendable, Hashable, Codable {
    public var id: UInt8
    public var offset: UInt16
    public init(id: UInt8, offset: UInt16) {
        self.id = id
        self.offset = offset
    }
}

/// A PCI Express extended capability list entry (AER is 0x0001, DSN 0x0003, ...).
public struct PCIExtendedCapabilityHeader: Sendable, Hashable, Codable {
    public var id: UInt16
    public var version: UInt8
    public var offset: UInt16
    public init(id: UInt16, version: UInt8, offset: UInt16) {
        self.id = id
        self.version = version
        self.offset = offset
    }
}

/// The MSI capability (id 0x05).
public struct MSICapability: Sendable, Hashable, Codable {
    public var offset: UInt16
    /// Messages the function can request (Multiple Message Capable: 1, 2, 4, ... 32).
    public var messagesCapable: Int
    /// Messages currently allocated (Multiple Message Enable).
    public var messagesEnabled: Int
    public var enabled: Bool
    public var is64BitAddress: Bool
    public var perVectorMasking: Bool
    /// Message Address and Data as programmed in the capability (0 until the OS programs them).
    public var messageAddress: UInt64
    public var messageData: UInt16

    public init(offset: UInt16, messagesCapable: Int, messagesEnabled: Int = 1, enabled: Bool = false,
                is64BitAddress: Bool = false, perVectorMasking: Bool = false, messageAddress: UInt64 = 0, messageData: UInt16 = 0) {
        self.offset = offset
        self.messagesCapable = messagesCapable
        self.messagesEnabled = messagesEnabled
        self.enabled = enabled
        self.is64BitAddress = is64BitAddress
        self.perVectorMasking = perVectorMasking
        self.messageAddress = messageAddress
        self.messageData = messageData
    }
}

/// The MSI-X capability (id 0x11).
public struct MSIXCapability: Sendable, Hashable, Codable {
    public var offset: UInt16
    /// Number of table entries (Table Size field + 1).
    public var tableSize: Int
    public var enabled: Bool
    public var functionMasked: Bool
    public var tableBAR: Int
    public var tableOffset: UInt32
    public var pbaBAR: Int
    public var pbaOffset: UInt32

    public init(offset: UInt16, tableSize: Int, enabled: Bool = false, functionMasked: Bool = false,
                tableBAR: Int, tableOffset: UInt32, pbaBAR: Int, pbaOffset: UInt32) {
        self.offset = offset
        self.tableSize = tableSize
        self.enabled = enabled
        self.functionMasked = functionMasked
        self.tableBAR = tableBAR
        self.tableOffset = tableOffset
        self.pbaBAR = pbaBAR
        self.pbaOffset = pbaOffset
    }
}

/// Device nodes through which user space reaches a function's interrupts.
public struct DeviceNodes: Sendable, Hashable, Codable {
    /// `/dev/vfio/<group>` when bound to vfio-pci.
    public var vfioGroup: String?
    /// `/dev/uioN` when bound to a UIO driver.
    public var uio: String?
    public init(vfioGroup: String? = nil, uio: String? = nil) {
        self.vfioGroup = vfioGroup
        self.uio = uio
    }
}
