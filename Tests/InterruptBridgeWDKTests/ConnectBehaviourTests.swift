import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// The documented behaviours of a successful connect, through the facade.
@Suite("IoConnectInterruptEx behaviours")
struct ConnectBehaviourTests {
    typealias Params = ConnectStatusTests

    @Test(arguments: [(KIRQL(0), KIRQL(5)), (KIRQL(5), KIRQL(5)), (KIRQL(9), KIRQL(9))])
    func lineBasedSynchronizeIrqlIsTheMaximumOfTheLineAndTheCaller(requested: KIRQL, effective: KIRQL) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.lineBased(pdo, devExt)
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            devExt.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        params.LineBased.SynchronizeIrql = requested
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let interrupt = try #require(devExt.IntObj)
        #expect(interrupt.synchronizeIrql.rawValue == effective)
        #expect(KeSynchronizeExecution(interrupt, { _ in KeGetCurrentIrql() == effective }, nil))
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.irql == effective)
        IoDisconnectInterrupt(interrupt)
    }

    @Test(arguments: [(KIRQL(0), KIRQL(8)), (KIRQL(11), KIRQL(11))])
    func messageBasedUnifiedIrqlIsTheMaximumOfTheMessagesAndTheCaller(requested: KIRQL, effective: KIRQL) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        params.MessageBased.SynchronizeIrql = requested
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        #expect(table.UnifiedIrql == effective)
        #expect(table.MessageInfo.allSatisfy { $0.InterruptObject.synchronizeIrql.rawValue == effective })
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func groupIsHonouredOnlyWithConnectFullySpecifiedGroup() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()

        var ignored = Params.fullySpecified(pdo, devExt)
        ignored.FullySpecified.Group = 3
        #expect(IoConnectInterruptEx(&ignored) == STATUS_SUCCESS, "CONNECT_FULLY_SPECIFIED ignores Group")
        #expect(devExt.IntObj?.group == 0)
        IoDisconnectInterrupt(devExt.IntObj)
        devExt.IntObj = nil

        var honoured = Params.fullySpecified(pdo, devExt)
        honoured.Version = CONNECT_FULLY_SPECIFIED_GROUP
        honoured.FullySpecified.Group = 3
        #expect(IoConnectInterruptEx(&honoured) == STATUS_INVALID_PARAMETER, "group 3 does not exist here")
        #expect(devExt.IntObj == nil)
        honoured.FullySpecified.Group = 0
        #expect(IoConnectInterruptEx(&honoured) == STATUS_SUCCESS)
        #expect(honoured.Version == CONNECT_FULLY_SPECIFIED_GROUP)
        IoDisconnectInterrupt(devExt.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func aPassiveLevelISRRunsAtPassiveLevelWhereItMayBlock() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (passivePDO, passiveBackend) = makePDO(Devices.lineOnly, on: dispatcher)
        let (otherPDO, otherBackend) = makePDO(Devices.msix4, on: dispatcher)
        let passiveExt = DEVICE_EXTENSION()
        let otherExt = DEVICE_EXTENSION()

        // The passive-level ISR blocks until the other device's (DIRQL) ISR has run:
        // possible only if the two do not share a thread or a lock.
        var passive = Params.fullySpecified(passivePDO, passiveExt)
        passive.FullySpecified.Irql = PASSIVE_LEVEL
        passive.FullySpecified.SynchronizeIrql = PASSIVE_LEVEL
        passive.FullySpecified.SpinLock = nil
        passive.FullySpecified.ServiceContext = otherExt
        passive.FullySpecified.ServiceRoutine = { _, ServiceContext in
            let other = ServiceContext as! DEVICE_EXTENSION
            passiveExt.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            let unblocked = eventually { other.calls >= 1 }
            passiveExt.interruptMatched.store(unblocked, ordering: .relaxed)
            passiveExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&passive) == STATUS_SUCCESS)
        let passiveInterrupt = try #require(passiveExt.IntObj)
        #expect(passiveInterrupt.isPassiveLevel)
        #expect(passiveInterrupt.spinLock == nil)

        var other = Params.fullySpecified(otherPDO, otherExt)
        #expect(IoConnectInterruptEx(&other) == STATUS_SUCCESS)

        #expect(passiveBackend.raise())
        #expect(otherBackend.raise(message: 0))
        #expect(eventually { passiveExt.calls >= 1 })
        #expect(passiveExt.matched, "the passive ISR could wait for another interrupt")
        #expect(passiveExt.irql == PASSIVE_LEVEL)
        IoDisconnectInterrupt(passiveExt.IntObj)
        IoDisconnectInterrupt(otherExt.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func aPassiveLevelConnectTakesNoSpinLock() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.fullySpecified(pdo, devExt)
        params.FullySpecified.Irql = PASSIVE_LEVEL
        params.FullySpecified.SynchronizeIrql = PASSIVE_LEVEL
        params.FullySpecified.SpinLock = devExt.Lock
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER)
        ConnectStatusTests.expectNothingConnected(dispatcher, backend, devExt)
    }

    @Test func anISRMayRunBeforeIoConnectInterruptExReturns() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        // Weakly: the extension keeps its message table (and through it the device and
        // this backend) after the disconnect, as a driver's stale ConnectionContext would.
        let backend = PendingAtEnableBackend(inner: SimulatedBackend(SimulatedDevice(msixCount: 1))) { [weak devExt] in
            (devExt?.calls ?? 0) > 0
        }
        let pdo = makePDO(backend: backend, on: dispatcher)
        var params = Params.messageBased(pdo, devExt, fallBack: false)
        params.MessageBased.MessageServiceRoutine = { Interrupt, ServiceContext, MessageID in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            // IoConnectInterruptEx writes the connection context only when it returns.
            devExt.interruptMatched.store(devExt.ConnectionContext == nil && Interrupt.messageID == MessageID, ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(devExt.calls >= 1, "the ISR ran before IoConnectInterruptEx returned")
        #expect(devExt.matched, "with a valid interrupt object")
        let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED
        disconnect.ConnectionContext.Generic = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func theISRRunsHoldingTheDriverSuppliedSpinLock() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        KeInitializeSpinLock(&devExt.Lock)
        var params = Params.lineBased(pdo, devExt)
        params.LineBased.SpinLock = devExt.Lock
        params.LineBased.ServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            devExt.interruptMatched.store(devExt.Lock.isLocked, ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(devExt.IntObj?.spinLock === devExt.Lock)
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.matched, "the ISR held the driver's lock")
        IoDisconnectInterrupt(devExt.IntObj)
    }

    @Test func theLegacyIoConnectInterruptConnectsByVector() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        let IntResource = try translatedInterrupt(of: pdo)
        let status = IoConnectInterrupt(
            &devExt.IntObj, ConnectStatusTests.isr, devExt, nil, IntResource.u.Interrupt.Vector,
            KIRQL(IntResource.u.Interrupt.Level), KIRQL(IntResource.u.Interrupt.Level), LevelSensitive,
            BOOLEAN(IntResource.ShareDisposition == CmResourceShareShared), IntResource.u.Interrupt.Affinity, FALSE,
            dispatcher: dispatcher)
        #expect(status == STATUS_SUCCESS)
        #expect(devExt.IntObj?.device === pdo.device)
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        IoDisconnectInterrupt(devExt.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }

    /// The call as a driver writes it (ReactOS's serial.sys: eleven arguments, no dispatcher)
    /// on a PDO made on the device's own dispatcher: the vector is found on that dispatcher,
    /// not refused with STATUS_INVALID_PARAMETER (which seed 002 documents for "no processors
    /// were specified") because `Kernel.dispatcher` has no device with it.
    @Test func theLegacyCallWithoutADispatcherConnectsOnTheDevicesOwn() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        // A line no other test's device has: device objects of tests running meanwhile are alive too.
        let (pdo, backend) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:1d.0")!, interruptPin: .a, irqLine: 93), on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        let IntResource = try translatedInterrupt(of: pdo)
        let status = IoConnectInterrupt(
            &devExt.IntObj, ConnectStatusTests.isr, devExt, nil, IntResource.u.Interrupt.Vector,
            KIRQL(IntResource.u.Interrupt.Level), KIRQL(IntResource.u.Interrupt.Level), LevelSensitive,
            BOOLEAN(IntResource.ShareDisposition == CmResourceShareShared), IntResource.u.Interrupt.Affinity, FALSE)
        #expect(status == STATUS_SUCCESS)
        #expect(devExt.IntObj?.device === pdo.device)
        #expect(dispatcher.connectedInterrupts.count == 1, "connected on the PDO's dispatcher")
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        IoDisconnectInterrupt(devExt.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// A DEVICE_OBJECT still alive on a dispatcher that was shut down (a driver that stopped
    /// one dispatcher and kept its PDO, or a finished test's) is not where the call without a
    /// dispatcher connects: a running dispatcher with a device on the vector is.
    @Test func theLegacyCallWithoutADispatcherSkipsADispatcherShutDown() throws {
        let stopped = try makeDispatcher()
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        // A line no other test's device has: device objects of tests running meanwhile are alive too.
        let (stale, _) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:1c.0")!, interruptPin: .a, irqLine: 94), on: stopped)
        stopped.shutdown()
        let (pdo, backend) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:1d.0")!, interruptPin: .a, irqLine: 94), on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        let IntResource = try translatedInterrupt(of: pdo)
        let status = IoConnectInterrupt(
            &devExt.IntObj, ConnectStatusTests.isr, devExt, nil, IntResource.u.Interrupt.Vector,
            KIRQL(IntResource.u.Interrupt.Level), KIRQL(IntResource.u.Interrupt.Level), LevelSensitive,
            BOOLEAN(IntResource.ShareDisposition == CmResourceShareShared), IntResource.u.Interrupt.Affinity, FALSE)
        #expect(status == STATUS_SUCCESS)
        #expect(devExt.IntObj?.device === pdo.device)
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        IoDisconnectInterrupt(devExt.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        withExtendedLifetime(stale) {}
    }

    /// Two cards on IRQ 11, each with its own driver calling the legacy routine with the
    /// vector from its own resources: one shared vector, one chain, and each card's
    /// interrupt reaches it (the second driver's card is watched, not the first's twice).
    @Test func legacyConnectsOfTwoCardsSharingALineServeBothCards() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdoA, backendA) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let (pdoB, backendB) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        #expect(try lineVector(pdoA) == lineVector(pdoB), "the simulated cards share their line")
        let extA = DEVICE_EXTENSION(), extB = DEVICE_EXTENSION()
        // A's ISR never claims (its card is quiet), B's does: a shared chain runs until a claim.
        let notMine: KSERVICE_ROUTINE = { _, context in (context as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing); return FALSE }
        #expect(IoConnectInterrupt(&extA.IntObj, notMine, extA, nil, try lineVector(pdoA), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(IoConnectInterrupt(&extB.IntObj, ConnectStatusTests.isr, extB, nil, try lineVector(pdoB), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(extA.IntObj?.device === pdoA.device)
        #expect(extB.IntObj?.device === pdoB.device, "the second driver's connect watches the second card")
        #expect(backendB.raise(), "card B's line is enabled")
        #expect(eventually { extB.calls == 1 && extA.calls == 1 }, "B's interrupt ran the shared chain: A \(extA.calls), B \(extB.calls)")
        #expect(backendA.raise())
        #expect(eventually { extB.calls == 2 && extA.calls == 2 }, "A's interrupt ran the same chain")
        IoDisconnectInterrupt(extA.IntObj)
        IoDisconnectInterrupt(extB.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backendA.enabledKind == nil && backendB.enabledKind == nil)
    }

    /// A driver that built its PDO inline and let it go while its interrupt stays connected:
    /// the vector is still assigned (it is in use), so a legacy connect sharing it finds it.
    @Test func aLegacyConnectFindsAConnectedVectorWhosePDOWasReleased() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let backend = SimulatedBackend(Devices.lineOnly)
        let first = DEVICE_EXTENSION(), second = DEVICE_EXTENSION()
        var vector: ULONG = 0, irql: KIRQL = 0
        do {
            let pdo = makePDO(backend: backend, on: dispatcher)
            var params = Params.fullySpecified(pdo, first)
            params.FullySpecified.ShareVector = TRUE
            params.FullySpecified.InterruptMode = LevelSensitive
            (vector, irql) = (params.FullySpecified.Vector, params.FullySpecified.Irql)
            #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        }
        #expect(IoConnectInterrupt(&second.IntObj, ConnectStatusTests.isr, second, nil, vector, irql, irql, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(second.IntObj?.device === first.IntObj?.device)
        IoDisconnectInterrupt(second.IntObj)
        IoDisconnectInterrupt(first.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// The vector of a PDO's line, from its translated resources.
    private func lineVector(_ pdo: DEVICE_OBJECT) throws -> ULONG {
        try translatedInterrupt(of: pdo).u.Interrupt.Vector
    }

    /// Two cards on IRQ 11, only the second card's driver connects (legacy, by vector): its
    /// ISR hears its own card, which is not the card the object names, and the other card's
    /// line too, as an ISR on a shared IRQ does. Disconnecting disables both lines.
    @Test func legacyConnectOnASharedLineHearsEveryCardOnIt() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdoA, backendA) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let (pdoB, backendB) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let extB = DEVICE_EXTENSION()
        #expect(IoConnectInterrupt(&extB.IntObj, ConnectStatusTests.isr, extB, nil, try lineVector(pdoB), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(backendA.enabledKind == .intx && backendB.enabledKind == .intx, "both cards' lines are enabled")
        #expect(backendB.raise(), "card B's line is watched though the object names card A")
        #expect(eventually { extB.calls == 1 }, "B's interrupt reached the ISR: \(extB.calls)")
        #expect(backendA.raise())
        #expect(eventually { extB.calls == 2 }, "A's interrupt too: \(extB.calls)")
        #expect(dispatcher.connectedInterrupts.count == 1, "one object, whatever it hears")
        IoDisconnectInterrupt(extB.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backendA.enabledKind == nil && backendB.enabledKind == nil, "neither line is left enabled")
        _ = pdoA
    }

    /// A card a legacy connect listens to, whose own driver then connects its line by PDO:
    /// one chain, each card's interrupt runs both ISRs, and the line stays enabled for
    /// whichever connection is left.
    @Test func aListenedCardsOwnConnectSharesTheLineAndOutlastsTheListener() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdoA, backendA) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let (pdoB, backendB) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let extA = DEVICE_EXTENSION()
        let notMine: KSERVICE_ROUTINE = { _, context in (context as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing); return FALSE }
        #expect(IoConnectInterrupt(&extA.IntObj, notMine, extA, nil, try lineVector(pdoA), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(extA.IntObj?.device === pdoA.device)
        #expect(backendB.enabledKind == .intx, "B's line is heard")
        let extB = DEVICE_EXTENSION()
        var params = Params.lineBased(pdoB, extB)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS, "B's own driver connects its line")
        #expect(backendB.raise())
        #expect(eventually { extA.calls == 1 && extB.calls == 1 }, "one chain: A \(extA.calls), B \(extB.calls)")
        IoDisconnectInterrupt(extA.IntObj)
        #expect(backendB.enabledKind == .intx, "B's own connection keeps its line")
        #expect(backendA.enabledKind == nil, "A's line had only A's object")
        #expect(backendB.raise())
        #expect(eventually { extB.calls == 2 })
        #expect(extA.calls == 1, "a disconnected ISR is not called")
        IoDisconnectInterrupt(extB.IntObj)
        #expect(backendB.enabledKind == nil)
    }

    /// A card on the line whose interrupts cannot be enabled (vfio-pci refusing a line it
    /// cannot share, a pulled card whose DEVICE_OBJECT lingers) is left out: the legacy
    /// connect still succeeds and hears its own card.
    @Test func aSharerThatCannotBeEnabledDoesNotFailTheLegacyConnect() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdoA, backendA) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let refusing = RefusingBackend(SimulatedBackend(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11)))
        let pdoB = makePDO(backend: refusing, on: dispatcher)
        defer { withExtendedLifetime(pdoB) {} }
        let extA = DEVICE_EXTENSION()
        #expect(IoConnectInterrupt(&extA.IntObj, ConnectStatusTests.isr, extA, nil, try lineVector(pdoA), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(refusing.attempts.load(ordering: .relaxed) == 1, "the sharer was tried")
        #expect(backendA.raise())
        #expect(eventually { extA.calls == 1 })
        IoDisconnectInterrupt(extA.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty && backendA.enabledKind == nil)
    }

    /// A card removed while only listened to: its line stops being heard, the legacy object
    /// on the other card stays connected and working.
    @Test func removingAListenedCardKeepsTheLegacyObjectOnItsOwnCard() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdoA, backendA) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let (pdoB, backendB) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        defer { withExtendedLifetime(pdoB) {} }
        let extA = DEVICE_EXTENSION()
        #expect(IoConnectInterrupt(&extA.IntObj, ConnectStatusTests.isr, extA, nil, try lineVector(pdoA), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(backendB.enabledKind == .intx)
        #expect(backendB.requestRemoval(reason: "pulled"))
        #expect(eventually { backendB.enabledKind == nil }, "the pulled card's line is no longer enabled")
        #expect(dispatcher.connectedInterrupts.count == 1)
        #expect(backendA.raise())
        #expect(eventually { extA.calls == 1 })
        // The pulled card's own connect now fails, as on VFIO and UIO; a second ISR on the
        // line still joins the chain of the card that is there.
        let extB = DEVICE_EXTENSION()
        #expect(IoConnectInterrupt(&extB.IntObj, ConnectStatusTests.isr, extB, nil, try lineVector(pdoB), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        let extC = DEVICE_EXTENSION()
        var params = Params.lineBased(pdoB, extC)
        #expect(IoConnectInterruptEx(&params) == STATUS_INSUFFICIENT_RESOURCES)
        #expect(extC.IntObj == nil && backendB.enabledKind == nil)
        IoDisconnectInterrupt(extB.IntObj)
        IoDisconnectInterrupt(extA.IntObj)
        #expect(backendA.enabledKind == nil)
    }

    /// The pulled card registered first, the card still there not yet served: a legacy
    /// connect on their line goes to the card that is there (it went to the pulled one, whose
    /// backend refused, and the connect failed).
    @Test func aLegacyConnectSkipsAPulledCardRegisteredFirst() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdoB, backendB) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        defer { withExtendedLifetime(pdoB) {} }
        let extB = DEVICE_EXTENSION()
        #expect(IoConnectInterrupt(&extB.IntObj, ConnectStatusTests.isr, extB, nil, try lineVector(pdoB), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(backendB.requestRemoval(reason: "pulled"))
        #expect(eventually { dispatcher.connectedInterrupts.isEmpty && backendB.releaseCount == 1 })
        let (pdoA, backendA) = makePDO(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11), on: dispatcher)
        let extA = DEVICE_EXTENSION()
        #expect(IoConnectInterrupt(&extA.IntObj, ConnectStatusTests.isr, extA, nil, try lineVector(pdoA), 5, 5, LevelSensitive, TRUE, 0x3, FALSE,
                                   dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(backendA.enabledKind == .intx && backendB.enabledKind == nil)
        #expect(backendA.raise())
        #expect(eventually { extA.calls == 1 })
        IoDisconnectInterrupt(extA.IntObj)
    }

    @Test func disconnectingFromInsideTheISRDoesNotDeadlockAndCompletesAfterIt() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Params.fullySpecified(pdo, devExt)
        params.FullySpecified.ServiceRoutine = { Interrupt, ServiceContext in
            (ServiceContext as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing)
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = CONNECT_FULLY_SPECIFIED
            disconnect.ConnectionContext.InterruptObject = Interrupt
            IoDisconnectInterruptEx(&disconnect)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(backend.raise(message: 0))
        #expect(eventually { dispatcher.connectedInterrupts.isEmpty }, "the deferred disconnect completed")
        #expect(devExt.calls == 1)
        #expect(devExt.IntObj?.isConnected == false)
    }

    @Test func rtlZeroMemoryResetsEveryMember() {
        let devExt = DEVICE_EXTENSION()
        var params = ConnectStatusTests.messageBased(nil, devExt, fallBack: true)
        params.FullySpecified.Vector = 7
        params.LineBased.SynchronizeIrql = 9
        RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
        #expect(params.Version == 0)
        #expect(params.FullySpecified.Vector == 0)
        #expect(params.LineBased.SynchronizeIrql == 0)
        #expect(params.MessageBased.ServiceContext == nil)
        #expect(params.MessageBased.MessageServiceRoutine == nil)
        #expect(params.MessageBased.FallBackServiceRoutine == nil)
        #expect(params.MessageBased.ConnectionContext.Generic == nil)
    }
}

/// A backend whose interrupts cannot be enabled, as vfio-pci refuses a line it cannot share.
final class RefusingBackend: InterruptBackend {
    let inner: SimulatedBackend
    let attempts = Atomic<Int>(0)
    init(_ inner: SimulatedBackend) { self.inner = inner }
    var device: PCIDeviceInfo { inner.device }
    var supportedInterrupts: [InterruptKind: Int] { inner.supportedInterrupts }
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        attempts.add(1, ordering: .relaxed)
        throw .kernelLimit("the line is not shareable")
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    var auxiliarySources: [AuxiliarySource] { inner.auxiliarySources }
    func releaseAfterRemoval() { inner.releaseAfterRemoval() }
    func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]? { inner.programmedMessages(kind) }
}
