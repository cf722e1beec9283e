import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import Synchronization
import Testing

extension Runtime {
    /// Issue 10: "After disconnect and shutdown nothing may stay reachable." A
    /// driver's context that holds its own interrupt object (a device extension
    /// with its IntObj) is a cycle through the object's routine until the loop
    /// detached the object; then the routine is released and the cycle with it.
    @Suite("Reference cycles")
    struct ReferenceCycleTests {
        /// A device extension: the ISR's context, holding the interrupt object.
        final class Extension: Sendable {
            let interrupt = Mutex<InterruptObject?>(nil)
            let calls = Atomic<Int>(0)
        }

        /// Connects with an ISR that captures the extension, stores the object in
        /// it, raises, disconnects; returns weak views of what must then go away.
        static func connectAndDisconnect(
            _ dispatcher: InterruptDispatcher, _ configuration: SimulatedDevice, step: Bool
        ) throws -> (extension: Weak<Extension>, object: Weak<InterruptObject>, device: Weak<InterruptDevice>) {
            let (device, backend) = makeDevice(configuration)
            let devExt = Extension()
            let objects: [InterruptObject]
            if device.usesMessages {
                objects = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                    devExt.calls.add(1, ordering: .relaxed)
                    return true
                }).interruptObjects
            } else {
                objects = [try dispatcher.connectLineBased(device: device, routine: { _ in
                    devExt.calls.add(1, ordering: .relaxed)
                    return true
                })]
            }
            devExt.interrupt.withLock { $0 = objects[0] }
            backend.raise()
            if step { dispatcher.step() }
            for object in objects { dispatcher.disconnect(object) }
            #expect(objects.allSatisfy { !$0.isConnected })
            return (Weak(devExt), Weak(objects[0]), Weak(device))
        }

        @Test(arguments: [TestDevices.lineOnly, TestDevices.msix4])
        func aContextHoldingItsInterruptObjectIsReleasedAfterDisconnect(configuration: SimulatedDevice) throws {
            var dispatcher: InterruptDispatcher? = try makeSteppedDispatcher()
            let weakDispatcher = Weak(dispatcher!)
            let (devExt, object, device) = try Self.connectAndDisconnect(dispatcher!, configuration, step: true)
            #expect(devExt.value == nil, "the extension is not kept alive by its interrupt object's routine")
            #expect(object.value == nil && device.value == nil)
            dispatcher!.shutdown()
            dispatcher = nil
            #expect(weakDispatcher.value == nil, "a stepped loop's state no longer holds its loop after shutdown")
        }

        /// A DpcForIsr whose routine captures its own device is a cycle the driver
        /// made (device, DPC, routine, device); it must not hold the dispatcher too:
        /// a DPC holds its dispatcher weakly. (An interrupt object captured there
        /// would: connected or not, an object keeps its dispatcher.)
        @Test func aDPCInACycleOfTheDriversDoesNotKeepItsDispatcher() throws {
            var dispatcher: InterruptDispatcher? = try makeDispatcher()
            let weakDispatcher = Weak(dispatcher!)
            let ran = Flag()
            let held = Mutex<InterruptDevice?>(nil)
            do {
                let (device, backend) = makeDevice(TestDevices.lineOnly)
                held.withLock { $0 = device }
                device.initializeDPCRequest(dispatcher: dispatcher!) { _, _, _ in
                    if held.withLock({ $0 }) != nil { ran.set() }  // the driver's cycle: the routine holds the device
                }
                let object = try dispatcher!.connectLineBased(device: device, routine: { interrupt in
                    interrupt.device.requestDPC()
                    return true
                })
                backend.raise()
                #expect(eventually { ran.isSet })
                dispatcher!.disconnect(object)
            }
            dispatcher!.shutdown()
            dispatcher = nil
            #expect(eventually { weakDispatcher.value == nil })
            held.withLock { $0 = nil }  // the test's own cycle, broken so LeakSanitizer stays quiet
        }

        @Test func theThreadedDispatcherReleasesTheCycleAndItselfAfterShutdown() throws {
            var dispatcher: InterruptDispatcher? = try makeDispatcher()
            let weakDispatcher = Weak(dispatcher!)
            let (devExt, object, device) = try Self.connectAndDisconnect(dispatcher!, TestDevices.lineOnly, step: false)
            // The loop thread lets go of the detach command just after completing it.
            #expect(eventually { devExt.value == nil && object.value == nil && device.value == nil })
            dispatcher!.shutdown()
            dispatcher = nil
            #expect(weakDispatcher.value == nil, "nothing keeps a shut-down dispatcher")
        }

        @Test func aDeviceWithADPCForISRReleasesItsDispatcher() throws {
            var dispatcher: InterruptDispatcher? = try makeSteppedDispatcher()
            let weakDispatcher = Weak(dispatcher!)
            var device: InterruptDevice? = makeDevice(TestDevices.lineOnly).0
            let weakDevice = Weak(device!)
            dispatcher!.register(device!)
            #expect(device!.initializeDPCRequest(dispatcher: dispatcher!) { _, _, _ in })
            do {
                let object = try dispatcher!.connectLineBased(device: device!, routine: { _ in true })
                dispatcher!.disconnect(object)
            }
            dispatcher!.shutdown()
            dispatcher = nil
            device = nil
            #expect(weakDevice.value == nil && weakDispatcher.value == nil)
        }
    }
}

/// A weak reference a test keeps to see an object go away.
final class Weak<Value: AnyObject>: @unchecked Sendable {
    // @unchecked: written once in init; reading a weak reference is thread-safe.
    weak var value: Value?
    init(_ value: Value) { self.value = value }
}
