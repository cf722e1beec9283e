@testable import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Testing

extension Runtime {
    /// Issue 13, part 3: thousands of vectors over many devices on one dispatcher
    /// connect, deliver and disconnect, and leave no descriptor behind. (How long
    /// that takes is `irqbridge bench --scenario scale`'s to print, not a test's.)
    @Suite("Scale: thousands of vectors")
    struct ScaleConnectTests {
        static let devices = 64
        static let vectorsPerDevice = 64

        static func address(ofDevice index: Int) -> PCIAddress {
            PCIAddress(bus: UInt8(0x40 + index / 32), device: UInt8(index % 32), function: 0)
        }

        @Test func fourThousandVectorsOverSixtyFourDevicesConnectDeliverAndDisconnectLeavingNoDescriptor() throws {
            let vectors = Self.devices * Self.vectorsPerDevice
            // Each vector holds an eventfd, each device an event descriptor: far over a default soft limit of 1024.
            let limit = try FileIO.raiseDescriptorLimitToHardLimit()
            try #require(limit >= vectors + Self.devices + 256, "RLIMIT_NOFILE's hard limit \(limit) is too low for \(vectors) vectors")
            let process = try ProcessDescriptorCount()
            // The backends keep their event descriptors until they go away: count after the scope.
            do {
                // .interruptAffinity: the loop re-pins after every connect, from the table's affinity union.
                let dispatcher = try makeDispatcher(DispatchOptions(pinning: .interruptAffinity, capacity: vectors + Self.devices + 16))
                defer { dispatcher.shutdown() }
                let made = (0..<Self.devices).map { index in
                    makeDevice(SimulatedDevice(address: Self.address(ofDevice: index), interruptPin: nil, irqLine: nil,
                                               msixCount: Self.vectorsPerDevice))
                }
                let calls = (0..<Self.devices).map { _ in Counter() }
                var connections: [MessageConnection] = []
                for (index, (device, _)) in made.enumerated() {
                    let counter = calls[index]
                    connections.append(try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                        counter.increment()
                        return true
                    }))
                }
                #expect(dispatcher.connectedInterrupts.count == vectors)
                #expect(Set(dispatcher.connectedInterrupts.map(\.vector)).count == vectors, "no two devices share a vector")
                #expect(made.allSatisfy { $0.1.enabledKind == .msix })
                // One eventfd per vector, and each device's event descriptor (watched from its first connect).
                #expect(made.map(\.1.openDescriptorCount).reduce(0, +) == vectors + Self.devices)

                // The first, a middle and the last device's last message are served.
                for index in [0, Self.devices / 2, Self.devices - 1] {
                    #expect(made[index].1.raise(message: Self.vectorsPerDevice - 1))
                }
                for index in [0, Self.devices / 2, Self.devices - 1] {
                    #expect(eventually { calls[index].count == 1 }, "device \(index)'s ISR ran")
                }

                // One device among many given up (a removal, a failed device): exactly its vectors go.
                dispatcher.disconnectAll(of: made[5].0, reason: "test")
                #expect(connections[5].interruptObjects.allSatisfy { !$0.isConnected })
                #expect(dispatcher.connectedInterrupts.count == vectors - Self.vectorsPerDevice)
                #expect(made[5].1.enabledKind == nil && made[4].1.enabledKind == .msix)

                for connection in connections { dispatcher.disconnect(connection) }
                #expect(dispatcher.connectedInterrupts.isEmpty)
                #expect(made.allSatisfy { $0.1.enabledKind == nil }, "every device's interrupts were disabled")
                #expect(connections.allSatisfy { $0.interruptObjects.allSatisfy { !$0.isConnected } })
                #expect(made.allSatisfy { $0.1.openDescriptorCount == 1 }, "every vector's eventfd closed at disconnect")

                // Connected again after all that: the slots and the table were given back.
                let again = try dispatcher.connectMessageBased(device: made[1].0, messageRoutine: { _, _ in true })
                #expect(again.interruptObjects.count == Self.vectorsPerDevice)
                dispatcher.disconnect(again)
                #expect(made[1].1.openDescriptorCount == 1)
                dispatcher.shutdown()
                #expect(dispatcher.openDescriptorCount == 0)
            }
            process.expectNoneLeaked()
        }

        @Test func theConnectionTableKeepsTheUnionOfConnectedAffinities() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 3))
            func object(_ message: Int, affinity: ProcessorAffinity, group: UInt16 = 0) -> InterruptObject {
                let assigned = device.vectors[message]
                return InterruptObject(
                    device: device, dispatcher: dispatcher, vector: assigned.vector, messageID: assigned.messageID, kind: assigned.kind,
                    irql: assigned.irql, synchronizeIrql: assigned.irql, mode: assigned.mode, shareVector: false, affinity: affinity,
                    group: group, floatingSave: false, serviceContext: .none, spinLock: InterruptSpinLock(), routine: RoutineBox(.service { _ in true }))
            }
            let cpu0 = object(0, affinity: ProcessorAffinity(rawValue: 0b01))
            let cpu1 = object(1, affinity: ProcessorAffinity(rawValue: 0b10))
            let otherGroup = object(2, affinity: ProcessorAffinity(rawValue: 0b100), group: 1)
            var table = ConnectionTable()
            _ = try table.attach([cpu0, cpu1, otherGroup])
            #expect(table.connectedAffinityUnion == 0b11, "group 1's affinity is not group 0's processors")
            _ = table.detach([cpu1])
            #expect(table.connectedAffinityUnion == 0b01)
            _ = table.detach([cpu1])
            #expect(table.connectedAffinityUnion == 0b01, "detaching what is not connected changes nothing")
            _ = table.detach([cpu0, otherGroup])
            #expect(table.connectedAffinityUnion == 0)
        }
    }
}
