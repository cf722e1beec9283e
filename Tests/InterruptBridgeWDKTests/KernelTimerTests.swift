import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
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

@Suite("KTIMER: expiry, DPC, period, cancel")
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
}
