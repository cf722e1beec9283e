import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeWDK
import Testing

/// Issue 10: "the WDK porting example (ISR context = device extension whose IntObj
/// holds the interrupt object) leaks extension, interrupt object and dispatcher per
/// connect". After IoDisconnectInterrupt(Ex) the KINTERRUPT no longer holds its ISR's
/// context, so dropping the extension frees the extension, the interrupt object and,
/// once shut down, the dispatcher, although the driver never cleared IntObj.
@Suite("Ported driver lifetime")
struct PortedDriverLifetimeTests {
    final class Weak<Value: AnyObject>: @unchecked Sendable {
        // @unchecked: written once in init; reading a weak reference is thread-safe.
        weak var value: Value?
        init(_ value: Value?) { self.value = value }
    }

    @Test(arguments: [CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED])
    func disconnectingFreesTheExtensionTheInterruptObjectAndTheDispatcher(version: ULONG) throws {
        var dispatcher: InterruptDispatcher? = try makeDispatcher()
        let weakDispatcher = Weak(dispatcher)
        var devExt: DEVICE_EXTENSION? = DEVICE_EXTENSION()
        let weakExtension = Weak(devExt)
        let weakInterrupt: Weak<KINTERRUPT>
        do {
            let (pdo, backend) = makePDO(version == CONNECT_LINE_BASED ? Devices.lineOnly : Devices.msix4, on: dispatcher!)
            var params = version == CONNECT_LINE_BASED
                ? ConnectStatusTests.lineBased(pdo, devExt!) : ConnectStatusTests.messageBased(pdo, devExt!, fallBack: false)
            #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = params.Version
            if version == CONNECT_LINE_BASED {
                disconnect.ConnectionContext.InterruptObject = devExt!.IntObj
            } else {
                let table = try #require(devExt!.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
                disconnect.ConnectionContext.InterruptMessageTable = table
                devExt!.IntObj = table.MessageInfo[0].InterruptObject  // the extension holds its interrupt object
            }
            weakInterrupt = Weak(devExt!.IntObj)
            #expect(backend.raise())
            #expect(eventually { devExt!.calls == 1 })
            IoDisconnectInterruptEx(&disconnect)
        }
        devExt = nil  // IntObj and ConnectionContext still set, as a driver's extension is freed
        #expect(eventually { weakExtension.value == nil && weakInterrupt.value == nil },
                "the KINTERRUPT's routine, which captured the extension, was released at disconnect")
        dispatcher!.shutdown()
        dispatcher = nil
        #expect(weakDispatcher.value == nil)
    }
}
