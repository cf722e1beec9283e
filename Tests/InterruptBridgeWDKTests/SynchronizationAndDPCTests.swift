import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// KeSynchronizeExecution, the interrupt spin lock, and DPCs through the facade.
@Suite("Synchronization and DPCs")
struct SynchronizationAndDPCTests {
    typealias Params = ConnectStatusTests

    /// A connected line-based interrupt on a fresh device.
    static func connected(on dispatcher: InterruptDispatcher, isr: KSERVICE_ROUTINE? = nil)
        throws -> (DEVICE_OBJECT, SimulatedBackend, DEVICE_EXTENSION, KINTERRUPT) {
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.lineBased(pdo, devExt)
        if let isr { params.LineBased.ServiceRoutine = isr }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        return (pdo, backend, devExt, try #require(devExt.IntObj))
    }

    @Test(arguments: [TRUE, FALSE])
    func keSynchronizeExecutionReturnsTheRoutinesValueUnchanged(value: BOOLEAN) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (_, _, devExt, interrupt) = try Self.connected(on: dispatcher)
        let result = KeSynchronizeExecution(interrupt, { SynchronizeContext in
            // The routine gets the context and runs holding the interrupt lock at SynchronizeIrql.
            (SynchronizeContext as? DEVICE_EXTENSION) === devExt && interrupt.spinLock?.isLocked == true
                && KeGetCurrentIrql() == interrupt.synchronizeIrql.rawValue ? value : !value
        }, devExt)
        #expect(result == value)
        #expect(interrupt.spinLock?.isLocked == false)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL)
        IoDisconnectInterrupt(interrupt)
    }

    @Test func keSynchronizeExecutionExcludesTheISR() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (_, backend, devExt, interrupt) = try Self.connected(on: dispatcher)
        // While the synchronize routine runs, a raised interrupt must wait for it.
        let callsInside = KeSynchronizeExecution(interrupt, { _ in
            backend.raise()
            // Give the dispatch thread every chance to (wrongly) run the ISR now.
            for _ in 0..<2_000 where devExt.calls == 0 { PThread.yieldProcessor() }
            return devExt.calls == 0
        }, nil)
        #expect(callsInside, "the ISR did not run while KeSynchronizeExecution held the lock")
        #expect(eventually { devExt.calls == 1 }, "and ran once it was released")
        IoDisconnectInterrupt(interrupt)
    }

    @Test func keAcquireInterruptSpinLockRaisesToSynchronizeIrqlAndReleaseRestores() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (_, _, _, interrupt) = try Self.connected(on: dispatcher)
        let OldIrql = KeAcquireInterruptSpinLock(interrupt)
        #expect(OldIrql == PASSIVE_LEVEL)
        #expect(KeGetCurrentIrql() == interrupt.synchronizeIrql.rawValue)
        #expect(interrupt.spinLock?.isLocked == true)
        KeReleaseInterruptSpinLock(interrupt, OldIrql)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL)
        #expect(interrupt.spinLock?.isLocked == false)
        IoDisconnectInterrupt(interrupt)
    }

    @Test func aDriverSpinLockExcludesTheISRThatWasConnectedWithIt() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        KeInitializeSpinLock(&devExt.Lock)
        var params = Params.lineBased(pdo, devExt)
        params.LineBased.SpinLock = devExt.Lock
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)

        var OldIrql: KIRQL = 0xff
        KeAcquireSpinLock(devExt.Lock, &OldIrql)
        #expect(OldIrql == PASSIVE_LEVEL)
        backend.raise()
        for _ in 0..<2_000 where devExt.calls == 0 { PThread.yieldProcessor() }
        #expect(devExt.calls == 0, "the ISR waits for the lock it was connected with")
        KeReleaseSpinLock(devExt.Lock, OldIrql)
        #expect(eventually { devExt.calls == 1 })

        let entry = KeRaiseIrqlToDpcLevel()
        KeAcquireSpinLockAtDpcLevel(devExt.Lock)
        #expect(devExt.Lock.isLocked)
        KeReleaseSpinLockFromDpcLevel(devExt.Lock)
        #expect(!devExt.Lock.isLocked)
        KeLowerIrql(entry)
        IoDisconnectInterrupt(devExt.IntObj)
    }

    @Test func keInsertQueueDpcFromTheISRRunsTheDpcOnceWithItsArguments() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        KeInitializeDpc(&devExt.Dpc, { Dpc, DeferredContext, SystemArgument1, SystemArgument2 in
            let devExt = DeferredContext as! DEVICE_EXTENSION
            devExt.dpcIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.dpcArguments.withLock { $0.append("\(SystemArgument1 ?? "nil") \(SystemArgument2 ?? "nil")") }
            devExt.dpcCalls.add(1, ordering: .releasing)
        }, devExt, dispatcher: dispatcher)
        #expect(devExt.Dpc.isInitialized)

        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        var params = Params.lineBased(pdo, devExt)
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            // The first insertion queues it; a second before it ran returns FALSE.
            let first = KeInsertQueueDpc(devExt.Dpc, 1, "one")
            let second = KeInsertQueueDpc(devExt.Dpc, 2, "two")
            devExt.interruptMatched.store(first && !second, ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise())
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(devExt.matched, "KeInsertQueueDpc returned TRUE, then FALSE while queued")
        #expect(devExt.dpcArguments.withLock { $0 } == ["1 one"], "the first insertion's arguments were delivered")
        #expect(devExt.dpcIrql.load(ordering: .relaxed) == DISPATCH_LEVEL)

        // Once it ran it can be queued again, from any thread.
        #expect(KeInsertQueueDpc(devExt.Dpc, nil, nil))
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 2 })
        IoDisconnectInterrupt(devExt.IntObj)
    }

    @Test func anUninitializedDpcIsNeverQueued() {
        let Dpc = KDPC()
        #expect(!Dpc.isInitialized)
        #expect(KeInsertQueueDpc(Dpc, nil, nil) == FALSE)
    }

    @Test func ioRequestDpcQueuesTheDevicesDpcForIsr() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (DeviceObject, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        DeviceObject.DeviceExtension = devExt
        #expect(IoRequestDpc(DeviceObject, nil, nil) == FALSE, "no DpcForIsr before IoInitializeDpcRequest")

        IoInitializeDpcRequest(DeviceObject) { Dpc, DeviceObject, Irp, Context in
            let devExt = DeviceObject.DeviceExtension as! DEVICE_EXTENSION
            devExt.dpcArguments.withLock { $0.append("\(Irp == nil) \(Context ?? "nil")") }
            devExt.dpcIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.dpcCalls.add(1, ordering: .releasing)
        }
        var params = Params.lineBased(DeviceObject, devExt)
        params.LineBased.ServiceContext = DeviceObject
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let DeviceObject = ServiceContext as! DEVICE_OBJECT
            IoRequestDpc(DeviceObject, nil, "from the ISR")
            (DeviceObject.DeviceExtension as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise())
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(devExt.dpcArguments.withLock { $0 } == ["true from the ISR"])
        #expect(devExt.dpcIrql.load(ordering: .relaxed) == DISPATCH_LEVEL)
        IoDisconnectInterrupt(devExt.IntObj)
    }
}
