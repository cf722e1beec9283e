// The device-request interrupt (VFIO_PCI_REQ_IRQ_INDEX): when the kernel wants the
// device back (here: vfio-pci is unbound from it), every interrupt object of the
// device is disconnected, the device is closed, and the kernel's unbind completes.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import InterruptBridgeTestKit
import Testing

extension RigIntegrationTests {
    @Suite("Removal requests from the kernel")
    struct RemovalIntegrationTests {
        @Test func unbindingVFIOPCIDisconnectsEverythingAndReleasesTheDevice() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            #expect(backend.requestInterrupts == 1)
            let device = InterruptDevice(backend: backend, policy: .default)
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let probe = ISRProbe()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
                probe.record(message: message)
                return true
            })
            guard case let .messages(table) = connection else {
                Issue.record("expected MSI")
                return
            }
            // No BAR mapping here: a mapping would hold the device open past the release.
            #expect(try fireOneAtATime(100, probe: probe) { _ in try backend.triggerLoopback(message: 0) } == 100)

            // Unbinding blocks in the kernel until the device is released: do it on a thread.
            let unbound = AtomicCount()
            let unbindError = Mutex<String?>(nil)
            let sysfs = SysfsPCI()
            let thread = try PThread.spawn(name: "unbind") {
                do {
                    try sysfs.unbind(Rig.eduVFIO.description, from: "vfio-pci")
                } catch {
                    unbindError.withLock { $0 = "\(error)" }
                }
                unbound.add()
            }
            #expect(eventually(within: 60) { dispatcher.connectedInterrupts.isEmpty }, "the REQ interrupt disconnected every object")
            #expect(table.interruptObjects.allSatisfy { !$0.isConnected })
            #expect(eventually(within: 60) { unbound.count == 1 }, "the kernel's unbind completed: the device was released")
            try PThread.join(thread)
            #expect(unbindError.withLock { $0 } == nil)
            #expect(backend.vfioDevice == nil, "the backend closed the device")
            #expect(sysfs.driver(of: Rig.eduVFIO.description) == nil)
            // Leave the rig as the other suites and the selftest expect it.
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
        }
    }
}
