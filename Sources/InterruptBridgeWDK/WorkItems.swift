// IO_WORKITEM: what a DPC hands to a system worker thread when the work must block,
// wait or allocate, which a DPC at DISPATCH_LEVEL may not: IoAllocateWorkItem,
// IoQueueWorkItem(Ex), IoFreeWorkItem. The routine runs at PASSIVE_LEVEL.
//
// Here the system worker threads are a pool of the process's own, started as work
// arrives: a queued item runs on an idle worker, or on a new one while fewer than
// `WorkerPool.limit` run, so a routine that waits for another item's work does not hold
// it up (Windows' queues have many threads too). Every WORK_QUEUE_TYPE is served by the
// same pool, in the order queued; their priorities have no counterpart.
import InterruptBridgeSystem

/// WORK_QUEUE_TYPE: which of Windows' system worker queues runs the item (accepted;
/// here one pool serves them all).
public struct WORK_QUEUE_TYPE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let CriticalWorkQueue = WORK_QUEUE_TYPE(rawValue: 0)
public let DelayedWorkQueue = WORK_QUEUE_TYPE(rawValue: 1)
public let HyperCriticalWorkQueue = WORK_QUEUE_TYPE(rawValue: 2)
public let NormalWorkQueue = WORK_QUEUE_TYPE(rawValue: 3)
public let BackgroundWorkQueue = WORK_QUEUE_TYPE(rawValue: 4)
public let RealTimeWorkQueue = WORK_QUEUE_TYPE(rawValue: 5)
public let SuperCriticalWorkQueue = WORK_QUEUE_TYPE(rawValue: 6)

/// IO_WORKITEM_ROUTINE: runs at PASSIVE_LEVEL on a worker thread, with the device object
/// the item was allocated for and the Context given to IoQueueWorkItem.
public typealias IO_WORKITEM_ROUTINE = @Sendable (_ DeviceObject: DEVICE_OBJECT, _ Context: PVOID) -> Void
public typealias PIO_WORKITEM_ROUTINE = IO_WORKITEM_ROUTINE

/// IO_WORKITEM_ROUTINE_EX: IoQueueWorkItemEx's routine, which is also given the item (so
/// that it may free it with IoFreeWorkItem).
public typealias IO_WORKITEM_ROUTINE_EX = @Sendable (_ IoObject: PVOID, _ Context: PVOID, _ IoWorkItem: IO_WORKITEM) -> Void
public typealias PIO_WORKITEM_ROUTINE_EX = IO_WORKITEM_ROUTINE_EX

/// IO_WORKITEM: allocated for a device object by IoAllocateWorkItem; queued at most once
/// at a time. While queued or running it holds the device object, as Windows holds a
/// reference on it so that the driver cannot go while its routine may still run.
public final class IO_WORKITEM: @unchecked Sendable {
    // @unchecked: `work` and `next` are read and written only under WorkerPool's lock;
    // `deviceObject` is let go only by IoFreeWorkItem, which a queued item refuses, and a
    // running routine has its own reference.
    private(set) var deviceObject: DEVICE_OBJECT?
    var work: Work?
    var next: IO_WORKITEM?
    var freed: Bool { deviceObject == nil }

    enum Work {
        case plain(IO_WORKITEM_ROUTINE, PVOID)
        case extended(IO_WORKITEM_ROUTINE_EX, PVOID)
    }

    init(_ deviceObject: DEVICE_OBJECT) { self.deviceObject = deviceObject }

    /// Lets the device object go (a driver's extension that keeps its item would otherwise
    /// keep its device object through it).
    func free() { deviceObject = nil }
}
public typealias PIO_WORKITEM = IO_WORKITEM?

/// `IoAllocateWorkItem(DeviceObject)`: a work item for that device object. At or below
/// DISPATCH_LEVEL.
public func IoAllocateWorkItem(_ DeviceObject: DEVICE_OBJECT) -> PIO_WORKITEM {
    requireAtMostDispatchLevel("IoAllocateWorkItem")
    return IO_WORKITEM(DeviceObject)
}

/// `IoFreeWorkItem(IoWorkItem)`: the item is not used again. Its routine may free it; a
/// queued item may not be freed (Driver Verifier's bug check there stops the process here).
/// At or below DISPATCH_LEVEL.
public func IoFreeWorkItem(_ IoWorkItem: IO_WORKITEM) {
    requireAtMostDispatchLevel("IoFreeWorkItem")
    precondition(!WorkerPool.isQueued(IoWorkItem), "IoFreeWorkItem: the work item is queued; free it once its routine has run")
    IoWorkItem.free()
}

/// `IoQueueWorkItem(IoWorkItem, WorkerRoutine, QueueType, Context)`: runs
/// `WorkerRoutine(DeviceObject, Context)` on a system worker thread at PASSIVE_LEVEL.
/// At or below DISPATCH_LEVEL (from a DPC; an ISR queues a DPC that queues the item).
/// The item must not be queued again before its routine starts, as on Windows (where
/// that corrupts the queue): the process stops.
public func IoQueueWorkItem(_ IoWorkItem: IO_WORKITEM, _ WorkerRoutine: @escaping IO_WORKITEM_ROUTINE,
                            _ QueueType: WORK_QUEUE_TYPE, _ Context: PVOID) {
    queue(IoWorkItem, .plain(WorkerRoutine, Context), "IoQueueWorkItem")
}

/// `IoQueueWorkItemEx(IoWorkItem, WorkerRoutine, QueueType, Context)`: as IoQueueWorkItem,
/// the routine also given the item, `WorkerRoutine(DeviceObject, Context, IoWorkItem)`.
public func IoQueueWorkItemEx(_ IoWorkItem: IO_WORKITEM, _ WorkerRoutine: @escaping IO_WORKITEM_ROUTINE_EX,
                              _ QueueType: WORK_QUEUE_TYPE, _ Context: PVOID) {
    queue(IoWorkItem, .extended(WorkerRoutine, Context), "IoQueueWorkItemEx")
}

private func queue(_ item: IO_WORKITEM, _ work: IO_WORKITEM.Work, _ caller: String) {
    requireAtMostDispatchLevel(caller)
    precondition(!item.freed, "\(caller): the work item was freed (IoFreeWorkItem)")
    precondition(WorkerPool.enqueue(item, work), "\(caller): the work item is already queued; queue it again only once its routine has started")
}

private func requireAtMostDispatchLevel(_ caller: String) {
    requireIrql(atMost: DISPATCH_LEVEL, caller, advice: "from an ISR, queue a DPC that queues the item")
}

/// The system worker threads: a FIFO of queued items (linked through the items, so
/// queuing allocates nothing) and the threads that run them.
enum WorkerPool {
    /// The most worker threads; more items wait for one.
    static let limit = 16

    struct State {
        var head: IO_WORKITEM?
        var tail: IO_WORKITEM?
        /// Items queued, not yet taken.
        var queued = 0
        var threads = 0
        /// Threads waiting for an item.
        var idle = 0
    }

    static let state = WaitableValue(State())

    static func isQueued(_ item: IO_WORKITEM) -> Bool {
        state.withLock { _ in item.work != nil }
    }

    /// Appends the item; false when it is queued already. Starts a thread when the items
    /// waiting outnumber the idle threads: a routine that blocks (waiting for another
    /// item's work, say) never holds up the items queued after it.
    static func enqueue(_ item: IO_WORKITEM, _ work: IO_WORKITEM.Work) -> Bool {
        let (queued, startsThread) = state.update { state -> (result: (Bool, Bool), wakesWaiters: Bool) in
            guard item.work == nil else { return ((false, false), false) }
            item.work = work
            if let tail = state.tail { tail.next = item } else { state.head = item }
            state.tail = item
            state.queued += 1
            let startsThread = state.queued > state.idle && state.threads < limit
            if startsThread { state.threads += 1 }
            return ((true, startsThread), state.idle > 0)
        }
        if startsThread {
            do throws(SystemError) {
                let thread = try PThread.spawn(name: "irqbridge-work") { run() }
                PThread.detach(thread)
            } catch {
                // The threads already running take the item in turn; with none, nothing would.
                let none = state.withLock { state in state.threads -= 1; return state.threads == 0 }
                precondition(!none, "IoQueueWorkItem: cannot start a system worker thread: \(error)")
            }
        }
        return queued
    }

    /// A worker: takes the oldest item, runs its routine at PASSIVE_LEVEL outside the lock.
    private static func run() {
        while true {
            var waiting = false
            let taken = state.wait(until: nil) { state -> (IO_WORKITEM, IO_WORKITEM.Work, DEVICE_OBJECT)? in
                guard let item = state.head, let work = item.work else {
                    if !waiting { state.idle += 1 }
                    waiting = true
                    return nil
                }
                // Freed after it was queued (IoFreeWorkItem racing an IoQueueWorkItem of another
                // thread): left at the head, it would stall every item queued after it, silently.
                guard let deviceObject = item.deviceObject else {
                    preconditionFailure("IoQueueWorkItem: a queued work item was freed (IoFreeWorkItem) before its routine ran")
                }
                if waiting { state.idle -= 1 }
                state.queued -= 1
                state.head = item.next
                if state.head == nil { state.tail = nil }
                item.next = nil
                item.work = nil  // may be queued again from here on, by its own routine too
                return (item, work, deviceObject)
            }
            guard let (item, work, deviceObject) = taken else { continue }
            switch work {
            case let .plain(routine, context): routine(deviceObject, context)
            case let .extended(routine, context): routine(deviceObject, context, item)
            }
            // Left raised (a spin lock not released), every later routine on this thread would
            // run above PASSIVE_LEVEL and fail far from the mistake: Windows bug-checks here.
            let irql = KeGetCurrentIrql()
            precondition(irql == PASSIVE_LEVEL, "a work item's routine returned at IRQL \(irql) (Windows: bug check 0xE1, "
                         + "WORKER_THREAD_RETURNED_AT_BAD_IRQL): release its spin locks and KeLowerIrql before it returns")
        }
    }
}
