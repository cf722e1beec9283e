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
    let state: WaitableValue<EventState>

    public convenience init() { self.init(type: NotificationEvent, signaled: false) }

    init(type: EVENT_TYPE, signaled: Bool) {
        self.type = type
        self.state = WaitableValue(EventState(signaled: signaled))
    }
}
public typealias PRKEVENT = KEVENT
public typealias PKEVENT = KEVENT

/// What an event's waits see. As on Windows a set releases the waits at that moment: a
/// KeClearEvent right after cannot take the release back, and two sets of a
/// synchronization event release two waits.
struct EventState {
    var signaled: Bool
    /// Notification events: how many sets there were. A wait that began before a set is
    /// released by it, whatever the state is when it wakes.
    var sets: UInt64 = 0
    /// The waits blocked now, by ticket, oldest first. A synchronization event's set hands
    /// its release to the oldest (the event stays not signalled meanwhile), so a wait that
    /// blocked after the set cannot take it.
    var blocked: [UInt64] = []
    /// Synchronization events: the blocked waits a set released, not yet woken to see it.
    var released: [UInt64] = []
    var nextTicket: UInt64 = 0

    mutating func block() -> UInt64 {
        defer { nextTicket &+= 1 }
        blocked.append(nextTicket)
        return nextTicket
    }

    mutating func unblock(_ ticket: UInt64) {
        if let index = blocked.firstIndex(of: ticket) { blocked.remove(at: index) }
    }

    /// Takes a release handed to `ticket`, if there is one.
    mutating func takeRelease(_ ticket: UInt64) -> Bool {
        guard let index = released.firstIndex(of: ticket) else { return false }
        released.remove(at: index)
        return true
    }
}

/// `KeInitializeEvent(&devExt->Event, Type, State)`: gives the variable a fresh event of
/// `Type`, signalled when `State` is TRUE. Never while a thread waits on the old one.
public func KeInitializeEvent(_ Event: inout KEVENT, _ Type: EVENT_TYPE, _ State: BOOLEAN) {
    Event = KEVENT(type: Type, signaled: State)
}

/// `KeSetEvent`: signals the event and returns its previous state (nonzero: it was signalled).
/// A notification event releases every wait and stays signalled; a synchronization event
/// releases one blocked wait (and stays not signalled) or, with none blocked, stays
/// signalled for the next. With `Wait` FALSE callable up to DISPATCH_LEVEL (a DPC), with
/// TRUE up to APC_LEVEL; above that (an ISR) the process stops, as it is a bug on
/// Windows: queue a DPC from the ISR and set the event there.
@discardableResult
public func KeSetEvent(_ Event: KEVENT, _ Increment: KPRIORITY, _ Wait: BOOLEAN) -> LONG {
    let irql = KeGetCurrentIrql()
    let highest = Wait ? APC_LEVEL : DISPATCH_LEVEL
    precondition(irql <= highest, "KeSetEvent at IRQL \(irql): with Wait \(Wait ? "TRUE" : "FALSE") it must run at or below "
                 + (Wait ? "APC_LEVEL" : "DISPATCH_LEVEL (from an ISR, queue a DPC that sets the event)"))
    if Event.type == SynchronizationEvent {
        return Event.state.update(wakingAll: true) { state in
            let previous: LONG = state.signaled ? 1 : 0
            if state.blocked.isEmpty {
                state.signaled = true
            } else {
                state.released.append(state.blocked.removeFirst())
            }
            return previous
        }
    }
    return Event.state.update(wakingAll: true) { state in
        let previous: LONG = state.signaled ? 1 : 0
        state.signaled = true
        state.sets &+= 1
        return previous
    }
}

/// `KeSetEvent(&Event, IO_NO_INCREMENT, FALSE)`: the increment as C drivers pass it (a CCHAR).
/// Disfavoured, so a literal increment (`KeSetEvent(&Event, 0, FALSE)`, as many drivers
/// write it) picks the KPRIORITY form instead of being ambiguous.
@_disfavoredOverload
@discardableResult
public func KeSetEvent(_ Event: KEVENT, _ Increment: CCHAR, _ Wait: BOOLEAN) -> LONG {
    KeSetEvent(Event, KPRIORITY(Increment), Wait)
}

/// `KeResetEvent`: makes the event not signalled and returns its previous state. Waits a
/// set released before stay released.
@discardableResult
public func KeResetEvent(_ Event: KEVENT) -> LONG {
    requireIrql(atMost: DISPATCH_LEVEL, "KeResetEvent")
    return Event.state.withLock { state in
        defer { state.signaled = false }
        return state.signaled ? 1 : 0
    }
}

/// `KeClearEvent`: makes the event not signalled (waits a set released stay released).
public func KeClearEvent(_ Event: KEVENT) {
    requireIrql(atMost: DISPATCH_LEVEL, "KeClearEvent")
    Event.state.withLock { $0.signaled = false }
}

/// `KeReadStateEvent`: nonzero when the event is signalled.
public func KeReadStateEvent(_ Event: KEVENT) -> LONG {
    Event.state.withLock { $0.signaled ? 1 : 0 }
}

/// `KeWaitForSingleObject` on an event: STATUS_SUCCESS once a set releases it or it finds
/// the event signalled (a synchronization event is reset by the wait it satisfies),
/// STATUS_TIMEOUT when `Timeout` passes first. `Timeout` is in 100-ns units: negative,
/// relative to now; positive, an absolute system time (KeQuerySystemTime's, taken as a
/// deadline when the wait begins: a later change of the wall clock does not move it);
/// zero, a look without waiting; NULL, no limit.
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
    let satisfied: Bool?
    var ticket: UInt64?
    if Object.type == SynchronizationEvent {
        satisfied = Object.state.wait(until: deadline, { state -> Bool? in
            if let ticket {
                // Released by a set while blocked; it is off the blocked list already.
                return state.takeRelease(ticket) ? true : nil
            }
            if state.signaled {
                state.signaled = false
                return true
            }
            ticket = state.block()
            return nil
        }, timedOut: { state in
            if let ticket { state.unblock(ticket) }
        })
    } else {
        var begun: UInt64?
        satisfied = Object.state.wait(until: deadline, { state -> Bool? in
            if let begun, state.sets != begun {
                if let ticket { state.unblock(ticket) }
                return true
            }
            if state.signaled {
                if let ticket { state.unblock(ticket) }
                return true
            }
            if begun == nil {
                begun = state.sets
                ticket = state.block()
            }
            return nil
        }, timedOut: { state in
            if let ticket { state.unblock(ticket) }
        })
    }
    return satisfied == nil ? STATUS_TIMEOUT : STATUS_SUCCESS
}

/// `KeDelayExecutionThread`: sleeps for `Interval` (100-ns units: negative relative,
/// positive an absolute system time) and returns STATUS_SUCCESS. At or below APC_LEVEL
/// only, as on Windows (above it the process stops: a DPC or ISR must not sleep; it may
/// KeStallExecutionProcessor).
public func KeDelayExecutionThread(_ WaitMode: KPROCESSOR_MODE, _ Alertable: BOOLEAN,
                                   _ Interval: UnsafeMutablePointer<LARGE_INTEGER>) -> NTSTATUS {
    requireIrql(atMost: APC_LEVEL, "KeDelayExecutionThread", advice: "a DPC or ISR may KeStallExecutionProcessor")
    let deadline = waitDeadline(for: Interval.pointee.QuadPart)
    // In steps a Duration holds: an interval of LONGLONG.min ("forever") is centuries.
    while case let now = MonotonicClock.nanoseconds(), deadline > now {
        PThread.sleep(for: .nanoseconds(Int64(clamping: Swift.min(deadline - now, 86_400_000_000_000))))
    }
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
