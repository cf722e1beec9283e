@testable import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

extension Runtime {
    /// Thousands of connect/disconnect cycles under interrupt load: nothing leaks,
    /// nothing raised is lost.
    @Suite("Dispatch stress")
    struct DispatchStressTests {
        static let cyclesPerWorker = 1000

        @Test func connectDisconnectThousandsOfTimesUnderLoadLeaksNothingAndLosesNothing() throws {
            let process = try ProcessDescriptorCount()
            // The backends own their event descriptors (like VFIO's REQ eventfd) until they
            // go away: count after everything of the run is gone.
            do {
                let dispatcher = try makeDispatcher()

                // Background load: a device that stays connected while a thread hammers it.
                let (loadDevice, loadBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 0x20, device: 0, function: 0), msixCount: 1))
                let load = try dispatcher.connectMessageBased(device: loadDevice, messageRoutine: { _, _ in true })
                let loading = Flag(true)
                let loadThread = try PThread.spawn(name: "load") {
                    while loading.isSet {
                        loadBackend.raise()
                        PThread.yieldProcessor()  // a pthread mutex is not fair: let the loop take the backend lock
                    }
                }

                // Exact accounting: each cycle raises k signals while connected and waits
                // until they were drained into ISR calls (k signals -> 1...k calls).
                let failures = Recorder<String>()
                let finished = Counter()
                func worker(bus: UInt8, flavour: Int) -> @Sendable () -> Void {
                    {
                        let (device, backend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: bus, device: 0, function: 0), msixCount: 2))
                        for cycle in 0..<Self.cyclesPerWorker {
                            do {
                                let objects: [InterruptObject]
                                let connection: MessageConnection?
                                if flavour == 0 || cycle % 3 != 0 {
                                    let made = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
                                    objects = made.interruptObjects
                                    connection = made
                                } else {
                                    objects = [try dispatcher.connectFullySpecified(
                                        device: device, vector: device.vectors[1].vector, irql: InterruptLevel(8),
                                        synchronizeIrql: InterruptLevel(8), mode: .latched, shareVector: false,
                                        affinity: .first(2), routine: { _ in true })]
                                    connection = nil
                                }
                                let target = objects.last!
                                let message = Int(target.messageID)
                                let count = 1 + cycle % 5
                                for _ in 0..<count { backend.raise(message: message) }
                                if !eventually(10, { target.deliveredSignalCount == UInt64(count) && target.serviceCallCount >= 1 }) {
                                    failures.append("bus \(bus) cycle \(cycle): \(target.deliveredSignalCount) of \(count) signals delivered")
                                }
                                let calls = target.serviceCallCount
                                if calls < 1 || calls > UInt64(count) {
                                    failures.append("bus \(bus) cycle \(cycle): \(calls) ISR calls for \(count) signals")
                                }
                                if let connection { dispatcher.disconnect(connection) } else { dispatcher.disconnect(target) }
                                if objects.contains(where: \.isConnected) { failures.append("bus \(bus) cycle \(cycle): still connected") }
                            } catch {
                                failures.append("bus \(bus) cycle \(cycle): \(error)")
                            }
                        }
                        if backend.discardedCount != 0 { failures.append("bus \(bus): \(backend.discardedCount) signals never delivered") }
                        // Every vector's eventfd closed; its event descriptor stays until the device is released.
                        if backend.openDescriptorCount != 1 { failures.append("bus \(bus): \(backend.openDescriptorCount) descriptors open, 1 expected") }
                        if backend.raisedCount != UInt64((0..<Self.cyclesPerWorker).reduce(0) { $0 + 1 + $1 % 5 }) {
                            failures.append("bus \(bus): \(backend.raisedCount) raises accepted")
                        }
                        finished.increment()
                    }
                }

                // Churn: a device connected and disconnected while its own raiser never stops.
                let (churnDevice, churnBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 0x30, device: 0, function: 0), msixCount: 1))
                let churning = Flag(true)
                let churnRaiser = try PThread.spawn(name: "churn-raise") {
                    while churning.isSet {
                        churnBackend.raise()
                        PThread.yieldProcessor()  // a pthread mutex is not fair: let the loop take the backend lock
                    }
                }
                let churnDelivered = Counter()
                let churnWorker: @Sendable () -> Void = {
                    for cycle in 0..<Self.cyclesPerWorker {
                        do {
                            let connection = try dispatcher.connectMessageBased(device: churnDevice, messageRoutine: { _, _ in true })
                            if cycle % 10 == 0 { _ = eventually { connection.interruptObjects[0].serviceCallCount > 0 } }
                            dispatcher.disconnect(connection)
                            churnDelivered.increment()
                        } catch {
                            failures.append("churn cycle \(cycle): \(error)")
                        }
                    }
                    finished.increment()
                }

                let threads = [
                    try PThread.spawn(name: "worker-a", worker(bus: 0x21, flavour: 0)),
                    try PThread.spawn(name: "worker-b", worker(bus: 0x22, flavour: 1)),
                    try PThread.spawn(name: "churn", churnWorker),
                ]
                for thread in threads { try PThread.join(thread) }
                churning.set(false)
                try PThread.join(churnRaiser)
                loading.set(false)
                try PThread.join(loadThread)

                #expect(finished.count == 3)
                #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
                #expect(churnDelivered.count == Self.cyclesPerWorker)
                // The load device: every accepted raise was drained into an ISR pass.
                let loadObject = load.interruptObjects[0]
                #expect(eventually { loadObject.deliveredSignalCount == loadBackend.raisedCount })
                #expect(loadObject.serviceCallCount >= 1 && loadObject.serviceCallCount <= loadBackend.raisedCount)
                // The churned device: what was accepted was either delivered, or raised in a
                // disconnect window and discarded at close; nothing is unaccounted for beyond that.
                #expect(churnBackend.raisedCount >= churnBackend.discardedCount)
                dispatcher.disconnect(load)
                #expect(dispatcher.connectedInterrupts.isEmpty)
                #expect([loadBackend, churnBackend].map(\.openDescriptorCount) == [1, 1], "only their event descriptors")
                dispatcher.shutdown()
                #expect(dispatcher.openDescriptorCount == 0)
            }
            process.expectNoneLeaked()
        }
    }
}
