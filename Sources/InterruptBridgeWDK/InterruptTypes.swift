// The interrupt-related types of wdm.h: modes, polarities, the ISR signatures,
// and IO_INTERRUPT_MESSAGE_INFO.
public import InterruptBridge
public import InterruptBridgeCore

/// KINTERRUPT_MODE.
public struct KINTERRUPT_MODE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
/// Level-triggered: a shared PCI INTx line.
public let LevelSensitive = KINTERRUPT_MODE(rawValue: 0)
/// Edge-triggered: PCI MSI and MSI-X.
public let Latched = KINTERRUPT_MODE(rawValue: 1)

extension KINTERRUPT_MODE {
    /// Core's mode for this KINTERRUPT_MODE.
    public var interruptMode: InterruptMode { self == Latched ? .latched : .levelSensitive }
    public init(_ mode: InterruptMode) { self = mode == .latched ? Latched : LevelSensitive }
}

/// KINTERRUPT_POLARITY.
public struct KINTERRUPT_POLARITY: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let InterruptPolarityUnknown = KINTERRUPT_POLARITY(rawValue: 0)
public let InterruptActiveHigh = KINTERRUPT_POLARITY(rawValue: 1)
public let InterruptRisingEdge = KINTERRUPT_POLARITY(rawValue: 1)
public let InterruptActiveLow = KINTERRUPT_POLARITY(rawValue: 2)
public let InterruptFallingEdge = KINTERRUPT_POLARITY(rawValue: 2)
public let InterruptActiveBoth = KINTERRUPT_POLARITY(rawValue: 3)
public let InterruptActiveBothTriggerLow = KINTERRUPT_POLARITY(rawValue: 3)
public let InterruptActiveBothTriggerHigh = KINTERRUPT_POLARITY(rawValue: 4)

/// KSERVICE_ROUTINE, a driver's `InterruptService`: return TRUE if the device interrupted.
/// See <doc:ISRRules> for what it may do.
public typealias KSERVICE_ROUTINE = @Sendable (_ Interrupt: KINTERRUPT, _ ServiceContext: PVOID) -> BOOLEAN
public typealias PKSERVICE_ROUTINE = KSERVICE_ROUTINE?

/// KMESSAGE_SERVICE_ROUTINE, a driver's `InterruptMessageService`: `MessageID` is the
/// message's index in the device's IO_INTERRUPT_MESSAGE_INFO.
public typealias KMESSAGE_SERVICE_ROUTINE = @Sendable (_ Interrupt: KINTERRUPT, _ ServiceContext: PVOID, _ MessageID: ULONG) -> BOOLEAN
public typealias PKMESSAGE_SERVICE_ROUTINE = KMESSAGE_SERVICE_ROUTINE?

/// KSYNCHRONIZE_ROUTINE, run by KeSynchronizeExecution with the interrupt spin lock held.
public typealias KSYNCHRONIZE_ROUTINE = (_ SynchronizeContext: PVOID) -> BOOLEAN
public typealias PKSYNCHRONIZE_ROUTINE = KSYNCHRONIZE_ROUTINE

/// IO_INTERRUPT_MESSAGE_INFO_ENTRY: one message of a message-based connection.
public struct IO_INTERRUPT_MESSAGE_INFO_ENTRY: Sendable {
    /// The address the device writes to signal this message (from its MSI capability or
    /// MSI-X table where the backend can read it, else 0; a simulated device reports an
    /// x86 APIC-style address).
    public var MessageAddress: PHYSICAL_ADDRESS
    public var TargetProcessorSet: KAFFINITY
    /// The message's own interrupt object (the one passed to the ISR for this MessageID).
    public var InterruptObject: KINTERRUPT
    /// The data the device writes (0 where unknown).
    public var MessageData: ULONG
    /// The translated vector (`u.MessageInterrupt.Translated.Vector` of its descriptor).
    public var Vector: ULONG
    public var Irql: KIRQL
    public var Mode: KINTERRUPT_MODE
    public var Polarity: KINTERRUPT_POLARITY
}

/// `PIO_INTERRUPT_MESSAGE_INFO_ENTRY entry = &info->MessageInfo[i];` reads as
/// `let entry = info.MessageInfo[i]`: the entries are read-only, so a copy serves.
public typealias PIO_INTERRUPT_MESSAGE_INFO_ENTRY = IO_INTERRUPT_MESSAGE_INFO_ENTRY

/// IO_INTERRUPT_MESSAGE_INFO: what CONNECT_MESSAGE_BASED (and _PASSIVE) returns in
/// `ConnectionContext`: one entry per message.
/// A reference type, as the C structure is used through a pointer the system owns.
public final class IO_INTERRUPT_MESSAGE_INFO: Sendable {
    /// The SynchronizeIrql every message's ISR runs at: the maximum of the messages'
    /// levels and the caller's SynchronizeIrql (PASSIVE_LEVEL for CONNECT_MESSAGE_BASED_PASSIVE).
    public let UnifiedIrql: KIRQL
    /// `MessageInfo[MessageID]`, `MessageCount` entries.
    public let MessageInfo: [IO_INTERRUPT_MESSAGE_INFO_ENTRY]
    public var MessageCount: ULONG { ULONG(MessageInfo.count) }
    /// The runtime's message table (what IoDisconnectInterruptEx disconnects); nil for
    /// CONNECT_MESSAGE_BASED_PASSIVE, whose messages are passive-level interrupt objects
    /// connected one by one, with no spin lock between them.
    public let table: MessageTable?

    init(_ table: MessageTable) {
        self.table = table
        UnifiedIrql = table.synchronizeIrql.rawValue
        MessageInfo = table.messages.map { entry in
            IO_INTERRUPT_MESSAGE_INFO_ENTRY(
                MessageAddress: PHYSICAL_ADDRESS(QuadPart: LONGLONG(bitPattern: entry.messageAddress)),
                TargetProcessorSet: KAFFINITY(truncatingIfNeeded: entry.targetProcessorSet.rawValue),
                InterruptObject: entry.interruptObject, MessageData: entry.messageData, Vector: entry.vector,
                Irql: entry.irql.rawValue, Mode: KINTERRUPT_MODE(entry.mode),
                Polarity: KINTERRUPT_POLARITY(rawValue: Int32(entry.polarity.rawValue)))
        }
    }

    /// The table of passive-level message objects, in message order, with the addresses
    /// and data the backend programmed (0 where it cannot read them).
    init(passive objects: [InterruptObject], programmed: [ProgrammedMessage]?) {
        table = nil
        UnifiedIrql = PASSIVE_LEVEL
        MessageInfo = objects.map { object in
            let route = programmed.flatMap { Int(object.messageID) < $0.count ? $0[Int(object.messageID)] : nil }
            return IO_INTERRUPT_MESSAGE_INFO_ENTRY(
                MessageAddress: PHYSICAL_ADDRESS(QuadPart: LONGLONG(bitPattern: route?.address ?? 0)),
                TargetProcessorSet: KAFFINITY(truncatingIfNeeded: object.affinity.rawValue), InterruptObject: object,
                MessageData: route?.data ?? 0, Vector: object.vector, Irql: object.irql.rawValue,
                Mode: KINTERRUPT_MODE(object.mode), Polarity: InterruptPolarityUnknown)
        }
    }

    /// Disconnects every message of the connection.
    func disconnect() {
        if let table {
            table.interruptObjects.first?.dispatcher.disconnect(table)
        } else {
            for entry in MessageInfo { entry.InterruptObject.disconnect() }
        }
    }
}
public typealias PIO_INTERRUPT_MESSAGE_INFO = IO_INTERRUPT_MESSAGE_INFO?
