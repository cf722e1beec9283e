import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// The out-parameter is written before the object's interrupts can arrive, as NT's
/// IoConnectInterrupt writes it "in case an interrupt is pending for the device when it
/// is initially connected": a serial or i8042 port's ISR queues a DPC, which calls
/// KeSynchronizeExecution on the extension's interrupt object, and with a line already
/// asserted at connect both run before the call returns.
@Suite struct EarlyInterruptObjectTests {
    final class PortExtension: Addressable, @unchecked Sendable {
        // @unchecked: Interrupt is written by the connect before the object is attached
        // (the loop's attach orders it before any ISR) and read by the ISR and the DPC.
        var Interrupt: PKINTERRUPT = nil
        /// CONNECT_MESSAGE_BASED's result: a KINTERRUPT after a fall-back to the line.
        var ConnectionContext: PVOID = nil
        /// The object, whichever connect wrote it.
        var object: PKINTERRUPT { Interrupt ?? ConnectionContext as? KINTERRUPT }
        var Dpc = KDPC()
        let isrCalls = Atomic<Int>(0)
        let isrSawItsObject = Atomic<Int>(0)
        let dpcCalls = Atomic<Int>(0)
        let dpcSynchronized = Atomic<Int>(0)
    }

    static let isr: KSERVICE_ROUTINE = { Interrupt, ServiceContext in
        let port = ServiceContext as! PortExtension
        if port.object === Interrupt { port.isrSawItsObject.add(1, ordering: .relaxed) }
        KeInsertQueueDpc(port.Dpc, nil, nil)
        port.isrCalls.add(1, ordering: .releasing)
        return TRUE
    }

    /// A DPC as the ports write it: synchronize with the ISR through the extension's object.
    /// Threaded for a passive-level ISR, whose object is synchronized with at PASSIVE_LEVEL only.
    static func initializeDpc(_ port: PortExtension, threaded: Bool, on dispatcher: InterruptDispatcher) {
        let routine: KDEFERRED_ROUTINE = { _, DeferredContext, _, _ in
            let port = DeferredContext as! PortExtension
            if port.object != nil, KeSynchronizeExecution(port.object, { _ in TRUE }, nil) == TRUE {
                port.dpcSynchronized.add(1, ordering: .relaxed)
            }
            port.dpcCalls.add(1, ordering: .releasing)
        }
        if threaded {
            KeInitializeThreadedDpc(&port.Dpc, routine, port, dispatcher: dispatcher)
        } else {
            KeInitializeDpc(&port.Dpc, routine, port, dispatcher: dispatcher)
        }
    }

    /// Ten connects, each with the line asserted: whichever runs first, the ISR or the
    /// caller's return, the ISR and its DPC find the object (before the fix they found
    /// NULL in most rounds, and a KeSynchronizeExecution on it stopped the process).
    @Test(arguments: ["inout", "pointer"]) func theLegacyCallsObjectIsThereForAnISRThatRunsAtOnce(form: String) throws {
        try Self.tenConnectsWithTheLineAsserted { port, line, dispatcher in
            let level = KIRQL(line.u.Interrupt.Level)
            return form == "inout"
                ? IoConnectInterrupt(&port.Interrupt, Self.isr, port, nil, line.u.Interrupt.Vector, level, level, LevelSensitive, TRUE,
                                     line.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher)
                : IoConnectInterrupt(port.pointer(to: \.Interrupt), Self.isr, port, nil, line.u.Interrupt.Vector, level, level,
                                     LevelSensitive, TRUE, line.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher)
        }
    }

    /// CONNECT_FULLY_SPECIFIED is IoConnectInterrupt with the parameters in a structure: the same.
    @Test func theFullySpecifiedObjectIsThereForAnISRThatRunsAtOnce() throws {
        try Self.tenConnectsWithTheLineAsserted { port, line, _ in
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_FULLY_SPECIFIED
            params.FullySpecified.PhysicalDeviceObject = line.pdo
            params.FullySpecified.InterruptObject = port.pointer(to: \.Interrupt)
            params.FullySpecified.ServiceRoutine = Self.isr
            params.FullySpecified.ServiceContext = port
            params.FullySpecified.Vector = line.u.Interrupt.Vector
            params.FullySpecified.Irql = KIRQL(line.u.Interrupt.Level)
            params.FullySpecified.SynchronizeIrql = KIRQL(line.u.Interrupt.Level)
            params.FullySpecified.InterruptMode = LevelSensitive
            params.FullySpecified.ShareVector = TRUE
            params.FullySpecified.ProcessorEnableMask = line.u.Interrupt.Affinity
            return IoConnectInterruptEx(&params)
        }
    }

    /// CONNECT_MESSAGE_BASED on a line-only device falls back to the line: its KINTERRUPT,
    /// in the ConnectionContext, is there as CONNECT_LINE_BASED's is (found by a second walk:
    /// the DPC's KeSynchronizeExecution found NULL, and once stopped the process).
    @Test(arguments: [CONNECT_MESSAGE_BASED, CONNECT_MESSAGE_BASED_PASSIVE])
    func theMessageBasedFallBacksObjectIsThereForAnISRThatRunsAtOnce(version: ULONG) throws {
        try Self.tenConnectsWithTheLineAsserted(threadedDpc: version == CONNECT_MESSAGE_BASED_PASSIVE) { port, line, _ in
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = version
            params.MessageBased.PhysicalDeviceObject = line.pdo
            params.MessageBased.ConnectionContext.Generic = port.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = { _, _, _ in FALSE }
            params.MessageBased.FallBackServiceRoutine = Self.isr
            params.MessageBased.ServiceContext = port
            let status = IoConnectInterruptEx(&params)
            #expect(params.Version == CONNECT_LINE_BASED)
            return status
        }
    }

    /// A PDO whose line is asserted when its interrupts are enabled, and its translated descriptor.
    struct PendingLine {
        let pdo: DEVICE_OBJECT
        let u: CM_PARTIAL_RESOURCE_DESCRIPTOR.Union
    }

    /// Ten rounds of `connect` (a fresh dispatcher, extension and pending line each):
    /// it succeeds, a DPC runs, and every ISR call and DPC found the object.
    static func tenConnectsWithTheLineAsserted(
        threadedDpc: Bool = false, _ connect: (PortExtension, PendingLine, InterruptDispatcher) -> NTSTATUS
    ) throws {
        for _ in 0..<10 {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let port = PortExtension()
            initializeDpc(port, threaded: threadedDpc, on: dispatcher)
            // Weakly: the extension holds the object, which holds the device and this backend.
            let pdo = makePDO(backend: PendingAtEnableBackend(inner: SimulatedBackend(Devices.lineOnly),
                                                              serviced: { [weak port] in (port?.isrCalls.load(ordering: .acquiring) ?? 0) > 0 }),
                              on: dispatcher)
            #expect(connect(port, PendingLine(pdo: pdo, u: try translatedInterrupt(of: pdo).u), dispatcher) == STATUS_SUCCESS)
            #expect(eventually { port.dpcCalls.load(ordering: .acquiring) >= 1 })
            #expect(port.isrSawItsObject.load(ordering: .relaxed) == port.isrCalls.load(ordering: .acquiring), "every ISR call found its object")
            #expect(port.dpcSynchronized.load(ordering: .relaxed) == port.dpcCalls.load(ordering: .acquiring), "every DPC synchronized with it")
            IoDisconnectInterrupt(port.object)
        }
    }

    /// NT's IoConnectInterrupt sets *InterruptObject to NULL before anything can fail, so a
    /// failed call leaves no object of an earlier connection behind (IoConnectInterruptEx
    /// leaves its out-parameter as it was).
    @Test func aFailedLegacyCallLeavesNULL() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let line = try translatedInterrupt(of: pdo)
        let port = PortExtension()
        let level = KIRQL(line.u.Interrupt.Level)
        #expect(IoConnectInterrupt(&port.Interrupt, Self.isr, port, nil, line.u.Interrupt.Vector, level, level, LevelSensitive, TRUE,
                                   line.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher) == STATUS_SUCCESS)
        let connected = try #require(port.Interrupt)
        // No processor in the mask; then a vector no device has.
        #expect(IoConnectInterrupt(&port.Interrupt, Self.isr, port, nil, line.u.Interrupt.Vector, level, level, LevelSensitive, TRUE,
                                   0, FALSE, dispatcher: dispatcher) == STATUS_INVALID_PARAMETER)
        #expect(port.Interrupt == nil)
        port.Interrupt = connected
        #expect(IoConnectInterrupt(port.pointer(to: \.Interrupt), Self.isr, port, nil, 0xdead, level, level, LevelSensitive, TRUE,
                                   line.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher) == STATUS_INVALID_PARAMETER)
        #expect(port.Interrupt == nil)
        IoDisconnectInterrupt(connected)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}
