import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// The documented IoConnectInterruptEx rules, one test each.
extension Runtime {
    @Suite("Connection rules")
    struct ConnectionRulesTests {
        let dispatcher: InterruptDispatcher
        init() throws { dispatcher = try makeDispatcher() }

        static let claim: InterruptServiceRoutine = { _ in true }
        static let claimMessage: MessageServiceRoutine = { _, _ in true }

        @Test func everyFlavourRejectsAMissingDevice() {
            defer { dispatcher.shutdown() }
            #expect(throws: ConnectionError.noDevice) { try dispatcher.connectLineBased(device: nil, routine: Self.claim) }
            #expect(throws: ConnectionError.noDevice) {
                try dispatcher.connectMessageBased(device: nil, messageRoutine: Self.claimMessage, fallbackRoutine: Self.claim)
            }
            #expect(throws: ConnectionError.noDevice) {
                try dispatcher.connectFullySpecified(device: nil, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(1), routine: Self.claim)
            }
        }

        /// A backend that delivers no messages (UIO) gets the line, whatever the config
        /// space lists: connectMessageBased falls back instead of asking it for MSI-X.
        @Test func aBackendWithoutMessagesIsAssignedItsLine() throws {
            defer { dispatcher.shutdown() }
            let backend = LineOnlyBackend(SimulatedBackend(SimulatedDevice(interruptPin: .a, irqLine: 11, msixCount: 4)))
            let device = InterruptDevice(backend: backend)
            #expect(!device.usesMessages && device.vectors.map(\.kind) == [.intx])
            #expect(!device.policy.msiSupported)
            let calls = Counter()
            guard case let .line(object) = try dispatcher.connectMessageBased(
                device: device, messageRoutine: Self.claimMessage, fallbackRoutine: { _ in calls.increment(); return true }) else {
                Issue.record("did not fall back to the line")
                return
            }
            #expect(backend.inner.raise())
            #expect(eventually { calls.count == 1 })
            dispatcher.disconnect(object)
            // With messages delivered, the same function keeps its MSI-X.
            #expect(InterruptDevice(backend: SimulatedBackend(SimulatedDevice(interruptPin: .a, irqLine: 11, msixCount: 4))).usesMessages)
        }

        @Test func anEmptyProcessorMaskIsRejected() {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            #expect(throws: ConnectionError.emptyProcessorMask) {
                try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: ProcessorAffinity(rawValue: 0),
                                                     routine: Self.claim)
            }
            dispatcher.register(device)
            #expect(throws: ConnectionError.emptyProcessorMask) {
                try dispatcher.connectLegacy(vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5), mode: .levelSensitive,
                                             shareVector: true, processorEnableMask: ProcessorAffinity(rawValue: 0), routine: Self.claim)
            }
            #expect(backend.enabledTimes == 0, "a rejected connect must not touch the device")
        }

        @Test func lineBasedOnADeviceAssignedMessagesIsAnInvalidRequest() {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 4))
            #expect(device.usesMessages)
            #expect(throws: ConnectionError.deviceUsesMessages) { try dispatcher.connectLineBased(device: device, routine: Self.claim) }
            #expect(backend.enabledTimes == 0)
        }

        @Test func aDeviceWithoutInterruptsOrAnUnassignedVectorIsNotFound() throws {
            defer { dispatcher.shutdown() }
            let (bare, _) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil))
            #expect(bare.vectors.isEmpty)
            #expect(throws: ConnectionError.noInterrupts) { try dispatcher.connectLineBased(device: bare, routine: Self.claim) }
            #expect(throws: ConnectionError.noInterrupts) {
                try dispatcher.connectMessageBased(device: bare, messageRoutine: Self.claimMessage, fallbackRoutine: Self.claim)
            }
            #expect(throws: ConnectionError.noInterrupts) {
                try dispatcher.connectFullySpecified(device: bare, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(1), routine: Self.claim)
            }
            let (edu, _) = makeDevice(.edu(irqLine: 11), policy: InterruptPolicy(msiSupported: false))
            #expect(throws: ConnectionError.vectorNotAssigned(12)) {
                try dispatcher.connectFullySpecified(device: edu, vector: 12, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(1), routine: Self.claim)
            }
            #expect(throws: ConnectionError.vectorNotAssigned(12)) {
                try dispatcher.connectLegacy(vector: 12, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5), mode: .levelSensitive,
                                             shareVector: true, processorEnableMask: .first(1), routine: Self.claim)
            }
        }

        @Test func messageBasedOnALineOnlyDeviceRegistersTheFallbackRoutine() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let fallbackCalls = Counter()
            let messageCalls = Counter()
            let connection = try dispatcher.connectMessageBased(
                device: device, messageRoutine: { _, _ in messageCalls.increment(); return true },
                fallbackRoutine: { _ in fallbackCalls.increment(); return true })
            guard case let .line(object) = connection else {
                Issue.record("expected the fallback (line-based) connection, got \(connection)")
                return
            }
            #expect(object.kind == .intx && object.vector == 11)
            backend.raise()
            #expect(eventually { fallbackCalls.count == 1 })
            #expect(messageCalls.count == 0)
            dispatcher.disconnect(connection)
            #expect(throws: ConnectionError.noFallbackRoutine) {
                try dispatcher.connectMessageBased(device: device, messageRoutine: Self.claimMessage)
            }
        }

        @Test func effectiveSynchronizeIrqlIsTheMaximumOfTheSetAndTheCaller() throws {
            defer { dispatcher.shutdown() }
            let (line, _) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let lineLevel = line.vectors[0].irql
            #expect(lineLevel == InterruptLevel(5))
            let low = try dispatcher.connectLineBased(device: line, routine: Self.claim, synchronizeIrql: .passive)
            #expect(low.synchronizeIrql == lineLevel)
            dispatcher.disconnect(low)
            let high = try dispatcher.connectLineBased(device: line, routine: Self.claim, synchronizeIrql: InterruptLevel(9))
            #expect(high.synchronizeIrql == InterruptLevel(9))
            #expect(high.irql == lineLevel)
            dispatcher.disconnect(high)

            let (messages, _) = makeDevice(SimulatedDevice(msixCount: 3))
            let connection = try dispatcher.connectMessageBased(device: messages, messageRoutine: Self.claimMessage,
                                                                synchronizeIrql: InterruptLevel(3))
            guard case let .messages(table) = connection else {
                Issue.record("expected messages")
                return
            }
            #expect(table.synchronizeIrql == InterruptLevel(8))
            #expect(table.messages.allSatisfy { $0.interruptObject.synchronizeIrql == InterruptLevel(8) })
            dispatcher.disconnect(table)
        }

        @Test func groupIsHonouredOnlyWithTheGroupFlavour() throws {
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            func connect(group: UInt16, useGroup: Bool) throws(ConnectionError) -> InterruptObject {
                try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(1), group: group,
                                                     useGroup: useGroup, routine: Self.claim)
            }
            let ignored = try connect(group: 3, useGroup: false)
            #expect(ignored.group == 0)
            dispatcher.disconnect(ignored)
            #expect(throws: ConnectionError.processorGroupUnavailable(3)) { try connect(group: 3, useGroup: true) }
            let honoured = try connect(group: 0, useGroup: true)
            #expect(honoured.group == 0)
            dispatcher.disconnect(honoured)
        }

        @Test func invalidLevelPairsAreRejected() {
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            func connect(_ irql: UInt8, _ sync: UInt8, lock: InterruptSpinLock? = nil) throws(ConnectionError) -> InterruptObject {
                try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(irql), synchronizeIrql: InterruptLevel(sync),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(1), spinLock: lock,
                                                     routine: Self.claim)
            }
            #expect(throws: ConnectionError.invalidLevels(irql: InterruptLevel(6), synchronizeIrql: InterruptLevel(5))) { try connect(6, 5) }
            #expect(throws: ConnectionError.invalidLevels(irql: .passive, synchronizeIrql: InterruptLevel(5))) { try connect(0, 5) }
            #expect(throws: ConnectionError.invalidLevels(irql: .passive, synchronizeIrql: .passive)) {
                try connect(0, 0, lock: InterruptSpinLock())
            }
        }

        @Test func sharingRequiresEveryConnectionToAskForItWithTheSameMode() throws {
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            func connect(share: Bool, mode: InterruptMode = .levelSensitive) throws(ConnectionError) -> InterruptObject {
                try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: mode, shareVector: share, affinity: .first(1), routine: Self.claim)
            }
            let exclusive = try connect(share: false)
            #expect(throws: ConnectionError.self) { try connect(share: true) }
            dispatcher.disconnect(exclusive)
            let shared = try connect(share: true)
            #expect(throws: ConnectionError.self) { try connect(share: false) }
            #expect(throws: ConnectionError.self) { try connect(share: true, mode: .latched) }
            let second = try connect(share: true)
            #expect(dispatcher.connectedInterrupts.count == 2)
            dispatcher.disconnect(shared)
            dispatcher.disconnect(second)
            #expect(dispatcher.connectedInterrupts.isEmpty)
        }

        @Test func legacyConnectFindsTheRegisteredDeviceByVector() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(irqLine: 10), policy: InterruptPolicy(msiSupported: false))
            #expect(throws: ConnectionError.vectorNotAssigned(10)) {
                try dispatcher.connectLegacy(vector: 10, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5), mode: .levelSensitive,
                                             shareVector: true, processorEnableMask: .first(1), routine: Self.claim)
            }
            dispatcher.register(device)
            let calls = Counter()
            let object = try dispatcher.connectLegacy(vector: 10, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                      mode: .levelSensitive, shareVector: true, processorEnableMask: .first(1),
                                                      routine: { _ in calls.increment(); return true })
            #expect(object.device === device)
            backend.raise()
            #expect(eventually { calls.count == 1 })
            dispatcher.disconnect(object)
        }

        @Test func aFailedConnectLeavesNoDescriptorsAndNoReservation() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let exclusive = try dispatcher.connectLineBased(device: device, routine: Self.claim)
            let process = try ProcessDescriptorCount()
            let held = backend.openDescriptorCount
            #expect(held >= 1, "the line's eventfd")
            for _ in 0..<50 {
                #expect(throws: ConnectionError.self) {
                    try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                         mode: .latched, shareVector: true, affinity: .first(1), routine: Self.claim)
                }
            }
            #expect(backend.openDescriptorCount == held, "a refused connect opened nothing on the device")
            process.expectNoneLeaked()
            #expect(dispatcher.connectedInterrupts.count == 1)
            dispatcher.disconnect(exclusive)
            #expect(backend.enabledKind == nil, "the last disconnect disables the device's interrupts")
            #expect(eventually { backend.openDescriptorCount == held - 1 }, "the line's eventfd closed at the last disconnect")
        }
    }
}

extension Runtime.ConnectionRulesTests {
    /// Seed 001, LineBased.SynchronizeIrql: "If SynchronizeIrql = PASSIVE_LEVEL, and the
    /// maximum IRQL of this set of interrupts is PASSIVE_LEVEL, the InterruptService routine
    /// is called at PASSIVE_LEVEL" (and, for a passive-level ISR, SpinLock = NULL).
    @Test func aLineBasedConnectOnPassiveLevelLinesIsPassiveLevel() throws {
        defer { dispatcher.shutdown() }
        let backend = SimulatedBackend(TestDevices.lineOnly)
        var resources = InterruptDevice(backend: backend, facts: .twoProcessors).resources
        resources.translated = resources.translated.map { descriptor in
            guard case .interrupt(var line) = descriptor.payload else { return descriptor }
            line.level = 0
            var passive = descriptor
            passive.payload = .interrupt(line)
            return passive
        }
        let device = InterruptDevice(backend: backend, resources: resources)
        #expect(throws: ConnectionError.invalidLevels(irql: .passive, synchronizeIrql: .passive)) {
            try dispatcher.connectLineBased(device: device, routine: Self.claim, spinLock: InterruptSpinLock())
        }
        #expect(backend.enabledKind == nil, "nothing connected")
        let levels = Recorder<InterruptLevel>()
        let object = try dispatcher.connectLineBased(device: device, routine: { _ in
            levels.append(InterruptLevel.current)
            return true
        })
        #expect(object.isPassiveLevel && object.synchronizeIrql == .passive)
        #expect(backend.raise())
        #expect(eventually { levels.all.count == 1 })
        #expect(levels.all == [.passive])
        dispatcher.disconnect(object)

        // A SynchronizeIrql above PASSIVE_LEVEL keeps the ISR at that level, with a spin lock.
        let raised = try dispatcher.connectLineBased(device: device, routine: Self.claim, synchronizeIrql: InterruptLevel(5))
        #expect(!raised.isPassiveLevel && raised.synchronizeIrql == InterruptLevel(5))
        dispatcher.disconnect(raised)
    }
}

/// A simulated function whose backend delivers its INTx line only, as UIO does.
final class LineOnlyBackend: InterruptBackend {
    let inner: SimulatedBackend
    init(_ inner: SimulatedBackend) { self.inner = inner }
    var device: PCIDeviceInfo { inner.device }
    var supportedInterrupts: [InterruptKind: Int] { [.intx: 1] }
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        guard kind == .intx else { throw .unsupported(kind: kind, requested: count, available: 0) }
        return try inner.enableInterrupts(kind, count: count)
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    var auxiliarySources: [AuxiliarySource] { inner.auxiliarySources }
    func releaseAfterRemoval() { inner.releaseAfterRemoval() }
}
