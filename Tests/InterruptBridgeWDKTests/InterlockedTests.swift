import InterruptBridge
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// A ported driver's extension that shares status bits between its ISR and its DPC, as
/// the C driver's `volatile LONG PendingStatus` does.
final class INTERLOCKED_EXTENSION: Addressable, @unchecked Sendable {
    // @unchecked: ConnectionContext and Dpc are written on the test thread before the
    // connect; the ISR and the DPC touch only the atomics.
    var ConnectionContext: PVOID = nil
    var Dpc = KDPC()
    let PendingStatus = Atomic<LONG>(0)
    let Collected = Atomic<LONG>(0)
    let DpcRuns = Atomic<LONG>(0)
}

@Suite("Interlocked routines")
struct InterlockedTests {
    @Test func eachReturnsWhatWdmHSaysItReturns() {
        let value = Atomic<LONG>(5)
        #expect(InterlockedIncrement(value) == 6, "the incremented value")
        #expect(InterlockedDecrement(value) == 5, "the decremented value")
        #expect(InterlockedExchange(value, 9) == 5 && value.load(ordering: .relaxed) == 9, "the value replaced")
        #expect(InterlockedCompareExchange(value, 1, 7) == 9 && value.load(ordering: .relaxed) == 9, "not the comperand: unchanged")
        #expect(InterlockedCompareExchange(value, 1, 9) == 9 && value.load(ordering: .relaxed) == 1, "the comperand: exchanged")
        #expect(InterlockedExchangeAdd(value, 10) == 1 && value.load(ordering: .relaxed) == 11, "the value before")
        #expect(InterlockedAdd(value, 10) == 21, "the sum")
        #expect(InterlockedOr(value, 0b1000_0000) == 21 && value.load(ordering: .relaxed) == 0b1001_0101, "the value before")
        #expect(InterlockedAnd(value, 0b1111) == 0b1001_0101 && value.load(ordering: .relaxed) == 0b0101)
        #expect(InterlockedXor(value, 0b0110) == 0b0101 && value.load(ordering: .relaxed) == 0b0011)

        let wide = Atomic<LONG64>(1 << 40)
        #expect(InterlockedIncrement64(wide) == (1 << 40) + 1)
        #expect(InterlockedDecrement64(wide) == 1 << 40)
        #expect(InterlockedExchange64(wide, 3) == 1 << 40)
        #expect(InterlockedCompareExchange64(wide, 4, 2) == 3 && wide.load(ordering: .relaxed) == 3)
        #expect(InterlockedCompareExchange64(wide, 4, 3) == 3 && wide.load(ordering: .relaxed) == 4)
        #expect(InterlockedExchangeAdd64(wide, 1 << 33) == 4 && InterlockedAdd64(wide, 1) == (1 << 33) + 5)
        #expect(InterlockedOr64(wide, 1 << 62) == (1 << 33) + 5)
        #expect(InterlockedAnd64(wide, 1 << 62) == (1 << 62) + (1 << 33) + 5 && wide.load(ordering: .relaxed) == 1 << 62)
        #expect(InterlockedXor64(wide, (1 << 62) | 1) == 1 << 62 && wide.load(ordering: .relaxed) == 1)
        KeMemoryBarrier()
        MemoryBarrier()
    }

    @Test func arithmeticWrapsAsInC() {
        let value = Atomic<LONG>(.max)
        #expect(InterlockedIncrement(value) == .min)
        #expect(InterlockedDecrement(value) == .max)
        #expect(InterlockedAdd(value, 2) == LONG.min + 1)
        let wide = Atomic<LONG64>(.min)
        #expect(InterlockedDecrement64(wide) == .max)
    }

    @Test func incrementsFromManyThreadsAreNeverLost() throws {
        let counter = Atomic<LONG>(0)
        let threads = try (0..<4).map { _ in
            try PThread.spawn(name: "interlocked") {
                for _ in 0..<100_000 { InterlockedIncrement(counter) }
            }
        }
        for thread in threads { try PThread.join(thread) }
        #expect(counter.load(ordering: .acquiring) == 400_000)
    }

    /// The ISR collects each message's status bit with InterlockedOr and queues its DPC; the
    /// DPC takes them all with InterlockedExchange(…, 0): every bit arrives once, however the
    /// ISR calls and the DPC runs interleave.
    @Test func anISRAndItsDPCShareStatusBits() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = INTERLOCKED_EXTENSION()
        KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
            let devExt = DeferredContext as! INTERLOCKED_EXTENSION
            let status = InterlockedExchange(devExt.PendingStatus, 0)
            InterlockedOr(devExt.Collected, status)
            InterlockedIncrement(devExt.DpcRuns)
        }, devExt, dispatcher: dispatcher)
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_MESSAGE_BASED
        params.MessageBased.PhysicalDeviceObject = pdo
        params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
        params.MessageBased.MessageServiceRoutine = { _, ServiceContext, MessageID in
            let devExt = ServiceContext as! INTERLOCKED_EXTENSION
            InterlockedOr(devExt.PendingStatus, LONG(1) << LONG(MessageID))
            KeInsertQueueDpc(devExt.Dpc, nil, nil)
            return TRUE
        }
        params.MessageBased.ServiceContext = devExt
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        for message in 0..<4 { #expect(backend.raise(message: message)) }
        #expect(eventually(5) { devExt.Collected.load(ordering: .acquiring) == 0b1111 }, "every message's bit reached the DPC")
        KeFlushQueuedDpcs()
        #expect(devExt.PendingStatus.load(ordering: .acquiring) == 0, "the DPC took every bit")
        #expect(devExt.DpcRuns.load(ordering: .acquiring) >= 1)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&disconnect)
    }
}
