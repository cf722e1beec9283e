// KINTERRUPT, KSPIN_LOCK and the Ke* routines that synchronize with an ISR:
// thin names over the runtime's InterruptObject and InterruptSpinLock.
public import InterruptBridge
import InterruptBridgeCore
import Logging
import InterruptBridgeSystem

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

/// `KeAcquireSpinLock(&devExt->Lock, &OldIrql)` for a driver's own (non-interrupt)
/// spin lock, used between DPCs and other threads: raises the calling thread to
/// DISPATCH_LEVEL, takes the lock, and stores the IRQL the caller ran at in `OldIrql`.
/// The caller must run at or below DISPATCH_LEVEL (above it the process stops, as
/// Windows bug-checks).
public func KeAcquireSpinLock(_ SpinLock: KSPIN_LOCK, _ OldIrql: inout KIRQL) {
    let previous = InterruptLevel.raiseCurrent(to: .dispatch)
    SpinLock.lock()
    OldIrql = previous.rawValue
}

/// `OldIrql = KeAcquireSpinLockRaiseToDpc(&devExt->Lock)`: KeAcquireSpinLock returning
/// the caller's IRQL (wdm.h's x64 spelling of it); release it with KeReleaseSpinLock.
public func KeAcquireSpinLockRaiseToDpc(_ SpinLock: KSPIN_LOCK) -> KIRQL {
    var OldIrql: KIRQL = PASSIVE_LEVEL
    KeAcquireSpinLock(SpinLock, &OldIrql)
    return OldIrql
}

/// `KeReleaseSpinLock(&devExt->Lock, OldIrql)`: releases a lock taken with
/// KeAcquireSpinLock and returns the calling thread to `NewIrql`, the IRQL it returned.
public func KeReleaseSpinLock(_ SpinLock: KSPIN_LOCK, _ NewIrql: KIRQL) {
    SpinLock.unlock()
    InterruptLevel.lowerCurrent(to: InterruptLevel(NewIrql))
}

/// `KeAcquireSpinLockAtDpcLevel`: takes a driver's spin lock from code that already
/// runs at IRQL >= DISPATCH_LEVEL (a DPC, or after KeAcquireSpinLock / KeRaiseIrql);
/// the IRQL does not change. As on Windows without Driver Verifier, calling it lower is
/// not checked.
public func KeAcquireSpinLockAtDpcLevel(_ SpinLock: KSPIN_LOCK) {
    SpinLock.lock()
}

/// `KeReleaseSpinLockFromDpcLevel`: releases a lock taken with
/// KeAcquireSpinLockAtDpcLevel; the IRQL does not change.
public func KeReleaseSpinLockFromDpcLevel(_ SpinLock: KSPIN_LOCK) {
    SpinLock.unlock()
}

/// `KeTryToAcquireSpinLockAtDpcLevel`: takes a driver's spin lock if it is free, from
/// code at IRQL >= DISPATCH_LEVEL; TRUE when taken (release it with
/// KeReleaseSpinLockFromDpcLevel), FALSE at once when another holder has it.
public func KeTryToAcquireSpinLockAtDpcLevel(_ SpinLock: KSPIN_LOCK) -> BOOLEAN {
    SpinLock.tryLock() ? TRUE : FALSE
}

/// KLOCK_QUEUE_HANDLE: what KeAcquireInStackQueuedSpinLock records for its release, the
/// lock and the IRQL to return to. Declare one per acquisition, as the C stack variable.
public struct KLOCK_QUEUE_HANDLE: Sendable, ZeroInitializable {
    /// The lock taken (nil before an acquisition).
    public var LockQueue: PKSPIN_LOCK
    public var OldIrql: KIRQL
    public init() { LockQueue = nil; OldIrql = PASSIVE_LEVEL }
}
public typealias PKLOCK_QUEUE_HANDLE = KLOCK_QUEUE_HANDLE

/// `KeAcquireInStackQueuedSpinLock(&devExt->Lock, &LockHandle)`: KeAcquireSpinLock
/// recording the lock and the caller's IRQL in `LockHandle`. The lock is the same
/// KSPIN_LOCK as the other routines take (not a fair queue: waiters spin, then yield).
public func KeAcquireInStackQueuedSpinLock(_ SpinLock: KSPIN_LOCK, _ LockHandle: inout KLOCK_QUEUE_HANDLE) {
    var OldIrql: KIRQL = PASSIVE_LEVEL
    KeAcquireSpinLock(SpinLock, &OldIrql)
    LockHandle = KLOCK_QUEUE_HANDLE()
    LockHandle.LockQueue = SpinLock
    LockHandle.OldIrql = OldIrql
}

/// `KeReleaseInStackQueuedSpinLock(&LockHandle)`: releases the lock and returns to the
/// IRQL recorded at its acquisition.
public func KeReleaseInStackQueuedSpinLock(_ LockHandle: inout KLOCK_QUEUE_HANDLE) {
    guard let lock = LockHandle.LockQueue else { preconditionFailure("KeReleaseInStackQueuedSpinLock: the handle holds no lock") }
    LockHandle.LockQueue = nil
    KeReleaseSpinLock(lock, LockHandle.OldIrql)
}

/// `KeAcquireInStackQueuedSpinLockAtDpcLevel(&devExt->Lock, &LockHandle)`: from code at
/// IRQL >= DISPATCH_LEVEL; the IRQL does not change.
public func KeAcquireInStackQueuedSpinLockAtDpcLevel(_ SpinLock: KSPIN_LOCK, _ LockHandle: inout KLOCK_QUEUE_HANDLE) {
    SpinLock.lock()
    LockHandle = KLOCK_QUEUE_HANDLE()
    LockHandle.LockQueue = SpinLock
    LockHandle.OldIrql = KeGetCurrentIrql()
}

/// `KeReleaseInStackQueuedSpinLockFromDpcLevel(&LockHandle)`: the IRQL does not change.
public func KeReleaseInStackQueuedSpinLockFromDpcLevel(_ LockHandle: inout KLOCK_QUEUE_HANDLE) {
    guard let lock = LockHandle.LockQueue else {
        preconditionFailure("KeReleaseInStackQueuedSpinLockFromDpcLevel: the handle holds no lock")
    }
    LockHandle.LockQueue = nil
    lock.unlock()
}

/// `KeRaiseIrql(NewIrql, &OldIrql)`: raises the calling thread's IRQL to `NewIrql`
/// and stores the previous one in `OldIrql`. A `NewIrql` below the current IRQL stops
/// the process (Windows: bug check IRQL_NOT_GREATER_OR_EQUAL), and so does one above
/// HIGH_LEVEL, which names no IRQL.
public func KeRaiseIrql(_ NewIrql: KIRQL, _ OldIrql: inout KIRQL) {
    precondition(NewIrql <= HIGH_LEVEL, "KeRaiseIrql to \(NewIrql), above HIGH_LEVEL (\(HIGH_LEVEL)): no such IRQL")
    OldIrql = InterruptLevel.raiseCurrent(to: InterruptLevel(NewIrql)).rawValue
}

/// `KeRaiseIrqlToDpcLevel()`: KeRaiseIrql to DISPATCH_LEVEL; returns the previous IRQL.
public func KeRaiseIrqlToDpcLevel() -> KIRQL {
    InterruptLevel.raiseCurrent(to: .dispatch).rawValue
}

/// `KeLowerIrql(NewIrql)`: returns the calling thread to `NewIrql`, the value
/// KeRaiseIrql stored. A `NewIrql` above the current IRQL stops the process.
public func KeLowerIrql(_ NewIrql: KIRQL) {
    InterruptLevel.lowerCurrent(to: InterruptLevel(NewIrql))
}

/// `KeSynchronizeExecution`: runs `SynchronizeRoutine(SynchronizeContext)` holding the
/// interrupt's spin lock at its SynchronizeIrql, so it cannot overlap the ISR, and
/// returns the routine's value unchanged. Callable from any thread but the ISR of
/// `Interrupt` itself (the lock is not recursive, as on Windows), at an IRQL no higher
/// than the interrupt's SynchronizeIrql: called above it, the process stops, as Windows
/// bug-checks.
/// Discardable, as a driver that only needs the routine run ignores it.
@discardableResult
public func KeSynchronizeExecution(_ Interrupt: PKINTERRUPT, _ SynchronizeRoutine: KSYNCHRONIZE_ROUTINE,
                                   _ SynchronizeContext: PVOID) -> BOOLEAN {
    guard let Interrupt else { preconditionFailure("KeSynchronizeExecution: Interrupt is NULL") }
    requireIrqlAtMostSynchronizeIrql(Interrupt, "KeSynchronizeExecution")
    return Interrupt.synchronize { SynchronizeRoutine(SynchronizeContext) }
}

/// `KeAcquireInterruptSpinLock`: takes the interrupt's spin lock, raising to its
/// SynchronizeIrql; returns the previous IRQL for KeReleaseInterruptSpinLock. An
/// interrupt object of a passive-level ISR has no spin lock: as Windows bug-checks
/// (0x13B, PASSIVE_INTERRUPT_ERROR), the process stops with a message naming the
/// call to use instead, `KeSynchronizeExecution`.
public func KeAcquireInterruptSpinLock(_ Interrupt: PKINTERRUPT) -> KIRQL {
    guard let Interrupt else { preconditionFailure("KeAcquireInterruptSpinLock: Interrupt is NULL") }
    requireSpinLock(Interrupt, "KeAcquireInterruptSpinLock")
    requireIrqlAtMostSynchronizeIrql(Interrupt, "KeAcquireInterruptSpinLock")
    return Interrupt.acquire().rawValue
}

/// `KeReleaseInterruptSpinLock`: releases the lock and returns to `OldIrql`.
public func KeReleaseInterruptSpinLock(_ Interrupt: PKINTERRUPT, _ OldIrql: KIRQL) {
    guard let Interrupt else { preconditionFailure("KeReleaseInterruptSpinLock: Interrupt is NULL") }
    requireSpinLock(Interrupt, "KeReleaseInterruptSpinLock")
    Interrupt.release(InterruptLevel(OldIrql))
}

/// "Callers ... must be running at IRQL <= DIRQL, that is, less than or equal to the value
/// of the SynchronizeIrql": raising to it from above is IRQL_NOT_GREATER_OR_EQUAL on
/// Windows (as KeRaiseIrql below the current IRQL, which stops the process here too),
/// where taking the lock would silently lower the thread's IRQL (holding a higher
/// interrupt's lock, in a higher ISR, or above a passive-level interrupt's PASSIVE_LEVEL).
private func requireIrqlAtMostSynchronizeIrql(_ Interrupt: KINTERRUPT, _ caller: String) {
    let current = InterruptLevel.current
    guard current > Interrupt.synchronizeIrql else { return }
    preconditionFailure("\(caller): called at IRQL \(current.rawValue), above vector 0x\(String(Interrupt.vector, radix: 16))'s "
                        + "SynchronizeIrql \(Interrupt.synchronizeIrql.rawValue) (Windows: bug check 0x9, "
                        + "IRQL_NOT_GREATER_OR_EQUAL): take the lower interrupt's lock first, or connect both at one SynchronizeIrql")
}

private func requireSpinLock(_ Interrupt: KINTERRUPT, _ caller: String) {
    guard Interrupt.isPassiveLevel else { return }
    preconditionFailure("\(caller): vector 0x\(String(Interrupt.vector, radix: 16)) connects a passive-level ISR, which has no "
                        + "interrupt spin lock (Windows: bug check 0x13B, PASSIVE_INTERRUPT_ERROR); synchronize with "
                        + "KeSynchronizeExecution")
}

/// `KeGetCurrentIrql`: the level the calling thread runs at as the bridge models it:
/// the SynchronizeIrql inside an ISR or while holding an interrupt lock,
/// DISPATCH_LEVEL in a DPC or while holding a KeAcquireSpinLock lock, what KeRaiseIrql
/// set, PASSIVE_LEVEL otherwise (and in a passive-level ISR). Per thread.
public func KeGetCurrentIrql() -> KIRQL {
    InterruptLevel.current.rawValue
}

/// The dispatcher behind the routines that name no device: KeInitializeDpc and the
/// legacy IoConnectInterrupt (both also take an explicit `dispatcher:` argument).
///
/// Created on first use with a `Logger` labelled "InterruptBridgeWDK"; a program that
/// wants its own options or logger calls `Kernel.use(_:)` before any WDK routine.
public enum Kernel {
    private static let shared = LockedValue<InterruptDispatcher?>(nil)

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

    /// The dispatchers DPCs were initialized on (weakly): what KeFlushQueuedDpcs waits for.
    private static let deferredCallDispatchers = LockedValue<[WeakDispatcher]>([])

    private struct WeakDispatcher: Sendable {
        weak var dispatcher: InterruptDispatcher?
    }

    /// Notes that DPCs run on `dispatcher` (KeInitializeDpc, IoInitializeDpcRequest).
    static func noteDeferredCalls(on dispatcher: InterruptDispatcher) {
        deferredCallDispatchers.withLock { list in
            list.removeAll { $0.dispatcher == nil }
            if !list.contains(where: { $0.dispatcher === dispatcher }) { list.append(WeakDispatcher(dispatcher: dispatcher)) }
        }
    }

    /// The live dispatchers DPCs were initialized on.
    static var dispatchersWithDeferredCalls: [InterruptDispatcher] {
        deferredCallDispatchers.withLock { $0.compactMap(\.dispatcher) }
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
