import Glibc
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// Inside KeSynchronizeExecution on a passive-level interrupt (CONNECT_MESSAGE_BASED_PASSIVE,
/// or a fully specified connect at PASSIVE_LEVEL) the caller stays at PASSIVE_LEVEL but holds
/// the interrupt's passive lock. With that interrupt pending, the passive dispatch thread
/// waits for the lock: an IoReportInterruptInactive or IoDisconnectInterrupt(Ex) there that
/// waited for the loop would wait forever (each child process is stopped by its alarm if it
/// hangs), as above PASSIVE_LEVEL (DisconnectAbovePassiveTests).
@Suite("IoDisconnectInterrupt(Ex), IoReportInterruptInactive holding a passive interrupt lock")
struct PassiveInterruptLockHeldTests {
    /// A connected passive-level interrupt, what raises an interrupt it serves (one the passive
    /// thread then waits for the lock to call), and the parameters that disconnect it.
    struct Passive {
        /// Kept to the end, as a driver keeps its PDO: a child that exits with the PDO freed
        /// and its dispatcher's registry still naming it weakly shows LeakSanitizer a leak.
        let pdo: DEVICE_OBJECT
        let devExt: DEVICE_EXTENSION
        let interrupt: PKINTERRUPT
        let raise: () -> Void
        var disconnect: IO_DISCONNECT_INTERRUPT_PARAMETERS
    }

    /// CONNECT_MESSAGE_BASED_PASSIVE on four messages (synchronizing on message 0, raising
    /// message 1, which shares its lock), or a fully specified connect of a line at PASSIVE_LEVEL.
    static func connectPassive(messageTable: Bool, on dispatcher: InterruptDispatcher) -> Passive {
        let devExt = DEVICE_EXTENSION()
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        if messageTable {
            let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
            var params = PassiveMessageConnectTests.passive(pdo, devExt)
            guard IoConnectInterruptEx(&params) == STATUS_SUCCESS, params.Version == CONNECT_MESSAGE_BASED_PASSIVE,
                  let table = params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee else { exit(2) }
            disconnect.Version = CONNECT_MESSAGE_BASED_PASSIVE
            disconnect.ConnectionContext.Generic = devExt.ConnectionContext
            return Passive(pdo: pdo, devExt: devExt, interrupt: table.MessageInfo[0].InterruptObject, raise: { _ = backend.raise(message: 1) },
                           disconnect: disconnect)
        }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        var params = ConnectStatusTests.fullySpecified(pdo, devExt)
        params.FullySpecified.Irql = PASSIVE_LEVEL
        params.FullySpecified.SynchronizeIrql = PASSIVE_LEVEL
        guard IoConnectInterruptEx(&params) == STATUS_SUCCESS, devExt.IntObj?.isPassiveLevel == true else { exit(2) }
        disconnect.Version = CONNECT_FULLY_SPECIFIED
        disconnect.ConnectionContext.InterruptObject = devExt.IntObj
        return Passive(pdo: pdo, devExt: devExt, interrupt: devExt.IntObj, raise: { backend.raise() }, disconnect: disconnect)
    }

    @Test(arguments: [true, false])
    func aDisconnectInsideKeSynchronizeExecutionOnAPendingPassiveInterruptReturns(messageTable: Bool) async {
        await #expect(processExitsWith: .success) { [messageTable] in
            alarm(20)
            let dispatcher = try makeDispatcher()
            var passive = Self.connectPassive(messageTable: messageTable, on: dispatcher)
            _ = KeSynchronizeExecution(passive.interrupt, { _ in
                guard KeGetCurrentIrql() == PASSIVE_LEVEL else { exit(5) }
                passive.raise()
                usleep(50_000)  // the passive thread reaches the interrupt and waits for the lock
                IoDisconnectInterruptEx(&passive.disconnect)
                return TRUE
            }, nil)
            guard eventually(10, { dispatcher.connectedInterrupts.isEmpty }) else { exit(3) }
            // The loop had begun that call (it waited for the lock): it may finish, but no other.
            guard passive.devExt.calls <= 1 else { exit(4) }
            dispatcher.shutdown()
            withExtendedLifetime(passive.pdo) { exit(0) }
        }
    }

    /// Reported inactive inside KeSynchronizeExecution with message 1 pending: the report
    /// returns; the call the loop had begun may finish, no later interrupt is served until
    /// the ISR is reported active again, and then the one raised meanwhile is.
    @Test func aReportInactiveInsideKeSynchronizeExecutionOnAPassiveMessageTableReturns() async {
        await #expect(processExitsWith: .success) {
            alarm(20)
            let dispatcher = try makeDispatcher()
            var passive = Self.connectPassive(messageTable: true, on: dispatcher)
            var report = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
            report.Version = CONNECT_MESSAGE_BASED_PASSIVE
            report.ConnectionContext.Generic = passive.devExt.ConnectionContext
            _ = KeSynchronizeExecution(passive.interrupt, { _ in
                passive.raise()
                usleep(50_000)  // the passive thread reaches message 1 and waits for the shared lock
                IoReportInterruptInactive(&report)
                return TRUE
            }, nil)
            let devExt = passive.devExt
            // The loop applies the report after the batch whose call it had begun (waiting for the
            // lock), so once the object reads inactive that call has finished: counted from then
            // (a fixed 0.3 s was too short under Thread Sanitizer, and that call then counted as
            // one served after the report).
            let interrupt = passive.interrupt
            guard eventually(10, { interrupt?.isActive == false }) else { exit(7) }
            let served = devExt.calls
            guard served <= 1 else { exit(3) }
            passive.raise()
            guard !eventually(0.3, { devExt.calls > served }) else { exit(4) }  // inactive
            IoReportInterruptActive(&report)
            guard eventually(10, { devExt.calls == served + 1 }) else { exit(5) }
            IoDisconnectInterruptEx(&passive.disconnect)
            guard dispatcher.connectedInterrupts.isEmpty else { exit(6) }
            dispatcher.shutdown()
            withExtendedLifetime(passive.pdo) { exit(0) }
        }
    }
}
