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
        var Dpc = KDPC()
        let isrCalls = Atomic<Int>(0)
        let isrSawItsObject = Atomic<Int>(0)
        let dpcCalls = Atomic<Int>(0)
        let dpcSynchronized = Atomic<Int>(0)
    }

    static let isr: KSERVICE_ROUTINE = { Interrupt, ServiceContext in
        let port = ServiceContext as! PortExtension
        if port.Interrupt === Interrupt { port.isrSawItsObject.add(1, ordering: .relaxed) }
        KeInsertQueueDpc(port.Dpc, nil, nil)
        port.isrCalls.add(1, ordering: .releasing)
        return TRUE
    }

    /// A DPC as the ports write it: synchronize with the ISR through the extension's object.
    static func initializeDpc(_ port: PortExtension, on dispatcher: InterruptDispatcher) {
        KeInitializeDpc(&port.Dpc, { _, DeferredContext, _, _ in
            let port = DeferredContext as! PortExtension
            if port.Interrupt != nil, KeSynchronizeExecution(port.Interrupt, { _ in TRUE }, nil) == TRUE {
                port.dpcSynchronized.add(1, ordering: .relaxed)
            }
            port.dpcCalls.add(1, ordering: .releasing)
        }, port, dispatcher: dispatcher)
    }

    static func pendingLine(on dispatcher: InterruptDispatcher, calls: @escaping @Sendable () -> Int) throws -> (DEVICE_OBJECT, CM_PARTIAL_RESOURCE_DESCRIPTOR) {
        let pdo = makePDO(backend: PendingAtEnableBackend(inner: SimulatedBackend(Devices.lineOnly), serviced: { calls() > 0 }), on: dispatcher)
        let line = try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice.AllocatedResourcesTranslated?
            .List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })
        return (pdo, line)
    }

    /// Ten connects, each with the line asserted: whichever runs first, the ISR or the
    /// caller's return, the ISR and its DPC find the object (before the fix they found
    /// NULL in most rounds, and a KeSynchronizeExecution on it stopped the process).
    @Test(arguments: ["inout", "pointer"]) func theLegacyCallsObjectIsThereForAnISRThatRunsAtOnce(form: String) throws {
        for _ in 0..<10 {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let port = PortExtension()
            Self.initializeDpc(port, on: dispatcher)
            let (pdo, line) = try Self.pendingLine(on: dispatcher) { port.isrCalls.load(ordering: .acquiring) }
            let level = KIRQL(line.u.Interrupt.Level)
            let status = form == "inout"
                ? IoConnectInterrupt(&port.Interrupt, Self.isr, port, nil, line.u.Interrupt.Vector, level, level, LevelSensitive, TRUE,
                                     line.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher)
                : IoConnectInterrupt(port.pointer(to: \.Interrupt), Self.isr, port, nil, line.u.Interrupt.Vector, level, level,
                                     LevelSensitive, TRUE, line.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher)
            #expect(status == STATUS_SUCCESS)
            #expect(eventually { port.dpcCalls.load(ordering: .acquiring) >= 1 })
            #expect(port.isrSawItsObject.load(ordering: .relaxed) == port.isrCalls.load(ordering: .acquiring), "every ISR call found its object")
            #expect(port.dpcSynchronized.load(ordering: .relaxed) == port.dpcCalls.load(ordering: .acquiring), "every DPC synchronized with it")
            IoDisconnectInterrupt(port.Interrupt)
            withExtendedLifetime(pdo) {}
        }
    }

    /// CONNECT_FULLY_SPECIFIED is IoConnectInterrupt with the parameters in a structure: the same.
    @Test func theFullySpecifiedObjectIsThereForAnISRThatRunsAtOnce() throws {
        for _ in 0..<10 {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let port = PortExtension()
            Self.initializeDpc(port, on: dispatcher)
            let (pdo, line) = try Self.pendingLine(on: dispatcher) { port.isrCalls.load(ordering: .acquiring) }
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_FULLY_SPECIFIED
            params.FullySpecified.PhysicalDeviceObject = pdo
            params.FullySpecified.InterruptObject = port.pointer(to: \.Interrupt)
            params.FullySpecified.ServiceRoutine = Self.isr
            params.FullySpecified.ServiceContext = port
            params.FullySpecified.Vector = line.u.Interrupt.Vector
            params.FullySpecified.Irql = KIRQL(line.u.Interrupt.Level)
            params.FullySpecified.SynchronizeIrql = KIRQL(line.u.Interrupt.Level)
            params.FullySpecified.InterruptMode = LevelSensitive
            params.FullySpecified.ShareVector = TRUE
            params.FullySpecified.ProcessorEnableMask = line.u.Interrupt.Affinity
            #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
            #expect(eventually { port.dpcCalls.load(ordering: .acquiring) >= 1 })
            #expect(port.isrSawItsObject.load(ordering: .relaxed) == port.isrCalls.load(ordering: .acquiring), "every ISR call found its object")
            #expect(port.dpcSynchronized.load(ordering: .relaxed) == port.dpcCalls.load(ordering: .acquiring), "every DPC synchronized with it")
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = CONNECT_FULLY_SPECIFIED
            disconnect.ConnectionContext.InterruptObject = port.Interrupt
            IoDisconnectInterruptEx(&disconnect)
            withExtendedLifetime(pdo) {}
        }
    }

    /// NT's IoConnectInterrupt sets *InterruptObject to NULL before anything can fail, so a
    /// failed call leaves no object of an earlier connection behind (IoConnectInterruptEx
    /// leaves its out-parameter as it was).
    @Test func aFailedLegacyCallLeavesNULL() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let line = try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice.AllocatedResourcesTranslated?
            .List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })
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
