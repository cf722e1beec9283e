// What `print(descriptor)` shows a porting engineer: the descriptor decoded by its Type
// (the union's view that Type selects), as a kernel debugger's !cmreslist would, rather
// than the union's raw storage.

extension CM_PARTIAL_RESOURCE_DESCRIPTOR: CustomStringConvertible {
    public var description: String {
        let share = switch ShareDisposition {
        case CmResourceShareDeviceExclusive: "DeviceExclusive"
        case CmResourceShareDriverExclusive: "DriverExclusive"
        case CmResourceShareShared: "Shared"
        default: "Undetermined"
        }
        func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
        switch Type {
        case CmResourceTypeInterrupt where Flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0:
            // Raw (MessageCount) and translated (Level) share their first field: both views.
            let raw = u.MessageInterrupt.Raw, translated = u.MessageInterrupt.Translated
            return "Interrupt (message-signaled, \(share)): raw MessageCount \(raw.MessageCount) Vector \(hex(raw.Vector)); "
                + "translated Level \(translated.Level) Vector \(hex(translated.Vector)); Group \(translated.Group) Affinity \(hex(translated.Affinity))"
        case CmResourceTypeInterrupt:
            let mode = Flags & CM_RESOURCE_INTERRUPT_LATCHED != 0 ? "Latched" : "LevelSensitive"
            let line = u.Interrupt
            return "Interrupt (\(mode), \(share)): Level \(line.Level) Vector \(hex(line.Vector)) Group \(line.Group) Affinity \(hex(line.Affinity))"
        case CmResourceTypeMemory, CmResourceTypeMemoryLarge, CmResourceTypePort:
            var start: ULONGLONG = 0
            let length = RtlCmDecodeMemIoResource(self, &start)
            let kind = Type == CmResourceTypePort ? "Port" : Type == CmResourceTypeMemory ? "Memory" : "MemoryLarge"
            return "\(kind) (\(share), Flags \(hex(Flags))): Start \(hex(start)) Length \(hex(length))"
        default:
            return "Type \(Type) (\(share), Flags \(hex(Flags)))"
        }
    }
}

extension CM_PARTIAL_RESOURCE_LIST: CustomStringConvertible {
    /// One descriptor per line, indexed as `PartialDescriptors[i]`.
    public var description: String {
        "CM_PARTIAL_RESOURCE_LIST Version \(Version) Revision \(Revision) Count \(Count)"
            + PartialDescriptors.enumerated().map { "\n  [\($0.offset)] \($0.element)" }.joined()
    }
}
