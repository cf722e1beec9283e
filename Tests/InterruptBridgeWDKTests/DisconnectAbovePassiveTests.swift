import Glibc
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// IoDisconnectInterruptEx and IoDisconnectInterrupt: "IRQL: PASSIVE_LEVEL". A driver that
/// disconnects above it (inside KeSynchronizeExecution, or holding the spin lock its DPC
/// takes) breaks that rule; here the disconnect must still not hang the process, as waiting
/// for the dispatch loop would (each child process is stopped by its alarm if it hangs).
@Suite("IoDisconnectInterrupt(Ex) above PASSIVE_LEVEL")
struct DisconnectAbovePassiveTests {
    typealias Params = ConnectStatusTests

    /// Inside KeSynchronizeExecution (the interrupt lock held, at its SynchronizeIrql) with
    /// the interrupt pending: the loop waits for the lock the caller holds.
    @Test func aDisconnectInsideKeSynchronizeExecutionReturns() async {
        await #expect(processExitsWith: .success) {
            alarm(20)
            let dispatcher = try makeDispatcher()
            let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
            let devExt = DEVICE_EXTENSION()
            var params = Params.lineBased(pdo, devExt)
            guard IoConnectInterruptEx(&params) == STATUS_SUCCESS else { exit(2) }
            let interrupt = devExt.IntObj
            _ = KeSynchronizeExecution(interrupt, { _ in
                backend.raise()
                usleep(50_000)  // the loop reaches the pending interrupt and waits for the lock
                var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
                disconnect.Version = CONNECT_LINE_BASED
                disconnect.ConnectionContext.InterruptObject = interrupt
                IoDisconnectInterruptEx(&disconnect)
                return TRUE
            }, nil)
            guard eventually(10, { dispatcher.connectedInterrupts.isEmpty }) else { exit(3) }
            // The loop had begun that call (it waited for the lock): it may finish, but no other.
            guard devExt.calls <= 1 else { exit(4) }
            dispatcher.shutdown()
            exit(0)
        }
    }

    /// At DISPATCH_LEVEL holding the spin lock the DPC takes, while the DPC spins for it.
    @Test func aDisconnectHoldingTheLockItsDpcSpinsForReturns() async {
        await #expect(processExitsWith: .success) {
            alarm(20)
            let dispatcher = try makeDispatcher()
            let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
            let devExt = DEVICE_EXTENSION()
            KeInitializeSpinLock(&devExt.Lock)
            KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
                let devExt = DeferredContext as! DEVICE_EXTENSION
                devExt.dpcCalls.add(1, ordering: .releasing)
                var OldIrql: KIRQL = 0
                KeAcquireSpinLock(devExt.Lock, &OldIrql)
                KeReleaseSpinLock(devExt.Lock, OldIrql)
                devExt.dpcCalls.add(1, ordering: .releasing)
            }, devExt, dispatcher: dispatcher)
            var params = Params.lineBased(pdo, devExt)
            guard IoConnectInterruptEx(&params) == STATUS_SUCCESS else { exit(2) }
            var OldIrql: KIRQL = 0
            KeAcquireSpinLock(devExt.Lock, &OldIrql)
            KeInsertQueueDpc(devExt.Dpc, nil, nil)
            guard eventually(10, { devExt.dpcCalls.load(ordering: .acquiring) == 1 }) else { exit(3) }
            IoDisconnectInterrupt(devExt.IntObj)
            backend.raise()
            KeReleaseSpinLock(devExt.Lock, OldIrql)
            guard eventually(10, { dispatcher.connectedInterrupts.isEmpty }) else { exit(4) }
            guard devExt.calls == 0 else { exit(5) }  // no ISR call started after the disconnect returned
            dispatcher.shutdown()
            exit(0)
        }
    }
}
