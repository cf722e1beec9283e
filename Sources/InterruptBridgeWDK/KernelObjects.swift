// KINTERRUPT, KSPIN_LOCK and the Ke* routines that synchronize with an ISR:
// thin names over the runtime's InterruptObject and InterruptSpinLock.
public import InterruptBridge
import InterruptBridgeCore
import Logging
import Synchronization

/// KINTERRUPT: one connected ISR on one vector. It is the runtime's
/// `InterruptObject`, so the ISR receives it without any translation.
public typealias KINTERRUPT = InterruptObject
/// PKINTERRUPT: a driver's `IntObj` variable, NULL until IoConnectInterruptEx fills it.
public typealias PKINTERRUPT = KINTERRUPT?

/// KSPIN_LOCK: an interrupt spin lock the driver may supply (`SpinLock` members).
/// A reference type: where C passes `&devExt->Lock`, Swift passes `devExt.Lock`.
public typealias KSPIN_LOCK = InterruptSpinLock
/// PKSPIN_LOCK: NULL lets the system allocate the interrupt spin lock.
public typealias PKSPIN_LOCK = KSPIN_LOCK?

/// `KeInitializeSpinLock(&devExt->Lock)`: gives the variable a fresh, released lock.
/// Call it before passing the lock to a connect routine, never while the lock is in use.
public func KeInitializeSpinLock(_ SpinLock: inout KSPIN_LOCK) {
    SpinLock = KSPIN_LOCK()
}

/// `KeAcquireSpinLock(&devExt->Lock, &OldIrql)` for a driver's own (non-interrupt) spin
/// lock, used between DPCs and other threads. Takes the lock and stores the caller's
/// IRQL in `OldIrql`. The bridge does not model the raise to DISPATCH_LEVEL for these
/// locks: ``KeGetCurrentIrql()`` is unchanged while it is held.
public func KeAcquireSpinLock(_ SpinLock: KSPIN_LOCK, _ OldIrql: inout KIRQL) {
    SpinLock.lock()
    OldIrql = KeGetCurrentIrql()
}

/// `KeReleaseSpinLock(&devExt->Lock, OldIrql)`: releases a lock taken with KeAcquireSpinLock.
public func KeReleaseSpinLock(_ SpinLock: KSPIN_LOCK, _ NewIrql: KIRQL) {
    _ = NewIrql
    SpinLock.unlock()
}

/// `KeAcquireSpinLockAtDpcLevel`: takes a driver's spin lock from a DPC (no IRQL change).
public func KeAcquireSpinLockAtDpcLevel(_ SpinLock: KSPIN_LOCK) {
    SpinLock.lock()
}

/// `KeReleaseSpinLockFromDpcLevel`: releases a lock taken with KeAcquireSpinLockAtDpcLevel.
public func KeReleaseSpinLockFromDpcLevel(_ SpinLock: KSPIN_LOCK) {
    SpinLock.unlock()
}

/// `KeSynchronizeExecution`: runs `SynchronizeRoutine(SynchronizeContext)` holding the
/// interrupt's spin lock at its SynchronizeIrql, so it cannot overlap the ISR, and
/// returns the routine's value unchanged. Callable from any thread but the ISR of
/// `Interrupt` itself (the lock is not recursive, as on Windows).
public func KeSynchronizeExecution(_ Interrupt: PKINTERRUPT, _ SynchronizeRoutine: KSYNCHRONIZE_ROUTINE,
                                   _ SynchronizeContext: PVOID) -> BOOLEAN {
    guard let Interrupt else { preconditionFailure("KeSynchronizeExecution: Interrupt is NULL") }
    return Interrupt.synchronize { SynchronizeRoutine(SynchronizeContext) }
}

/// `KeAcquireInterruptSpinLock`: takes the interrupt's spin lock, raising to its
/// SynchronizeIrql; returns the previous IRQL for KeReleaseInterruptSpinLock.
public func KeAcquireInterruptSpinLock(_ Interrupt: PKINTERRUPT) -> KIRQL {
    guard let Interrupt else { preconditionFailure("KeAcquireInterruptSpinLock: Interrupt is NULL") }
    return Interrupt.acquire().rawValue
}

/// `KeReleaseInterruptSpinLock`: releases the lock and returns to `OldIrql`.
public func KeReleaseInterruptSpinLock(_ Interrupt: PKINTERRUPT, _ OldIrql: KIRQL) {
    guard let Interrupt else { preconditionFailure("KeReleaseInterruptSpinLock: Interrupt is NULL") }
    Interrupt.release(InterruptLevel(OldIrql))
}

/// `KeGetCurrentIrql`: the level the calling thread runs at as the bridge models it:
/// the SynchronizeIrql inside an ISR or while holding an interrupt lock,
/// DISPATCH_LEVEL in a DPC, PASSIVE_LEVEL otherwise (and in a passive-level ISR).
public func KeGetCurrentIrql() -> KIRQL {
    InterruptLevel.current.rawValue
}

/// The dispatcher behind the routines that name no device: KeInitializeDpc and the
/// legacy IoConnectInterrupt (both also take an explicit `dispatcher:` argument).
///
/// Created on first use with a `Logger` labelled "InterruptBridgeWDK"; a program that
/// wants its own options or logger calls `Kernel.use(_:)` before any WDK routine.
public enum Kernel {
    private static let shared = Mutex<InterruptDispatcher?>(nil)

    /// The default dispatcher, started on first use.
    public static var dispatcher: InterruptDispatcher {
        get throws(DispatchError) {
            let result: Result<InterruptDispatcher, DispatchError> = shared.withLock { slot in
                if let dispatcher = slot { return .success(dispatcher) }
                do throws(DispatchError) {
                    let dispatcher = try InterruptDispatcher(logger: Logger(label: "InterruptBridgeWDK"))
                    slot = dispatcher
                    return .success(dispatcher)
                } catch {
                    return .failure(error)
                }
            }
            return try result.get()
        }
    }

    /// Makes `dispatcher` the default. Returns false (and changes nothing) if a
    /// default is already in use.
    @discardableResult
    public static func use(_ dispatcher: InterruptDispatcher) -> Bool {
        shared.withLock { slot in
            guard slot == nil else { return false }
            slot = dispatcher
            return true
        }
    }
}
