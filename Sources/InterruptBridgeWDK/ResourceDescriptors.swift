// CM_PARTIAL_RESOURCE_DESCRIPTOR and the lists around it, shaped as in wdm.h so
// that `IntResource->u.MessageInterrupt.Translated.Level` ports as
// `IntResource.u.MessageInterrupt.Translated.Level`.

/// CM_PARTIAL_RESOURCE_DESCRIPTOR: one resource (a BAR window or an interrupt)
/// as the PnP manager hands it to a driver in IRP_MN_START_DEVICE.
public struct CM_PARTIAL_RESOURCE_DESCRIPTOR: Sendable, Hashable, ZeroInitializable {
    /// CmResourceType* (CmResourceTypeInterrupt, CmResourceTypeMemory, ...).
    public var `Type`: UCHAR
    /// CmResourceShare* (CmResourceShareShared for a PCI INTx line).
    public var ShareDisposition: UCHAR
    /// CM_RESOURCE_INTERRUPT_*, CM_RESOURCE_MEMORY_* or CM_RESOURCE_PORT_* for the type.
    public var Flags: USHORT
    /// The type's fields. As in C the members overlay the same 16 bytes, so
    /// `u.Interrupt.Level` of a message descriptor reads `u.MessageInterrupt.Translated.Level`.
    public var u: Union

    public init() {
        self.Type = CmResourceTypeNull
        ShareDisposition = CmResourceShareUndetermined
        Flags = 0
        u = Union()
    }

    /// The 16-byte union `u`, stored as its two little-endian quadwords (the x64 layout).
    public struct Union: Sendable, Hashable {
        var low: UInt64 = 0
        var high: UInt64 = 0

        /// `u.Interrupt`: a line-based interrupt (CmResourceTypeInterrupt without CM_RESOURCE_INTERRUPT_MESSAGE).
        public var Interrupt: InterruptFields {
            get { InterruptFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }

        /// `u.MessageInterrupt`: a message-signaled interrupt (CM_RESOURCE_INTERRUPT_MESSAGE set).
        public var MessageInterrupt: MessageInterruptUnion {
            get { MessageInterruptUnion(low: low, high: high) }
            set { (low, high) = (newValue.low, newValue.high) }
        }

        /// `u.Memory`: a memory window below 4 GiB in length (CmResourceTypeMemory).
        public var Memory: RangeFields {
            get { RangeFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }

        /// `u.Port`: an I/O port window (CmResourceTypePort).
        public var Port: RangeFields {
            get { RangeFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }

        /// `u.Generic`.
        public var Generic: RangeFields {
            get { RangeFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }

        /// `u.Memory40`, `u.Memory48`, `u.Memory64` (CmResourceTypeMemoryLarge): `Length40`
        /// etc. hold the length shifted right by 8, 16 and 32 bits.
        public var Memory40: LargeRangeFields {
            get { LargeRangeFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }
        public var Memory48: LargeRangeFields {
            get { LargeRangeFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }
        public var Memory64: LargeRangeFields {
            get { LargeRangeFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }

        /// `u.Dma` (CmResourceTypeDma): Channel, Port, Reserved1. No PCI function has one; for
        /// code that walks every type of a list.
        public var Dma: DmaFields {
            get { DmaFields(words: words) }
            set { words = newValue.words }
        }

        /// `u.BusNumber` (CmResourceTypeBusNumber): Start, Length, Reserved.
        public var BusNumber: BusNumberFields {
            get { BusNumberFields(words: words) }
            set { words = newValue.words }
        }

        /// `u.DevicePrivate` (CmResourceTypeDevicePrivate): Data[3].
        public var DevicePrivate: DevicePrivateFields {
            get { DevicePrivateFields(words: words) }
            set { words = newValue.words }
        }

        /// `u.DeviceSpecificData` (CmResourceTypeDeviceSpecific): DataSize, Reserved1, Reserved2.
        /// The facade's lists carry no data after a descriptor, so this type never appears in
        /// them (a serial driver's clock rate, CM_SERIAL_DEVICE_DATA, is not offered).
        public var DeviceSpecificData: DeviceSpecificDataFields {
            get { DeviceSpecificDataFields(words: words) }
            set { words = newValue.words }
        }

        /// The union as four ULONGs, in memory order.
        var words: (ULONG, ULONG, ULONG, ULONG) {
            get { (ULONG(truncatingIfNeeded: low), ULONG(truncatingIfNeeded: low >> 32),
                   ULONG(truncatingIfNeeded: high), ULONG(truncatingIfNeeded: high >> 32)) }
            set {
                low = UInt64(newValue.0) | UInt64(newValue.1) << 32
                high = UInt64(newValue.2) | UInt64(newValue.3) << 32
            }
        }
    }

    /// `u.Dma`.
    public struct DmaFields: Sendable, Hashable {
        public var Channel: ULONG
        public var Port: ULONG
        public var Reserved1: ULONG
        private var beyond: ULONG
        init(words: (ULONG, ULONG, ULONG, ULONG)) { (Channel, Port, Reserved1, beyond) = words }
        var words: (ULONG, ULONG, ULONG, ULONG) { (Channel, Port, Reserved1, beyond) }
    }

    /// `u.BusNumber`.
    public struct BusNumberFields: Sendable, Hashable {
        public var Start: ULONG
        public var Length: ULONG
        public var Reserved: ULONG
        private var beyond: ULONG
        init(words: (ULONG, ULONG, ULONG, ULONG)) { (Start, Length, Reserved, beyond) = words }
        var words: (ULONG, ULONG, ULONG, ULONG) { (Start, Length, Reserved, beyond) }
    }

    /// `u.DevicePrivate`: `Data[0]` ... `Data[2]`.
    public struct DevicePrivateFields: Sendable, Hashable {
        public var Data: [ULONG] {
            get { [first, second, third] }
            set {
                precondition(newValue.count == 3, "u.DevicePrivate.Data has 3 elements, not \(newValue.count)")
                (first, second, third) = (newValue[0], newValue[1], newValue[2])
            }
        }
        private var first, second, third, beyond: ULONG
        init(words: (ULONG, ULONG, ULONG, ULONG)) { (first, second, third, beyond) = words }
        var words: (ULONG, ULONG, ULONG, ULONG) { (first, second, third, beyond) }
    }

    /// `u.DeviceSpecificData`.
    public struct DeviceSpecificDataFields: Sendable, Hashable {
        public var DataSize: ULONG
        public var Reserved1: ULONG
        public var Reserved2: ULONG
        private var beyond: ULONG
        init(words: (ULONG, ULONG, ULONG, ULONG)) { (DataSize, Reserved1, Reserved2, beyond) = words }
        var words: (ULONG, ULONG, ULONG, ULONG) { (DataSize, Reserved1, Reserved2, beyond) }
    }

    /// `u.Interrupt` and `u.MessageInterrupt.Translated`.
    public struct InterruptFields: Sendable, Hashable {
        public var Level: USHORT
        public var Group: USHORT
        public var Vector: ULONG
        public var Affinity: KAFFINITY

        init(low: UInt64, high: UInt64) {
            Level = USHORT(truncatingIfNeeded: low)
            Group = USHORT(truncatingIfNeeded: low >> 16)
            Vector = ULONG(truncatingIfNeeded: low >> 32)
            Affinity = KAFFINITY(truncatingIfNeeded: high)
        }
        var quadwords: (UInt64, UInt64) {
            (UInt64(Level) | UInt64(Group) << 16 | UInt64(Vector) << 32, UInt64(Affinity))
        }
    }

    /// `u.MessageInterrupt.Raw`.
    public struct MessageRawFields: Sendable, Hashable {
        public var Group: USHORT
        /// `Raw.Reserved`: wdm.h names the first two bytes `Group` when
        /// NT_PROCESSOR_GROUPS is defined and `Reserved` ("Reserved for system use")
        /// otherwise; both spellings name the same bytes here, so code of either build ports.
        public var Reserved: USHORT {
            get { Group }
            set { Group = newValue }
        }
        public var MessageCount: USHORT
        public var Vector: ULONG
        public var Affinity: KAFFINITY

        init(low: UInt64, high: UInt64) {
            Group = USHORT(truncatingIfNeeded: low)
            MessageCount = USHORT(truncatingIfNeeded: low >> 16)
            Vector = ULONG(truncatingIfNeeded: low >> 32)
            Affinity = KAFFINITY(truncatingIfNeeded: high)
        }
        var quadwords: (UInt64, UInt64) {
            (UInt64(Group) | UInt64(MessageCount) << 16 | UInt64(Vector) << 32, UInt64(Affinity))
        }
    }

    /// `u.MessageInterrupt`: `Raw` (in AllocatedResources) and `Translated`
    /// (in AllocatedResourcesTranslated) overlay each other, as in C.
    public struct MessageInterruptUnion: Sendable, Hashable {
        var low: UInt64
        var high: UInt64
        public var Raw: MessageRawFields {
            get { MessageRawFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }
        public var Translated: InterruptFields {
            get { InterruptFields(low: low, high: high) }
            set { (low, high) = newValue.quadwords }
        }
    }

    /// `u.Memory`, `u.Port`, `u.Generic`: Start and a 32-bit Length.
    public struct RangeFields: Sendable, Hashable {
        public var Start: PHYSICAL_ADDRESS
        public var Length: ULONG

        init(low: UInt64, high: UInt64) {
            Start = PHYSICAL_ADDRESS(QuadPart: LONGLONG(bitPattern: low))
            Length = ULONG(truncatingIfNeeded: high)
        }
        var quadwords: (UInt64, UInt64) { (UInt64(bitPattern: Start.QuadPart), UInt64(Length)) }
    }

    /// `u.Memory40/48/64`: Start and the length shifted right (by 8, 16, 32).
    public struct LargeRangeFields: Sendable, Hashable {
        public var Start: PHYSICAL_ADDRESS
        private var length: ULONG
        public var Length40: ULONG { get { length } set { length = newValue } }
        public var Length48: ULONG { get { length } set { length = newValue } }
        public var Length64: ULONG { get { length } set { length = newValue } }

        init(low: UInt64, high: UInt64) {
            Start = PHYSICAL_ADDRESS(QuadPart: LONGLONG(bitPattern: low))
            length = ULONG(truncatingIfNeeded: high)
        }
        var quadwords: (UInt64, UInt64) { (UInt64(bitPattern: Start.QuadPart), UInt64(length)) }
    }
}
public typealias PCM_PARTIAL_RESOURCE_DESCRIPTOR = CM_PARTIAL_RESOURCE_DESCRIPTOR

/// CM_PARTIAL_RESOURCE_LIST. `Count` follows `PartialDescriptors` (C keeps both by hand).
public struct CM_PARTIAL_RESOURCE_LIST: Sendable, Hashable, ZeroInitializable {
    public var Version: USHORT
    public var Revision: USHORT
    public var PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR]
    public var Count: ULONG { ULONG(PartialDescriptors.count) }

    /// All zero, as `RtlZeroMemory` leaves it.
    public init() {
        Version = 0
        Revision = 0
        PartialDescriptors = []
    }
    /// A list as the PnP manager hands it over: Version 1, Revision 1.
    public init(PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR]) {
        Version = 1
        Revision = 1
        self.PartialDescriptors = PartialDescriptors
    }
}
public typealias PCM_PARTIAL_RESOURCE_LIST = CM_PARTIAL_RESOURCE_LIST

/// INTERFACE_TYPE: the bus a CM_FULL_RESOURCE_DESCRIPTOR describes.
public struct INTERFACE_TYPE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let InterfaceTypeUndefined = INTERFACE_TYPE(rawValue: -1)
public let Internal = INTERFACE_TYPE(rawValue: 0)
public let Isa = INTERFACE_TYPE(rawValue: 1)
public let PCIBus = INTERFACE_TYPE(rawValue: 5)
public let PNPBus = INTERFACE_TYPE(rawValue: 15)

/// CM_FULL_RESOURCE_DESCRIPTOR: the resources of one bus.
public struct CM_FULL_RESOURCE_DESCRIPTOR: Sendable, Hashable, ZeroInitializable {
    public var InterfaceType: INTERFACE_TYPE
    public var BusNumber: ULONG
    public var PartialResourceList: CM_PARTIAL_RESOURCE_LIST

    public init() {
        InterfaceType = Internal
        BusNumber = 0
        PartialResourceList = CM_PARTIAL_RESOURCE_LIST()
    }
    public init(InterfaceType: INTERFACE_TYPE, BusNumber: ULONG, PartialResourceList: CM_PARTIAL_RESOURCE_LIST) {
        self.InterfaceType = InterfaceType
        self.BusNumber = BusNumber
        self.PartialResourceList = PartialResourceList
    }
}
public typealias PCM_FULL_RESOURCE_DESCRIPTOR = CM_FULL_RESOURCE_DESCRIPTOR

/// CM_RESOURCE_LIST: what `Parameters.StartDevice.AllocatedResources(Translated)` points to.
/// A PCI device's list has one full descriptor: `List[0].PartialResourceList.PartialDescriptors[i]`.
public struct CM_RESOURCE_LIST: Sendable, Hashable, ZeroInitializable {
    public var List: [CM_FULL_RESOURCE_DESCRIPTOR]
    public var Count: ULONG { ULONG(List.count) }

    public init() { List = [] }
    public init(List: [CM_FULL_RESOURCE_DESCRIPTOR]) { self.List = List }
}
/// A `PCM_RESOURCE_LIST` may be NULL (a device with no resources gets none).
public typealias PCM_RESOURCE_LIST = CM_RESOURCE_LIST?

/// `RtlCmDecodeMemIoResource`: the length of a memory or port descriptor (decoding
/// CmResourceTypeMemoryLarge's shifted lengths), and its start through `Start`.
public func RtlCmDecodeMemIoResource(_ Descriptor: CM_PARTIAL_RESOURCE_DESCRIPTOR,
                                     _ Start: UnsafeMutablePointer<ULONGLONG>?) -> ULONGLONG {
    let range = Descriptor.u.Generic
    switch Descriptor.Type {
    case CmResourceTypePort, CmResourceTypeMemory:
        Start?.pointee = ULONGLONG(bitPattern: range.Start.QuadPart)
        return ULONGLONG(range.Length)
    case CmResourceTypeMemoryLarge:
        Start?.pointee = ULONGLONG(bitPattern: range.Start.QuadPart)
        let shifted = ULONGLONG(Descriptor.u.Memory64.Length64)
        switch Descriptor.Flags & CM_RESOURCE_MEMORY_LARGE {
        case CM_RESOURCE_MEMORY_LARGE_40: return shifted << 8
        case CM_RESOURCE_MEMORY_LARGE_48: return shifted << 16
        case CM_RESOURCE_MEMORY_LARGE_64: return shifted << 32
        default: return 0
        }
    default:
        return 0
    }
}

// MARK: - wdm.h constants

// CM_RESOURCE_TYPE (CmResourceType*).
public let CmResourceTypeNull: UCHAR = 0
public let CmResourceTypePort: UCHAR = 1
public let CmResourceTypeInterrupt: UCHAR = 2
public let CmResourceTypeMemory: UCHAR = 3
public let CmResourceTypeDma: UCHAR = 4
public let CmResourceTypeDeviceSpecific: UCHAR = 5
public let CmResourceTypeBusNumber: UCHAR = 6
public let CmResourceTypeMemoryLarge: UCHAR = 7
public let CmResourceTypeNonArbitrated: UCHAR = 128
public let CmResourceTypeConfigData: UCHAR = 128
public let CmResourceTypeDevicePrivate: UCHAR = 129

// CM_SHARE_DISPOSITION (CmResourceShare*).
public let CmResourceShareUndetermined: UCHAR = 0
public let CmResourceShareDeviceExclusive: UCHAR = 1
public let CmResourceShareDriverExclusive: UCHAR = 2
public let CmResourceShareShared: UCHAR = 3

// Flags of CmResourceTypeInterrupt.
public let CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE: USHORT = 0x0000
public let CM_RESOURCE_INTERRUPT_LATCHED: USHORT = 0x0001
public let CM_RESOURCE_INTERRUPT_MESSAGE: USHORT = 0x0002
public let CM_RESOURCE_INTERRUPT_POLICY_INCLUDED: USHORT = 0x0004
public let CM_RESOURCE_INTERRUPT_SECONDARY_INTERRUPT: USHORT = 0x0010
public let CM_RESOURCE_INTERRUPT_WAKE_HINT: USHORT = 0x0020
public let CM_RESOURCE_INTERRUPT_LEVEL_LATCHED_BITS: USHORT = 0x0001
/// `((ULONG)-2)`: the vector a resource requirement names to ask for message-signaled
/// interrupts (an IO_RESOURCE_DESCRIPTOR's MinimumVector and MaximumVector).
public let CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN: ULONG = 0xFFFF_FFFE

// Flags of CmResourceTypeMemory / CmResourceTypeMemoryLarge.
public let CM_RESOURCE_MEMORY_READ_WRITE: USHORT = 0x0000
public let CM_RESOURCE_MEMORY_READ_ONLY: USHORT = 0x0001
public let CM_RESOURCE_MEMORY_WRITE_ONLY: USHORT = 0x0002
public let CM_RESOURCE_MEMORY_WRITEABILITY_MASK: USHORT = 0x0003
public let CM_RESOURCE_MEMORY_PREFETCHABLE: USHORT = 0x0004
public let CM_RESOURCE_MEMORY_COMBINEDWRITE: USHORT = 0x0008
public let CM_RESOURCE_MEMORY_24: USHORT = 0x0010
public let CM_RESOURCE_MEMORY_CACHEABLE: USHORT = 0x0020
public let CM_RESOURCE_MEMORY_WINDOW_DECODE: USHORT = 0x0040
public let CM_RESOURCE_MEMORY_BAR: USHORT = 0x0080
public let CM_RESOURCE_MEMORY_LARGE: USHORT = 0x0E00
public let CM_RESOURCE_MEMORY_LARGE_40: USHORT = 0x0200
public let CM_RESOURCE_MEMORY_LARGE_48: USHORT = 0x0400
public let CM_RESOURCE_MEMORY_LARGE_64: USHORT = 0x0800

// Flags of CmResourceTypePort.
public let CM_RESOURCE_PORT_MEMORY: USHORT = 0x0000
public let CM_RESOURCE_PORT_IO: USHORT = 0x0001
public let CM_RESOURCE_PORT_10_BIT_DECODE: USHORT = 0x0004
public let CM_RESOURCE_PORT_12_BIT_DECODE: USHORT = 0x0008
public let CM_RESOURCE_PORT_16_BIT_DECODE: USHORT = 0x0010
public let CM_RESOURCE_PORT_POSITIVE_DECODE: USHORT = 0x0020
public let CM_RESOURCE_PORT_PASSIVE_DECODE: USHORT = 0x0040
public let CM_RESOURCE_PORT_WINDOW_DECODE: USHORT = 0x0080
public let CM_RESOURCE_PORT_BAR: USHORT = 0x0100
