// KEVENT and the waits on it: how a DPC tells the driver's own thread that the device
// finished (KeSetEvent in the DPC, KeWaitForSingleObject with a time-out on the thread),
// with wdm.h's IRQL rules enforced as the facade enforces the others.
import InterruptBridge
import InterruptBridgeSystem

/// EVENT_TYPE.
public struct EVENT_TYPE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
/// Stays signalled until reset: every waiter is released.
public let NotificationEvent = EVENT_TYPE(rawValue: 0)
/// Resets itself as it releases one waiter (auto-reset).
public let SynchronizationEvent = EVENT_TYPE(rawValue: 1)

/// KWAIT_REASON (recorded by Windows for debugging; any value is accepted here).
public struct KWAIT_REASON: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let Executive = KWAIT_REASON(rawValue: 0)
public let Suspended = KWAIT_REASON(rawValue: 5)
public let UserRequest = KWAIT_REASON(rawValue: 6)

/// KPROCESSOR_MODE.
public typealias KPROCESSOR_MODE = CCHAR
public let KernelMode: KPROCESSOR_MODE = 0
public let UserMode: KPROCESSOR_MODE = 1

/// KPRIORITY: the priority boost KeSetEvent gives a released waiter (none here).
public typealias KPRIORITY = LONG
public let EVENT_INCREMENT: KPRIORITY = 1

/// KEVENT: an event object. A reference type kept in the device extension
/// (`var Event = KEVENT()`): `KeInitializeEvent(&devExt.Event, ...)` keeps its `&`, and the
/// other routines take the event itself where C passes `&devExt->Event`. Before
/// KeInitializeEvent it is a non-signalled notification event.
public final class KEVENT: Sendable {
    let type: EVENT_TYPE
    let signaled: WaitableValue<Bool>

    public convenience init() { self.init(type: NotificationEvent, signaled: false) }

    init(type: EVENT_TYPE, signaled: Bool) {
        self.type = type
        self.signaled = WaitableValue(signaled)
    }
}
public typealias PRKEVENT = KEVENT

/// `KeInitializeEvent(&devExt->Event, Type, State)`: gives the variable a fresh event of
/// `Type`, signalled when `State` is TRUE. Never while a thread waits on the old one.
public func KeInitializeEvent(_ Event: inout KEVENT, _ Type: EVENT_TYPE, _ State: BOOLEAN) {
    Event = KEVENT(type: Type, signaled: State)
}

/// `KeSetEvent`: signals the event and returns its previous state (nonzero: it was signalled).
/// A notification event releases every waiter and stays signalled; a synchronization event
/// releases one waiter (and is then not signalled) or, with none waiting, stays signalled
/// for the next. Callable up to DISPATCH_LEVEL (a DPC); above it (an ISR) the process stops,
/// as it is a bug on Windows: queue a DPC from the ISR and set the event there.
@discardableResult
public func KeSetEvent(_ Event: KEVENT, _ Increment: KPRIORITY, _ Wait: BOOLEAN) -> LONG {
    let irql = KeGetCurrentIrql()
    precondition(irql <= DISPATCH_LEVEL,
                 "KeSetEvent at IRQL \(irql): it must run at or below DISPATCH_LEVEL (from an ISR, queue a DPC that sets the event)")
    let wakesAll = Event.type == NotificationEvent
    return Event.signaled.update(wakingAll: wakesAll) { signaled in
        defer { signaled = true }
        return signaled ? 1 : 0
    }
}

/// `KeSetEvent(&Event, IO_NO_INCREMENT, FALSE)`: the increment as C drivers pass it (a CCHAR).
@discardableResult
public func KeSetEvent(_ Event: KEVENT, _ Increment: CCHAR, _ Wait: BOOLEAN) -> LONG {
    KeSetEvent(Event, KPRIORITY(Increment), Wait)
}

/// `KeResetEvent`: makes the event not signalled and returns its previous state.
@discardableResult
public func KeResetEvent(_ Event: KEVENT) -> LONG {
    precondition(KeGetCurrentIrql() <= DISPATCH_LEVEL, "KeResetEvent at IRQL \(KeGetCurrentIrql()): it must run at or below DISPATCH_LEVEL")
    return Event.signaled.withLock { signaled in
        defer { signaled = false }
        return signaled ? 1 : 0
    }
}

/// `KeClearEvent`: makes the event not signalled.
public func KeClearEvent(_ Event: KEVENT) {
    Event.signaled.withLock { $0 = false }
}

/// `KeReadStateEvent`: nonzero when the event is signalled.
public func KeReadStateEvent(_ Event: KEVENT) -> LONG {
    Event.signaled.withLock { $0 ? 1 : 0 }
}

/// `KeWaitForSingleObject` on an event: STATUS_SUCCESS once it is signalled (a
/// synchronization event is reset by the wait it satisfies), STATUS_TIMEOUT when
/// `Timeout` passes first. `Timeout` is in 100-ns units: negative, relative to now;
/// positive, an absolute system time (KeQuerySystemTime's); zero, a look without waiting;
/// NULL, no limit.
///
/// As on Windows, a wait must run at or below APC_LEVEL, or at DISPATCH_LEVEL with a zero
/// time-out; otherwise (in an ISR, in a DPC with a time-out) the process stops: on the
/// dispatch thread the DPC that would set the event could never run. `WaitReason`, `WaitMode`
/// and `Alertable` are accepted and have no effect (nothing here delivers APCs).
public func KeWaitForSingleObject(_ Object: KEVENT, _ WaitReason: KWAIT_REASON, _ WaitMode: KPROCESSOR_MODE,
                                  _ Alertable: BOOLEAN, _ Timeout: PLARGE_INTEGER) -> NTSTATUS {
    let irql = KeGetCurrentIrql()
    let polls = Timeout?.pointee.QuadPart == 0
    precondition(irql <= APC_LEVEL || (irql == DISPATCH_LEVEL && polls),
                 "KeWaitForSingleObject at IRQL \(irql) with \(Timeout == nil ? "no time-out" : "a time-out"): a wait must run at or below APC_LEVEL, or at DISPATCH_LEVEL with a zero time-out")
    let deadline = Timeout.map { waitDeadline(for: $0.pointee.QuadPart) }
    let resets = Object.type == SynchronizationEvent
    let satisfied = Object.signaled.wait(until: deadline) { signaled -> Bool? in
        guard signaled else { return nil }
        if resets { signaled = false }
        return true
    }
    return satisfied == nil ? STATUS_TIMEOUT : STATUS_SUCCESS
}

/// `KeDelayExecutionThread`: sleeps for `Interval` (100-ns units: negative relative,
/// positive an absolute system time) and returns STATUS_SUCCESS. At or below APC_LEVEL
/// only, as on Windows (above it the process stops: a DPC or ISR must not sleep; it may
/// KeStallExecutionProcessor).
public func KeDelayExecutionThread(_ WaitMode: KPROCESSOR_MODE, _ Alertable: BOOLEAN,
                                   _ Interval: UnsafeMutablePointer<LARGE_INTEGER>) -> NTSTATUS {
    let irql = KeGetCurrentIrql()
    precondition(irql <= APC_LEVEL, "KeDelayExecutionThread at IRQL \(irql): it must run at or below APC_LEVEL (a DPC or ISR may KeStallExecutionProcessor)")
    let deadline = waitDeadline(for: Interval.pointee.QuadPart)
    let now = MonotonicClock.nanoseconds()
    if deadline > now { PThread.sleep(for: .nanoseconds(Int64(deadline - now))) }
    return STATUS_SUCCESS
}

/// The monotonic deadline of a kernel time-out: negative, relative 100-ns units; positive,
/// an absolute system time; zero, now.
func waitDeadline(for timeout: LONGLONG) -> UInt64 {
    let now = MonotonicClock.nanoseconds()
    let hundreds: LONGLONG = timeout < 0 ? (timeout == .min ? .max : -timeout) : max(0, timeout - systemTimeNow())
    let (nanoseconds, overflow) = UInt64(hundreds).multipliedReportingOverflow(by: 100)
    let (deadline, later) = now.addingReportingOverflow(nanoseconds)
    return overflow || later ? .max : deadline
}
