import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Testing

extension Runtime {
    /// The deterministic twin: a dispatcher with no thread, stepped by the test.
    /// The same loop, tables and ISR semantics; nothing depends on timing.
    @Suite("Manually stepped dispatcher")
    struct ManualDispatcherTests {
        static func manual() throws -> InterruptDispatcher {
            try .manuallyStepped(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        @Test func nothingRunsUntilTheTestStepsThenEverythingReadyRunsOnItsThread() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 3))
            let calls = Recorder<UInt32>()
            let onDispatchThread = Flag()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { interrupt, message in
                calls.append(message)
                if interrupt.dispatcher.isOnDispatchThread && InterruptLevel.current == interrupt.synchronizeIrql { onDispatchThread.set() }
                return true
            })
            #expect(connection.interruptObjects.allSatisfy { $0.isConnected }, "connect applied at once, no thread needed")
            backend.raise(message: 2)
            backend.raise(message: 0)
            #expect(calls.all.isEmpty, "no ISR before a step")
            #expect(dispatcher.step() == 2)
            #expect(calls.all.sorted() == [0, 2])
            #expect(onDispatchThread.isSet, "the ISR ran as on a dispatch thread, at its SynchronizeIrql")
            #expect(dispatcher.step() == 0)
            dispatcher.disconnect(connection)
            #expect(backend.enabledKind == nil)
        }

        @Test func highestDIRQLFirstWithinAStep() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let order = Recorder<String>()
            var objects: [InterruptObject] = []
            for (bus, level) in [(UInt8(1), InterruptLevel(5)), (2, InterruptLevel(9)), (3, InterruptLevel(7))] {
                let (device, backend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: bus, device: 0, function: 0), msixCount: 1))
                objects.append(try dispatcher.connectFullySpecified(
                    device: device, vector: device.vectors[0].vector, irql: level, synchronizeIrql: level, mode: .latched,
                    shareVector: false, affinity: .first(2), routine: { _ in
                        order.append("DIRQL \(level)")
                        return true
                    }))
                backend.raise()
            }
            dispatcher.step()
            #expect(order.all == ["DIRQL 9", "DIRQL 7", "DIRQL 5"])
            for object in objects { dispatcher.disconnect(object) }
        }

        @Test func aVectorOfHigherDIRQLConnectedAfterBatchesOfOneLevelStillRunsFirst() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let order = Recorder<String>()
            func connect(bus: UInt8, level: InterruptLevel) throws -> (InterruptObject, SimulatedBackend) {
                let (device, backend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: bus, device: 0, function: 0), msixCount: 1))
                let object = try dispatcher.connectFullySpecified(
                    device: device, vector: device.vectors[0].vector, irql: level, synchronizeIrql: level, mode: .latched,
                    shareVector: false, affinity: .first(2), routine: { _ in
                        order.append("DIRQL \(level)")
                        return true
                    })
                return (object, backend)
            }
            // One level on the loop: batches are served in arrival order.
            let (low, lowBackend) = try connect(bus: 1, level: InterruptLevel(5))
            let (lowToo, lowTooBackend) = try connect(bus: 2, level: InterruptLevel(5))
            lowBackend.raise()
            lowTooBackend.raise()
            dispatcher.step()
            #expect(order.all.count == 2)
            // A higher DIRQL joins: raised last, it still runs first.
            let (high, highBackend) = try connect(bus: 3, level: InterruptLevel(9))
            lowBackend.raise()
            highBackend.raise()
            dispatcher.step()
            #expect(Array(order.all.dropFirst(2)) == ["DIRQL 9", "DIRQL 5"])
            // It leaves: one level again, and both remaining vectors are still served.
            dispatcher.disconnect(high)
            lowBackend.raise()
            lowTooBackend.raise()
            dispatcher.step()
            #expect(Array(order.all.dropFirst(4)) == ["DIRQL 5", "DIRQL 5"])
            for object in [low, lowToo] { dispatcher.disconnect(object) }
        }

        @Test func anUnclaimedLevelLineIsReenabledAndFiresAgainWhileAsserted() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let calls = Counter()
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in
                // Claims from the third call on, acknowledging the device then.
                if calls.increment() >= 3 {
                    backend.acknowledge()
                    return true
                }
                return false
            })
            backend.raise()
            dispatcher.step()
            #expect(calls.count == 1 && dispatcher.step() == 1, "unclaimed: re-enabled, and the asserted line fired again")
            dispatcher.step()
            #expect(calls.count == 3 && object.unclaimedCount == 2 && object.claimedCount == 1)
            #expect(dispatcher.step() == 0, "acknowledged: quiet")
            dispatcher.disconnect(object)
        }

        @Test func deferredDisconnectFromTheISRCompletesAfterTheBatch() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { interrupt, _ in
                calls.increment()
                interrupt.disconnect()
                return true
            })
            backend.raise()
            backend.raise()
            dispatcher.step()
            #expect(calls.count == 1, "two signals coalesce into one pass; the ISR disconnected itself")
            #expect(!connection.interruptObjects[0].isConnected)
            #expect(backend.enabledKind == nil, "the detach was applied after the batch, in the same step")
            #expect(!backend.raise(), "nothing enabled any more")
        }

        @Test func dpcsRunAfterTheBatchAtDispatchLevel() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let order = Recorder<String>()
            let dpc = DeferredProcedureCall(dispatcher: dispatcher) { _, _, _ in order.append("dpc at \(InterruptLevel.current)") }
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                order.append("isr")
                dpc.enqueue()
                return true
            })
            backend.raise()
            dispatcher.step()
            #expect(order.all == ["isr", "dpc at \(InterruptLevel.dispatch)"])
            dispatcher.disconnect(connection)
        }

        @Test func aRemovalRequestIsActedOnByTheLoopThenPublished() async throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 2))
            let (bystander, bystanderBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 4, device: 0, function: 0), msixCount: 1))
            let events = dispatcher.events()
            let removed = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let kept = try dispatcher.connectMessageBased(device: bystander, messageRoutine: { _, _ in true })
            #expect(backend.requestRemoval(reason: "unplugged"))
            #expect(removed.interruptObjects.allSatisfy { $0.isConnected }, "nothing happens until the loop reads the event")
            dispatcher.step()
            #expect(removed.interruptObjects.allSatisfy { !$0.isConnected })
            #expect(backend.enabledKind == nil, "its interrupts were disabled, its descriptors closed")
            #expect(kept.interruptObjects.allSatisfy { $0.isConnected } && bystanderBackend.enabledKind == .msix)
            #expect(backend.reportError(reason: "late") == false, "a removed device is no longer watched")
            // Given back: connecting it again fails as on a VFIO device closed after removal.
            #expect {
                _ = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            } throws: { error in
                if case .backend(.closed) = error as? ConnectionError { true } else { false }
            }
            #expect(backend.enabledKind == nil && dispatcher.connectedInterrupts.count == 1)
            bystanderBackend.reportError(reason: "AER: uncorrectable")
            dispatcher.step()
            dispatcher.shutdown()
            var received: [String] = []
            for await event in events { received.append(event.description) }
            #expect(received == [
                "\(device) removed (unplugged): 2 vector(s) disconnected",
                "\(bystander) error: AER: uncorrectable",
            ], "in order, and the stream ends at shutdown")
        }

        @Test func aSecondInterruptDeviceOverABackendInUseCannotConnect() throws {
            let dispatcher = try Self.manual()
            defer { dispatcher.shutdown() }
            let backend = SimulatedBackend(SimulatedDevice(interruptPin: .a, irqLine: 11, msixCount: 2))
            let first = InterruptDevice(backend: backend, facts: .twoProcessors)
            let second = InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: false), facts: .twoProcessors)
            let connection = try dispatcher.connectMessageBased(device: first, messageRoutine: { _, _ in true })
            #expect(throws: ConnectionError.self, "the backend is enabled by the first device") {
                _ = try dispatcher.connectLineBased(device: second, routine: { _ in true })
            }
            dispatcher.disconnect(connection)
            let line = try dispatcher.connectLineBased(device: second, routine: { _ in true })
            #expect(backend.enabledKind == .intx, "once the first has nothing connected, the other may")
            dispatcher.disconnect(line)
        }
    }
}
