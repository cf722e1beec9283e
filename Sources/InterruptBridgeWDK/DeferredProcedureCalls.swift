// KDPC and the routines that queue deferred work from an ISR: KeInitializeDpc /
// KeInsertQueueDpc, and the DpcForIsr pair IoInitializeDpcRequest / IoRequestDpc.
public import InterruptBridge
import Synchronization

/// KDEFERRED_ROUTINE: runs at DISPATCH_LEVEL on the dispatcher's thread, after the
/// ISRs of the batch that queued it, holding no interrupt lock.
public typealias KDEFERRED_ROUTINE = @Sendable (_ Dpc: KDPC, _ DeferredContext: PVOID, _ SystemArgument1: PVOID,
                                                _ SystemArgument2: PVOID) -> Void
public typealias PKDEFERRED_ROUTINE = KDEFERRED_ROUTINE

/// IO_DPC_ROUTINE: a device's DpcForIsr.
public typealias IO_DPC_ROUTINE = @Sendable (_ Dpc: KDPC, _ DeviceObject: DEVICE_OBJECT, _ Irp: PIRP, _ Context: PVOID) -> Void
public typealias PIO_DPC_ROUTINE = IO_DPC_ROUTINE

/// KDPC: a deferred procedure call. Declare it uninitialized (`var Dpc = KDPC()`)
/// and give it its routine with `KeInitializeDpc(&devExt.Dpc, ...)`.
///
/// Queuing neither allocates nor locks: it is safe from an ISR.
public final class KDPC: @unchecked Sendable {
    // @unchecked: `argument1`/`argument2` are plain stored properties, guarded by the
    // `queued` protocol: only the inserter that flips `queued` false -> true writes them,
    // and the DPC's routine wrapper reads them before flipping it back; everything
    // else is immutable after init.
    /// The routine's context, given to KeInitializeDpc.
    public let DeferredContext: PVOID
    private let routine: KDEFERRED_ROUTINE?
    private let call: DeferredProcedureCall?
    private let queued = Atomic<Bool>(false)
    private var argument1: PVOID = nil
    private var argument2: PVOID = nil

    /// An uninitialized DPC: KeInsertQueueDpc on it returns FALSE.
    public init() {
        DeferredContext = nil
        routine = nil
        call = nil
    }

    init(routine: @escaping KDEFERRED_ROUTINE, context: PVOID, dispatcher: InterruptDispatcher) {
        DeferredContext = context
        self.routine = routine
        // The runtime DPC only schedules; the arguments travel in this object.
        let box = WeakDPC()
        call = DeferredProcedureCall(dispatcher: dispatcher) { _, _, _ in box.dpc?.run() }
        box.dpc = self
    }

    /// Whether KeInitializeDpc gave this DPC a routine.
    public var isInitialized: Bool { call != nil }

    func insert(_ SystemArgument1: PVOID, _ SystemArgument2: PVOID) -> BOOLEAN {
        guard let call, queued.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return FALSE
        }
        argument1 = SystemArgument1
        argument2 = SystemArgument2
        // The runtime DPC clears its own flag before calling run(), and run() clears
        // `queued` before the routine: once `queued` was false here, the runtime DPC is
        // not queued either, so this enqueue succeeds. (An insertion from another thread
        // in the few instructions between the two clears sees FALSE, as if it came just
        // before the DPC started.)
        _ = call.enqueue()
        return TRUE
    }

    private func run() {
        let first = argument1
        let second = argument2
        argument1 = nil
        argument2 = nil
        queued.store(false, ordering: .releasing)
        routine?(self, DeferredContext, first, second)
    }

    /// A weak back-reference, so the runtime DPC does not keep its KDPC alive forever.
    private final class WeakDPC: @unchecked Sendable {
        // @unchecked: written once in KDPC.init before the runtime DPC can run, read-only after.
        weak var dpc: KDPC?
    }
}
public typealias PKDPC = KDPC

/// `KeInitializeDpc(&devExt->Dpc, DeferredRoutine, DeferredContext)`: gives the DPC
/// its routine and context. It runs on `dispatcher`'s thread (by default `Kernel.dispatcher`).
public func KeInitializeDpc(_ Dpc: inout KDPC, _ DeferredRoutine: @escaping KDEFERRED_ROUTINE, _ DeferredContext: PVOID,
                            dispatcher: InterruptDispatcher? = nil) {
    guard let dispatcher = dispatcher ?? (try? Kernel.dispatcher) else {
        preconditionFailure("KeInitializeDpc: the default dispatcher could not be started")
    }
    Dpc = KDPC(routine: DeferredRoutine, context: DeferredContext, dispatcher: dispatcher)
}

/// `KeInsertQueueDpc`: queues the DPC with two arguments. Returns FALSE, changing
/// nothing, if it is already queued (or was never initialized). Safe from an ISR.
@discardableResult
public func KeInsertQueueDpc(_ Dpc: KDPC, _ SystemArgument1: PVOID, _ SystemArgument2: PVOID) -> BOOLEAN {
    Dpc.insert(SystemArgument1, SystemArgument2)
}

/// `IoInitializeDpcRequest(DeviceObject, DpcRoutine)`: registers the device's DpcForIsr,
/// run on the device's dispatcher. Only the first call takes effect.
public func IoInitializeDpcRequest(_ DeviceObject: DEVICE_OBJECT, _ DpcRoutine: @escaping IO_DPC_ROUTINE) {
    let dpc = KDPC(routine: { [weak DeviceObject] dpc, _, irp, context in
                       guard let DeviceObject else { return }
                       DpcRoutine(dpc, DeviceObject, irp as? IRP, context)
                   },
                   context: nil, dispatcher: DeviceObject.dispatcher)
    _ = DeviceObject.installDpc(dpc)
}

/// `IoRequestDpc(DeviceObject, Irp, Context)`: queues the device's DpcForIsr from its
/// ISR. Returns FALSE if it is already queued or IoInitializeDpcRequest was not called
/// (wdm.h's inline version returns nothing; the result is discardable).
@discardableResult
public func IoRequestDpc(_ DeviceObject: DEVICE_OBJECT, _ Irp: PIRP, _ Context: PVOID) -> BOOLEAN {
    guard let dpc = DeviceObject.Dpc else { return FALSE }
    return dpc.insert(Irp, Context)
}
