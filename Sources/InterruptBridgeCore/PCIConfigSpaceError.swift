/// Why a function's configuration space could not be decoded. Each case names
/// the offsets involved so the message can be checked against `lspci -xxxx`.
public enum PCIConfigSpaceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer bytes than the structure being read needs (a short dump, or
    /// config space read without root, where the kernel returns only 64 bytes).
    case truncated(available: Int, needed: Int, reading: String)
    /// The capability list visits `offset` a second time (coming from `from`).
    case capabilityLoop(offset: UInt16, from: UInt16)
    /// A capability pointer outside its list's range (from nil: the Capabilities Pointer register).
    case capabilityPointerOutOfRange(pointer: UInt16, from: UInt16?)
    /// The extended capability list visits `offset` a second time (coming from `from`).
    case extendedCapabilityLoop(offset: UInt16, from: UInt16)
    /// An extended capability's next pointer outside 0x100...0xffc.
    case extendedCapabilityPointerOutOfRange(pointer: UInt16, from: UInt16)
    /// A BIR field naming a register that is not a BAR (6 and 7 are reserved).
    case reservedBAR(bir: Int, reading: String)

    public var description: String {
        switch self {
        case let .truncated(available, needed, reading):
            "config space truncated: \(reading) needs \(needed) bytes, only \(available) available"
        case let .capabilityLoop(offset, from):
            "capability list loops: the capability at 0x\(hex(UInt64(from), width: 2)) points back to 0x\(hex(UInt64(offset), width: 2))"
        case let .capabilityPointerOutOfRange(pointer, from?):
            "capability pointer out of range: the capability at 0x\(hex(UInt64(from), width: 2)) points to 0x\(hex(UInt64(pointer), width: 2))"
        case let .capabilityPointerOutOfRange(pointer, nil):
            "capability pointer out of range: the Capabilities Pointer register holds 0x\(hex(UInt64(pointer), width: 2))"
        case let .extendedCapabilityLoop(offset, from):
            "extended capability list loops: the capability at 0x\(hex(UInt64(from), width: 3)) points back to 0x\(hex(UInt64(offset), width: 3))"
        case let .extendedCapabilityPointerOutOfRange(pointer, from):
            "extended capability pointer out of range: the capability at 0x\(hex(UInt64(from), width: 3)) points to 0x\(hex(UInt64(pointer), width: 3))"
        case let .reservedBAR(bir, reading):
            "\(reading) names BAR indicator \(bir), which is reserved"
        }
    }
}
