import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// KeRemoveQueueDpc, KeInitializeThreadedDpc and DeviceObject->Dpc through the facade.
/// Quotes are from the wdm.h reference pages.
@Suite("DPC removal and threaded DPCs")
struct DpcRemovalTests {
    /// Holds the dispatch thread inside an ISR until opened, so DPCs queued meanwhile stay queued.
    final class LoopHold: Sendable {
        let entered = Atomic<Bool>(false)
        let opened = Atomic<Bool>(false)
        func open() { opened.store(true, ordering: .releasing) }
    }

    /// Connects a line ISR that holds the loop, raises it, and waits until it holds.
    static func holdTheLoop(_ dispatcher: InterruptDispatcher) throws -> (LoopHold, KINTERRUPT, DEVICE_OBJECT) {
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let hold = LoopHold()
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.lineBased(pdo, devExt)
        params.LineBased.ServiceContext = hold
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let hold = ServiceContext as! LoopHold
            hold.entered.store(true, ordering: .releasing)
            _ = eventually { hold.opened.load(ordering: .acquiring) }
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise())
        #expect(eventually { hold.entered.load(ordering: .acquiring) })
        return (hold, try #require(devExt.IntObj), pdo)
    }

    /// "If the DPC object is currently in the DPC queue, it is removed from the queue, and
    /// KeRemoveQueueDpc returns TRUE. If the DPC object is not in the queue,
    /// KeRemoveQueueDpc returns FALSE."
    @Test func keRemoveQueueDpcTakesAQueuedDpcBackAndItDoesNotRun() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        KeInitializeDpc(&devExt.Dpc, { Dpc, DeferredContext, SystemArgument1, _ in
            let devExt = DeferredContext as! DEVICE_EXTENSION
            devExt.dpcArguments.withLock { $0.append("\(SystemArgument1 ?? "nil")") }
            devExt.interruptMatched.store(Dpc === devExt.Dpc, ordering: .relaxed)
            devExt.dpcCalls.add(1, ordering: .releasing)
        }, devExt, dispatcher: dispatcher)
        #expect(KeRemoveQueueDpc(devExt.Dpc) == FALSE, "never queued")
        #expect(KeRemoveQueueDpc(KDPC()) == FALSE, "never initialized")

        let (hold, holder, _) = try Self.holdTheLoop(dispatcher)
        #expect(KeInsertQueueDpc(devExt.Dpc, "removed", nil))
        #expect(KeRemoveQueueDpc(devExt.Dpc) == TRUE, "it was queued")
        #expect(KeRemoveQueueDpc(devExt.Dpc) == FALSE, "it is no longer queued")
        #expect(KeInsertQueueDpc(devExt.Dpc, "second", nil), "it can be queued again")
        #expect(KeInsertQueueDpc(devExt.Dpc, "third", nil) == FALSE, "once")
        hold.open()
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(devExt.dpcArguments.withLock { $0 } == ["second"], "the removed insertion never ran")
        #expect(devExt.matched, "the routine's Dpc is the KDPC that was queued")
        #expect(KeRemoveQueueDpc(devExt.Dpc) == FALSE, "it ran: nothing to remove")
        IoDisconnectInterrupt(holder)
    }

    /// The ISR may queue and take back its own DPC: neither allocates nor locks.
    @Test func anISRCanRemoveTheDpcItQueued() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        initializeCountingDpc(devExt, on: dispatcher)
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        var params = ConnectStatusTests.lineBased(pdo, devExt)
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            let queued = KeInsertQueueDpc(devExt.Dpc, devExt, nil)
            let removed = KeRemoveQueueDpc(devExt.Dpc)
            devExt.interruptMatched.store(queued && removed, ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise())
        #expect(eventually { devExt.calls == 1 })
        #expect(devExt.matched)
        // A DPC queued after the ISR's batch runs after it: the removed one would have run first.
        var after = KDPC()
        KeInitializeDpc(&after, { _, DeferredContext, _, _ in
            (DeferredContext as! DEVICE_EXTENSION).dpcIrql.store(1, ordering: .releasing)
        }, devExt, dispatcher: dispatcher)
        #expect(KeInsertQueueDpc(after, nil, nil))
        #expect(eventually { devExt.dpcIrql.load(ordering: .acquiring) == 1 })
        #expect(devExt.dpcCalls.load(ordering: .acquiring) == 0, "the removed DPC did not run")
        IoDisconnectInterrupt(devExt.IntObj)
    }

    /// KeInitializeThreadedDpc: "A threaded DPC ... executes at IRQL = PASSIVE_LEVEL" where
    /// threaded DPCs are enabled, as here; it is removed and re-queued as any DPC.
    @Test func aThreadedDpcRunsAtPassiveLevel() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        KeInitializeThreadedDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
            let devExt = DeferredContext as! DEVICE_EXTENSION
            devExt.dpcIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.dpcCalls.add(1, ordering: .releasing)
        }, devExt, dispatcher: dispatcher)
        #expect(devExt.Dpc.call?.isThreaded == true)
        let (hold, holder, _) = try Self.holdTheLoop(dispatcher)
        #expect(KeInsertQueueDpc(devExt.Dpc, nil, nil))
        #expect(KeRemoveQueueDpc(devExt.Dpc))
        #expect(KeInsertQueueDpc(devExt.Dpc, nil, nil))
        hold.open()
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(devExt.dpcIrql.load(ordering: .relaxed) == PASSIVE_LEVEL)
        IoDisconnectInterrupt(holder)
    }

    /// IoInitializeDpcRequest initializes `DeviceObject->Dpc` with the device object as its
    /// context; IoRequestDpc is KeInsertQueueDpc on it, so KeRemoveQueueDpc takes it back.
    @Test func deviceObjectDpcIsTheDpcForIsr() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (DeviceObject, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        DeviceObject.DeviceExtension = devExt
        #expect(!DeviceObject.Dpc.isInitialized)
        IoInitializeDpcRequest(DeviceObject) { Dpc, DeviceObject, _, Context in
            let devExt = DeviceObject.DeviceExtension as! DEVICE_EXTENSION
            devExt.dpcArguments.withLock { $0.append("\(Context ?? "nil")") }
            devExt.interruptMatched.store(Dpc === DeviceObject.Dpc && Dpc.DeferredContext as? DEVICE_OBJECT === DeviceObject,
                                          ordering: .relaxed)
            devExt.dpcCalls.add(1, ordering: .releasing)
        }
        #expect(DeviceObject.Dpc.isInitialized)
        #expect(DeviceObject.Dpc.DeferredContext as? DEVICE_OBJECT === DeviceObject)

        let (hold, holder, _) = try Self.holdTheLoop(dispatcher)
        #expect(IoRequestDpc(DeviceObject, nil, "taken back"))
        #expect(KeRemoveQueueDpc(DeviceObject.Dpc))
        #expect(IoRequestDpc(DeviceObject, nil, "run"))
        hold.open()
        #expect(eventually { devExt.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(devExt.dpcArguments.withLock { $0 } == ["run"])
        #expect(devExt.matched)
        IoDisconnectInterrupt(holder)
    }

    /// IoInitializeDpcRequest is KeInitializeDpc on `&DeviceObject->Dpc`: a driver that
    /// registers again at a restart gets its new routine. The extension, set again, is the
    /// new one too (both are read lock-free on the interrupt path).
    @Test func aSecondIoInitializeDpcRequestAndExtensionReplaceTheFirst() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (DeviceObject, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let first = DEVICE_EXTENSION(), second = DEVICE_EXTENSION()
        DeviceObject.DeviceExtension = first
        IoInitializeDpcRequest(DeviceObject) { _, DeviceObject, _, _ in
            (DeviceObject.DeviceExtension as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing)
        }
        #expect(IoRequestDpc(DeviceObject, nil, nil))
        #expect(eventually { first.calls == 1 })
        DeviceObject.DeviceExtension = second
        #expect(DeviceObject.DeviceExtension as? DEVICE_EXTENSION === second)
        IoInitializeDpcRequest(DeviceObject) { _, DeviceObject, _, _ in
            (DeviceObject.DeviceExtension as! DEVICE_EXTENSION).dpcCalls.add(1, ordering: .releasing)
        }
        #expect(IoRequestDpc(DeviceObject, nil, nil))
        #expect(eventually { second.dpcCalls.load(ordering: .acquiring) == 1 })
        #expect(first.calls == 1 && second.calls == 0, "the first routine did not run again")
    }

    /// Setting the extension to nil at teardown (IoDeleteDevice's moment) lets it go, even
    /// one that points back at its device object, as C extensions do.
    @Test func anExtensionSetToNilIsReleased() throws {
        final class BackPointingExtension: @unchecked Sendable { var DeviceObject: DEVICE_OBJECT? }
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        weak var released: BackPointingExtension?
        do {
            let (DeviceObject, _) = makePDO(Devices.lineOnly, on: dispatcher)
            let devExt = BackPointingExtension()
            devExt.DeviceObject = DeviceObject
            DeviceObject.DeviceExtension = devExt
            released = devExt
            #expect(DeviceObject.DeviceExtension as? BackPointingExtension === devExt)
            DeviceObject.DeviceExtension = nil
            #expect(DeviceObject.DeviceExtension == nil)
        }
        #expect(released == nil, "neither the extension nor its device object is kept")
    }
}
