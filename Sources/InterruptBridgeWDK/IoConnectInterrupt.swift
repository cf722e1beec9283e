// The legacy IoConnectInterrupt / IoDisconnectInterrupt (seed 002): eleven
// parameters, a vector but no device.
public import InterruptBridge
import InterruptBridgeCore

/// `IoConnectInterrupt`: connects `ServiceRoutine` to `Vector`, which must be a
/// translated vector of a device whose DEVICE_OBJECT exists on `dispatcher`
/// (by default `Kernel.dispatcher`). `InterruptObject` is written only on success:
/// `IoConnectInterrupt(&devExt.IntObj, ...)` reads as in C.
///
/// Returns STATUS_SUCCESS; STATUS_INVALID_PARAMETER when no processors are in
/// `ProcessorEnableMask` (as documented for this routine, unlike IoConnectInterruptEx),
/// no routine is given, or the IRQLs or sharing are invalid; STATUS_NOT_FOUND when no
/// device has the vector; STATUS_INSUFFICIENT_RESOURCES when the system cannot.
public func IoConnectInterrupt(
    _ InterruptObject: inout PKINTERRUPT, _ ServiceRoutine: PKSERVICE_ROUTINE, _ ServiceContext: PVOID,
    _ SpinLock: PKSPIN_LOCK, _ Vector: ULONG, _ Irql: KIRQL, _ SynchronizeIrql: KIRQL,
    _ InterruptMode: KINTERRUPT_MODE, _ ShareVector: BOOLEAN, _ ProcessorEnableMask: KAFFINITY,
    _ FloatingSave: BOOLEAN, dispatcher: InterruptDispatcher? = nil
) -> NTSTATUS {
    guard let ServiceRoutine else { return STATUS_INVALID_PARAMETER }
    guard ProcessorEnableMask != 0 else { return STATUS_INVALID_PARAMETER }
    let chosen: InterruptDispatcher
    if let dispatcher {
        chosen = dispatcher
    } else {
        do throws(DispatchError) {
            chosen = try Kernel.dispatcher
        } catch {
            return STATUS_INSUFFICIENT_RESOURCES
        }
    }
    do throws(ConnectionError) {
        InterruptObject = try chosen.connectLegacy(
            vector: Vector, irql: InterruptLevel(Irql), synchronizeIrql: InterruptLevel(SynchronizeIrql),
            mode: InterruptMode.interruptMode, shareVector: ShareVector,
            processorEnableMask: ProcessorAffinity(rawValue: UInt64(ProcessorEnableMask)), floatingSave: FloatingSave,
            spinLock: SpinLock, routine: { Interrupt in ServiceRoutine(Interrupt, ServiceContext) })
        return STATUS_SUCCESS
    } catch {
        return error.status(emptyProcessorMask: STATUS_INVALID_PARAMETER)
    }
}

/// `IoDisconnectInterrupt`: disconnects what IoConnectInterrupt connected. On return
/// the ISR is not running and will not run again (deferred when called from the ISR).
public func IoDisconnectInterrupt(_ InterruptObject: PKINTERRUPT) {
    InterruptObject?.disconnect()
}
