import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Testing

/// A message-based Version given one message's KINTERRUPT (`MessageInfo[i].InterruptObject`)
/// where the page asks for the connection context: Windows would bug-check; the facade acts
/// on every message that connect made, so nothing stays connected (or active) unnoticed.
@Suite struct MessageObjectContextTests {
    static func connectFourMessages(_ dispatcher: InterruptDispatcher) throws -> (IO_INTERRUPT_MESSAGE_INFO, SimulatedBackend, DEVICE_OBJECT) {
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.messageBased(pdo, devExt, fallBack: false)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        #expect(table.MessageCount == 4 && dispatcher.connectedInterrupts.count == 4)
        return (table, backend, pdo)
    }

    @Test func disconnectingWithOneMessagesObjectDisconnectsEveryMessage() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (table, backend, pdo) = try Self.connectFourMessages(dispatcher)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED
        disconnect.ConnectionContext.InterruptObject = table.MessageInfo[2].InterruptObject
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil, "MSI-X is disabled with the last message")
        withExtendedLifetime(pdo) {}
    }

    /// Under CONNECT_FULLY_SPECIFIED the same object is that one message: the others stay.
    @Test func aFullySpecifiedVersionDisconnectsThatMessageOnly() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (table, _, pdo) = try Self.connectFourMessages(dispatcher)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_FULLY_SPECIFIED
        disconnect.ConnectionContext.InterruptObject = table.MessageInfo[2].InterruptObject
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.count == 3)
        var rest = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        rest.Version = CONNECT_MESSAGE_BASED
        rest.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&rest)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        withExtendedLifetime(pdo) {}
    }

    @Test func reportingInactiveWithOneMessagesObjectReportsEveryMessage() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (table, backend, pdo) = try Self.connectFourMessages(dispatcher)
        var state = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
        state.Version = CONNECT_MESSAGE_BASED
        state.ConnectionContext.InterruptObject = table.MessageInfo[0].InterruptObject
        IoReportInterruptInactive(&state)
        let calls = table.MessageInfo.map { $0.InterruptObject.serviceCallCount }
        for message in 0..<4 { backend.raise(message: message) }
        #expect(!eventually(0.3) { table.MessageInfo.map { $0.InterruptObject.serviceCallCount } != calls }, "no message's ISR runs")
        IoReportInterruptActive(&state)
        #expect(eventually { table.MessageInfo.allSatisfy { ($0.InterruptObject.serviceCallCount) >= 1 } }, "each message pending meanwhile is served once active")
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        withExtendedLifetime(pdo) {}
    }
}
