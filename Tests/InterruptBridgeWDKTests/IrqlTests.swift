#if canImport(Glibc)
import Glibc
#endif
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// The IRQL the spin-lock and IRQL routines move the calling thread to, as
/// KeGetCurrentIrql reports it. Quotes are from the wdm.h reference pages.
@Suite("IRQL")
struct IrqlTests {
    /// KeAcquireSpinLock: "first resets the IRQL to DISPATCH_LEVEL and then acquires the
    /// lock. The previous IRQL is written to OldIrql after the lock is acquired."
    /// KeReleaseSpinLock: "releases a spin lock and restores the original IRQL at which
    /// the caller was running."
    @Test(arguments: [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL])
    func keAcquireSpinLockRaisesToDispatchLevelAndReleaseRestores(callerIrql: KIRQL) {
        var Lock = KSPIN_LOCK()
        KeInitializeSpinLock(&Lock)
        var entry: KIRQL = 0xff
        KeRaiseIrql(callerIrql, &entry)
        #expect(entry == PASSIVE_LEVEL)

        var OldIrql: KIRQL = 0xff
        KeAcquireSpinLock(Lock, &OldIrql)
        #expect(OldIrql == callerIrql, "OldIrql is the IRQL the caller ran at")
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL, "held at DISPATCH_LEVEL")
        #expect(Lock.isLocked)
        KeReleaseSpinLock(Lock, OldIrql)
        #expect(KeGetCurrentIrql() == callerIrql, "restored")
        #expect(!Lock.isLocked)
        KeLowerIrql(entry)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL)
    }

    /// KeAcquireSpinLockRaiseToDpc: KeAcquireSpinLock returning the caller's IRQL.
    @Test(arguments: [PASSIVE_LEVEL, APC_LEVEL])
    func keAcquireSpinLockRaiseToDpcReturnsTheCallersIrql(callerIrql: KIRQL) {
        let Lock = KSPIN_LOCK()
        var entry: KIRQL = 0xff
        KeRaiseIrql(callerIrql, &entry)
        let OldIrql = KeAcquireSpinLockRaiseToDpc(Lock)
        #expect(OldIrql == callerIrql)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL && Lock.isLocked)
        KeReleaseSpinLock(Lock, OldIrql)
        #expect(KeGetCurrentIrql() == callerIrql && !Lock.isLocked)
        KeLowerIrql(entry)
    }

    /// KeAcquireSpinLockAtDpcLevel: drivers call it "instead of KeAcquireSpinLock for
    /// better driver performance if and only if they are already running at IRQL >=
    /// DISPATCH_LEVEL": it leaves the IRQL as it is, and so does its release.
    @Test func theAtDpcLevelVariantsLeaveTheIrqlAlone() {
        let Lock = KSPIN_LOCK()
        let OldIrql = KeRaiseIrqlToDpcLevel()
        #expect(OldIrql == PASSIVE_LEVEL)
        KeAcquireSpinLockAtDpcLevel(Lock)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL)
        #expect(Lock.isLocked)
        KeReleaseSpinLockFromDpcLevel(Lock)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL)
        #expect(!Lock.isLocked)
        KeLowerIrql(OldIrql)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL)
    }

    /// KeRaiseIrql "raises the hardware priority to the specified IRQL value, thereby
    /// masking off interrupts of equivalent or lower IRQL"; KeLowerIrql "restores the IRQL
    /// on the current processor to its original value".
    @Test func keRaiseIrqlAndKeLowerIrqlNest() {
        var first: KIRQL = 0xff
        var second: KIRQL = 0xff
        KeRaiseIrql(DISPATCH_LEVEL, &first)
        KeRaiseIrql(HIGH_LEVEL, &second)
        #expect(first == PASSIVE_LEVEL && second == DISPATCH_LEVEL)
        #expect(KeGetCurrentIrql() == HIGH_LEVEL)
        KeLowerIrql(second)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL)
        KeLowerIrql(first)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL)
    }

    /// KeAcquireInterruptSpinLock "acquires an interrupt object's spin lock" at the
    /// interrupt's SynchronizeIrql and returns the previous IRQL, whatever it was; the
    /// release returns to it. Checked from PASSIVE_LEVEL and from DISPATCH_LEVEL.
    @Test(arguments: [PASSIVE_LEVEL, DISPATCH_LEVEL])
    func keAcquireInterruptSpinLockRaisesToSynchronizeIrql(callerIrql: KIRQL) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (_, _, _, interrupt) = try SynchronizationAndDPCTests.connected(on: dispatcher)
        #expect(interrupt.synchronizeIrql.rawValue > DISPATCH_LEVEL)
        var entry: KIRQL = 0xff
        KeRaiseIrql(callerIrql, &entry)
        let OldIrql = KeAcquireInterruptSpinLock(interrupt)
        #expect(OldIrql == callerIrql)
        #expect(KeGetCurrentIrql() == interrupt.synchronizeIrql.rawValue)
        KeReleaseInterruptSpinLock(interrupt, OldIrql)
        #expect(KeGetCurrentIrql() == callerIrql)
        KeLowerIrql(entry)
        IoDisconnectInterrupt(interrupt)
    }

    static func connectPassive(_ dispatcher: InterruptDispatcher) throws -> (DEVICE_EXTENSION, KINTERRUPT) {
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.fullySpecified(pdo, devExt)
        params.FullySpecified.Irql = PASSIVE_LEVEL
        params.FullySpecified.SynchronizeIrql = PASSIVE_LEVEL
        params.FullySpecified.SpinLock = nil
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        return (devExt, try #require(devExt.IntObj))
    }

    /// "If Interrupt points to an interrupt object that connects to a passive-level ISR,
    /// KeAcquireInterruptSpinLock causes a bug check": the process stops. The same object
    /// synchronizes through KeSynchronizeExecution.
    @Test func keAcquireInterruptSpinLockOnAPassiveLevelInterruptStopsTheProcess() async throws {
        let dispatcher = try makeDispatcher()
        let (devExt, interrupt) = try Self.connectPassive(dispatcher)
        #expect(KeSynchronizeExecution(interrupt, { _ in KeGetCurrentIrql() == PASSIVE_LEVEL ? TRUE : FALSE }, devExt) == TRUE)
        IoDisconnectInterrupt(interrupt)
        dispatcher.shutdown()

        await #expect(processExitsWith: .failure) {
            let dispatcher = try makeDispatcher()
            let (_, interrupt) = try IrqlTests.connectPassive(dispatcher)
            _ = KeAcquireInterruptSpinLock(interrupt)
            exit(0)
        }
    }

    /// "Callers of KeSynchronizeExecution must be running at IRQL <= DIRQL, that is, less
    /// than or equal to the value of the SynchronizeIrql" (and KeAcquireInterruptSpinLock's
    /// at IRQL <= DIRQL): at its SynchronizeIrql both work; above it (the lock of a higher
    /// interrupt held) the process stops, as Windows bug-checks, where the IRQL was lowered
    /// silently.
    @Test func synchronizingAboveTheInterruptsSynchronizeIrqlStopsTheProcess() async throws {
        let dispatcher = try makeDispatcher()
        let interrupt = try Self.connectAtFive(on: dispatcher)
        var OldIrql: KIRQL = 0
        KeRaiseIrql(5, &OldIrql)
        #expect(KeSynchronizeExecution(interrupt, { _ in KeGetCurrentIrql() == 5 ? TRUE : FALSE }, nil) == TRUE, "at its SynchronizeIrql")
        let held = KeAcquireInterruptSpinLock(interrupt)
        #expect(held == 5 && KeGetCurrentIrql() == 5)
        KeReleaseInterruptSpinLock(interrupt, held)
        KeLowerIrql(OldIrql)
        IoDisconnectInterrupt(interrupt)
        dispatcher.shutdown()

        // The stop is the check's, not some other failure: its message names the mistake.
        let synchronized = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent],
                                         "KeSynchronizeExecution at IRQL 7 on a SynchronizeIrql 5 interrupt") {
            let interrupt = try IrqlTests.connectAtFiveThenRaiseToSeven()
            _ = KeSynchronizeExecution(interrupt, { _ in TRUE }, nil)
            exit(0)
        }
        let synchronizeMessage = String(decoding: synchronized?.standardErrorContent ?? [], as: UTF8.self)
        #expect(synchronizeMessage.contains("KeSynchronizeExecution: called at IRQL 7, above vector"), "\(synchronizeMessage)")
        let acquired = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent],
                                     "KeAcquireInterruptSpinLock at IRQL 7 on a SynchronizeIrql 5 interrupt") {
            let interrupt = try IrqlTests.connectAtFiveThenRaiseToSeven()
            _ = KeAcquireInterruptSpinLock(interrupt)
            exit(0)
        }
        let acquireMessage = String(decoding: acquired?.standardErrorContent ?? [], as: UTF8.self)
        #expect(acquireMessage.contains("KeAcquireInterruptSpinLock: called at IRQL 7, above vector"), "\(acquireMessage)")
    }

    /// A line connected fully specified at Irql = SynchronizeIrql = 5.
    static func connectAtFive(on dispatcher: InterruptDispatcher) throws -> KINTERRUPT {
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.fullySpecified(pdo, devExt)
        params.FullySpecified.Irql = 5
        params.FullySpecified.SynchronizeIrql = 5
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        return try #require(devExt.IntObj)
    }

    /// In an exit test: `connectAtFive`, then the thread raised to 7.
    static func connectAtFiveThenRaiseToSeven() throws -> KINTERRUPT {
        let interrupt = try connectAtFive(on: try makeDispatcher())
        var OldIrql: KIRQL = 0
        KeRaiseIrql(7, &OldIrql)
        return interrupt
    }

    /// In a DPC (DISPATCH_LEVEL) KeAcquireSpinLock returns DISPATCH_LEVEL and its release
    /// leaves the DPC at DISPATCH_LEVEL.
    @Test func keAcquireSpinLockInADpc() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
            let devExt = DeferredContext as! DEVICE_EXTENSION
            var OldIrql: KIRQL = 0xff
            KeAcquireSpinLock(devExt.Lock, &OldIrql)
            let held = KeGetCurrentIrql()
            KeReleaseSpinLock(devExt.Lock, OldIrql)
            devExt.interruptMatched.store(OldIrql == DISPATCH_LEVEL && held == DISPATCH_LEVEL
                                          && KeGetCurrentIrql() == DISPATCH_LEVEL, ordering: .relaxed)
            devExt.dpcCalls.add(1, ordering: .releasing)
        }, devExt, dispatcher: dispatcher)
        #expect(KeInsertQueueDpc(devExt.Dpc, nil, nil))
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(devExt.matched)
    }
}
