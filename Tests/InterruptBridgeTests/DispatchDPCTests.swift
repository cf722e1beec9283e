import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

extension Runtime {
    /// KeInitializeDpc / KeInsertQueueDpc and IoInitializeDpcRequest / IoRequestDpc.
    @Suite("Dispatch DPCs")
    struct DispatchDPCTests {
        let dispatcher: InterruptDispatcher
        init() throws { dispatcher = try makeDispatcher() }

        @Test func insertingAnAlreadyQueuedDPCReturnsFalseAndKeepsTheFirstArguments() throws {
            defer { dispatcher.shutdown() }
            let gate = Gate()
            let (blocker, blockerBackend) = try connectBlocker(dispatcher, gate: gate)
            let arguments = Recorder<UInt>()
            let context = OpaqueContext(UnsafeMutableRawPointer(bitPattern: 0x77))
            let dpc = DeferredProcedureCall(dispatcher: dispatcher, deferredContext: context) { dpc, first, second in
                #expect(dpc.deferredContext == context)
                arguments.append(UInt(bitPattern: first.pointer))
                arguments.append(UInt(bitPattern: second.pointer))
            }
            // Hold the loop so the DPC stays queued while we insert again.
            blockerBackend.raise()
            #expect(gate.waitUntilEntered())
            #expect(dpc.enqueue(OpaqueContext(UnsafeMutableRawPointer(bitPattern: 1)), OpaqueContext(UnsafeMutableRawPointer(bitPattern: 2))))
            #expect(dpc.isQueued)
            #expect(!dpc.enqueue(OpaqueContext(UnsafeMutableRawPointer(bitPattern: 3)), .none))
            gate.open()
            #expect(eventually { dpc.runCount == 1 })
            #expect(arguments.all == [1, 2])
            #expect(!dpc.isQueued)
            #expect(dpc.enqueue())
            #expect(eventually { dpc.runCount == 2 })
            dispatcher.disconnect(blocker)
        }

        @Test func dpcsRunAfterTheISRsOfTheBatchOffTheInterruptLock() throws {
            defer { dispatcher.shutdown() }
            let gate = Gate()
            let (blocker, blockerBackend) = try connectBlocker(dispatcher, gate: gate)
            let (first, firstBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 1, device: 0, function: 0), msixCount: 1),
                                                   policy: InterruptPolicy(devicePriority: .high))
            let (second, secondBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1))
            let order = Recorder<String>()
            let lockHeldInDPC = Flag()
            let levelInDPC = Recorder<InterruptLevel>()
            let onDispatchThread = Flag()
            let firstConnection = try dispatcher.connectMessageBased(device: first, messageRoutine: { interrupt, _ in
                order.append("isr high")
                interrupt.device.requestDPC()
                return true
            })
            let firstObject = firstConnection.interruptObjects[0]
            // The routine captures neither the device nor its object: the device holds
            // its DPC, so either would be a cycle that outlives the test (LeakSanitizer).
            let (firstLock, firstDevice) = (firstObject.spinLock, ObjectIdentifier(first))
            let dispatcher = dispatcher
            first.initializeDPCRequest(dispatcher: dispatcher) { device, _, _ in
                order.append("dpc")
                if firstLock?.isLocked == true { lockHeldInDPC.set() }
                levelInDPC.append(InterruptLevel.current)
                if dispatcher.isOnDispatchThread { onDispatchThread.set() }
                #expect(ObjectIdentifier(device) == firstDevice)
            }
            let secondConnection = try dispatcher.connectMessageBased(device: second, messageRoutine: { _, _ in
                order.append("isr normal")
                return true
            })
            blockerBackend.raise()
            #expect(gate.waitUntilEntered())
            firstBackend.raise()
            secondBackend.raise()
            gate.open()
            #expect(eventually { order.all.count == 3 })
            #expect(order.all == ["isr high", "isr normal", "dpc"])
            #expect(!lockHeldInDPC.isSet)
            #expect(levelInDPC.all == [.dispatch])
            #expect(onDispatchThread.isSet)
            dispatcher.disconnect(firstConnection)
            dispatcher.disconnect(secondConnection)
            dispatcher.disconnect(blocker)
        }

        @Test func requestDPCWithoutInitializationReturnsFalse() throws {
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 1))
            #expect(!device.requestDPC())
            #expect(device.initializeDPCRequest(dispatcher: dispatcher) { _, _, _ in })
            #expect(!device.initializeDPCRequest(dispatcher: dispatcher) { _, _, _ in })
            #expect(device.requestDPC())
        }

        @Test func dpcsStillQueuedAtShutdownRun() throws {
            let ran = Counter()
            let dpc = DeferredProcedureCall(dispatcher: dispatcher) { _, _, _ in ran.increment() }
            dpc.enqueue()
            dispatcher.shutdown()
            #expect(ran.count == 1)
        }
    }
}
