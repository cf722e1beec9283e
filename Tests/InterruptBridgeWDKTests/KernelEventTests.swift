#if canImport(Glibc)
import Glibc
#endif
import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
@testable import InterruptBridgeWDK
import Synchronization
import Testing

/// A driver that waits on its own thread for the device: the ISR queues its DPC, the DPC
/// sets the event, the thread's KeWaitForSingleObject returns. Quotes are from the wdm.h pages.
final class EVENT_DRIVER_EXTENSION: Addressable, @unchecked Sendable {
    // @unchecked: Event and Dpc are initialized on the test thread before the connect.
    var Event = KEVENT()
    var Dpc = KDPC()
    var IntObj: PKINTERRUPT = nil
}

@Suite("KEVENT and the kernel clocks")
struct KernelEventTests {
    /// -milliseconds in 100-ns units, as a relative time-out.
    static func relative(milliseconds: Int64) -> LARGE_INTEGER { LARGE_INTEGER(QuadPart: -milliseconds * 10_000) }

    @Test func aDPCSetsTheEventTheDriversThreadWaitsFor() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(SimulatedDevice(msiCount: 1), on: dispatcher)
        let devExt = EVENT_DRIVER_EXTENSION()
        KeInitializeEvent(&devExt.Event, NotificationEvent, FALSE)
        KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
            let devExt = DeferredContext as! EVENT_DRIVER_EXTENSION
            KeSetEvent(devExt.Event, IO_NO_INCREMENT, FALSE)
        }, devExt, dispatcher: dispatcher)
        let resource = try translatedInterrupt(of: pdo)
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_FULLY_SPECIFIED
        params.FullySpecified.PhysicalDeviceObject = pdo
        params.FullySpecified.InterruptObject = devExt.pointer(to: \.IntObj)
        params.FullySpecified.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! EVENT_DRIVER_EXTENSION
            KeInsertQueueDpc(devExt.Dpc, nil, nil)
            return TRUE
        }
        params.FullySpecified.ServiceContext = devExt
        params.FullySpecified.Vector = resource.u.MessageInterrupt.Translated.Vector
        params.FullySpecified.Irql = KIRQL(resource.u.MessageInterrupt.Translated.Level)
        params.FullySpecified.SynchronizeIrql = KIRQL(resource.u.MessageInterrupt.Translated.Level)
        params.FullySpecified.ProcessorEnableMask = resource.u.MessageInterrupt.Translated.Affinity
        params.FullySpecified.InterruptMode = Latched
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        defer {
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = CONNECT_FULLY_SPECIFIED
            disconnect.ConnectionContext.InterruptObject = devExt.IntObj
            IoDisconnectInterruptEx(&disconnect)
        }

        // Nothing raised: the wait times out, after about its time-out.
        var timeout = Self.relative(milliseconds: 50)
        let before = ContinuousClock.now
        #expect(KeWaitForSingleObject(devExt.Event, Executive, KernelMode, FALSE, &timeout) == STATUS_TIMEOUT)
        #expect(ContinuousClock.now - before >= .milliseconds(45))

        for round in 1...20 {
            KeClearEvent(devExt.Event)
            #expect(backend.raise())
            timeout = Self.relative(milliseconds: 5_000)
            #expect(KeWaitForSingleObject(devExt.Event, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS, "round \(round)")
        }
    }

    @Test func aNotificationEventReleasesEveryWaitAndStaysSignalled() {
        var event = KEVENT()
        KeInitializeEvent(&event, NotificationEvent, FALSE)
        var look = LARGE_INTEGER(QuadPart: 0)
        #expect(KeReadStateEvent(event) == 0)
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &look) == STATUS_TIMEOUT)
        #expect(KeSetEvent(event, EVENT_INCREMENT, FALSE) == 0, "the previous state: not signalled")
        #expect(KeSetEvent(event, IO_NO_INCREMENT, FALSE) != 0, "signalled already")
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &look) == STATUS_SUCCESS)
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, nil) == STATUS_SUCCESS, "it stays signalled")
        #expect(KeResetEvent(event) != 0)
        #expect(KeReadStateEvent(event) == 0)
        KeInitializeEvent(&event, NotificationEvent, TRUE)
        #expect(KeReadStateEvent(event) != 0, "initialized signalled")
    }

    @Test func aSynchronizationEventReleasesOneWaitAndResetsItself() throws {
        var event = KEVENT()
        KeInitializeEvent(&event, SynchronizationEvent, TRUE)
        var look = LARGE_INTEGER(QuadPart: 0)
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &look) == STATUS_SUCCESS)
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &look) == STATUS_TIMEOUT, "the first wait reset it")

        // Two threads wait; one KeSetEvent releases exactly one of them.
        let released = Atomic<Int>(0)
        let shared = event
        var threads: [PThread.Handle] = []
        for index in 0..<2 {
            threads.append(try PThread.spawn(name: "waiter \(index)") {
                var timeout = KernelEventTests.relative(milliseconds: 1_500)
                if KeWaitForSingleObject(shared, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS {
                    released.add(1, ordering: .relaxed)
                }
            })
        }
        #expect(eventually { event.state.withLock { $0.blocked.count } == 2 }, "both waits are blocked")
        KeSetEvent(event, IO_NO_INCREMENT, FALSE)
        #expect(eventually(1) { released.load(ordering: .relaxed) == 1 })
        for thread in threads { try PThread.join(thread) }
        #expect(released.load(ordering: .relaxed) == 1, "the other wait timed out")
        #expect(KeReadStateEvent(event) == 0)
    }

    /// A set releases the waits blocked at that moment: a clear right after cannot take the
    /// release back, and two sets of a synchronization event release a wait and leave it set.
    @Test func aSetReleasesTheBlockedWaitsEvenIfClearedAtOnce() throws {
        for type in [NotificationEvent, SynchronizationEvent] {
            var event = KEVENT()
            KeInitializeEvent(&event, type, FALSE)
            let shared = event
            let result = Mutex<NTSTATUS?>(nil)
            let waiter = try PThread.spawn(name: "waiter") {
                var timeout = KernelEventTests.relative(milliseconds: 3_000)
                let status = KeWaitForSingleObject(shared, Executive, KernelMode, FALSE, &timeout)
                result.withLock { $0 = status }
            }
            #expect(eventually { event.state.withLock { $0.blocked.count } == 1 }, "the wait is blocked")
            KeSetEvent(event, IO_NO_INCREMENT, FALSE)
            KeClearEvent(event)
            try PThread.join(waiter)
            #expect(result.withLock { $0 } == STATUS_SUCCESS, "\(type == NotificationEvent ? "notification" : "synchronization")")
        }

        var event = KEVENT()
        KeInitializeEvent(&event, SynchronizationEvent, FALSE)
        let shared = event
        let released = Atomic<Bool>(false)
        let waiter = try PThread.spawn(name: "waiter") {
            var timeout = KernelEventTests.relative(milliseconds: 3_000)
            released.store(KeWaitForSingleObject(shared, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS, ordering: .relaxed)
        }
        #expect(eventually { event.state.withLock { $0.blocked.count } == 1 }, "the wait is blocked")
        #expect(KeSetEvent(event, IO_NO_INCREMENT, FALSE) == 0)
        #expect(KeSetEvent(event, IO_NO_INCREMENT, FALSE) == 0, "the first set released the wait: the event was never signalled")
        try PThread.join(waiter)
        let wasReleased = released.load(ordering: .relaxed)
        #expect(wasReleased)
        #expect(KeReadStateEvent(event) != 0, "the second set found no wait: it stays signalled for the next")
    }

    @Test func aTimeOutNoClockHoldsWaitsForever() {
        #expect(waitDeadline(for: .min) == .max, "LONGLONG.min: no deadline a clock reaches")
        #expect(waitDeadline(for: -LONGLONG.max) == .max)
        #expect(waitDeadline(for: .max) == .max)
        let now = MonotonicClock.nanoseconds()
        #expect(waitDeadline(for: 0) >= now && waitDeadline(for: 0) < now + 1_000_000_000)
    }

    @Test func anAbsoluteTimeOutIsASystemTime() {
        var event = KEVENT()
        KeInitializeEvent(&event, NotificationEvent, FALSE)
        var now = LARGE_INTEGER()
        KeQuerySystemTime(&now)
        var at = LARGE_INTEGER(QuadPart: now.QuadPart + 50 * 10_000)
        let before = ContinuousClock.now
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &at) == STATUS_TIMEOUT)
        let waited = ContinuousClock.now - before
        #expect(waited >= .milliseconds(40) && waited < .seconds(5), "\(waited)")
        var past = LARGE_INTEGER(QuadPart: now.QuadPart - 10_000_000)
        #expect(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &past) == STATUS_TIMEOUT, "a time already past: no wait")
        var interval = Self.relative(milliseconds: 20)
        let slept = ContinuousClock.now
        #expect(KeDelayExecutionThread(KernelMode, FALSE, &interval) == STATUS_SUCCESS)
        #expect(ContinuousClock.now - slept >= .milliseconds(19))
    }

    @Test func theClocksCountInWindowsUnits() {
        var frequency = LARGE_INTEGER()
        let first = KeQueryPerformanceCounter(&frequency)
        #expect(frequency.QuadPart == 10_000_000)
        PThread.sleep(for: .milliseconds(20))
        let second = KeQueryPerformanceCounter(nil)
        #expect(second.QuadPart - first.QuadPart >= 190_000, "20 ms at 10 MHz")

        var system = LARGE_INTEGER()
        KeQuerySystemTimePrecise(&system)
        let unixSeconds = Double(system.QuadPart - 116_444_736_000_000_000) / 1e7
        #expect(abs(unixSeconds - Date().timeIntervalSince1970) < 5, "100 ns since 1601")

        let interrupt = KeQueryInterruptTime()
        var stamp: ULONG64 = 0
        #expect(KeQueryInterruptTimePrecise(&stamp) >= interrupt)
        var ticks = LARGE_INTEGER()
        KeQueryTickCount(&ticks)
        #expect(KeQueryTimeIncrement() == 156_250)
        #expect(abs(ticks.QuadPart - LONGLONG(KeQueryInterruptTime() / 156_250)) <= 1)
    }

    /// "Callers of KeSetEvent must be running at IRQL <= DISPATCH_LEVEL"; KeWaitForSingleObject
    /// "at IRQL <= APC_LEVEL", or DISPATCH_LEVEL with a zero time-out. Otherwise the process stops.
    @Test func setAboveDispatchOrWaitInADPCStopsTheProcess() async {
        let set = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let event = KEVENT()
            var old: KIRQL = 0
            KeRaiseIrql(5, &old)
            KeSetEvent(event, IO_NO_INCREMENT, FALSE)
            exit(0)
        }
        let setMessage = String(decoding: set?.standardErrorContent ?? [], as: UTF8.self)
        #expect(setMessage.contains("KeSetEvent at IRQL 5"), "\(setMessage)")
        let wait = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let event = KEVENT()
            let irql = KeRaiseIrqlToDpcLevel()
            var look = LARGE_INTEGER(QuadPart: 0)
            _ = KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &look)  // allowed: a zero time-out
            var timeout = KernelEventTests.relative(milliseconds: 10)
            _ = KeWaitForSingleObject(event, Executive, KernelMode, FALSE, &timeout)
            KeLowerIrql(irql)
            exit(0)
        }
        let waitMessage = String(decoding: wait?.standardErrorContent ?? [], as: UTF8.self)
        #expect(waitMessage.contains("KeWaitForSingleObject at IRQL 2 with a time-out"), "\(waitMessage)")
    }
}
