/// A CM_PARTIAL_RESOURCE_DESCRIPTOR in Swift clothing: one hardware resource
/// (a BAR window or an interrupt) as the PnP manager hands it to a driver in
/// IRP_MN_START_DEVICE. The WDK facade maps this 1:1 onto the C-shaped struct;
/// numeric values (`type`, `shareDisposition`, `flags`) are wdm.h's.
public struct ResourceDescriptor: Sendable, Hashable, Codable {
    public var type: ResourceType
    public var shareDisposition: ShareDisposition
    /// wdm.h CM_RESOURCE_* flags for the type (see `InterruptFlags`, `MemoryFlags`, `PortFlags`).
    public var flags: UInt16
    public var payload: Payload

    public init(type: ResourceType, shareDisposition: ShareDisposition, flags: UInt16, payload: Payload) {
        self.type = type
        self.shareDisposition = shareDisposition
        self.flags = flags
        self.payload = payload
    }

    public enum Payload: Sendable, Hashable, Codable {
        /// u.Port: an I/O BAR (or a memory BAR in raw terms when decoded as port).
        case port(start: UInt64, length: UInt32)
        /// u.Memory: a memory BAR; `length` is the full 64-bit size (CmResourceTypeMemoryLarge beyond 4 GiB).
        case memory(start: UInt64, length: UInt64)
        /// u.Interrupt: a line-based interrupt.
        case interrupt(LineInterrupt)
        /// u.MessageInterrupt: a message-signaled interrupt (flags include CM_RESOURCE_INTERRUPT_MESSAGE).
        case messageInterrupt(MessageInterrupt)
    }

    /// u.Interrupt.
    public struct LineInterrupt: Sendable, Hashable, Codable {
        public var level: UInt16
        public var group: UInt16
        public var vector: UInt32
        public var affinity: ProcessorAffinity
        public init(level: UInt16, group: UInt16 = 0, vector: UInt32, affinity: ProcessorAffinity) {
            self.level = level
            self.group = group
            self.vector = vector
            self.affinity = affinity
        }
    }

    /// u.MessageInterrupt: the raw half describes the messages the device was
    /// given, the translated half where they arrive. The raw list carries `raw`;
    /// the translated list carries `translated` (the WDK union shows one or the other).
    public struct MessageInterrupt: Sendable, Hashable, Codable {
        public var raw: Raw
        public var translated: Translated
        public init(raw: Raw, translated: Translated) {
            self.raw = raw
            self.translated = translated
        }

        public struct Raw: Sendable, Hashable, Codable {
            public var group: UInt16
            public var messageCount: UInt16
            public var vector: UInt32
            public var affinity: ProcessorAffinity
            public init(group: UInt16 = 0, messageCount: UInt16, vector: UInt32, affinity: ProcessorAffinity) {
                self.group = group
                self.messageCount = messageCount
                self.vector = vector
                self.affinity = affinity
            }
        }

        public struct Translated: Sendable, Hashable, Codable {
            public var level: UInt16
            public var group: UInt16
            public var vector: UInt32
            public var affinity: ProcessorAffinity
            public init(level: UInt16, group: UInt16 = 0, vector: UInt32, affinity: ProcessorAffinity) {
                self.level = level
                self.group = group
                self.vector = vector
                self.affinity = affinity
            }
        }
    }

    /// True for CmResourceTypeInterrupt descriptors that describe messages.
    public var isMessageInterrupt: Bool { type == .interrupt && flags & InterruptFlags.message != 0 }
}

/// CM_RESOURCE_TYPE values (wdm.h).
public enum ResourceType: UInt8, Sendable, Hashable, Codable {
    case null = 0
    case port = 1
    case interrupt = 2
    case memory = 3
    case dma = 4
    case deviceSpecific = 5
    case busNumber = 6
    case memoryLarge = 7
}

/// CM_SHARE_DISPOSITION values (wdm.h).
public enum ShareDisposition: UInt8, Sendable, Hashable, Codable {
    case undetermined = 0
    case deviceExclusive = 1
    case driverExclusive = 2
    case shared = 3
}

/// CM_RESOURCE_INTERRUPT_* flags (wdm.h).
public enum InterruptFlags {
    public static let levelSensitive: UInt16 = 0x0000
    public static let latched: UInt16 = 0x0001
    public static let message: UInt16 = 0x0002
    public static let policyIncluded: UInt16 = 0x0004
}

/// CM_RESOURCE_MEMORY_* flags (wdm.h).
public enum MemoryFlags {
    public static let readWrite: UInt16 = 0x0000
    public static let prefetchable: UInt16 = 0x0004
    public static let bar: UInt16 = 0x0080
    public static let large40: UInt16 = 0x0200
    public static let large48: UInt16 = 0x0400
    public static let large64: UInt16 = 0x0800
}

/// CM_RESOURCE_PORT_* flags (wdm.h).
public enum PortFlags {
    public static let memory: UInt16 = 0x0000
    public static let io: UInt16 = 0x0001
    public static let positiveDecode: UInt16 = 0x0020
    public static let bar: UInt16 = 0x0100
}

/// The raw and translated CM resource lists for one device
/// (Parameters.StartDevice.AllocatedResources / AllocatedResourcesTranslated).
public struct ResourceAssignment: Sendable, Hashable, Codable {
    /// Which interrupt kind the policy assigned (nil when the device has no interrupts).
    public var interruptKind: InterruptKind?
    public var raw: [ResourceDescriptor]
    public var translated: [ResourceDescriptor]
    public init(interruptKind: InterruptKind?, raw: [ResourceDescriptor], translated: [ResourceDescriptor]) {
        self.interruptKind = interruptKind
        self.raw = raw
        self.translated = translated
    }

    /// The translated interrupt descriptors, in list order.
    public var translatedInterrupts: [ResourceDescriptor] { translated.filter { $0.type == .interrupt } }
}
