import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Testing

/// `MessageBased.ConnectionContext` is a union: its three members name one location.
///
/// Seed 001 (IO_CONNECT_INTERRUPT_PARAMETERS): "A pointer to a location that receives a
/// pointer to the connection context. If on return Version has a value of
/// CONNECT_LINE_BASED, the routine provides a pointer to a KINTERRUPT structure. If on
/// return Version has a value of CONNECT_MESSAGE_BASED, the routine provides a pointer
/// to an IO_INTERRUPT_MESSAGE_INFO structure. To minimize casting, ConnectionContext is
/// defined as a union. Use ConnectionContext.Generic to treat the location as a PVOID.
/// Use ConnectionContext.InterruptObject and ConnectionContext.InterruptMessageTable to
/// treat the location as a PKINTERRUPT or PIO_INTERRUPT_MESSAGE_INFO variable respectively."
@Suite("ConnectionContext union")
struct ConnectionContextUnionTests {
    typealias Params = ConnectStatusTests

    enum Member: String, CaseIterable, CustomTestStringConvertible {
        case Generic, InterruptObject, InterruptMessageTable
        var testDescription: String { rawValue }

        /// Points this member at `devExt.ConnectionContext`, as a driver does with `&devExt->...`.
        func point(_ params: inout IO_CONNECT_INTERRUPT_PARAMETERS, at devExt: DEVICE_EXTENSION) {
            params.MessageBased.ConnectionContext = IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT()
            switch self {
            case .Generic: params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            case .InterruptObject: params.MessageBased.ConnectionContext.InterruptObject = devExt.pointer(to: \.ConnectionContext)
            case .InterruptMessageTable:
                params.MessageBased.ConnectionContext.InterruptMessageTable = devExt.pointer(to: \.ConnectionContext)
            }
        }
    }

    /// "If on return Version has a value of CONNECT_MESSAGE_BASED, the routine provides a
    /// pointer to an IO_INTERRUPT_MESSAGE_INFO structure": whichever member was set.
    @Test(arguments: Member.allCases)
    func everyMemberReceivesTheMessageTable(member: Member) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: true)
        member.point(&params, at: devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_MESSAGE_BASED, "Version tells the driver the location holds the table")

        let context = params.MessageBased.ConnectionContext
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO, "the driver's variable holds the table")
        #expect(table.MessageCount == 4)
        // The three members are views of that one location and answer what it holds.
        #expect(context.InterruptMessageTable?.pointee === table)
        #expect(context.Generic?.pointee as? IO_INTERRUPT_MESSAGE_INFO === table)
        #expect(context.InterruptObject != nil, "the member names the location even though it holds a table")
        #expect(context.InterruptObject?.pointee == nil, "the location does not hold a KINTERRUPT")

        #expect(backend.raise(message: 2))
        #expect(eventually { devExt.seenMessages & 0b100 != 0 })
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }

    /// "If on return Version has a value of CONNECT_LINE_BASED, the routine provides a
    /// pointer to a KINTERRUPT structure": whichever member was set, even
    /// InterruptMessageTable (C would store the KINTERRUPT's address there).
    @Test(arguments: Member.allCases)
    func everyMemberReceivesTheFallBacksInterruptObject(member: Member) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: true)
        member.point(&params, at: devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_LINE_BASED, "Version tells the driver the location holds a KINTERRUPT")

        let context = params.MessageBased.ConnectionContext
        let interrupt = try #require(devExt.ConnectionContext as? KINTERRUPT, "the driver's variable holds the KINTERRUPT")
        #expect(interrupt.kind == .intx)
        #expect(context.InterruptObject?.pointee === interrupt)
        #expect(context.Generic?.pointee as? KINTERRUPT === interrupt)
        #expect(context.InterruptMessageTable != nil)
        #expect(context.InterruptMessageTable?.pointee == nil, "the location does not hold a message table")

        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 }, "the fall-back routine runs")
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptObject = context.InterruptObject?.pointee
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }

    /// Assigning one member of a union replaces the others: they are one location.
    @Test func assigningOneMemberRenamesTheLocationOfAll() {
        var storage: PVOID = nil
        var other: PVOID = nil
        withUnsafeMutablePointer(to: &storage) { first in
            withUnsafeMutablePointer(to: &other) { second in
                var context = IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT()
                #expect(context.Generic == nil && context.InterruptObject == nil && context.InterruptMessageTable == nil,
                        "RtlZeroMemory: all three are NULL")
                context.InterruptObject = UnionOutParameter(first)
                context.Generic?.pointee = "written through Generic"
                #expect(first.pointee as? String == "written through Generic")
                context.InterruptMessageTable = UnionOutParameter(second)
                context.Generic?.pointee = "now the second"
                #expect(second.pointee as? String == "now the second")
                #expect(first.pointee as? String == "written through Generic", "the first location is no longer named")
                #expect(context.InterruptObject?.pointee == nil, "a String is neither a KINTERRUPT...")
                #expect(context.InterruptMessageTable?.pointee == nil, "...nor a message table")
            }
        }
    }
}
