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
    }
}
