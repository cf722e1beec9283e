@testable import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import Logging
import Testing

extension Runtime {
    /// The connection table's transitions, without threads or descriptors: what
    /// attach and detach change and which effects they ask the loop to perform.
    @Suite("Connection table")
    struct ConnectionTableTests {
        let dispatcher: InterruptDispatcher

        init() throws {
            dispatcher = try .manuallyStepped(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        func object(_ device: InterruptDevice, message: Int = 0, share: Bool = false, mode: InterruptMode? = nil,
                    irql: InterruptLevel? = nil, passive: Bool = false) -> InterruptObject {
            let assigned = device.vectors.first { $0.messageID == UInt32(message) } ?? device.vectors[0]
            let level = passive ? .passive : (irql ?? assigned.irql)
            return InterruptObject(
                device: device, dispatcher: dispatcher, vector: assigned.vector, messageID: assigned.messageID, kind: assigned.kind,
                irql: level, synchronizeIrql: level, mode: mode ?? assigned.mode, shareVector: share, affinity: .first(2), group: 0,
                floatingSave: false, serviceContext: .none, spinLock: passive ? nil : InterruptSpinLock(), routine: RoutineBox(.service { _ in true }))
        }

        @Test func theFirstObjectOfADeviceEnablesWatchesEventsAndItsVector() throws {
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 2))
            var table = ConnectionTable()
            let effects = try table.attach([object(device, message: 0), object(device, message: 1)])
            #expect(effects.map(\.description) == [
                "enable 2 MSI-X of \(device.info.address)", "watch events of \(device.info.address)",
                "watch message 0 for vector 0x\(String(device.vectors[0].vector, radix: 16))",
                "watch message 1 for vector 0x\(String(device.vectors[1].vector, radix: 16))",
            ])
            #expect(table.connectedObjects.count == 2)
            #expect(table.lines.count == 2)
        }

        @Test func detachUndoesOnlyWhatWasRecordedAsDone() throws {
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 1))
            var table = ConnectionTable()
            let connected = object(device)
            _ = try table.attach([connected])
            // Nothing was performed (enable failed, say): detach asks for no unwatch and no disable.
            #expect(table.detach([connected]).isEmpty)
            #expect(table.connectedObjects.isEmpty && table.devices.isEmpty && table.lines.isEmpty)
        }

        @Test func theLastObjectOfADeviceUnwatchesThenDisables() throws {
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 1))
            var table = ConnectionTable()
            let connected = object(device)
            let effects = try table.attach([connected])
            table.recordEnabled(device, sources: [InterruptSource(descriptor: 1000, drain: .eventfdCounter, unmask: nil, message: 0)])
            guard case let .watchVector(key, line) = effects[2], let source = table.makeVectorSource(key, line: line, defaultStorm: .default, maximumLatchedPasses: 16) else {
                Issue.record("no vector to watch: \(effects)")
                return
            }
            #expect(source.descriptor == 1000)
            table.recordWatched(source)
            #expect(table.detach([connected]).map(\.description) == ["unwatch message 0", "disable MSI-X of \(device.info.address)"],
                    "the descriptor is forgotten before the backend may close it")
        }

        @Test func sharedVectorsKeepTheirDescriptorUntilTheLastObjectLeaves() throws {
            let (device, _) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11))
            var table = ConnectionTable()
            let first = object(device, share: true)
            let second = object(device, share: true)
            _ = try table.attach([first])
            #expect(try table.attach([second]).isEmpty, "same device, same descriptor: nothing new to enable or watch")
            #expect(table.lines[first.vector]?.count == 2)
            #expect(table.detach([first]).isEmpty)
            #expect(table.lines[first.vector]?.count == 1)
        }

        /// A legacy line object listening to another card on its line: that card's line is
        /// enabled and watched for the same chain, and given up with the object.
        @Test func aListeningObjectEnablesAndWatchesTheOtherCardsLineUntilItLeaves() throws {
            let (cardA, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11))
            let (cardB, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11))
            let (msiCard, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0c.0")!, msiCount: 1))
            var table = ConnectionTable()
            let legacy = object(cardA, share: true)
            #expect(table.listen(legacy, to: cardB) == nil, "not connected yet")
            #expect(try table.attach([legacy]).map(\.description) == [
                "enable 1 INTx of \(cardA.info.address)", "watch events of \(cardA.info.address)", "watch message 0 for vector 0xb",
            ])
            #expect(table.listen(legacy, to: cardB)?.map(\.description) == [
                "enable 1 INTx of \(cardB.info.address)", "watch events of \(cardB.info.address)", "watch message 0 for vector 0xb",
            ])
            #expect(table.listen(legacy, to: cardB) == nil, "each card once")
            #expect(table.listen(legacy, to: cardA) == nil, "not its own card")
            #expect(table.listen(legacy, to: msiCard) == nil, "a card whose vector is not this line is not heard")
            #expect(table.devices.count == 2 && table.connectedObjects.count == 1)
            #expect(table.listens(legacy, to: ObjectIdentifier(cardB)))
            for card in [cardA, cardB] {
                table.recordEnabled(card, sources: [InterruptSource(descriptor: card === cardA ? 1000 : 1001, drain: .eventfdCounter, unmask: nil, message: 0)])
                let key = ConnectionTable.SourceKey(device: ObjectIdentifier(card), message: 0)
                let source = try #require(table.makeVectorSource(key, line: table.lines[0xb]!, defaultStorm: .default, maximumLatchedPasses: 16))
                table.recordWatched(source)
                #expect(table.objects(servedBy: source).map { ObjectIdentifier($0) } == [ObjectIdentifier(legacy)], "either card's interrupt is the legacy ISR's")
            }
            #expect(table.sources(of: legacy).map(\.descriptor) == [1000, 1001])
            #expect(table.detach([legacy]).map(\.description) == [
                "unwatch message 0", "disable INTx of \(cardA.info.address)", "unwatch message 0", "disable INTx of \(cardB.info.address)",
            ])
            #expect(table.devices.isEmpty && table.lines.isEmpty)
        }

        /// A listened card that leaves (removal, a failed device) stops being heard; the
        /// listener stays on its own card. A card with its own object outlasts a listener.
        @Test func stopListeningReleasesOnlyWhatOnlyListenersHeld() throws {
            let (cardA, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11))
            let (cardB, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11))
            var table = ConnectionTable()
            let legacy = object(cardA, share: true)
            _ = try table.attach([legacy])
            _ = table.listen(legacy, to: cardB)
            table.recordEnabled(cardB, sources: [InterruptSource(descriptor: 1001, drain: .eventfdCounter, unmask: nil, message: 0)])
            #expect(table.stopListening(to: cardB).map(\.description) == ["disable INTx of \(cardB.info.address)"],
                    "nothing was watched for B (recorded), so only its enabled line is given up")
            #expect(!table.listens(legacy, to: ObjectIdentifier(cardB)))
            #expect(table.devices.count == 1 && table.connectedObjects.count == 1)
            #expect(table.stopListening(to: cardB).isEmpty)

            let own = object(cardB, share: true)
            let second = object(cardA, share: true)
            _ = try table.attach([own])
            _ = try table.attach([second])
            #expect(table.listen(second, to: cardB)?.isEmpty == true, "B's line is enabled and watched already")
            #expect(table.detach([second]).isEmpty, "B's own object keeps its line")
            #expect(table.devices.count == 2)
        }

        /// A sharer whose effects failed is undone alone: the object's own connection stands.
        @Test func undoingOneListenerLeavesTheObjectAndOtherListeners() throws {
            let (cardA, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0a.0")!, interruptPin: .a, irqLine: 11))
            let (cardB, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0b.0")!, interruptPin: .a, irqLine: 11))
            let (cardC, _) = makeDevice(SimulatedDevice(address: PCIAddress("0000:00:0c.0")!, interruptPin: .a, irqLine: 11))
            var table = ConnectionTable()
            let legacy = object(cardA, share: true)
            _ = try table.attach([legacy])
            _ = table.listen(legacy, to: cardB)
            _ = table.listen(legacy, to: cardC)
            // B's enable failed: nothing of B was recorded as done, so nothing is undone at the backend.
            #expect(table.stopListening(legacy, to: cardB).isEmpty)
            #expect(!table.listens(legacy, to: ObjectIdentifier(cardB)) && table.listens(legacy, to: ObjectIdentifier(cardC)))
            #expect(table.devices.count == 2 && table.connectedObjects.count == 1)
            #expect(table.stopListening(legacy, to: cardB).isEmpty, "once")
            _ = table.detach([legacy])
            #expect(table.devices.isEmpty)
        }

        @Test func sharingRulesRefuseAndChangeNothing() throws {
            let (device, _) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11))
            var table = ConnectionTable()
            _ = try table.attach([object(device, share: true)])
            #expect(throws: ConnectionError.self) { _ = try table.attach([object(device, share: false)]) }
            #expect(throws: ConnectionError.self) { _ = try table.attach([object(device, share: true, mode: .latched)]) }
            #expect(table.connectedObjects.count == 1, "a refused attach adds nothing")
            let passiveConflict = ConnectionTable.conflict(adding: object(device, share: true, passive: true), to: table.connectedObjects)
            #expect(passiveConflict?.description.contains("passive-level and device-level") == true)
        }

        @Test func aDeviceKeepsOneInterruptKind() throws {
            let (device, _) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, msixCount: 2))
            var table = ConnectionTable()
            _ = try table.attach([object(device, message: 0)])
            let line = InterruptObject(
                device: device, dispatcher: dispatcher, vector: 11, messageID: 0, kind: .intx, irql: .highestDevice,
                synchronizeIrql: .highestDevice, mode: .levelSensitive, shareVector: false, affinity: .first(2), group: 0,
                floatingSave: false, serviceContext: .none, spinLock: InterruptSpinLock(), routine: RoutineBox(.service { _ in true }))
            #expect(throws: ConnectionError.backend(.kernelLimit("MSI-X is enabled; INTx cannot be enabled at the same time"))) {
                _ = try table.attach([line])
            }
        }
        /// Whether every watched source shares one DIRQL (the loop then serves a batch in
        /// arrival order) is kept as sources come and go and a shared line's level rises and
        /// falls, and always agrees with a walk over the sources, which it replaced.
        @Test func uniformLevelsFollowSourcesAndLineLevels() throws {
            let (card, _) = makeDevice(SimulatedDevice(msixCount: 4))
            let (legacy, _) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11))
            var table = ConnectionTable()
            func attach(_ objects: [InterruptObject], of device: InterruptDevice, messages: Int) throws {
                let effects = try table.attach(objects)
                table.recordEnabled(device, sources: (0..<messages).map {
                    InterruptSource(descriptor: Int32(1000 + $0), drain: .eventfdCounter, unmask: nil, message: $0)
                })
                for case let .watchVector(key, line) in effects {
                    let source = try #require(table.makeVectorSource(key, line: line, defaultStorm: .default, maximumLatchedPasses: 16))
                    table.recordWatched(source)
                }
            }
            func expectUniform(_ expected: Bool, _ step: String, sourceLocation: SourceLocation = #_sourceLocation) {
                let walked = Set(table.vectors.values.map(\.line.irql)).count <= 1
                #expect(table.hasUniformLevels == expected, "\(step)", sourceLocation: sourceLocation)
                #expect(table.hasUniformLevels == walked, "\(step): the census and a walk disagree", sourceLocation: sourceLocation)
            }
            expectUniform(true, "nothing connected")
            let low = [object(card, message: 0, irql: InterruptLevel(5)), object(card, message: 1, irql: InterruptLevel(5))]
            try attach(low, of: card, messages: 4)
            expectUniform(true, "two sources at 5")
            let high = object(card, message: 2, irql: InterruptLevel(7))
            try attach([high], of: card, messages: 4)
            expectUniform(false, "one source at 7 beside two at 5")
            _ = table.detach([high])
            expectUniform(true, "the source at 7 gone")
            let first = object(legacy, share: true, irql: InterruptLevel(5))
            try attach([first], of: legacy, messages: 1)
            expectUniform(true, "a shared line at 5")
            // A second ISR with a higher level raises the line, and its source with it.
            let raising = object(legacy, share: true, irql: InterruptLevel(8))
            try attach([raising], of: legacy, messages: 1)
            #expect(table.lines[first.vector]?.irql == InterruptLevel(8))
            expectUniform(false, "the shared line raised to 8")
            _ = table.detach([raising])
            expectUniform(true, "the shared line back at 5")
            _ = table.detach(low + [first])
            expectUniform(true, "nothing connected again")
            #expect(table.vectors.isEmpty)
        }
    }
}
