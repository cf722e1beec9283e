// The JSON `irqbridge list --json` prints, and the daemon's device list carries:
// one object per function, descriptors under the WDK's names.
public import InterruptBridgeCore
import InterruptBridgeSystem

/// The JSON `irqbridge list --json` prints: one object per function. Descriptors
/// use the WDK's names (CM_PARTIAL_RESOURCE_DESCRIPTOR fields and constants).
public struct DeviceJSON: Encodable, Sendable {
    var address: String
    var vendorId: String
    var deviceId: String
    var subsystemVendorId: String?
    var subsystemId: String?
    var classCode: String
    var revision: Int
    var vendorName: String?
    var deviceName: String?
    var className: String?
    var driver: String?
    var iommuGroup: Int?
    var nodes: NodesJSON
    var interruptPin: String?
    var irq: UInt32?
    /// Whether `irq` is the line Linux routed the pin to (false: still firmware's value,
    /// which the first enable may change; null: not known, as from a dump).
    var irqRouted: Bool?
    /// True when `irq` is the function's first MSI's, as Linux reports it while MSI is
    /// enabled: the INTx line is then not known.
    var irqIsMSI: Bool
    var msi: MSIJSON?
    var msix: MSIXJSON?
    var bars: [BarJSON]
    var capabilities: [CapabilityJSON]
    var extendedCapabilities: [CapabilityJSON]
    /// False when only the 64-byte header was readable (no root, an `lspci -x` dump):
    /// `msi`, `msix` and both capability lists are then unknown, not absent.
    var capabilitiesReadable: Bool
    var policy: PolicyJSON
    /// Null when the interrupt assignment is not known (`DiscoveredDevice.isAssignmentKnown`).
    var resources: ResourcesJSON?

    struct NodesJSON: Encodable {
        var vfioGroup: String?
        var uio: String?

        enum CodingKeys: String, CodingKey { case vfioGroup, uio }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(vfioGroup, forKey: .vfioGroup)
            try container.encode(uio, forKey: .uio)
        }
    }

    struct MSIJSON: Encodable {
        var offset: String
        /// Multiple Message Capable: messages the function can use.
        var count: Int
        /// Multiple Message Enable: messages currently allocated.
        var enabledCount: Int
        var enabled: Bool
        var is64Bit: Bool
        var perVectorMasking: Bool
        var messageAddress: String
        var messageData: String
    }

    struct MSIXJSON: Encodable {
        var offset: String
        var tableSize: Int
        var enabled: Bool
        var functionMasked: Bool
        var tableBar: Int
        var tableOffset: String
        var pbaBar: Int
        var pbaOffset: String
    }

    struct BarJSON: Encodable {
        var index: Int
        var space: String
        var address: String
        /// Bytes; 0 when unknown (dump files carry no sizes).
        var size: UInt64
        var is64Bit: Bool
        var prefetchable: Bool
    }

    struct CapabilityJSON: Encodable {
        var id: String
        var offset: String
        /// Extended capabilities only.
        var version: Int?
    }

    struct PolicyJSON: Encodable {
        var MSISupported: Bool
        @NullEncoded var MessageNumberLimit: Int?
        var PreferMSIX: Bool
        var DevicePriority: String
        @NullEncoded var AssignmentSetOverride: String?
    }

    struct ResourcesJSON: Encodable {
        /// "INTx", "MSI", "MSI-X" or null (null, not missing, when nothing was assigned).
        @NullEncoded var interruptKind: String?
        var raw: [DescriptorJSON]
        var translated: [DescriptorJSON]
    }

    enum CodingKeys: String, CodingKey {
        case address, vendorId, deviceId, subsystemVendorId, subsystemId, classCode, revision, vendorName, deviceName, className
        case driver, iommuGroup, nodes, interruptPin, irq, irqRouted, irqIsMSI, msi, msix, bars, capabilities, extendedCapabilities, capabilitiesReadable, policy, resources
    }

    /// Every key is always present: absent values are `null`, never missing keys.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(address, forKey: .address)
        try container.encode(vendorId, forKey: .vendorId)
        try container.encode(deviceId, forKey: .deviceId)
        try container.encode(subsystemVendorId, forKey: .subsystemVendorId)
        try container.encode(subsystemId, forKey: .subsystemId)
        try container.encode(classCode, forKey: .classCode)
        try container.encode(revision, forKey: .revision)
        try container.encode(vendorName, forKey: .vendorName)
        try container.encode(deviceName, forKey: .deviceName)
        try container.encode(className, forKey: .className)
        try container.encode(driver, forKey: .driver)
        try container.encode(iommuGroup, forKey: .iommuGroup)
        try container.encode(nodes, forKey: .nodes)
        try container.encode(interruptPin, forKey: .interruptPin)
        try container.encode(irq, forKey: .irq)
        try container.encode(irqRouted, forKey: .irqRouted)
        try container.encode(irqIsMSI, forKey: .irqIsMSI)
        try container.encode(msi, forKey: .msi)
        try container.encode(msix, forKey: .msix)
        try container.encode(bars, forKey: .bars)
        try container.encode(capabilities, forKey: .capabilities)
        try container.encode(extendedCapabilities, forKey: .extendedCapabilities)
        try container.encode(capabilitiesReadable, forKey: .capabilitiesReadable)
        try container.encode(policy, forKey: .policy)
        try container.encode(resources, forKey: .resources)
    }

    public init(_ device: DiscoveredDevice) {
        let info = device.info
        address = info.address.description
        vendorId = hex(UInt64(info.vendorID), width: 4)
        deviceId = hex(UInt64(info.deviceID), width: 4)
        subsystemVendorId = info.subsystemVendorID.map { hex(UInt64($0), width: 4) }
        subsystemId = info.subsystemID.map { hex(UInt64($0), width: 4) }
        classCode = hex(UInt64(info.classCode), width: 6)
        revision = Int(info.revision)
        vendorName = info.vendorName
        deviceName = info.deviceName
        className = info.className
        driver = info.driver
        iommuGroup = info.iommuGroup
        nodes = NodesJSON(vfioGroup: info.deviceNodes.vfioGroup, uio: info.deviceNodes.uio)
        interruptPin = info.interruptPin.map { String(String(describing: $0).last!) }
        irq = info.irqLine
        irqRouted = info.isIRQRouted
        irqIsMSI = info.irqLineIsMSI
        msi = info.msi.map {
            MSIJSON(offset: hex16($0.offset), count: $0.messagesCapable, enabledCount: $0.messagesEnabled, enabled: $0.enabled,
                    is64Bit: $0.is64BitAddress, perVectorMasking: $0.perVectorMasking,
                    messageAddress: "0x" + hex($0.messageAddress, width: 16), messageData: "0x" + hex(UInt64($0.messageData), width: 4))
        }
        msix = info.msix.map {
            MSIXJSON(offset: hex16($0.offset), tableSize: $0.tableSize, enabled: $0.enabled, functionMasked: $0.functionMasked,
                     tableBar: $0.tableBAR, tableOffset: "0x" + hex(UInt64($0.tableOffset), width: 8),
                     pbaBar: $0.pbaBAR, pbaOffset: "0x" + hex(UInt64($0.pbaOffset), width: 8))
        }
        bars = info.bars.map {
            BarJSON(index: $0.index, space: $0.space.rawValue, address: "0x" + hex($0.address, width: 1), size: $0.size,
                    is64Bit: $0.is64Bit, prefetchable: $0.prefetchable)
        }
        capabilities = info.capabilities.map { CapabilityJSON(id: "0x" + hex(UInt64($0.id), width: 2), offset: hex16($0.offset)) }
        extendedCapabilities = info.extendedCapabilities.map {
            CapabilityJSON(id: "0x" + hex(UInt64($0.id), width: 4), offset: "0x" + hex(UInt64($0.offset), width: 3), version: Int($0.version))
        }
        policy = PolicyJSON(MSISupported: device.policy.msiSupported, MessageNumberLimit: device.policy.messageNumberLimit,
                            PreferMSIX: device.policy.preferMSIX, DevicePriority: device.policy.devicePriority.rawValue,
                            AssignmentSetOverride: device.policy.affinityOverride?.description)
        capabilitiesReadable = !info.capabilitiesUnreadable
        resources = device.isAssignmentKnown
            ? ResourcesJSON(interruptKind: device.resources.interruptKind?.description,
                            raw: device.resources.raw.map { DescriptorJSON($0, list: .raw) },
                            translated: device.resources.translated.map { DescriptorJSON($0, list: .translated) })
            : nil
    }
}

/// One CM_PARTIAL_RESOURCE_DESCRIPTOR: Type, ShareDisposition, Flags and the `u` member for the type.
/// A message interrupt shows the half of u.MessageInterrupt its list carries (Raw or Translated).
public struct DescriptorJSON: Encodable, Sendable {
    public enum List: Sendable { case raw, translated }

    var type: String
    var shareDisposition: String
    var flags: [String]
    var flagsValue: UInt16
    var memory: MemoryJSON?
    var port: MemoryJSON?
    var interrupt: LineJSON?
    var messageInterrupt: MessageJSON?

    struct MemoryJSON: Encodable {
        var start: String
        var length: UInt64
    }

    struct LineJSON: Encodable {
        var level: UInt16
        var group: UInt16
        var vector: UInt32
        var affinity: String
    }

    struct MessageJSON: Encodable {
        var raw: Raw?
        var translated: LineJSON?

        struct Raw: Encodable {
            var group: UInt16
            var messageCount: UInt16
            var vector: UInt32
            var affinity: String
        }
    }

    public init(_ descriptor: ResourceDescriptor, list: List) {
        type = WDKNames.type(descriptor.type)
        shareDisposition = WDKNames.share(descriptor.shareDisposition)
        flags = WDKNames.flags(descriptor)
        flagsValue = descriptor.flags
        switch descriptor.payload {
        case let .memory(start, length):
            memory = MemoryJSON(start: "0x" + hex(start, width: 1), length: length)
        case let .port(start, length):
            port = MemoryJSON(start: "0x" + hex(start, width: 1), length: UInt64(length))
        case let .interrupt(line):
            interrupt = LineJSON(level: line.level, group: line.group, vector: line.vector, affinity: line.affinity.description)
        case let .messageInterrupt(message):
            switch list {
            case .raw:
                let raw = message.raw
                messageInterrupt = MessageJSON(raw: .init(group: raw.group, messageCount: raw.messageCount, vector: raw.vector,
                                                          affinity: raw.affinity.description))
            case .translated:
                let translated = message.translated
                messageInterrupt = MessageJSON(translated: .init(level: translated.level, group: translated.group,
                                                                 vector: translated.vector, affinity: translated.affinity.description))
            }
        }
    }
}

/// wdm.h spellings of the CM_* constants, for output only.
public enum WDKNames {
    public static func type(_ type: ResourceType) -> String {
        switch type {
        case .null: "CmResourceTypeNull"
        case .port: "CmResourceTypePort"
        case .interrupt: "CmResourceTypeInterrupt"
        case .memory: "CmResourceTypeMemory"
        case .dma: "CmResourceTypeDma"
        case .deviceSpecific: "CmResourceTypeDeviceSpecific"
        case .busNumber: "CmResourceTypeBusNumber"
        case .memoryLarge: "CmResourceTypeMemoryLarge"
        }
    }

    public static func share(_ share: ShareDisposition) -> String {
        switch share {
        case .undetermined: "CmResourceShareUndetermined"
        case .deviceExclusive: "CmResourceShareDeviceExclusive"
        case .driverExclusive: "CmResourceShareDriverExclusive"
        case .shared: "CmResourceShareShared"
        }
    }

    public static func flags(_ descriptor: ResourceDescriptor) -> [String] {
        let value = descriptor.flags
        switch descriptor.type {
        case .interrupt:
            var names = [value & InterruptFlags.latched != 0 ? "CM_RESOURCE_INTERRUPT_LATCHED" : "CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE"]
            if value & InterruptFlags.message != 0 { names.append("CM_RESOURCE_INTERRUPT_MESSAGE") }
            if value & InterruptFlags.policyIncluded != 0 { names.append("CM_RESOURCE_INTERRUPT_POLICY_INCLUDED") }
            return names
        case .memory, .memoryLarge:
            var names = ["CM_RESOURCE_MEMORY_READ_WRITE"]
            for (flag, name) in [(MemoryFlags.prefetchable, "CM_RESOURCE_MEMORY_PREFETCHABLE"), (MemoryFlags.bar, "CM_RESOURCE_MEMORY_BAR"),
                                 (MemoryFlags.large40, "CM_RESOURCE_MEMORY_LARGE_40"), (MemoryFlags.large48, "CM_RESOURCE_MEMORY_LARGE_48"),
                                 (MemoryFlags.large64, "CM_RESOURCE_MEMORY_LARGE_64")] where value & flag != 0 {
                names.append(name)
            }
            return names
        case .port:
            var names = [value & PortFlags.io != 0 ? "CM_RESOURCE_PORT_IO" : "CM_RESOURCE_PORT_MEMORY"]
            for (flag, name) in [(PortFlags.positiveDecode, "CM_RESOURCE_PORT_POSITIVE_DECODE"), (PortFlags.bar, "CM_RESOURCE_PORT_BAR")]
            where value & flag != 0 {
                names.append(name)
            }
            return names
        default:
            return []
        }
    }
}

private func hex16(_ value: UInt16) -> String { "0x" + hex(UInt64(value), width: 2) }

