@testable import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Synchronization
import Testing

extension Runtime {
    /// Issue 10: a device's event descriptors (VFIO's device request and error
    /// interrupts) watched from the moment it is handed to a dispatcher, not only
    /// while something is connected; a removal request with nothing connected
    /// still gives the device back; requests and errors counted per device.
    @Suite("Device events watched by request")
    struct DeviceEventWatchTests {
        static func drain(_ events: AsyncStream<DispatcherEvent>) async -> [String] {
            var received: [String] = []
            for await event in events { received.append(event.description) }
            return received
        }

        // MARK: The table's transitions

        static func eventSource(_ device: InterruptDevice) -> DeviceEventSource {
            DeviceEventSource(source: AuxiliarySource(descriptor: 99, name: "REQ") { [] }, device: device)
        }

        static func object(_ device: InterruptDevice, dispatcher: InterruptDispatcher) -> InterruptObject {
            let assigned = device.vectors[0]
            return InterruptObject(
                device: device, dispatcher: dispatcher, vector: assigned.vector, messageID: assigned.messageID, kind: assigned.kind,
                irql: assigned.irql, synchronizeIrql: assigned.irql, mode: assigned.mode, shareVector: false, affinity: .first(2),
                group: 0, floatingSave: false, serviceContext: .none, spinLock: InterruptSpinLock(), routine: RoutineBox(.service { _ in true }))
        }

        @Test func aWatchedDeviceThatConnectsIsNotWatchedTwiceAndKeepsTheWatchAfterDisconnect() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 1))
            let address = device.info.address
            var table = ConnectionTable()
            #expect(table.watchEvents(of: device).map(\.description) == ["watch events of \(address)"])
            table.recordEvents(device, [Self.eventSource(device)])
            #expect(table.watchEvents(of: device).isEmpty, "a second request changes nothing")
            let object = Self.object(device, dispatcher: dispatcher)
            let attached = try table.attach([object]).map(\.description)
            #expect(attached == ["enable 1 MSI-X of \(address)", "watch message 0 for vector 0x\(String(object.vector, radix: 16))"],
                    "its event descriptors are watched already")
            table.recordEnabled(device, sources: [InterruptSource(descriptor: 98, drain: .eventfdCounter, unmask: nil, message: 0)])
            #expect(table.detach([object]).map(\.description) == ["disable MSI-X of \(address)"],
                    "the last disconnect keeps the explicit watch (the vector was never recorded as watched)")
            #expect(table.watchesEventsExplicitly(device))
            #expect(table.unwatchEvents(of: device).map(\.description) == ["unwatch 1 event descriptor(s)"])
            #expect(table.eventWatches.isEmpty)
            #expect(table.unwatchEvents(of: device).isEmpty, "idempotent")
        }

        @Test func aWatchEndedWhileConnectedLastsUntilTheLastDisconnect() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 1))
            var table = ConnectionTable()
            let object = Self.object(device, dispatcher: dispatcher)
            #expect(try table.attach([object]).map(\.description).contains("watch events of \(device.info.address)"))
            table.recordEvents(device, [Self.eventSource(device)])
            #expect(table.watchEvents(of: device).isEmpty, "watched for the connection already")
            #expect(table.unwatchEvents(of: device).isEmpty, "still needed by the connection")
            #expect(table.detach([object]).map(\.description) == ["unwatch 1 event descriptor(s)"])
            #expect(table.eventWatches.isEmpty)
        }

        // MARK: The stepped dispatcher

        @Test func aRemovalRequestWithNothingConnectedReleasesTheWatchedDevice() async throws {
            let dispatcher = try makeSteppedDispatcher()
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let (unwatched, unwatchedBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 3, device: 0, function: 0), msixCount: 1))
            dispatcher.watchEvents(of: device)
            #expect(backend.requestRemoval(reason: "unbind"))
            #expect(unwatchedBackend.requestRemoval(reason: "unbind"))
            #expect(dispatcher.step() == 1, "the watched device's event descriptor, nothing else")
            #expect(backend.releaseCount == 1, "given back to the kernel with nothing connected")
            #expect(device.removalRequestCount == 1 && device.errorReportCount == 0)
            #expect(unwatchedBackend.releaseCount == 0 && unwatched.removalRequestCount == 0, "nobody watches the other")
            #expect(!backend.requestRemoval(reason: "again"), "released: no event descriptor left")
            #expect(dispatcher.step() == 0)
            dispatcher.shutdown()
            #expect(await Self.drain(events) == ["\(device) removed (unbind): 0 vector(s) disconnected"])
        }

        @Test func connectAndDisconnectOfAWatchedDeviceWatchItsEventsOnceAndKeepTheWatch() async throws {
            let dispatcher = try makeSteppedDispatcher()
            let events = dispatcher.events()
            let backend = EventCountingBackend(SimulatedDevice(msixCount: 2))
            let device = InterruptDevice(backend: backend, facts: .twoProcessors)
            dispatcher.watchEvents(of: device)
            dispatcher.watchEvents(of: device)
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            #expect(backend.eventWatches.load(ordering: .relaxed) == 1, "watched once, not again for the connection")
            backend.inner.reportError(reason: "AER while connected")
            dispatcher.step()
            dispatcher.disconnect(connection)
            #expect(backend.inner.enabledKind == nil)
            backend.inner.reportError(reason: "AER after disconnect")
            #expect(dispatcher.step() == 1, "the explicit watch outlives the last disconnect")
            #expect(device.errorReportCount == 2)
            dispatcher.unwatchEvents(of: device)
            backend.inner.reportError(reason: "AER unwatched")
            #expect(dispatcher.step() == 0, "no longer watched")
            #expect(device.errorReportCount == 2)
            // Connected again: watched for the connection; a removal disconnects and releases.
            let again = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            #expect(backend.eventWatches.load(ordering: .relaxed) == 2)
            dispatcher.step()  // the unread error queued while unwatched
            backend.inner.requestRemoval(reason: "hot-unplug")
            dispatcher.step()
            #expect(again.interruptObjects.allSatisfy { !$0.isConnected } && backend.inner.enabledKind == nil)
            #expect(backend.inner.releaseCount == 1 && device.removalRequestCount == 1 && device.errorReportCount == 3)
            dispatcher.shutdown()
            #expect(await Self.drain(events) == [
                "\(device) error: AER while connected",
                "\(device) error: AER after disconnect",
                "\(device) error: AER unwatched",
                "\(device) removed (hot-unplug): 2 vector(s) disconnected",
            ])
        }

        @Test func aRemovalOnTheDispatchThreadStillReleasesAWatchedDevice() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            dispatcher.watchEvents(of: device)
            backend.requestRemoval(reason: "unbind")
            #expect(eventually { backend.releaseCount == 1 }, "the threaded loop acts the same")
            #expect(device.removalRequestCount == 1)
        }
    }
}

/// A simulated backend that counts how often a loop asked for its event descriptors (each watch).
final class EventCountingBackend: InterruptBackend {
    let inner: SimulatedBackend
    let eventWatches = Atomic<Int>(0)

    init(_ configuration: SimulatedDevice) { inner = SimulatedBackend(configuration) }

    var device: PCIDeviceInfo { inner.device }
    var supportedInterrupts: [InterruptKind: Int] { inner.supportedInterrupts }
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        try inner.enableInterrupts(kind, count: count)
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    var auxiliarySources: [AuxiliarySource] {
        eventWatches.add(1, ordering: .relaxed)
        return inner.auxiliarySources
    }
    func releaseAfterRemoval() { inner.releaseAfterRemoval() }
}
