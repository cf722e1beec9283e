// The selftest's connect step through the WDK facade, as a driver would write it:
// IoConnectInterruptEx with CONNECT_LINE_BASED for INTx and CONNECT_MESSAGE_BASED
// (with a fall-back routine) for MSI/MSI-X; IoDisconnectInterruptEx to undo it.
import InterruptBridge
import InterruptBridgeTooling
import InterruptBridgeCore
import InterruptBridgeWDK

/// The driver's device extension: where IoConnectInterruptEx writes its results.
private final class SelftestDeviceExtension: @unchecked Sendable {
    // Written once by IoConnectInterruptEx on the connecting thread and read by that
    // thread after it returned; never touched by the ISR.
    var IntObj: PKINTERRUPT = nil
    var ConnectionContext: PVOID = nil
}

/// IoConnectInterruptEx failed: the NTSTATUS, as a driver sees it.
struct NTStatusError: Error, CustomStringConvertible {
    var status: NTSTATUS
    var description: String { "IoConnectInterruptEx returned \(status)" }
}

extension SelftestConnector {
    static let wdk = SelftestConnector { dispatcher, device, kind, serve in
        let pdo = DEVICE_OBJECT(device, dispatcher: dispatcher)
        let devExt = SelftestDeviceExtension()
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
        if kind == .intx {
            params.Version = CONNECT_LINE_BASED
            params.LineBased.PhysicalDeviceObject = pdo
            params.LineBased.InterruptObject = OutParameter(devExt, \.IntObj)
            params.LineBased.ServiceRoutine = { _, _ in serve(0) }
            params.LineBased.ServiceContext = nil
            params.LineBased.SpinLock = nil
            params.LineBased.SynchronizeIrql = 0
            params.LineBased.FloatingSave = FALSE
        } else {
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = pdo
            params.MessageBased.ConnectionContext.Generic = OutParameter(devExt, \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = { _, _, MessageID in serve(Int(MessageID)) }
            params.MessageBased.ServiceContext = nil
            params.MessageBased.SpinLock = nil
            params.MessageBased.SynchronizeIrql = 0
            params.MessageBased.FloatingSave = FALSE
            params.MessageBased.FallBackServiceRoutine = { _, _ in serve(0) }
        }
        let status = IoConnectInterruptEx(&params)
        guard NT_SUCCESS(status) else { throw NTStatusError(status: status) }
        let version = params.Version
        // CONNECT_LINE_BASED (asked, or the fall-back) leaves a KINTERRUPT; messages a table.
        let context: PVOID = kind == .intx ? devExt.IntObj : devExt.ConnectionContext
        let table = context as? IO_INTERRUPT_MESSAGE_INFO
        let messages = table.map { Int($0.MessageCount) } ?? 1
        let objects = table.map { $0.MessageInfo.compactMap(\.InterruptObject) } ?? [context as? KINTERRUPT].compactMap { $0 }
        return SelftestConnection(messageCount: messages, objects: objects) {
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = version
            disconnect.ConnectionContext.Generic = context
            IoDisconnectInterruptEx(&disconnect)
        }
    }
}
