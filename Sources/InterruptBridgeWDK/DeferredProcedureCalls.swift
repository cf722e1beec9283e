// KDPC and the routines that queue deferred work from an ISR: KeInitializeDpc /
// KeInitializeThreadedDpc / KeInsertQueueDpc / KeRemoveQueueDpc, and the DpcForIsr
// pair IoInitializeDpcRequest / IoRequestDpc. A KDPC is the runtime's DeferredCall
// carrying PVOID values: its queue protocol, its context and its arguments.
public import InterruptBridge

/// KDEFERRED_ROUTINE: runs at DISPATCH_LEVEL (a threaded DPC at PASSIVE_LEVEL) on the
/// thread of the dispatcher it was initialized for, holding no interrupt lock; queued
/// from an ISR of that dispatcher, after the ISRs of the batch that queued it.
public typealias KDEFERRED_ROUTINE = @Sendable (_ Dpc: KDPC, _ DeferredContext: PVOID, _ SystemArgument1: PVOID,
                                                _ SystemArgument2: PVOID) -> Void
public typealias PKDEFERRED_ROUTINE = KDEFERRED_ROUTINE

/// IO_DPC_ROUTINE: a device's DpcForIsr.
public typealias IO_DPC_ROUTINE = @Sendable (_ Dpc: KDPC, _ DeviceObject: DEVICE_OBJECT, _ Irp: PIRP, _ Context: PVOID) -> Void
public typealias PIO_DPC_ROUTINE = IO_DPC_ROUTINE

/// KDPC: a deferred procedure call. Declare it uninitialized (`var Dpc = KDPC()`)
/// and give it its routine with `KeInitializeDpc(&devExt.Dpc, ...)`.
///
/// A KDPC names the runtime's `DeferredCall` (``call``), which holds the
/// DeferredContext and, while queued, the two SystemArguments; copies of a KDPC name
/// the same DPC, as copies of a PKDPC do in C. Queuing and removing neither allocate
/// nor lock: both are safe from an ISR.
public struct KDPC: Sendable, ZeroInitializable {
    /// The runtime DPC; nil until KeInitializeDpc.
    public let call: DeferredCall<PVOID>?

    /// An uninitialized DPC: KeInsertQueueDpc on it returns FALSE.
    public init() { call = nil }

    /// The KDPC naming `call`.
    public init(_ call: DeferredCall<PVOID>) { self.call = call }

    /// Whether KeInitializeDpc gave this DPC a routine.
    public var isInitialized: Bool { call != nil }

    /// The DeferredContext given to KeInitializeDpc (for a device's DpcForIsr, the
    /// DEVICE_OBJECT, as IoInitializeDpcRequest sets it).
    public var DeferredContext: PVOID {
        let context = call?.deferredContext ?? nil
        if let device = context as? DeviceObjectReference { return device.object }
        if let object = context as? WeakDeferredContext { return object.value }
        return context
    }

    /// True when both name the same DPC.
    public static func === (lhs: KDPC, rhs: KDPC) -> Bool { lhs.call === rhs.call }
}
public typealias PKDPC = KDPC

/// `NULL` as a PKDPC: the uninitialized DPC. A driver calls its own deferred routine
/// directly with no DPC, as ReactOS's serial.sys does from its write path:
/// `SerialSendByte(NULL, DeviceExtension, NULL, NULL)`.
extension KDPC: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self.init() }
}

/// `KeInitializeDpc(&devExt->Dpc, DeferredRoutine, DeferredContext)`: gives the DPC
/// its routine and context. It runs on `dispatcher`'s thread (by default `Kernel.dispatcher`).
public func KeInitializeDpc(_ Dpc: inout KDPC, _ DeferredRoutine: @escaping KDEFERRED_ROUTINE, _ DeferredContext: PVOID,
                            dispatcher: InterruptDispatcher? = nil) {
    Dpc = KDPC(makeCall(DeferredRoutine, DeferredContext, threaded: false, dispatcher: dispatcher, caller: "KeInitializeDpc"))
}

/// `KeInitializeThreadedDpc(&devExt->Dpc, DeferredRoutine, DeferredContext)`: a DPC whose
/// routine runs at PASSIVE_LEVEL where the system allows it, at DISPATCH_LEVEL otherwise,
/// so it must be written for both and must not block.
///
/// Here it runs on the dispatcher's thread in queue order with the other DPCs, with
/// KeGetCurrentIrql reporting PASSIVE_LEVEL. What Windows adds (the routine running on
/// a real-time thread that normal DPCs preempt) has no counterpart: DPCs here never
/// preempt one another.
public func KeInitializeThreadedDpc(_ Dpc: inout KDPC, _ DeferredRoutine: @escaping KDEFERRED_ROUTINE, _ DeferredContext: PVOID,
                                    dispatcher: InterruptDispatcher? = nil) {
    Dpc = KDPC(makeCall(DeferredRoutine, DeferredContext, threaded: true, dispatcher: dispatcher, caller: "KeInitializeThreadedDpc"))
}

/// `KeInsertQueueDpc`: queues the DPC with two arguments. Returns FALSE, changing
/// nothing, if it is already queued (or was never initialized). Safe from an ISR.
@discardableResult
public func KeInsertQueueDpc(_ Dpc: KDPC, _ SystemArgument1: PVOID, _ SystemArgument2: PVOID) -> BOOLEAN {
    Dpc.call?.enqueue(SystemArgument1, SystemArgument2) ?? FALSE
}

/// `KeRemoveQueueDpc`: takes the DPC off the queue. Returns TRUE when it was queued
/// and now will not run for that insertion (its arguments are dropped); FALSE, changing
/// nothing, when it was not queued: never inserted, already started, or removed before.
/// Safe from an ISR.
@discardableResult
public func KeRemoveQueueDpc(_ Dpc: KDPC) -> BOOLEAN {
    Dpc.call?.dequeue() ?? FALSE
}

/// `KeFlushQueuedDpcs()`: returns once every DPC queued when it was called has run, on
/// every dispatcher a DPC was initialized for (KeInitializeDpc, KeInitializeThreadedDpc,
/// IoInitializeDpcRequest). A driver's stop path calls it after IoDisconnectInterruptEx,
/// which does not wait for the DPCs its ISR queued (as on Windows), before freeing what
/// they use. Call it at PASSIVE_LEVEL, as on Windows: above it (a spin lock held, which a
/// DPC may want) and from an ISR or DPC it returns at once, where waiting could wait for
/// itself. On a manually stepped dispatcher the DPCs run on the calling thread.
public func KeFlushQueuedDpcs() {
    guard KeGetCurrentIrql() == PASSIVE_LEVEL else { return }
    for dispatcher in Kernel.dispatchersWithDeferredCalls { dispatcher.flushDeferredCalls() }
}

/// KDPC_IMPORTANCE: where KeInsertQueueDpc puts a DPC in its processor's queue on
/// Windows, and whether it starts draining at once.
public typealias KDPC_IMPORTANCE = Int32
public let LowImportance: KDPC_IMPORTANCE = 0
public let MediumImportance: KDPC_IMPORTANCE = 1
public let HighImportance: KDPC_IMPORTANCE = 2
public let MediumHighImportance: KDPC_IMPORTANCE = 3

/// `KeSetImportanceDpc(&devExt->Dpc, Importance)`, as `KeSetImportanceDpc(devExt.Dpc, ...)`
/// (a KDPC names its DPC, as KeInsertQueueDpc takes it): accepted and without effect. The
/// bridge runs a dispatcher's DPCs on its own thread, in the order they were queued,
/// after the ISRs of the batch that queued them, whatever their importance.
public func KeSetImportanceDpc(_ Dpc: KDPC, _ Importance: KDPC_IMPORTANCE) {
    precondition((LowImportance...MediumHighImportance).contains(Importance), "KeSetImportanceDpc: no importance \(Importance)")
}

/// `KeSetTargetProcessorDpc(&devExt->Dpc, Number)`, as `KeSetTargetProcessorDpc(devExt.Dpc,
/// ...)` (also `DeviceObject.Dpc`): accepted and without effect. A DPC runs on the thread
/// of the dispatcher it was initialized for, on the processors that dispatcher is pinned
/// to (`DispatchOptions`), not on a processor it names.
public func KeSetTargetProcessorDpc(_ Dpc: KDPC, _ Number: CCHAR) {}

/// `KeSetTargetProcessorDpcEx(&devExt->Dpc, &ProcNumber)`, as
/// `KeSetTargetProcessorDpcEx(devExt.Dpc, ProcNumber)`: as KeSetTargetProcessorDpc;
/// STATUS_SUCCESS for a processor of group 0, STATUS_INVALID_PARAMETER for another group.
public func KeSetTargetProcessorDpcEx(_ Dpc: KDPC, _ ProcNumber: PROCESSOR_NUMBER) -> NTSTATUS {
    ProcNumber.Group == 0 ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER
}

/// `IoInitializeDpcRequest(DeviceObject, DpcRoutine)`: initializes `DeviceObject->Dpc`
/// as the device's DpcForIsr, with the DEVICE_OBJECT as its DeferredContext, run on the
/// device's dispatcher. Each call initializes it anew, as KeInitializeDpc on
/// `&DeviceObject->Dpc` does (a driver that re-registers at a restart gets its new
/// routine); a request still queued from before runs the routine it was queued with.
public func IoInitializeDpcRequest(_ DeviceObject: DEVICE_OBJECT, _ DpcRoutine: @escaping IO_DPC_ROUTINE) {
    // The context names the device object weakly: the device object holds its DPC.
    Kernel.noteDeferredCalls(on: DeviceObject.dispatcher)
    let call = DeferredCall<PVOID>(dispatcher: DeviceObject.dispatcher, deferredContext: DeviceObjectReference(DeviceObject)) {
        dpc, Irp, Context in
        guard let DeviceObject = (dpc.deferredContext as? DeviceObjectReference)?.object else { return }
        DpcRoutine(KDPC(dpc), DeviceObject, Irp as? IRP, Context)
    }
    DeviceObject.installDpc(call)
}

/// `IoRequestDpc(DeviceObject, Irp, Context)`: queues the device's DpcForIsr from its
/// ISR: `KeInsertQueueDpc(&DeviceObject->Dpc, Irp, Context)`. Returns FALSE if it is
/// already queued or IoInitializeDpcRequest was not called (wdm.h's inline version
/// returns nothing; the result is discardable).
@discardableResult
public func IoRequestDpc(_ DeviceObject: DEVICE_OBJECT, _ Irp: PIRP, _ Context: PVOID) -> BOOLEAN {
    KeInsertQueueDpc(DeviceObject.Dpc, Irp, Context)
}

/// The runtime DPC behind KeInitializeDpc and KeInitializeThreadedDpc: the context is
/// the runtime DPC's own, and the routine reads it from there.
private func makeCall(_ DeferredRoutine: @escaping KDEFERRED_ROUTINE, _ DeferredContext: PVOID, threaded: Bool,
                      dispatcher: InterruptDispatcher?, caller: String) -> DeferredCall<PVOID> {
    guard let dispatcher = dispatcher ?? (try? Kernel.dispatcher) else {
        preconditionFailure("\(caller): the default dispatcher could not be started")
    }
    Kernel.noteDeferredCalls(on: dispatcher)
    // An object context is held weakly, as C's PVOID owns nothing: the canonical
    // KeInitializeDpc(&devExt->Dpc, Routine, devExt) is otherwise a cycle (the
    // extension holds its DPC, the DPC the extension) that leaks the extension and
    // the dispatcher's DPC queue (issue 10). A value context is kept as it is.
    let context: PVOID = DeferredContext.map { WeakDeferredContext.holding($0) }
    return DeferredCall<PVOID>(dispatcher: dispatcher, deferredContext: context, threaded: threaded) {
        dpc, SystemArgument1, SystemArgument2 in
        DeferredRoutine(KDPC(dpc), KDPC(dpc).DeferredContext, SystemArgument1, SystemArgument2)
    }
}

/// A KeInitializeDpc DeferredContext that is an object, named weakly (see `makeCall`):
/// the routine gets nil once the driver has freed it, where C would read freed memory.
final class WeakDeferredContext: Sendable {
    weak let object: (any AnyObject & Sendable)?

    private init(_ object: any AnyObject & Sendable) {
        self.object = object
    }

    /// The context as the routine receives it: the object, or nil once freed.
    var value: PVOID { object }

    /// A weak reference to `value` if it is an object; the value itself otherwise.
    /// The dynamic type decides: a context arrives as `any Sendable`, whose static
    /// type is never a class (checking it kept every object context strongly).
    static func holding(_ value: any Sendable) -> any Sendable {
        guard type(of: value) is AnyObject.Type else { return value }
        // The object came as `any Sendable`; Sendable is a marker with no run-time
        // form, which no cast can name (`as?` refuses it, `as!` is a no-op warned
        // about), so the reference is re-typed as it is.
        return WeakDeferredContext(unsafeBitCast(value as AnyObject, to: (any AnyObject & Sendable).self))
    }
}

/// `DeviceObject->Dpc.DeferredContext`: the device object, named weakly so that the
/// DPC it holds does not keep it alive.
final class DeviceObjectReference: Sendable {
    weak let object: DEVICE_OBJECT?
    init(_ object: DEVICE_OBJECT) { self.object = object }
}
