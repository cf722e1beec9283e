import Glibc
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// "Making an ISR Active or Inactive": "the IoReportInterruptXxx routines can be called at
/// IRQL <= DISPATCH_LEVEL"; "An IoReportInterruptActive call that occurs when the ISR is
/// already active has no effect, but is not treated as an error. Similarly, an
/// IoReportInterruptInactive call that occurs when the ISR is already inactive has no effect".
@Suite("IoReportInterruptInactive/Active: IRQL and repeated reports")
struct ReportActiveStateAtDispatchTests {
    typealias Params = ConnectStatusTests

    /// A driver's power-down path holds its own spin lock (DISPATCH_LEVEL) while it reports
    /// the ISR inactive, and its DPC takes the same lock: the DPC, on the dispatch thread,
    /// spins until the driver releases it. The report must not wait for that thread, or
    /// neither ever proceeds (the child process is stopped by its alarm).
    @Test func aReportAtDispatchLevelDoesNotWaitForADpcSpinningOnTheCallersLock() async {
        await #expect(processExitsWith: .success) {
            alarm(20)
            let dispatcher = try makeDispatcher()
            let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
            let devExt = DEVICE_EXTENSION()
            KeInitializeSpinLock(&devExt.Lock)
            KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
                let devExt = DeferredContext as! DEVICE_EXTENSION
                devExt.dpcCalls.add(1, ordering: .releasing)  // entered
                var OldIrql: KIRQL = 0
                KeAcquireSpinLock(devExt.Lock, &OldIrql)
                KeReleaseSpinLock(devExt.Lock, OldIrql)
                devExt.dpcCalls.add(1, ordering: .releasing)  // left
            }, devExt, dispatcher: dispatcher)
            var params = Params.lineBased(pdo, devExt)
            guard IoConnectInterruptEx(&params) == STATUS_SUCCESS else { exit(2) }
            var report = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
            report.Version = params.Version
            report.ConnectionContext.InterruptObject = devExt.IntObj

            var OldIrql: KIRQL = 0
            KeAcquireSpinLock(devExt.Lock, &OldIrql)
            KeInsertQueueDpc(devExt.Dpc, nil, nil)
            guard eventually(10, { devExt.dpcCalls.load(ordering: .acquiring) == 1 }) else { exit(3) }
            IoReportInterruptInactive(&report)
            KeReleaseSpinLock(devExt.Lock, OldIrql)
            guard eventually(10, { devExt.dpcCalls.load(ordering: .acquiring) == 2 }) else { exit(4) }

            backend.raise()
            guard !eventually(0.3, { devExt.calls > 0 }) else { exit(5) }  // inactive once the loop applied it
            KeAcquireSpinLock(devExt.Lock, &OldIrql)
            IoReportInterruptActive(&report)
            KeReleaseSpinLock(devExt.Lock, OldIrql)
            guard eventually(10, { devExt.calls == 1 }) else { exit(6) }
            IoDisconnectInterrupt(devExt.IntObj)
            dispatcher.shutdown()
            exit(0)
        }
    }

    /// Repeated reports do not nest: two inactive reports are undone by one active report,
    /// and an active report on an active ISR changes nothing.
    @Test func repeatedReportsHaveNoFurtherEffect() throws {
        let dispatcher = try ReferencePageRulesTests.stepped()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var report = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
        report.Version = params.Version
        report.ConnectionContext.Generic = devExt.ConnectionContext

        IoReportInterruptActive(&report)  // already active: no effect
        backend.raise(message: 1)
        dispatcher.runUntilIdle()
        #expect(devExt.calls == 1)

        IoReportInterruptInactive(&report)
        IoReportInterruptInactive(&report)  // already inactive: no effect
        IoReportInterruptActive(&report)
        backend.raise(message: 2)
        dispatcher.runUntilIdle()
        #expect(devExt.calls == 2, "one active report undoes any number of inactive ones")
        ReferencePageRulesTests.disconnect(params.Version, devExt.ConnectionContext)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}
