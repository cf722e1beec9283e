import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
@testable import InterruptBridgeWDK
import Synchronization
import Testing

/// What a timer's DPC counts.
final class TIMER_EXTENSION: @unchecked Sendable {
    // @unchecked: Timer and Dpc are initialized on the test thread before the timer is set.
    var Timer = KTIMER()
    var Dpc = KDPC()
    let expiries = Atomic<Int>(0)
    var count: Int { expiries.load(ordering: .acquiring) }
}

// Serialized: one test counts the timer thread's wake-ups, which every timer set moves.
@Suite("KTIMER: expiry, DPC, period, cancel", .serialized)
struct KernelTimerTests {
    static func relative(milliseconds: Int64) -> LARGE_INTEGER { LARGE_INTEGER(QuadPart: -milliseconds * 10_000) }

    static func timerWithCountingDpc(_ type: TIMER_TYPE = NotificationTimer, on dispatcher: InterruptDispatcher) -> TIMER_EXTENSION {
        let devExt = TIMER_EXTENSION()
        KeInitializeTimerEx(&devExt.Timer, type)
        KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
            (DeferredContext as! TIMER_EXTENSION).expiries.add(1, ordering: .releasing)
        }, devExt, dispatcher: dispatcher)
        return devExt
    }

    @Test func aOneShotTimerSignalsAndQueuesItsDPCOnce() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = Self.timerWithCountingDpc(on: dispatcher)
        #expect(KeReadStateTimer(devExt.Timer) == FALSE)
        let before = ContinuousClock.now
        #expect(KeSetTimer(devExt.Timer, Self.relative(milliseconds: 30), devExt.Dpc) == FALSE, "it was not set")
        var timeout = Self.relative(milliseconds: 5_000)
        #expect(KeWaitForSingleObject(devExt.Timer, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS)
        #expect(ContinuousClock.now - before >= .milliseconds(25))
        #expect(eventually { devExt.count == 1 }, "the DPC ran")
        #expect(KeReadStateTimer(devExt.Timer) == TRUE, "a notification timer stays signalled")
        PThread.sleep(for: .milliseconds(60))
        #expect(devExt.count == 1, "once")
        #expect(KeCancelTimer(devExt.Timer) == FALSE, "expired: no longer set")
        KeSetTimer(devExt.Timer, Self.relative(milliseconds: 60_000), devExt.Dpc)
        #expect(KeReadStateTimer(devExt.Timer) == FALSE, "setting it again makes it not signalled")
        #expect(KeCancelTimer(devExt.Timer) == TRUE)
        #expect(KeReadStateTimer(devExt.Timer) == FALSE, "a cancel leaves the state as it was")
    }

    @Test func aPeriodicTimerGoesOnUntilCancelled() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = Self.timerWithCountingDpc(on: dispatcher)
        KeSetTimerEx(devExt.Timer, Self.relative(milliseconds: 10), 20, devExt.Dpc)
        #expect(eventually { devExt.count >= 4 }, "every 20 ms")
        #expect(KeCancelTimer(devExt.Timer) == TRUE)
        KeFlushQueuedDpcs()
        let stopped = devExt.count
        PThread.sleep(for: .milliseconds(80))
        #expect(devExt.count == stopped, "no expiry after the cancel")
    }

    @Test func settingASetTimerReplacesItsExpiry() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = Self.timerWithCountingDpc(on: dispatcher)
        #expect(KeSetTimer(devExt.Timer, Self.relative(milliseconds: 60_000), devExt.Dpc) == FALSE)
        #expect(KeSetTimer(devExt.Timer, Self.relative(milliseconds: 20), devExt.Dpc) == TRUE, "it was set: the minute is replaced")
        #expect(eventually(5) { devExt.count == 1 })
        // The watchdog pattern: re-set before it expires, and it never does.
        for _ in 0..<5 {
            KeSetTimer(devExt.Timer, Self.relative(milliseconds: 200), devExt.Dpc)
            PThread.sleep(for: .milliseconds(20))
        }
        #expect(KeCancelTimer(devExt.Timer) == TRUE)
        KeFlushQueuedDpcs()
        #expect(devExt.count == 1)
    }

    /// A watchdog re-armed at every interrupt, each time further out than the deadline the
    /// timer thread sleeps for, does not wake it: it expires only what is due.
    @Test func reArmingAWatchdogLaterDoesNotWakeTheTimerThread() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = Self.timerWithCountingDpc(on: dispatcher)
        KeSetTimer(devExt.Timer, Self.relative(milliseconds: 60_000), devExt.Dpc)
        #expect(eventually(5) { TimerQueue.state.withLock { $0.threadSleepsUntil } != nil }, "the thread took a deadline")
        let before = TimerQueue.state.withLock { $0.threadLooks }
        // Spaced out, as interrupts come, so a thread that is woken gets to run each time.
        for round in 1...100 {
            KeSetTimer(devExt.Timer, Self.relative(milliseconds: 60_000 + Int64(round)), devExt.Dpc)
            PThread.sleep(for: .milliseconds(1))
        }
        PThread.sleep(for: .milliseconds(20))
        let looks = TimerQueue.state.withLock { $0.threadLooks } - before
        // A wake-up and the wait after it are two looks; one wake-up at most, for a deadline
        // an earlier test's cancelled timer left behind.
        #expect(looks <= 2, "the timer thread looked \(looks) times for 100 later re-arms")
        // A sooner set still wakes it.
        KeSetTimer(devExt.Timer, Self.relative(milliseconds: 20), devExt.Dpc)
        #expect(eventually(5) { devExt.count == 1 }, "the re-armed timer expired at its new, sooner time")
        #expect(KeCancelTimer(devExt.Timer) == FALSE, "a one-shot timer is no longer set once it expired")
        KeFlushQueuedDpcs()
    }

    /// A periodic timer whose thread was late keeps its phase and makes up nothing: the
    /// next expiry is the first whole period after now, never at once.
    @Test func aLatePeriodicExpiryMakesUpNoMissedPeriod() {
        #expect(TimerQueue.nextDue(after: 1_000, period: 100, now: 1_010) == 1_100, "on time: one period on")
        #expect(TimerQueue.nextDue(after: 1_000, period: 100, now: 1_100) == 1_200, "late by exactly one period")
        #expect(TimerQueue.nextDue(after: 1_000, period: 100, now: 1_350) == 1_400, "late by three and a half: the next on the phase")
    }

    @Test func aSynchronizationTimerReleasesOneWaitPerExpiry() throws {
        var timer = KTIMER()
        KeInitializeTimerEx(&timer, SynchronizationTimer)
        KeSetTimer(timer, LARGE_INTEGER(QuadPart: 0), nil)  // expires at once
        var timeout = Self.relative(milliseconds: 5_000)
        #expect(KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS)
        var look = LARGE_INTEGER(QuadPart: 0)
        #expect(KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, &look) == STATUS_TIMEOUT, "the wait reset it")
        #expect(KeReadStateTimer(timer) == FALSE)
    }

    /// The polling pattern: a DPC that re-sets its own timer, one-shot and periodic, from
    /// DISPATCH_LEVEL on the dispatcher's thread (the queue's lock, then the event's: no
    /// deadlock with the timer thread, which takes them in that order).
    @Test func aDPCThatSetsItsOwnTimerAgain() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        final class Poll: @unchecked Sendable {
            // @unchecked: Timer and Dpc are initialized before the first set.
            var Timer = KTIMER()
            var Dpc = KDPC()
            let runs = Atomic<Int>(0)
            let periodic: Bool
            init(periodic: Bool) { self.periodic = periodic }
        }
        for periodic in [false, true] {
            let poll = Poll(periodic: periodic)
            KeInitializeTimer(&poll.Timer)
            KeInitializeDpc(&poll.Dpc, { Dpc, Context, _, _ in
                let poll = Context as! Poll
                if poll.runs.add(1, ordering: .relaxed).newValue < 50 {
                    KeSetTimerEx(poll.Timer, LARGE_INTEGER(QuadPart: -10_000), poll.periodic ? 2 : 0, Dpc)
                }
            }, poll, dispatcher: dispatcher)
            KeSetTimerEx(poll.Timer, Self.relative(milliseconds: 1), periodic ? 3 : 0, poll.Dpc)
            #expect(eventually(10) { poll.runs.load(ordering: .relaxed) >= 50 }, "periodic \(periodic)")
            KeCancelTimer(poll.Timer)
            KeFlushQueuedDpcs()
        }
    }

    /// One expiry of a synchronization timer releases exactly one of two blocked waits.
    @Test func aSynchronizationTimerReleasesOneOfTwoWaits() throws {
        var timer = KTIMER()
        KeInitializeTimerEx(&timer, SynchronizationTimer)
        let shared = timer
        let successes = Atomic<Int>(0)
        let waiters = try (0..<2).map { index in
            try PThread.spawn(name: "waiter \(index)") {
                var timeout = KernelTimerTests.relative(milliseconds: 600)
                if KeWaitForSingleObject(shared, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS {
                    successes.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(eventually(5) { shared.signal.state.withLock { $0.blocked.count } == 2 })
        KeSetTimer(timer, LARGE_INTEGER(QuadPart: 0), nil)
        for waiter in waiters { try PThread.join(waiter) }
        #expect(successes.load(ordering: .relaxed) == 1)
        let left = shared.signal.state.withLock { ($0.blocked.count, $0.released.count, $0.signaled) }
        #expect(left == (0, 0, false), "nothing stranded: \(left)")
    }

    /// Synchronization-event waits with time-outs of 100-300 us racing sets for a second:
    /// no release is left behind, and no wait succeeds without a set.
    @Test func synchronizationWaitsRacingSetsStrandNothing() throws {
        var event = KEVENT()
        KeInitializeEvent(&event, SynchronizationEvent, FALSE)
        let shared = event
        let stop = Atomic<Bool>(false)
        let successes = Atomic<Int>(0)
        let waiters = try (0..<3).map { index in
            try PThread.spawn(name: "waiter \(index)") {
                while !stop.load(ordering: .relaxed) {
                    var timeout = LARGE_INTEGER(QuadPart: -Int64(1 + index) * 1_000)
                    if KeWaitForSingleObject(shared, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS {
                        successes.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        var sets = 0
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(1) {
            KeSetEvent(shared, IO_NO_INCREMENT, FALSE)
            sets += 1
            PThread.sleep(for: .microseconds(Int64(sets % 400)))
        }
        stop.store(true, ordering: .relaxed)
        for waiter in waiters { try PThread.join(waiter) }
        let left = shared.state.withLock { ($0.blocked.count, $0.released.count, $0.signaled) }
        #expect(left.0 == 0 && left.1 == 0, "stranded: \(left)")
        // Two sets with no wait blocked leave the event set once: at most one release per set.
        #expect(successes.load(ordering: .relaxed) + (left.2 ? 1 : 0) <= sets)
        #expect(successes.load(ordering: .relaxed) > 0)
    }
}
