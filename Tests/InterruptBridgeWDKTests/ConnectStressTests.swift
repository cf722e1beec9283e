import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// Connect and disconnect through the facade many times while another thread keeps
/// raising interrupts: nothing stays connected or enabled, no ISR runs after its
/// disconnect returned, and interrupts raised while connected reach an ISR.
@Suite("Connect/disconnect under interrupt load")
struct ConnectStressTests {
    @Test(arguments: [CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED])
    func connectDisconnectCyclesLeaveNothingBehind(version: ULONG) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let shape = version == CONNECT_LINE_BASED ? Devices.lineOnly : Devices.msix4
        let (pdo, backend) = makePDO(shape, on: dispatcher)
        let messages = version == CONNECT_LINE_BASED ? 1 : 4
        let stop = Flag()
        let raiser = try PThread.spawn(name: "raiser") {
            var message = 0
            while !stop.isSet {
                backend.raise(message: message)
                message = (message + 1) % messages
            }
        }
        defer {
            stop.set()
            try? PThread.join(raiser)
        }

        let cycles = 500
        let afterDisconnect = Counter()
        for _ in 0..<cycles {
            let devExt = DEVICE_EXTENSION()
            let disconnected = Flag()
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = version
            if version == CONNECT_LINE_BASED {
                params.LineBased.PhysicalDeviceObject = pdo
                params.LineBased.InterruptObject = devExt.pointer(to: \.IntObj)
                params.LineBased.ServiceRoutine = { _, _ in
                    if disconnected.isSet { afterDisconnect.increment() }
                    devExt.isrCalls.add(1, ordering: .releasing)
                    return TRUE
                }
            } else {
                params.MessageBased.PhysicalDeviceObject = pdo
                params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
                params.MessageBased.MessageServiceRoutine = { _, _, _ in
                    if disconnected.isSet { afterDisconnect.increment() }
                    devExt.isrCalls.add(1, ordering: .releasing)
                    return TRUE
                }
            }
            try #require(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
            // Every connection sees interrupts (the raiser never stops).
            #expect(eventually { devExt.calls > 0 })

            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = params.Version
            disconnect.ConnectionContext.Generic = version == CONNECT_LINE_BASED ? devExt.IntObj : devExt.ConnectionContext
            IoDisconnectInterruptEx(&disconnect)
            disconnected.set()
            #expect(dispatcher.connectedInterrupts.isEmpty)
            #expect(backend.enabledKind == nil)
        }
        #expect(afterDisconnect.count == 0, "no ISR ran after its disconnect returned")
    }
}

/// A flag one thread sets and others read.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A counter ISRs bump without allocating.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}
