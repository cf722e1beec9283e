// KTIMER: a one-shot or periodic timer whose expiry signals it (for KeWaitForSingleObject)
// and queues its DPC, as a driver's watchdog for a missed interrupt or a polling loop
// uses it. One timer thread serves every timer of the process, as the clock interrupt
// serves them on Windows; each DPC runs on its own dispatcher, as KeInsertQueueDpc queues it.
import InterruptBridge
import InterruptBridgeSystem

/// TIMER_TYPE.
public struct TIMER_TYPE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
/// Stays signalled once expired, until set again: every wait is released.
public let NotificationTimer = TIMER_TYPE(rawValue: 0)
/// Releases one wait per expiry and resets itself.
public let SynchronizationTimer = TIMER_TYPE(rawValue: 1)

/// KTIMER: a reference type kept in the device extension (`var Timer = KTIMER()`), as
/// KEVENT is: `KeInitializeTimer(&devExt.Timer)` keeps its `&`; the other routines take the
/// timer itself. Before KeInitializeTimer it is a notification timer that is not set.
public final class KTIMER: Sendable {
    /// Its signal state, what a wait on the timer waits for.
    let signal: KEVENT

    public convenience init() { self.init(type: NotificationTimer) }

    init(type: TIMER_TYPE) {
        signal = KEVENT(type: type == SynchronizationTimer ? SynchronizationEvent : NotificationEvent, signaled: false)
    }
}

/// wdm.h's pointer spellings: the timer is a reference already (`IN PKTIMER Timer` ports as is).
public typealias PKTIMER = KTIMER
public typealias PRKTIMER = KTIMER

/// `KeInitializeTimer(&devExt->Timer)`: a notification timer, not set, not signalled.
public func KeInitializeTimer(_ Timer: inout KTIMER) {
    Timer = KTIMER(type: NotificationTimer)
}

/// `KeInitializeTimerEx(&devExt->Timer, Type)`.
public func KeInitializeTimerEx(_ Timer: inout KTIMER, _ Type: TIMER_TYPE) {
    Timer = KTIMER(type: Type)
}

/// `KeSetTimer(Timer, DueTime, Dpc)`: `KeSetTimerEx` with no period.
@discardableResult
public func KeSetTimer(_ Timer: KTIMER, _ DueTime: LARGE_INTEGER, _ Dpc: KDPC?) -> BOOLEAN {
    KeSetTimerEx(Timer, DueTime, 0, Dpc)
}

/// `KeSetTimerEx`: sets the timer to expire at `DueTime` (100-ns units: negative relative
/// to now, positive an absolute system time, zero at once), then every `Period`
/// milliseconds when `Period` is above 0. Each expiry signals the timer and queues `Dpc`
/// (its DeferredContext; both system arguments NULL). Setting a timer makes it not
/// signalled and replaces what it was set to before; returns TRUE when it was still set
/// (that expiry will not come). At or below DISPATCH_LEVEL, as on Windows (above it, or a
/// negative period, the process stops).
@discardableResult
public func KeSetTimerEx(_ Timer: KTIMER, _ DueTime: LARGE_INTEGER, _ Period: LONG, _ Dpc: KDPC?) -> BOOLEAN {
    requireIrql(atMost: DISPATCH_LEVEL, "KeSetTimer", advice: "queue a DPC from the ISR")
    precondition(Period >= 0, "KeSetTimerEx: Period \(Period) ms is negative")
    let entry = TimerQueue.Entry(timer: Timer, due: waitDeadline(for: DueTime.QuadPart),
                                 period: UInt64(Period) * 1_000_000, dpc: Dpc)
    return TimerQueue.set(entry)
}

/// `KeCancelTimer`: takes the timer off the queue before it expires. TRUE when it was set;
/// its signal state does not change. At or below DISPATCH_LEVEL.
@discardableResult
public func KeCancelTimer(_ Timer: KTIMER) -> BOOLEAN {
    requireIrql(atMost: DISPATCH_LEVEL, "KeCancelTimer")
    return TimerQueue.cancel(Timer)
}

/// `KeReadStateTimer`: TRUE when the timer is signalled (it expired since it was set).
public func KeReadStateTimer(_ Timer: KTIMER) -> BOOLEAN {
    KeReadStateEvent(Timer.signal) != 0
}

/// `KeWaitForSingleObject` on a timer: STATUS_SUCCESS once it expires (a synchronization
/// timer releases one wait per expiry), as for an event (same IRQL rules and time-outs).
public func KeWaitForSingleObject(_ Object: KTIMER, _ WaitReason: KWAIT_REASON, _ WaitMode: KPROCESSOR_MODE,
                                  _ Alertable: BOOLEAN, _ Timeout: PLARGE_INTEGER) -> NTSTATUS {
    KeWaitForSingleObject(Object.signal, WaitReason, WaitMode, Alertable, Timeout)
}

/// The timers set now, and the one thread that expires them (started by the first set).
enum TimerQueue {
    struct Entry: Sendable {
        var timer: KTIMER
        /// MonotonicClock nanoseconds.
        var due: UInt64
        /// Nanoseconds between expiries (0: once).
        var period: UInt64
        var dpc: KDPC?
    }

    struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        /// Changes at every set that is due before `threadSleepsUntil`, so the thread looks
        /// at its deadline again. A later one, or a cancel, waits for that deadline: a
        /// watchdog re-armed at every interrupt costs no wake-up of the thread.
        var changes: UInt64 = 0
        /// The deadline the thread last took (MonotonicClock nanoseconds; nil: none, it
        /// waits for a set).
        var threadSleepsUntil: UInt64?
        /// Times the thread looked at the timers (once per wait and once per wake-up), for tests.
        var threadLooks: UInt64 = 0
        var threadStarted = false
    }

    static let state = WaitableValue(State())

    /// Sets (or resets) a timer; whether it was set before.
    static func set(_ entry: Entry) -> BOOLEAN {
        let (wasSet, start) = state.update { state -> (result: (Bool, Bool), wakesWaiters: Bool) in
            // Not signalled from the set on: under the queue's lock, which every expiry holds
            // while it signals, so an expiry of what this set replaces cannot land after it.
            entry.timer.signal.state.withLock { $0.signaled = false }
            let wasSet = state.entries.updateValue(entry, forKey: ObjectIdentifier(entry.timer)) != nil
            let sooner = state.threadSleepsUntil.map { entry.due < $0 } ?? true
            if sooner { state.changes &+= 1 }
            defer { state.threadStarted = true }
            return ((wasSet, !state.threadStarted), sooner)
        }
        if start {
            do throws(SystemError) {
                let thread = try PThread.spawn(name: "irqbridge-timers") { run() }
                PThread.detach(thread)
            } catch {
                preconditionFailure("KeSetTimer: cannot start the timer thread: \(error)")
            }
        }
        return wasSet
    }

    static func cancel(_ timer: KTIMER) -> BOOLEAN {
        // No wake-up: the thread finds nothing due at the deadline it sleeps for.
        state.withLock { state in state.entries.removeValue(forKey: ObjectIdentifier(timer)) != nil }
    }

    /// A periodic timer's next expiry after the one due at `due` ran at `now`: one period
    /// on, or, when the thread was late by a period or more, the first whole period after
    /// `now`, keeping the phase. Periods already missed are not made up (no burst of
    /// expiries, not even one at once).
    static func nextDue(after due: UInt64, period: UInt64, now: UInt64) -> UInt64 {
        let next = due &+ period
        guard next <= now else { return next }
        return due &+ ((now &- due) / period &+ 1) &* period
    }

    /// The timer thread: sleeps until the earliest expiry or a change, expires what is due.
    /// An expiry signals the timer and queues its DPC while it holds the queue's lock, so
    /// once KeCancelTimer returns no expiry of that setting is left to come (a driver's
    /// cancel, then KeFlushQueuedDpcs, then free, as the page says), and a KeSetTimer never
    /// finds its timer signalled by what it replaced. Lock order: the queue, then a timer's
    /// event; KeInsertQueueDpc takes no lock and never runs the DPC here.
    private static func run() {
        while true {
            let (earliest, seen) = state.withLock { state in
                state.threadSleepsUntil = state.entries.values.lazy.map(\.due).min()
                return (state.threadSleepsUntil, state.changes)
            }
            _ = state.wait(until: earliest) { state -> Bool? in
                state.threadLooks &+= 1
                let now = MonotonicClock.nanoseconds()
                var expired = false
                for (key, entry) in state.entries where entry.due <= now {
                    expired = true
                    if entry.period > 0 {
                        var next = entry
                        next.due = nextDue(after: entry.due, period: entry.period, now: now)
                        state.entries[key] = next
                    } else {
                        state.entries[key] = nil
                    }
                    KeSetEvent(entry.timer.signal, IO_NO_INCREMENT, FALSE)
                    if let dpc = entry.dpc { KeInsertQueueDpc(dpc, nil, nil) }
                }
                return expired || state.changes != seen ? true : nil
            }
        }
    }
}
