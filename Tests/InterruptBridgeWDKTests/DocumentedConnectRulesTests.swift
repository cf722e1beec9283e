import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// Rules of the reference pages that no other test exercised end to end (found by an
/// audit of the facade against them). Each names the page and the sentence it checks.
@Suite("Documented connect rules: message tables, spin locks, disconnects, IRQLs")
struct DocumentedConnectRulesTests {
    typealias Params = ConnectStatusTests

    /// IO_INTERRUPT_MESSAGE_INFO_ENTRY: "InterruptObject: Pointer to the interrupt object
    /// that represents the interrupt"; KMESSAGE_SERVICE_ROUTINE's Interrupt is that object.
    @Test func theMessageRoutineIsHandedTheMessagesOwnInterruptObject() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        let seen = Mutex<[ULONG: ObjectIdentifier]>([:])
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        params.MessageBased.MessageServiceRoutine = { Interrupt, ServiceContext, MessageID in
            seen.withLock { $0[MessageID] = ObjectIdentifier(Interrupt) }
            (ServiceContext as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        for message in 0..<4 { #expect(backend.raise(message: message)) }
        #expect(eventually { devExt.calls >= 4 })
        for (index, entry) in table.MessageInfo.enumerated() {
            #expect(seen.withLock { $0[ULONG(index)] } == ObjectIdentifier(entry.InterruptObject))
        }
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// IO_INTERRUPT_MESSAGE_INFO_ENTRY's Vector / Irql / TargetProcessorSet / Mode against the
    /// translated CmResourceTypeInterrupt descriptor (CM_RESOURCE_INTERRUPT_MESSAGE) the
    /// driver received: u.MessageInterrupt.Translated.Vector / Level / Affinity, Flags.
    @Test func theMessageTableMatchesTheTranslatedDescriptor() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.edu, on: dispatcher)
        let IntResource = try translatedInterrupt(of: pdo)
        try #require(IntResource.Flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: true)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_MESSAGE_BASED)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        #expect(table.MessageCount == 1)
        let entry = try #require(table.MessageInfo.first)
        #expect(entry.Vector == IntResource.u.MessageInterrupt.Translated.Vector)
        #expect(KIRQL(entry.Irql) == KIRQL(IntResource.u.MessageInterrupt.Translated.Level))
        #expect(entry.TargetProcessorSet == IntResource.u.MessageInterrupt.Translated.Affinity)
        #expect(entry.Mode == (IntResource.Flags & CM_RESOURCE_INTERRUPT_LATCHED != 0 ? Latched : LevelSensitive))
        #expect(table.UnifiedIrql == entry.Irql)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// IO_INTERRUPT_MESSAGE_INFO: "If the driver specified an interrupt spin lock for its
    /// interrupts, UnifiedIrql also specifies the IRQL at which the interrupt spin lock is
    /// acquired." Holding it through one message's object keeps every message's ISR out.
    @Test func theDriversSpinLockIsAcquiredAtUnifiedIrqlAndHoldsOffEveryMessage() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        KeInitializeSpinLock(&devExt.Lock)
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        params.MessageBased.SpinLock = devExt.Lock
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        #expect(table.MessageInfo.allSatisfy { $0.InterruptObject.spinLock === devExt.Lock })
        let oldIrql = KeAcquireInterruptSpinLock(table.MessageInfo[0].InterruptObject)
        #expect(KeGetCurrentIrql() == table.UnifiedIrql)
        #expect(devExt.Lock.isLocked)
        #expect(backend.raise(message: 3))
        #expect(!eventually(within: 0.2) { devExt.calls >= 1 }, "message 3's ISR waits for the lock")
        KeReleaseInterruptSpinLock(table.MessageInfo[0].InterruptObject, oldIrql)
        #expect(KeGetCurrentIrql() == PASSIVE_LEVEL)
        #expect(eventually { devExt.calls >= 1 })
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// Disconnecting twice (a stale context after a reconnect) must not take the new
    /// connection down.
    @Test func aStaleSecondDisconnectLeavesTheNewConnectionConnected() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var stale = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        stale.Version = CONNECT_LINE_BASED
        stale.ConnectionContext.InterruptObject = devExt.IntObj
        IoDisconnectInterruptEx(&stale)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        IoDisconnectInterruptEx(&stale)  // twice: nothing to do

        var again = Params.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&again) == STATUS_SUCCESS)
        let fresh = try #require(devExt.IntObj)
        IoDisconnectInterruptEx(&stale)
        IoDisconnectInterrupt(stale.ConnectionContext.InterruptObject)
        #expect(dispatcher.connectedInterrupts.count == 1)
        #expect(backend.enabledKind != nil)
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        IoDisconnectInterrupt(fresh)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// FullySpecified.SynchronizeIrql: "Specifies the DIRQL at which the ISR will run";
    /// IoConnectInterrupt's SynchronizeIrql likewise.
    @Test(arguments: [false, true])
    func theISRRunsAtSynchronizeIrqlAboveItsIrql(legacy: Bool) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        defer { withExtendedLifetime(pdo) {} }
        let devExt = DEVICE_EXTENSION()
        let isr: KSERVICE_ROUTINE = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            devExt.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        if legacy {
            #expect(IoConnectInterrupt(&devExt.IntObj, isr, devExt, nil, 11, 5, 9, LevelSensitive, TRUE, 0x3, FALSE,
                                       dispatcher: dispatcher) == STATUS_SUCCESS)
        } else {
            var params = Params.fullySpecified(pdo, devExt)
            params.FullySpecified.ServiceRoutine = isr
            params.FullySpecified.Irql = 5
            params.FullySpecified.SynchronizeIrql = 9
            #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        }
        let interrupt = try #require(devExt.IntObj)
        #expect(KeSynchronizeExecution(interrupt, { _ in KeGetCurrentIrql() == 9 }, nil))
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.irql == 9)
        IoDisconnectInterrupt(interrupt)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// FullySpecified.SynchronizeIrql below Irql is not a valid pair.
    @Test func aFullySpecifiedSynchronizeIrqlBelowIrqlIsInvalidParameter() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.fullySpecified(pdo, devExt)
        params.FullySpecified.Irql = 9
        params.FullySpecified.SynchronizeIrql = 5
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER)
        #expect(params.Version == CONNECT_FULLY_SPECIFIED)
        ConnectStatusTests.expectNothingConnected(dispatcher, backend, devExt)
    }

    /// FloatingSave TRUE is a valid request for every version (x86 and Itanium only
    /// require FALSE).
    @Test(arguments: [CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED])
    func floatingSaveIsAccepted(version: ULONG) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(version == CONNECT_MESSAGE_BASED ? Devices.msix4 : Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params: IO_CONNECT_INTERRUPT_PARAMETERS
        switch version {
        case CONNECT_FULLY_SPECIFIED: params = Params.fullySpecified(pdo, devExt); params.FullySpecified.FloatingSave = TRUE
        case CONNECT_LINE_BASED: params = Params.lineBased(pdo, devExt); params.LineBased.FloatingSave = TRUE
        default: params = Params.messageBased(pdo, devExt, fallBack: false); params.MessageBased.FloatingSave = TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = version == CONNECT_MESSAGE_BASED ? devExt.ConnectionContext : devExt.IntObj
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}

/// IO_CONNECT_INTERRUPT_PARAMETERS, LineBased.SynchronizeIrql: "If SynchronizeIrql =
/// PASSIVE_LEVEL, and the maximum IRQL of this set of interrupts is PASSIVE_LEVEL, the
/// InterruptService routine is called at PASSIVE_LEVEL"; "The system uses this value only
/// if it is greater than the maximum IRQL of the set of interrupts".
@Suite("Documented connect rules: passive-level lines")
struct DocumentedPassiveLineTests {
    /// The line-only device with its translated line at Level 0 (a GPIO-style line).
    static func passiveLinePDO(on dispatcher: InterruptDispatcher) -> (DEVICE_OBJECT, SimulatedBackend) {
        let backend = SimulatedBackend(Devices.lineOnly)
        var assignment = ResourceTranslator(facts: .twoProcessors).resources(for: backend.device)
        assignment.translated = assignment.translated.map { descriptor in
            guard case var .interrupt(line) = descriptor.payload else { return descriptor }
            line.level = 0
            var copy = descriptor
            copy.payload = .interrupt(line)
            return copy
        }
        let device = InterruptDevice(backend: backend, resources: assignment)
        return (DEVICE_OBJECT(device, dispatcher: dispatcher), backend)
    }

    @Test(arguments: [KIRQL(0), KIRQL(5)])
    func aPassiveLineRunsItsISRAtTheSynchronizeIrqlItAskedFor(requested: KIRQL) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = Self.passiveLinePDO(on: dispatcher)
        let IntResource = try translatedInterrupt(of: pdo)
        try #require(IntResource.u.Interrupt.Level == 0)
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.lineBased(pdo, devExt)
        params.LineBased.SynchronizeIrql = requested
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            devExt.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let interrupt = try #require(devExt.IntObj)
        #expect(interrupt.synchronizeIrql.rawValue == requested)
        #expect(interrupt.isPassiveLevel == (requested == PASSIVE_LEVEL))
        #expect(KeSynchronizeExecution(interrupt, { _ in KeGetCurrentIrql() == requested }, nil))
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.irql == requested)
        IoDisconnectInterrupt(interrupt)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}

/// IoConnectInterruptEx.swift's own contract for IoDisconnectInterruptEx: "A message-based
/// Version with one message's KINTERRUPT (`MessageInfo[i].InterruptObject`, not the table)
/// disconnects every message that connect made", and `ConnectionContextObjects.named` lists
/// CONNECT_MESSAGE_BASED_PASSIVE as message-based. CONNECT_MESSAGE_BASED_PASSIVE's objects
/// are connected one by one; the contract holds for them too.
@Suite("Documented connect rules: passive message contexts")
struct DocumentedPassiveMessageContextTests {
    @Test func disconnectingAPassiveMessageBasedContextByOneMessagesObjectDisconnectsEveryMessage() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        defer { withExtendedLifetime(pdo) {} }
        let devExt = DEVICE_EXTENSION()
        var params = PassiveMessageConnectTests.passive(pdo, devExt)
        params.MessageBased.SynchronizeIrql = PASSIVE_LEVEL
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_MESSAGE_BASED_PASSIVE)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        #expect(table.MessageCount == 4 && dispatcher.connectedInterrupts.count == 4)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED_PASSIVE
        disconnect.ConnectionContext.InterruptObject = table.MessageInfo[2].InterruptObject
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty, "every message of the passive connect is disconnected")
        #expect(backend.enabledKind == nil)
        var rest = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        rest.Version = CONNECT_MESSAGE_BASED_PASSIVE
        rest.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&rest)
    }

    @Test func reportingInactiveWithOnePassiveMessagesObjectReportsEveryMessage() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        defer { withExtendedLifetime(pdo) {} }
        let devExt = DEVICE_EXTENSION()
        var params = PassiveMessageConnectTests.passive(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        var report = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
        report.Version = CONNECT_MESSAGE_BASED_PASSIVE
        report.ConnectionContext.InterruptObject = table.MessageInfo[0].InterruptObject
        IoReportInterruptInactive(&report)
        #expect(backend.raise(message: 3))
        #expect(!eventually(within: 0.3) { devExt.calls >= 1 }, "message 3 is inactive too")
        IoReportInterruptActive(&report)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED_PASSIVE
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}

/// KeSynchronizeExecution: "1. The IRQL is raised to the SynchronizeIrql value specified in
/// the call to IoConnectInterrupt or IoConnectInterruptEx"; the caller's IRQL is restored
/// on return (callers "must be running at IRQL <= DIRQL").
@Suite("Documented connect rules: KeSynchronizeExecution")
struct DocumentedSynchronizeExecutionTests {
    @Test func keSynchronizeExecutionFromDispatchLevelRaisesAndRestores() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let interrupt = try #require(devExt.IntObj)
        var oldIrql: KIRQL = 0
        KeRaiseIrql(DISPATCH_LEVEL, &oldIrql)
        let inside = KeSynchronizeExecution(interrupt, { _ in KeGetCurrentIrql() == interrupt.synchronizeIrql.rawValue }, nil)
        let after = KeGetCurrentIrql()
        KeLowerIrql(oldIrql)
        #expect(inside)
        #expect(after == DISPATCH_LEVEL)
        IoDisconnectInterrupt(interrupt)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}
