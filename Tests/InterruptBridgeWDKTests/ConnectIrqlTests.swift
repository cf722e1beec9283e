import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The connect routines' IRQL (PASSIVE_LEVEL, on every reference page) and the levels
/// they accept, and KeFlushQueuedDpcs, which a stop path calls after disconnecting.
/// Serialized: KeFlushQueuedDpcs flushes every dispatcher a DPC was made for, so one test's
/// flush could run another's DPC that it expects still queued.
@Suite("Connect IRQL and KeFlushQueuedDpcs", .serialized)
struct ConnectIrqlTests {
    typealias Params = ConnectStatusTests

    /// What a DPC's connect attempt saw.
    final class Attempt: Sendable {
        let pdo: DEVICE_OBJECT
        let extensionToFill = DEVICE_EXTENSION()
        let status = Mutex<NTSTATUS?>(nil)
        let irql = Atomic<UInt8>(0xff)
        init(_ pdo: DEVICE_OBJECT) { self.pdo = pdo }
    }

    /// From a DPC (DISPATCH_LEVEL, on the dispatch thread) a connect that would succeed at
    /// PASSIVE_LEVEL is refused: it could not wait for the loop, so STATUS_SUCCESS could not
    /// be known true (a kernel refusing the interrupts after it returned left an object that
    /// was never connected).
    @Test(arguments: [false, true])
    func aConnectFromADpcIsInvalidParameterAndConnectsNothing(threaded: Bool) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let attempt = Attempt(pdo)
        var dpc = KDPC()
        let routine: KDEFERRED_ROUTINE = { _, DeferredContext, _, _ in
            let attempt = DeferredContext as! Attempt
            attempt.irql.store(KeGetCurrentIrql(), ordering: .relaxed)
            var params = Params.lineBased(attempt.pdo, attempt.extensionToFill)
            let status = IoConnectInterruptEx(&params)
            attempt.status.withLock { $0 = status }
        }
        if threaded {
            KeInitializeThreadedDpc(&dpc, routine, attempt, dispatcher: dispatcher)
        } else {
            KeInitializeDpc(&dpc, routine, attempt, dispatcher: dispatcher)
        }
        #expect(KeInsertQueueDpc(dpc, nil, nil))
        #expect(eventually { attempt.status.withLock { $0 } != nil })
        #expect(attempt.irql.load(ordering: .relaxed) == (threaded ? PASSIVE_LEVEL : DISPATCH_LEVEL))
        #expect(attempt.status.withLock { $0 } == STATUS_INVALID_PARAMETER)
        KeFlushQueuedDpcs()
        Params.expectNothingConnected(dispatcher, backend, attempt.extensionToFill)

        // The same parameters from this thread, at PASSIVE_LEVEL, connect.
        var params = Params.lineBased(pdo, attempt.extensionToFill)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        IoDisconnectInterrupt(attempt.extensionToFill.IntObj)
    }

    /// From an ISR, with the legacy call too.
    @Test func aLegacyConnectFromAnIsrIsInvalidParameter() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let (_, other) = makePDO(Devices.lineOnly, on: dispatcher)
        let outcome = Mutex<NTSTATUS?>(nil)
        let vector = try #require(pdo.device.vectors.first?.vector)
        let devExt = DEVICE_EXTENSION()
        var params = Params.fullySpecified(pdo, devExt)
        params.FullySpecified.ServiceRoutine = { _, _ in
            var late: PKINTERRUPT = nil
            let status = IoConnectInterrupt(&late, { _, _ in TRUE }, nil, nil, vector, 8, 8, Latched, FALSE, 0x1, FALSE,
                                            dispatcher: dispatcher)
            outcome.withLock { if $0 == nil { $0 = late == nil ? status : STATUS_SUCCESS } }
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise(message: 0))
        #expect(eventually { outcome.withLock { $0 } != nil })
        #expect(outcome.withLock { $0 } == STATUS_INVALID_PARAMETER)
        #expect(dispatcher.connectedInterrupts.count == 1, "only the ISR's own connection")
        #expect(other.enabledKind == nil)
        IoDisconnectInterrupt(devExt.IntObj)
    }

    /// Raised by KeRaiseIrql on an ordinary thread: refused until lowered again.
    @Test func aConnectAboveThePassiveLevelIsRefusedUntilLowered() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var OldIrql: KIRQL = 0
        KeRaiseIrql(DISPATCH_LEVEL, &OldIrql)
        var params = Params.messageBased(pdo, devExt, fallBack: true)
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER)
        #expect(params.Version == CONNECT_MESSAGE_BASED)
        KeLowerIrql(OldIrql)
        Params.expectNothingConnected(dispatcher, backend, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&disconnect)
    }

    /// HIGH_LEVEL (15) is the highest IRQL: a SynchronizeIrql above it names none.
    @Test(arguments: [CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED])
    func aSynchronizeIrqlAboveHighLevelIsInvalidParameter(version: ULONG) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(version == CONNECT_MESSAGE_BASED ? Devices.msix4 : Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params: IO_CONNECT_INTERRUPT_PARAMETERS
        switch version {
        case CONNECT_FULLY_SPECIFIED:
            params = Params.fullySpecified(pdo, devExt)
            params.FullySpecified.SynchronizeIrql = HIGH_LEVEL + 1
        case CONNECT_LINE_BASED:
            params = Params.lineBased(pdo, devExt)
            params.LineBased.SynchronizeIrql = 200
        default:
            params = Params.messageBased(pdo, devExt, fallBack: false)
            params.MessageBased.SynchronizeIrql = HIGH_LEVEL + 1
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER)
        Params.expectNothingConnected(dispatcher, backend, devExt)
        let vector = try #require(pdo.device.vectors.first?.vector)
        var legacy: PKINTERRUPT = nil
        #expect(IoConnectInterrupt(&legacy, Params.isr, devExt, nil, vector, 5, HIGH_LEVEL + 1, LevelSensitive, TRUE, 0x1, FALSE,
                                   dispatcher: dispatcher) == STATUS_INVALID_PARAMETER)
        #expect(legacy == nil)

        // HIGH_LEVEL itself is a level.
        switch version {
        case CONNECT_FULLY_SPECIFIED: params.FullySpecified.SynchronizeIrql = HIGH_LEVEL
        case CONNECT_LINE_BASED: params.LineBased.SynchronizeIrql = HIGH_LEVEL
        default: params.MessageBased.SynchronizeIrql = HIGH_LEVEL
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        for object in dispatcher.connectedInterrupts { object.disconnect() }
    }

    /// The stop path: IoDisconnectInterruptEx does not wait for the DPC its ISR queued (as on
    /// Windows); KeFlushQueuedDpcs does, whichever dispatcher the DPC runs on.
    @Test(arguments: [false, true])
    func keFlushQueuedDpcsWaitsForTheDpcTheIsrQueued(onTheDevicesDispatcher: Bool) throws {
        final class Extension: Addressable, @unchecked Sendable {
            // @unchecked: IntObj and Dpc are written on the test thread before the ISR can run.
            var IntObj: PKINTERRUPT = nil
            var Dpc = KDPC()
            let started = Atomic<Bool>(false)
            let finished = Atomic<Bool>(false)
        }
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = Extension()
        let routine: KDEFERRED_ROUTINE = { _, DeferredContext, _, _ in
            let devExt = DeferredContext as! Extension
            devExt.started.store(true, ordering: .releasing)
            usleep(300_000)
            devExt.finished.store(true, ordering: .releasing)
        }
        if onTheDevicesDispatcher {
            KeInitializeDpc(&devExt.Dpc, routine, devExt, dispatcher: pdo.dispatcher)
        } else {
            KeInitializeDpc(&devExt.Dpc, routine, devExt)
        }
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_LINE_BASED
        params.LineBased.PhysicalDeviceObject = pdo
        params.LineBased.InterruptObject = devExt.pointer(to: \.IntObj)
        params.LineBased.ServiceContext = devExt
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! Extension
            KeInsertQueueDpc(devExt.Dpc, nil, nil)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise())
        #expect(eventually { devExt.started.load(ordering: .acquiring) == true })
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_LINE_BASED
        disconnect.ConnectionContext.InterruptObject = devExt.IntObj
        IoDisconnectInterruptEx(&disconnect)
        KeFlushQueuedDpcs()
        let finished = devExt.finished.load(ordering: .acquiring)
        #expect(finished, "KeFlushQueuedDpcs returned before the DPC's routine did")
        #expect(devExt.Dpc.call?.runCount == 1)
    }

    /// A DPC still queued is run before the flush returns: on a manually stepped dispatcher
    /// nothing else would run it (no step is taken), so only the flush's own drain can.
    @Test func keFlushQueuedDpcsRunsADpcStillQueued() throws {
        let dispatcher = try makeSteppedDispatcher()
        defer { dispatcher.shutdown() }
        let dpc = QueuedCountingDPC(on: dispatcher)
        #expect(dpc.runs == 0, "nothing runs a stepped dispatcher's DPC before the flush")
        KeFlushQueuedDpcs()
        #expect(dpc.runs == 1)
    }

    /// Above PASSIVE_LEVEL (a driver's spin lock held, which a DPC may want) the flush returns
    /// at once rather than wait for a DPC that could be waiting for the caller.
    @Test func keFlushQueuedDpcsAbovePassiveLevelReturnsAtOnce() throws {
        let dispatcher = try makeSteppedDispatcher()
        defer { dispatcher.shutdown() }
        let dpc = QueuedCountingDPC(on: dispatcher)
        var OldIrql: KIRQL = 0
        KeRaiseIrql(DISPATCH_LEVEL, &OldIrql)
        KeFlushQueuedDpcs()
        KeLowerIrql(OldIrql)
        #expect(dpc.runs == 0)
        KeFlushQueuedDpcs()
        #expect(dpc.runs == 1)
    }

    /// A DPC on a manually stepped dispatcher that counts its runs, queued once (held here
    /// for as long as the test holds this).
    final class QueuedCountingDPC: Sendable {
        private final class Count: Sendable { let value = Atomic<Int>(0) }
        private let count = Count()
        private let Dpc: KDPC
        var runs: Int { count.value.load(ordering: .acquiring) }

        init(on dispatcher: InterruptDispatcher) {
            let count = count
            var Dpc = KDPC()
            KeInitializeDpc(&Dpc, { _, _, _, _ in count.value.add(1, ordering: .releasing) }, nil, dispatcher: dispatcher)
            self.Dpc = Dpc
            #expect(KeInsertQueueDpc(Dpc, nil, nil))
        }
    }

    /// Windows asks PASSIVE_LEVEL; from a DPC the flush returns at once rather than wait for itself.
    @Test func keFlushQueuedDpcsFromADpcReturns() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let returned = Atomic<Bool>(false)
        var dpc = KDPC()
        KeInitializeDpc(&dpc, { _, _, _, _ in
            KeFlushQueuedDpcs()
            returned.store(true, ordering: .releasing)
        }, nil, dispatcher: dispatcher)
        #expect(KeInsertQueueDpc(dpc, nil, nil))
        #expect(eventually(5) { returned.load(ordering: .acquiring) })
    }
}
