// The legacy IoConnectInterrupt / IoDisconnectInterrupt (seed 002): eleven
// parameters, a vector but no device.
public import InterruptBridge
import InterruptBridgeCore

/// `IoConnectInterrupt`: connects `ServiceRoutine` to `Vector`, which must be a
/// translated vector of a device whose DEVICE_OBJECT exists: on `dispatcher` when one is
/// given; without it (the call as C writes it), on the running dispatcher of the
/// DEVICE_OBJECT alive that has the vector (the first made with no connection of its own
/// yet, else the first), or `Kernel.dispatcher` when none has it. `InterruptObject` is written as NT's
/// IoConnectInterrupt writes it: as soon as the object exists, before any of its
/// interrupts can arrive (an ISR that runs at once, for a line already asserted, queues a
/// DPC that calls `KeSynchronizeExecution(devExt.IntObj, ...)`), and set to NULL when the
/// call fails. `IoConnectInterrupt(&devExt.IntObj, ...)` reads as in C; pass
/// `devExt.pointer(to: \.IntObj)` instead where the variable is not a stored property of a
/// class (Swift writes an `inout` argument that is computed, or observed, only on return).
/// Cards that share a line
/// (two on IRQ 11) share the vector's one chain, and the call names no card, so the
/// ISR hears every card on the line whose DEVICE_OBJECT exists, as an ISR on a shared
/// IRQ does: each card's interrupt runs the chain, and the ISR tells its own card's
/// by reading it. The object's `device` is the first card on the vector (in
/// DEVICE_OBJECT creation order) with no connection of its own yet; that card's
/// removal disconnects it, another card's removal only stops its line being heard.
///
/// Returns only the three statuses seed 002 documents (see ``ConnectStatuses``):
/// STATUS_SUCCESS; STATUS_INVALID_PARAMETER when no processors are in
/// `ProcessorEnableMask` (none at all, or none online: Windows intersects the mask with
/// its active processors), no routine is given, the IRQLs or sharing are invalid, the
/// caller runs above PASSIVE_LEVEL or on a dispatch thread (see ``ConnectStatuses``), or
/// `Vector` is not a vector of any device on the dispatcher (an invalid parameter of
/// this call: it names no device); STATUS_INSUFFICIENT_RESOURCES when the system could
/// not (the backend or kernel refused, the dispatcher is shut down or cannot start).
public func IoConnectInterrupt(
    _ InterruptObject: inout PKINTERRUPT, _ ServiceRoutine: PKSERVICE_ROUTINE, _ ServiceContext: PVOID,
    _ SpinLock: PKSPIN_LOCK, _ Vector: ULONG, _ Irql: KIRQL, _ SynchronizeIrql: KIRQL,
    _ InterruptMode: KINTERRUPT_MODE, _ ShareVector: BOOLEAN, _ ProcessorEnableMask: KAFFINITY,
    _ FloatingSave: BOOLEAN, dispatcher: InterruptDispatcher? = nil
) -> NTSTATUS {
    connectLegacy({ InterruptObject = $0 }, ServiceRoutine, ServiceContext, SpinLock, Vector, Irql, SynchronizeIrql, InterruptMode,
                  ShareVector, ProcessorEnableMask, FloatingSave, dispatcher)
}

/// `IoConnectInterrupt` with the out-parameter as `devExt.pointer(to: \.IntObj)`, the
/// form of `&devExt->IntObj` IoConnectInterruptEx's parameters take.
public func IoConnectInterrupt(
    _ InterruptObject: PPKINTERRUPT, _ ServiceRoutine: PKSERVICE_ROUTINE, _ ServiceContext: PVOID,
    _ SpinLock: PKSPIN_LOCK, _ Vector: ULONG, _ Irql: KIRQL, _ SynchronizeIrql: KIRQL,
    _ InterruptMode: KINTERRUPT_MODE, _ ShareVector: BOOLEAN, _ ProcessorEnableMask: KAFFINITY,
    _ FloatingSave: BOOLEAN, dispatcher: InterruptDispatcher? = nil
) -> NTSTATUS {
    connectLegacy({ InterruptObject.pointee = $0 }, ServiceRoutine, ServiceContext, SpinLock, Vector, Irql, SynchronizeIrql,
                  InterruptMode, ShareVector, ProcessorEnableMask, FloatingSave, dispatcher)
}

private func connectLegacy(
    _ store: (PKINTERRUPT) -> Void, _ ServiceRoutine: PKSERVICE_ROUTINE, _ ServiceContext: PVOID,
    _ SpinLock: PKSPIN_LOCK, _ Vector: ULONG, _ Irql: KIRQL, _ SynchronizeIrql: KIRQL,
    _ InterruptMode: KINTERRUPT_MODE, _ ShareVector: BOOLEAN, _ ProcessorEnableMask: KAFFINITY,
    _ FloatingSave: BOOLEAN, _ dispatcher: InterruptDispatcher?
) -> NTSTATUS {
    // NT's sets it to NULL first: a failed call leaves no stale object behind.
    store(nil)
    guard let ServiceRoutine else { return STATUS_INVALID_PARAMETER }
    guard ProcessorEnableMask != 0 else { return STATUS_INVALID_PARAMETER }
    guard ConnectStatuses.callerMayConnect else { return STATUS_INVALID_PARAMETER }
    let chosen: InterruptDispatcher
    if let dispatcher {
        chosen = dispatcher
    } else if let owner = DeviceObjects.dispatcher(assigning: Vector) {
        // The C call names no dispatcher: the device's is the one that can serve the vector.
        chosen = owner
    } else {
        do throws(DispatchError) {
            chosen = try Kernel.dispatcher
        } catch {
            return STATUS_INSUFFICIENT_RESOURCES
        }
    }
    do throws(ConnectionError) {
        _ = try chosen.connectLegacy(
            vector: Vector, irql: InterruptLevel(Irql), synchronizeIrql: InterruptLevel(SynchronizeIrql),
            mode: InterruptMode.interruptMode, shareVector: ShareVector,
            processorEnableMask: ProcessorAffinity(rawValue: UInt64(ProcessorEnableMask)), floatingSave: FloatingSave,
            spinLock: SpinLock, announce: { store($0) }, routine: { Interrupt in ServiceRoutine(Interrupt, ServiceContext) })
        return STATUS_SUCCESS
    } catch {
        store(nil)
        return ConnectStatuses.IoConnectInterrupt(error)
    }
}

/// `IoDisconnectInterrupt`: disconnects what IoConnectInterrupt connected. On return
/// the ISR is not running and will not run again (deferred when called from the ISR, a
/// DPC, above PASSIVE_LEVEL, or inside KeSynchronizeExecution on a passive-level
/// interrupt: no ISR call starts once it returns).
public func IoDisconnectInterrupt(_ InterruptObject: PKINTERRUPT) {
    InterruptObject?.disconnect()
}
