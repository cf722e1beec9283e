import Glibc
import InterruptBridge
import InterruptBridgeSystem
import InterruptBridgeTestKit
@testable import InterruptBridgeWDK
import Synchronization
import Testing

/// A ported driver's extension whose DPC hands work to a system worker thread.
final class WORKITEM_EXTENSION: Addressable, @unchecked Sendable {
    // @unchecked: Dpc, WorkItem and the events are set on the test thread before use;
    // the routines touch only the atomics and the events.
    var Dpc = KDPC()
    var WorkItem: PIO_WORKITEM = nil
    var Done = KEVENT()
    let routineIrql = Atomic<UInt8>(0xff)
    let routineThread = Atomic<UInt>(0)
    let dpcThread = Atomic<UInt>(0)
    let runs = Atomic<Int>(0)
}

@Suite("IO_WORKITEM: work at PASSIVE_LEVEL on a system worker thread")
struct WorkItemTests {
    static func currentThread() -> UInt { UInt(pthread_self()) }

    /// The DPC of an interrupt queues the item; its routine runs at PASSIVE_LEVEL on
    /// another thread, given the device object and the context, and may block.
    @Test func aDPCHandsWorkToAWorkerThreadAtPassiveLevel() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = WORKITEM_EXTENSION()
        KeInitializeEvent(&devExt.Done, NotificationEvent, FALSE)
        devExt.WorkItem = IoAllocateWorkItem(pdo)
        KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
            let devExt = DeferredContext as! WORKITEM_EXTENSION
            devExt.dpcThread.store(WorkItemTests.currentThread(), ordering: .releasing)
            IoQueueWorkItem(devExt.WorkItem!, { DeviceObject, Context in
                let devExt = Context as! WORKITEM_EXTENSION
                devExt.routineIrql.store(KeGetCurrentIrql(), ordering: .releasing)
                devExt.routineThread.store(WorkItemTests.currentThread(), ordering: .releasing)
                #expect(DeviceObject.DeviceExtension as? WORKITEM_EXTENSION === devExt, "the item's device object")
                var delay = LARGE_INTEGER(QuadPart: -10_000)  // blocking is allowed here: 1 ms
                _ = KeDelayExecutionThread(KernelMode, FALSE, &delay)
                KeSetEvent(devExt.Done, IO_NO_INCREMENT, FALSE)
            }, DelayedWorkQueue, devExt)
        }, devExt, dispatcher: dispatcher)
        pdo.DeviceExtension = devExt
        #expect(KeInsertQueueDpc(devExt.Dpc, nil, nil))
        var timeout = LARGE_INTEGER(QuadPart: -50_000_000)
        #expect(KeWaitForSingleObject(devExt.Done, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS)
        #expect(devExt.routineIrql.load(ordering: .acquiring) == PASSIVE_LEVEL)
        #expect(devExt.routineThread.load(ordering: .acquiring) != devExt.dpcThread.load(ordering: .acquiring))
        #expect(devExt.routineThread.load(ordering: .acquiring) != Self.currentThread())
        IoFreeWorkItem(devExt.WorkItem!)
        devExt.WorkItem = nil
        pdo.DeviceExtension = nil
    }

    /// A routine that waits for the work of an item queued after it is not waited on by
    /// that item: the pool starts another thread while items outnumber idle threads.
    @Test func aRoutineThatWaitsForALaterItemDoesNotHoldItUp() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
        let first = WORKITEM_EXTENSION(), second = WORKITEM_EXTENSION()
        KeInitializeEvent(&first.Done, NotificationEvent, FALSE)
        KeInitializeEvent(&second.Done, NotificationEvent, FALSE)
        let firstItem = try #require(IoAllocateWorkItem(pdo)), secondItem = try #require(IoAllocateWorkItem(pdo))
        let pair = [first, second]
        IoQueueWorkItem(firstItem, { _, Context in
            let pair = Context as! [WORKITEM_EXTENSION]
            var timeout = LARGE_INTEGER(QuadPart: -50_000_000)
            if KeWaitForSingleObject(pair[1].Done, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS {
                KeSetEvent(pair[0].Done, IO_NO_INCREMENT, FALSE)
            }
        }, DelayedWorkQueue, pair)
        IoQueueWorkItem(secondItem, { _, Context in
            KeSetEvent((Context as! [WORKITEM_EXTENSION])[1].Done, IO_NO_INCREMENT, FALSE)
        }, DelayedWorkQueue, pair)
        var timeout = LARGE_INTEGER(QuadPart: -50_000_000)
        #expect(KeWaitForSingleObject(first.Done, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS,
                "the first routine saw the second's work")
        IoFreeWorkItem(firstItem)
        IoFreeWorkItem(secondItem)
    }

    /// IoQueueWorkItemEx gives the routine its item: it queues itself again until done,
    /// then frees it, the pattern of a driver's polling work.
    @Test func aRoutineRequeuesItsOwnItemThenFreesIt() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = WORKITEM_EXTENSION()
        KeInitializeEvent(&devExt.Done, NotificationEvent, FALSE)
        let routine: IO_WORKITEM_ROUTINE_EX = { IoObject, Context, IoWorkItem in
            let devExt = Context as! WORKITEM_EXTENSION
            #expect(IoObject is DEVICE_OBJECT, "the IoObject is the device object")
            if devExt.runs.add(1, ordering: .acquiringAndReleasing).newValue < 5 {
                IoQueueWorkItemEx(IoWorkItem, WorkItemTests.requeued, NormalWorkQueue, devExt)
            } else {
                IoFreeWorkItem(IoWorkItem)
                KeSetEvent(devExt.Done, IO_NO_INCREMENT, FALSE)
            }
        }
        Self.requeuedRoutine.withLock { $0 = routine }
        IoQueueWorkItemEx(try #require(IoAllocateWorkItem(pdo)), routine, NormalWorkQueue, devExt)
        var timeout = LARGE_INTEGER(QuadPart: -50_000_000)
        #expect(KeWaitForSingleObject(devExt.Done, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS)
        #expect(devExt.runs.load(ordering: .acquiring) == 5)
    }

    static let requeuedRoutine = Mutex<IO_WORKITEM_ROUTINE_EX?>(nil)
    static let requeued: IO_WORKITEM_ROUTINE_EX = { IoObject, Context, IoWorkItem in
        requeuedRoutine.withLock { $0 }!(IoObject, Context, IoWorkItem)
    }

    /// Windows corrupts its queue (Driver Verifier bug-checks); here the process stops with
    /// the mistake named. So does queuing from an ISR's IRQL.
    @Test func queuingAQueuedItemOrFromAnISRStopsTheProcess() async throws {
        let queuedTwice = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
            var gate = KEVENT()
            KeInitializeEvent(&gate, NotificationEvent, FALSE)
            // Every worker the pool may start blocks, so the next item stays queued.
            for _ in 0..<WorkerPool.limit {
                IoQueueWorkItem(IoAllocateWorkItem(pdo)!, { _, Context in
                    var forever = LARGE_INTEGER(QuadPart: -600_000_000)
                    _ = KeWaitForSingleObject(Context as! KEVENT, Executive, KernelMode, FALSE, &forever)
                }, DelayedWorkQueue, gate)
            }
            let twice = IoAllocateWorkItem(pdo)!
            IoQueueWorkItem(twice, { _, _ in }, DelayedWorkQueue, nil)
            IoQueueWorkItem(twice, { _, _ in }, DelayedWorkQueue, nil)
            exit(0)
        }
        let twiceMessage = String(decoding: queuedTwice?.standardErrorContent ?? [], as: UTF8.self)
        #expect(twiceMessage.contains("IoQueueWorkItem: the work item is already queued"), "\(twiceMessage)")

        let fromISR = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
            let item = IoAllocateWorkItem(pdo)!
            var OldIrql: KIRQL = 0
            KeRaiseIrql(5, &OldIrql)
            IoQueueWorkItem(item, { _, _ in }, DelayedWorkQueue, nil)
            exit(0)
        }
        let isrMessage = String(decoding: fromISR?.standardErrorContent ?? [], as: UTF8.self)
        #expect(isrMessage.contains("IoQueueWorkItem at IRQL 5"), "\(isrMessage)")

        let freedFromISR = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
            let item = IoAllocateWorkItem(pdo)!
            var OldIrql: KIRQL = 0
            KeRaiseIrql(5, &OldIrql)
            IoFreeWorkItem(item)
            exit(0)
        }
        let freeMessage = String(decoding: freedFromISR?.standardErrorContent ?? [], as: UTF8.self)
        #expect(freeMessage.contains("IoFreeWorkItem at IRQL 5"), "\(freeMessage)")

        // IoFreeWorkItem on one thread racing IoQueueWorkItem on another can leave a freed item
        // queued (each checks, then acts); played here by queuing past the check.
        let freedWhileQueued = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
            let item = IoAllocateWorkItem(pdo)!
            item.free()
            _ = WorkerPool.enqueue(item, .plain({ _, _ in }, nil))
            var done = KEVENT()
            KeInitializeEvent(&done, NotificationEvent, FALSE)
            IoQueueWorkItem(IoAllocateWorkItem(pdo)!, { _, Context in KeSetEvent(Context as! KEVENT, IO_NO_INCREMENT, FALSE) },
                            DelayedWorkQueue, done)
            var timeout = LARGE_INTEGER(QuadPart: -10_000_000)
            _ = KeWaitForSingleObject(done, Executive, KernelMode, FALSE, &timeout)
            exit(0)
        }
        let freedMessage = String(decoding: freedWhileQueued?.standardErrorContent ?? [], as: UTF8.self)
        #expect(freedMessage.contains("a queued work item was freed"), "\(freedMessage)")
    }

    /// A routine that returns with its IRQL raised (a spin lock it forgot to release) would
    /// leave its worker thread at DISPATCH_LEVEL for every routine the thread runs after it,
    /// each then failing far from the mistake. Windows bug-checks there (0xE1,
    /// WORKER_THREAD_RETURNED_AT_BAD_IRQL); the process stops, the mistake named.
    @Test func aRoutineReturningAbovePassiveLevelStopsTheProcess() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
            var done = KEVENT()
            KeInitializeEvent(&done, NotificationEvent, FALSE)
            let item = IoAllocateWorkItem(pdo)!
            IoQueueWorkItem(item, { _, _ in _ = KeRaiseIrqlToDpcLevel() }, DelayedWorkQueue, nil)
            // The same (only) worker runs the next one: at what IRQL?
            PThread.sleep(for: .milliseconds(200))
            IoQueueWorkItem(item, { _, Context in
                if KeGetCurrentIrql() == PASSIVE_LEVEL { KeSetEvent(Context as! KEVENT, IO_NO_INCREMENT, FALSE) }
            }, DelayedWorkQueue, done)
            var timeout = LARGE_INTEGER(QuadPart: -10_000_000)
            _ = KeWaitForSingleObject(done, Executive, KernelMode, FALSE, &timeout)
            exit(0)
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("WORKER_THREAD_RETURNED_AT_BAD_IRQL"), "\(message)")
    }
}
