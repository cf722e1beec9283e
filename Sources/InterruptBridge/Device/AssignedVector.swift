public import InterruptBridgeCore

/// One interrupt vector a device "has": derived from exactly one of its
/// translated interrupt descriptors (an MSI block yields one per message).
public struct AssignedVector: Sendable, Hashable, CustomStringConvertible {
    /// The translated vector (Linux IRQ for INTx; bridge-assigned for messages).
    public var vector: UInt32
    public var kind: InterruptKind
    /// The message number (0 for INTx).
    public var messageID: UInt32
    /// DIRQL from the translated descriptor's Level.
    public var irql: InterruptLevel
    public var mode: InterruptMode
    public var shareDisposition: ShareDisposition
    public var affinity: ProcessorAffinity
    public var group: UInt16

    public init(vector: UInt32, kind: InterruptKind, messageID: UInt32, irql: InterruptLevel, mode: InterruptMode,
                shareDisposition: ShareDisposition, affinity: ProcessorAffinity, group: UInt16 = 0) {
        self.vector = vector
        self.kind = kind
        self.messageID = messageID
        self.irql = irql
        self.mode = mode
        self.shareDisposition = shareDisposition
        self.affinity = affinity
        self.group = group
    }

    public var description: String {
        "\(kind) message \(messageID) vector 0x\(String(vector, radix: 16)) level \(irql) \(mode) affinity \(affinity)"
    }

    /// The vectors described by a translated resource list, in list order.
    /// `kind` is the assignment's interrupt kind (MSI vs MSI-X for messages).
    public static func vectors(in assignment: ResourceAssignment) -> [AssignedVector] {
        var result: [AssignedVector] = []
        for descriptor in assignment.translatedInterrupts {
            let mode: InterruptMode = descriptor.flags & InterruptFlags.latched != 0 ? .latched : .levelSensitive
            switch descriptor.payload {
            case let .interrupt(line):
                result.append(AssignedVector(
                    vector: line.vector, kind: .intx, messageID: 0, irql: InterruptLevel(UInt8(clamping: line.level)),
                    mode: mode, shareDisposition: descriptor.shareDisposition, affinity: line.affinity, group: line.group))
            case let .messageInterrupt(message):
                let kind: InterruptKind = assignment.interruptKind == .msix ? .msix : .msi
                for offset in 0..<max(1, UInt32(message.raw.messageCount)) {
                    result.append(AssignedVector(
                        vector: message.translated.vector &+ offset, kind: kind, messageID: message.raw.vector &+ offset,
                        irql: InterruptLevel(UInt8(clamping: message.translated.level)), mode: mode,
                        shareDisposition: descriptor.shareDisposition, affinity: message.translated.affinity,
                        group: message.translated.group))
                }
            case .port, .memory:
                continue
            }
        }
        return result
    }
}
