import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// The routines legacy drivers call around their ISRs and DPCs (ReactOS serial and
/// i8042prt, found by a port of them): the processor routines, the in-stack queued
/// spin lock, the DPC's target and importance.
@Suite struct PortingCompanionTests {
    @Test func theCurrentProcessorIsAnActiveOneOfGroupZero() {
        let active = KeQueryActiveProcessors()
        let number = KeGetCurrentProcessorNumber()
        #expect(number < 64 && active & (KAFFINITY(1) << number) != 0, "processor \(number) in 0x\(String(active, radix: 16))")
        var ProcNumber = PROCESSOR_NUMBER(Group: 7, Number: 99)
        let index = KeGetCurrentProcessorNumberEx(&ProcNumber)
        #expect(ProcNumber.Group == 0 && ULONG(ProcNumber.Number) == index && active & (KAFFINITY(1) << index) != 0)
        var mask: KAFFINITY = 0
        #expect(KeQueryActiveProcessorCount(&mask) == ULONG(active.nonzeroBitCount) && mask == active)
        #expect(KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) == ULONG(active.nonzeroBitCount))
        #expect(KeQueryActiveProcessorCountEx(0) == ULONG(active.nonzeroBitCount))
        #expect(KeQueryActiveProcessorCountEx(1) == 0, "there is one group")
    }

    @Test func keStallExecutionProcessorWaitsAtLeastThatLong() {
        for microseconds: ULONG in [0, 1, 50, 500] {
            let start = ContinuousClock.now
            KeStallExecutionProcessor(microseconds)
            #expect(ContinuousClock.now - start >= .microseconds(Int(microseconds)))
        }
    }

    /// KeAcquireInStackQueuedSpinLock is KeAcquireSpinLock with the IRQL kept in the
    /// handle; the lock is the one KeTryToAcquireSpinLockAtDpcLevel finds held.
    /// Synchronous: the IRQL is the thread's, and an await could resume on another.
    @Test func theInStackQueuedSpinLockRaisesHoldsAndRestores() throws {
        var Lock = KSPIN_LOCK()
        KeInitializeSpinLock(&Lock)
        var LockHandle = KLOCK_QUEUE_HANDLE()
        KeAcquireInStackQueuedSpinLock(Lock, &LockHandle)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL && LockHandle.OldIrql == PASSIVE_LEVEL && LockHandle.LockQueue === Lock)
        let lock = Lock
        let elsewhere = try onAnotherThread { KeTryToAcquireSpinLockAtDpcLevel(lock) }
        #expect(elsewhere == FALSE, "held")
        KeReleaseInStackQueuedSpinLock(&LockHandle)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL && LockHandle.LockQueue == nil)
        #expect(KeTryToAcquireSpinLockAtDpcLevel(Lock) == TRUE, "free again")
        KeReleaseSpinLockFromDpcLevel(Lock)

        var OldIrql: KIRQL = 0
        KeRaiseIrql(DISPATCH_LEVEL, &OldIrql)
        KeAcquireInStackQueuedSpinLockAtDpcLevel(Lock, &LockHandle)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL && Lock.isLocked)
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&LockHandle)
        #expect(KeGetCurrentIrql() == DISPATCH_LEVEL && !Lock.isLocked)
        KeLowerIrql(OldIrql)
    }

    /// Accepted, and the DPC runs as before on its dispatcher's thread.
    @Test func aDpcGivenATargetAndImportanceStillRuns() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        initializeCountingDpc(devExt, on: dispatcher)
        KeSetImportanceDpc(devExt.Dpc, HighImportance)
        KeSetTargetProcessorDpc(devExt.Dpc, 0)
        #expect(KeSetTargetProcessorDpcEx(devExt.Dpc, PROCESSOR_NUMBER(Group: 0, Number: 1)) == STATUS_SUCCESS)
        #expect(KeSetTargetProcessorDpcEx(devExt.Dpc, PROCESSOR_NUMBER(Group: 1, Number: 0)) == STATUS_INVALID_PARAMETER)
        #expect(KeInsertQueueDpc(devExt.Dpc, nil, nil) == TRUE)
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
    }

    private func onAnotherThread<T: Sendable>(_ body: @escaping @Sendable () -> T) throws -> T {
        let result = Mutex<T?>(nil)
        let thread = try PThread.spawn(name: "wdk-test") { let value = body(); result.withLock { $0 = value } }
        try PThread.join(thread)
        return try #require(result.withLock { $0 })
    }
}
