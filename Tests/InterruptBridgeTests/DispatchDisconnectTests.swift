import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Testing

extension Runtime {
    /// What disconnect guarantees, from any thread and from the ISR itself.
    @Suite("Dispatch disconnect")
    struct DispatchDisconnectTests {
        @Test func afterDisconnectReturnsTheISRIsNotRunningAndNeverRunsAgain() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            for round in 0..<20 {
                let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
                let running = Flag()
                let callsAfterReturn = Counter()
                let returned = Flag()
                let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                    running.set()
                    if returned.isSet { callsAfterReturn.increment() }
                    for _ in 0..<50 { PThread.yieldProcessor() }  // widen the window
                    running.set(false)
                    return true
                }).interruptObjects[0]
                let load = Flag(true)
                let raiser = try PThread.spawn(name: "raiser") {
                    while load.isSet {
                        backend.raise()
                        PThread.yieldProcessor()  // a pthread mutex is not fair: let the loop take the backend lock
                    }
                }
                #expect(eventually { object.serviceCallCount > UInt64(round % 5) })
                dispatcher.disconnect(object)
                returned.set()
                #expect(!running.isSet, "an ISR was still running when disconnect returned")
                let calls = object.serviceCallCount
                for _ in 0..<500 { PThread.yieldProcessor() }
                load.set(false)
                try PThread.join(raiser)
                #expect(object.serviceCallCount == calls)
                #expect(callsAfterReturn.count == 0)
                #expect(!object.isConnected)
                #expect(backend.enabledKind == nil)
            }
        }

        @Test func disconnectFromInsideTheISRIsDeferredNotDeadlocked() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { interrupt, _ in
                calls.increment()
                interrupt.disconnect()
                // Deferred: the call returned, and this ISR will not be called again.
                #expect(!interrupt.isConnected)
                return true
            })
            let object = connection.interruptObjects[0]
            backend.raise()
            #expect(eventually { calls.count == 1 })
            #expect(eventually { backend.enabledKind == nil }, "the deferred disconnect completes after the batch")
            backend.raise()
            for _ in 0..<1000 { PThread.yieldProcessor() }
            #expect(calls.count == 1)
            #expect(dispatcher.connectedInterrupts.isEmpty)
            dispatcher.disconnect(object)  // idempotent
        }

        @Test func aSharedVectorKeepsServingTheOthersWhenOneDisconnectsItself() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let selfRemoving = try dispatcher.connectLineBased(device: device, routine: { interrupt in
                interrupt.disconnect()
                return false
            })
            let stays = Counter()
            let other = try dispatcher.connectFullySpecified(
                device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5), mode: .levelSensitive,
                shareVector: true, affinity: .first(2), routine: { _ in stays.increment(); return true })
            backend.raise()
            #expect(eventually { stays.count == 1 && !selfRemoving.isConnected })
            backend.raise()
            #expect(eventually { stays.count == 2 })
            #expect(selfRemoving.serviceCallCount == 1)
            #expect(backend.enabledKind == .intx, "the line stays enabled for the remaining ISR")
            dispatcher.disconnect(other)
            #expect(backend.enabledKind == nil)
        }

        @Test func anObjectDisconnectedByAnEarlierISRIsNotCalledLaterInTheSamePass() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let victimHolder = LockedValue<InterruptObject?>(nil)
            let first = try dispatcher.connectLineBased(device: device, routine: { _ in
                // Not mine; and the other driver on this line is being removed.
                victimHolder.withLock { $0 }?.disconnect()
                return false
            })
            let victimCalls = Counter()
            let victim = try dispatcher.connectFullySpecified(
                device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5), mode: .levelSensitive,
                shareVector: true, affinity: .first(2), routine: { _ in victimCalls.increment(); return true })
            victimHolder.withLock { $0 = victim }
            backend.raise()
            #expect(eventually { first.serviceCallCount == 1 && !victim.isConnected })
            #expect(victimCalls.count == 0, "a disconnected ISR was called after disconnect returned")
            dispatcher.disconnect(first)
        }

        @Test func disconnectThroughTheWrongDispatcherStillDetachesTheObject() throws {
            let first = try makeDispatcher()
            let second = try makeDispatcher()
            defer {
                first.shutdown()
                second.shutdown()
            }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let object = try first.connectMessageBased(device: device, messageRoutine: { _, _ in true }).interruptObjects[0]
            second.disconnect(object)
            #expect(!object.isConnected)
            #expect(backend.enabledKind == nil, "the owning dispatcher detached it and released the device")
            #expect(first.connectedInterrupts.isEmpty)
        }

        @Test func aDisconnectAfterTheISRBeganOneReturnsOnlyOnceTheISRIsDoneAndTheDeviceReleased() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let held = Gate()
            let inside = Flag()
            let own = LockedValue<InterruptObject?>(nil)
            let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                inside.set()
                own.withLock { $0 }?.disconnect()  // on the dispatch thread: deferred
                held.hold()
                inside.set(false)
                return true
            }).interruptObjects[0]
            own.withLock { $0 = object }
            backend.raise()
            #expect(held.waitUntilEntered())
            let opener = try PThread.spawn(name: "opener") {
                PThread.sleep(for: .milliseconds(100))
                held.open()
            }
            defer { try? PThread.join(opener) }
            // The ISR began the disconnect; this one must still wait for the ISR and the detach.
            dispatcher.disconnect(object)
            #expect(!inside.isSet, "disconnect returned while the ISR still ran")
            #expect(!object.isConnected)
            #expect(backend.enabledKind == nil, "disconnect returned before the device was released")
        }

        @Test func isrsOnTwoDispatchersDisconnectingEachOthersObjectsDoNotDeadlock() throws {
            let first = try makeDispatcher()
            let second = try makeDispatcher()
            defer {
                first.shutdown()
                second.shutdown()
            }
            let (deviceA, backendA) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 1, device: 0, function: 0), msixCount: 1))
            let (deviceB, backendB) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1))
            let objects = LockedValue<[InterruptObject]>([])
            let a = try first.connectMessageBased(device: deviceA, messageRoutine: { _, _ in
                objects.withLock { $0.last }?.disconnect()  // b, owned by the other dispatcher
                return true
            }).interruptObjects[0]
            let b = try second.connectMessageBased(device: deviceB, messageRoutine: { _, _ in
                objects.withLock { $0.first }?.disconnect()  // a
                return true
            }).interruptObjects[0]
            objects.withLock { $0 = [a, b] }
            // Whichever ISR runs first disconnects the other (which then never runs):
            // both dispatch threads defer, neither waits for the other.
            backendA.raise()
            backendB.raise()
            #expect(eventually { !a.isConnected || !b.isConnected })
            #expect(eventually { backendA.enabledKind == nil || backendB.enabledKind == nil })
            #expect(eventually { a.serviceCallCount + b.serviceCallCount >= 1 })
            a.disconnect()
            b.disconnect()
            #expect(backendA.enabledKind == nil && backendB.enabledKind == nil)
        }

        @Test func removalRequestedDisconnectsEveryObjectOfTheDeviceAndLogsWhy() async throws {
            let messages = Recorder<String>()
            let logger = Logger(label: "test") { _ in CapturingLogHandler(messages: messages) }
            let dispatcher = try InterruptDispatcher(logger: logger)
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 3))
            let (bystander, _) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 5, device: 0, function: 0), msixCount: 1))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let other = try dispatcher.connectMessageBased(device: bystander, messageRoutine: { _, _ in true })
            let events = dispatcher.events()
            #expect(backend.requestRemoval(reason: "vfio-pci unbind"))
            var iterator = events.makeAsyncIterator()
            let event = await iterator.next()
            guard case let .deviceRemoved(removed, reason, disconnected)? = event else {
                Issue.record("expected a removal event, got \(String(describing: event))")
                return
            }
            #expect(removed === device && reason == "vfio-pci unbind" && disconnected == 3)
            #expect(connection.interruptObjects.allSatisfy { !$0.isConnected }, "disconnected before the event was published")
            #expect(other.interruptObjects.allSatisfy { $0.isConnected })
            #expect(backend.enabledKind == nil)
            #expect(messages.all.contains { $0.contains("vfio-pci unbind") && $0.hasPrefix("info") }, "logged with its reason, at info: its owner reports it")
            dispatcher.disconnect(other)
        }

        @Test func auxiliaryDescriptorsAreWatchedWhileTheDeviceIsConnected() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let backend = try AuxiliaryBackend(SimulatedDevice(msixCount: 1))
            let device = InterruptDevice(backend: backend, facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            try EventFD.write(backend.request)
            #expect(eventually { connection.interruptObjects.allSatisfy { !$0.isConnected } },
                    "the REQ handler's removal request disconnects the device")
            #expect(backend.handledOnDispatchThread.isSet)
            // Once the deferred disconnect completed (sources released after the
            // descriptor was unwatched), a second signal is not handled.
            #expect(eventually { backend.inner.enabledKind == nil })
            try EventFD.write(backend.request)
            for _ in 0..<1000 { PThread.yieldProcessor() }
            #expect(backend.handled.count == 1)
            try backend.close()
        }
    }
}

/// A backend with a VFIO-like REQ eventfd that reports removal when signalled.
final class AuxiliaryBackend: InterruptBackend {
    let inner: SimulatedBackend
    let request: Int32
    let handled = Counter()
    let handledOnDispatchThread = Flag()
    private let creatorThread = PThread.currentThreadID

    init(_ configuration: SimulatedDevice) throws {
        inner = SimulatedBackend(configuration)
        request = try EventFD.eventfd()
    }

    func close() throws { try FileDescriptors.close(request) }

    var device: PCIDeviceInfo { inner.device }
    var supportedInterrupts: [InterruptKind: Int] { inner.supportedInterrupts }
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        try inner.enableInterrupts(kind, count: count)
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    var auxiliarySources: [AuxiliarySource] {
        [AuxiliarySource(descriptor: request, name: "REQ") { [self] in
            _ = try? EventFD.read(request)
            handled.increment()
            if PThread.currentThreadID != creatorThread { handledOnDispatchThread.set() }
            return [.removalRequested(reason: "REQ signalled")]
        }]
    }
}
