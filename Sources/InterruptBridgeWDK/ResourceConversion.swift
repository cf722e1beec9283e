// From Core's resource model (ResourceDescriptor, ResourceAssignment, built by
// ResourceTranslator, which owns the Level/Vector/Affinity rules) to the
// C-shaped CM structures. Numeric values pass through unchanged: Core already
// uses wdm.h's numbers for types, share dispositions and flags.
public import InterruptBridgeCore

/// Which of the two lists of IRP_MN_START_DEVICE a descriptor is for: a message
/// interrupt shows `u.MessageInterrupt.Raw` in the raw list and
/// `u.MessageInterrupt.Translated` in the translated one.
public enum ResourceListKind: Sendable, Hashable {
    /// `AllocatedResources`: bus-relative values.
    case raw
    /// `AllocatedResourcesTranslated`: what a driver connects interrupts with.
    case translated
}

extension CM_PARTIAL_RESOURCE_DESCRIPTOR {
    /// The C-shaped form of `descriptor`, as it appears in the `list` list.
    public init(_ descriptor: ResourceDescriptor, in list: ResourceListKind) {
        self.init()
        self.Type = descriptor.type.rawValue
        ShareDisposition = descriptor.shareDisposition.rawValue
        Flags = descriptor.flags
        switch descriptor.payload {
        case let .port(start, length):
            u.Port.Start.QuadPart = LONGLONG(bitPattern: start)
            u.Port.Length = length
        case let .memory(start, length):
            u.Memory.Start.QuadPart = LONGLONG(bitPattern: start)
            if descriptor.type == .memoryLarge {
                // Core picks the unit that states the length exactly (ResourceTranslator);
                // a remainder below the unit rounds up, never down, so the window is not cut.
                switch descriptor.flags & CM_RESOURCE_MEMORY_LARGE {
                case CM_RESOURCE_MEMORY_LARGE_40: u.Memory40.Length40 = Self.units(length, shift: 8)
                case CM_RESOURCE_MEMORY_LARGE_48: u.Memory48.Length48 = Self.units(length, shift: 16)
                default: u.Memory64.Length64 = Self.units(length, shift: 32)
                }
            } else {
                u.Memory.Length = ULONG(truncatingIfNeeded: length)
            }
        case let .interrupt(line):
            u.Interrupt.Level = line.level
            u.Interrupt.Group = line.group
            u.Interrupt.Vector = line.vector
            u.Interrupt.Affinity = KAFFINITY(truncatingIfNeeded: line.affinity.rawValue)
        case let .messageInterrupt(message):
            switch list {
            case .raw:
                u.MessageInterrupt.Raw.Group = message.raw.group
                u.MessageInterrupt.Raw.MessageCount = message.raw.messageCount
                u.MessageInterrupt.Raw.Vector = message.raw.vector
                u.MessageInterrupt.Raw.Affinity = KAFFINITY(truncatingIfNeeded: message.raw.affinity.rawValue)
            case .translated:
                u.MessageInterrupt.Translated.Level = message.translated.level
                u.MessageInterrupt.Translated.Group = message.translated.group
                u.MessageInterrupt.Translated.Vector = message.translated.vector
                u.MessageInterrupt.Translated.Affinity = KAFFINITY(truncatingIfNeeded: message.translated.affinity.rawValue)
            }
        }
    }
}

extension CM_PARTIAL_RESOURCE_DESCRIPTOR {
    /// `length` in units of 2^`shift` bytes, rounded up (saturating at ULONG's largest).
    static func units(_ length: UInt64, shift: UInt64) -> ULONG {
        let remainder: UInt64 = length & ((1 << shift) - 1) != 0 ? 1 : 0
        return ULONG(clamping: (length >> shift) + remainder)
    }
}

extension CM_RESOURCE_LIST {
    /// One PCIBus full descriptor holding `descriptors`; nil (a NULL list, as the PnP
    /// manager passes for a device without resources) when there are none.
    public static func from(_ descriptors: [ResourceDescriptor], in list: ResourceListKind, busNumber: ULONG) -> PCM_RESOURCE_LIST {
        guard !descriptors.isEmpty else { return nil }
        let partial = CM_PARTIAL_RESOURCE_LIST(PartialDescriptors: descriptors.map { CM_PARTIAL_RESOURCE_DESCRIPTOR($0, in: list) })
        return CM_RESOURCE_LIST(List: [CM_FULL_RESOURCE_DESCRIPTOR(InterfaceType: PCIBus, BusNumber: busNumber, PartialResourceList: partial)])
    }

    /// `Parameters.StartDevice.AllocatedResources` for a device at `address`.
    public static func allocatedResources(_ assignment: ResourceAssignment, address: PCIAddress) -> PCM_RESOURCE_LIST {
        from(assignment.raw, in: .raw, busNumber: ULONG(address.bus))
    }

    /// `Parameters.StartDevice.AllocatedResourcesTranslated` for a device at `address`.
    public static func allocatedResourcesTranslated(_ assignment: ResourceAssignment, address: PCIAddress) -> PCM_RESOURCE_LIST {
        from(assignment.translated, in: .translated, busNumber: ULONG(address.bus))
    }
}
