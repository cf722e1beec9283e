public import InterruptBridgeCore

/// KINTERRUPT_POLARITY.
public enum InterruptPolarity: Int, Sendable, Hashable {
    case unknown = 0
    case activeHigh = 1
    case activeLow = 2
    case activeBoth = 3
    public static let risingEdge = InterruptPolarity.activeHigh
    public static let fallingEdge = InterruptPolarity.activeLow
}

/// The connection context of a message-based connect (backs
/// `IO_INTERRUPT_MESSAGE_INFO`): one entry per message the device was given.
public final class MessageTable: Sendable {
    /// The caller's ServiceContext (UnifiedServiceContext in wdm.h).
    public let unifiedServiceContext: OpaqueContext
    /// The effective SynchronizeIrql of the set: the maximum of the messages'
    /// IRQLs and the caller's value.
    public let synchronizeIrql: InterruptLevel
    /// The spin lock every message's ISR runs holding.
    public let spinLock: InterruptSpinLock
    /// One entry per message, in message order (MessageInfo[]).
    public let messages: [Entry]

    /// IO_INTERRUPT_MESSAGE_INFO_ENTRY.
    public struct Entry: Sendable {
        /// The address the device writes to signal this message (0 where the backend cannot read it).
        public var messageAddress: UInt64
        /// The processors the message is delivered to.
        public var targetProcessorSet: ProcessorAffinity
        public var interruptObject: InterruptObject
        /// The data the device writes (0 where the backend cannot read it).
        public var messageData: UInt32
        public var vector: UInt32
        public var irql: InterruptLevel
        public var mode: InterruptMode
        public var polarity: InterruptPolarity
    }

    init(unifiedServiceContext: OpaqueContext, synchronizeIrql: InterruptLevel, spinLock: InterruptSpinLock, messages: [Entry]) {
        self.unifiedServiceContext = unifiedServiceContext
        self.synchronizeIrql = synchronizeIrql
        self.spinLock = spinLock
        self.messages = messages
    }

    /// MessageCount.
    public var messageCount: Int { messages.count }

    /// The interrupt objects of the set, in message order.
    public var interruptObjects: [InterruptObject] { messages.map(\.interruptObject) }
}

/// What a message-based connect produced: the message table, or (device with
/// line-based interrupts only) the fallback routine's interrupt object. The
/// facade reports these as Version = CONNECT_MESSAGE_BASED / CONNECT_LINE_BASED.
public enum MessageConnection: Sendable {
    case messages(MessageTable)
    case line(InterruptObject)

    /// Every interrupt object of the connection.
    public var interruptObjects: [InterruptObject] {
        switch self {
        case let .messages(table): table.interruptObjects
        case let .line(object): [object]
        }
    }
}
