import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeWDK
import Logging
import Testing

/// Issue 8: IoReportInterruptInactive / IoReportInterruptActive (wdm.h, Windows 8).
/// The reference page: "informs the operating system that a registered interrupt
/// service routine (ISR) is inactive and is not expecting interrupt requests";
/// "By default, the ISR is active after the IoConnectInterruptEx call"; "An ISR that
/// is in the inactive state can be disconnected or made active." On the manually
/// stepped dispatcher, so what is (not) called is exact.
@Suite("IoReportInterruptInactive/Active")
struct ReportInterruptActiveStateTests {
    typealias Params = ConnectStatusTests

    static func stepped() throws -> InterruptDispatcher {
        try .manuallyStepped(logger: Logger(label: "wdk-test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func report(_ active: Bool, version: ULONG, _ set: (inout IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS) -> Void) {
        var parameters = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
        parameters.Version = version
        set(&parameters)
        if active { IoReportInterruptActive(&parameters) } else { IoReportInterruptInactive(&parameters) }
    }

    @Test func aLineBasedISRIsNotCalledWhileInactiveAndTheRaisedLineFiresOnceActive() throws {
        let dispatcher = try Self.stepped()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true), on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let interrupt = try #require(devExt.IntObj)
        Self.report(false, version: CONNECT_LINE_BASED) { $0.ConnectionContext.InterruptObject = interrupt }
        #expect(!interrupt.isActive)
        backend.raise()
        #expect(dispatcher.step() == 0 && devExt.calls == 0, "inactive: the ISR is not called")
        #expect(backend.isLineMasked, "the raised line is held, masked")
        backend.acknowledge()  // what the ISR would do (the line is level: the test ISR does not clear it)
        Self.report(true, version: CONNECT_LINE_BASED) { $0.ConnectionContext.InterruptObject = interrupt }
        #expect(dispatcher.step() == 1 && devExt.calls == 1, "reported active: the line raised meanwhile fires")
        #expect(!backend.isLineMasked)

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_LINE_BASED
        disconnect.ConnectionContext.InterruptObject = interrupt
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func aMessageTableContextCoversEveryMessage() throws {
        let dispatcher = try Self.stepped()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
        Self.report(false, version: params.Version) { $0.ConnectionContext.InterruptMessageTable = table }
        #expect(table.MessageInfo.allSatisfy { !$0.InterruptObject.isActive })
        for message in 0..<4 { backend.raise(message: message) }
        backend.raise(message: 3)
        #expect(dispatcher.step() == 0 && devExt.calls == 0, "no message's ISR is called while inactive")
        // Generic names the same location: the report reads the table through it too.
        Self.report(true, version: params.Version) { $0.ConnectionContext.Generic = table }
        #expect(dispatcher.step() == 4 && devExt.calls == 4, "what each eventfd counted arrives once active")
        #expect(devExt.seenMessages == 0b1111)
        #expect(table.MessageInfo[3].InterruptObject.deliveredSignalCount == 2)

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func anInactiveISRCanBeDisconnected() throws {
        let dispatcher = try Self.stepped()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
        Self.report(false, version: params.Version) { $0.ConnectionContext.InterruptMessageTable = table }
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty && backend.enabledKind == nil)
        // Reporting a disconnected context does nothing (VOID: no status to return).
        Self.report(true, version: params.Version) { $0.ConnectionContext.InterruptMessageTable = table }
        #expect(!backend.raise(message: 0) && dispatcher.step() == 0 && devExt.calls == 0)
    }

    @Test(arguments: [ULONG(0), 6, 0xffff_ffff])
    func anUnknownVersionOrAnEmptyContextDoesNothing(version: ULONG) throws {
        let dispatcher = try Self.stepped()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let interrupt = try #require(devExt.IntObj)
        Self.report(false, version: version) { $0.ConnectionContext.InterruptObject = interrupt }
        Self.report(false, version: CONNECT_LINE_BASED) { $0.ConnectionContext.Generic = nil }
        #expect(interrupt.isActive)
        backend.raise()
        #expect(dispatcher.step() == 1 && devExt.calls == 1)
        IoDisconnectInterrupt(interrupt)
    }
}
