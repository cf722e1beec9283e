import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Testing

extension Runtime {
    /// Issue 8: objects reported inactive and active again (the runtime under
    /// IoReportInterruptInactive/Active). wdm.h: an inactive ISR "is not expecting
    /// interrupt requests"; the issue: "inactive means the interrupt is disabled at
    /// the source and its ISR is not called until reported active again ... nothing
    /// raised meanwhile may be lost for a level line, which fires again once
    /// unmasked". On the manually stepped twin, so every count is exact.
    @Suite("Active and inactive interrupts")
    struct InterruptActivityTests {
        @Test func aLevelLineRaisedWhileInactiveFiresOnceReportedActive() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in
                backend.acknowledge()
                return true
            })
            #expect(object.isActive, "an ISR is active after connect")
            dispatcher.deactivate(object)
            #expect(!object.isActive)
            backend.raise()
            #expect(dispatcher.step() == 0 && dispatcher.step() == 0, "inactive: the line is not watched")
            #expect(object.serviceCallCount == 0)
            #expect(backend.isLineMasked, "the line fired once and stays masked, its cause pending")

            dispatcher.activate(object)
            #expect(object.isActive)
            #expect(dispatcher.step() == 1, "reported active: the pending line is served")
            #expect(object.serviceCallCount == 1 && object.claimedCount == 1)
            #expect(!backend.isLineMasked, "and unmasked after its ISR claimed it")
            #expect(dispatcher.step() == 0, "once: it does not fire again")
            backend.raise()
            #expect(dispatcher.step() == 1 && object.serviceCallCount == 2, "active: served as before")
            dispatcher.disconnect(object)
        }

        @Test func messagesRaisedWhileInactiveArriveOnceReportedActive() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(TestDevices.msix4)
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let objects = connection.interruptObjects
            dispatcher.deactivate(objects)
            #expect(objects.allSatisfy { !$0.isActive })
            for _ in 0..<3 { backend.raise(message: 2) }
            backend.raise(message: 0)
            #expect(dispatcher.step() == 0, "no vector of the connection is watched")
            #expect(objects.allSatisfy { $0.serviceCallCount == 0 })

            dispatcher.activate(objects)
            #expect(dispatcher.step() == 2, "the two vectors' eventfds counted what was raised")
            #expect(objects[2].serviceCallCount == 1 && objects[2].deliveredSignalCount == 3)
            #expect(objects[0].serviceCallCount == 1 && objects[0].deliveredSignalCount == 1)
            #expect(objects[1].serviceCallCount == 0 && objects[3].serviceCallCount == 0)
            dispatcher.disconnect(connection)
        }

        @Test func oneMessageInactiveLeavesTheOthersServed() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(TestDevices.msix4)
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let objects = connection.interruptObjects
            dispatcher.deactivate(objects[1])
            backend.raise(message: 1)
            backend.raise(message: 3)
            #expect(dispatcher.step() == 1)
            #expect(objects[3].serviceCallCount == 1 && objects[1].serviceCallCount == 0)
            dispatcher.activate(objects[1])
            #expect(dispatcher.step() == 1 && objects[1].serviceCallCount == 1)
            dispatcher.disconnect(connection)
        }

        @Test func anInactiveISROnASharedLineIsSkippedWhileTheOtherIsCalled() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            func connectShared(_ routine: @escaping InterruptServiceRoutine) throws -> InterruptObject {
                try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(2), routine: routine)
            }
            let sleeping = try connectShared { _ in true }
            let awake = try connectShared { _ in true }
            dispatcher.deactivate(sleeping)
            backend.raise()
            #expect(dispatcher.step() == 1, "the line stays watched for the active ISR")
            #expect(sleeping.serviceCallCount == 0 && awake.serviceCallCount == 1,
                    "the inactive ISR is not called although it is first in the chain")
            dispatcher.deactivate(awake)
            backend.raise()
            #expect(dispatcher.step() == 0 && awake.serviceCallCount == 1, "both inactive: the line is not watched")
            dispatcher.activate(sleeping)
            #expect(dispatcher.step() == 1 && sleeping.serviceCallCount == 1 && awake.serviceCallCount == 1)
            // Disconnecting the only active one leaves the line to inactive ISRs: no longer watched.
            dispatcher.disconnect(sleeping)
            backend.raise()
            #expect(dispatcher.step() == 0 && awake.serviceCallCount == 1)
            dispatcher.activate(awake)
            #expect(dispatcher.step() == 1 && awake.serviceCallCount == 2)
            dispatcher.disconnect(awake)
        }

        /// Storm containment and inactivity compose: the vector is watched only
        /// when neither holds it off.
        @Test func aContainedVectorReportedInactiveStaysOffUntilBothAllowIt() throws {
            let dispatcher = try makeSteppedDispatcher(DispatchOptions(storm: StormPolicy(rateLimit: 100, rateWindow: .seconds(30), initialBackoff: nil)))
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(TestDevices.msix4)
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let flood = connection.interruptObjects[0]
            for _ in 0..<2 {
                for _ in 0..<100 { backend.raise() }
                dispatcher.step()
            }
            #expect(flood.isContained && flood.serviceCallCount == 2)

            // Contained, then inactive: a re-arm ends the containment but the vector stays off.
            dispatcher.deactivate(flood)
            dispatcher.rearm(flood)
            #expect(!flood.isContained && !flood.isActive)
            backend.raise()
            #expect(dispatcher.step() == 0 && flood.serviceCallCount == 2, "re-armed but inactive: not watched")
            dispatcher.activate(flood)
            #expect(dispatcher.step() == 1 && flood.serviceCallCount == 3, "both allow it: served, the raise counted")

            // Contained again, inactive, then active: still contained, off until re-armed.
            for _ in 0..<2 {
                for _ in 0..<100 { backend.raise() }
                dispatcher.step()
            }
            #expect(flood.isContained)
            let calls = flood.serviceCallCount
            dispatcher.deactivate(flood)
            dispatcher.activate(flood)
            backend.raise()
            #expect(dispatcher.step() == 0 && flood.serviceCallCount == calls, "active but contained: not watched")
            dispatcher.rearm(flood)
            #expect(dispatcher.step() == 1 && flood.serviceCallCount == calls + 1)
            dispatcher.disconnect(connection)
        }

        @Test func suspendAndResumeReachTheBackendOncePerChange() throws {
            let dispatcher = try makeSteppedDispatcher()
            defer { dispatcher.shutdown() }
            let backend = SuspendRecordingBackend(SimulatedBackend(TestDevices.msix4))
            let device = InterruptDevice(backend: backend, facts: .twoProcessors)
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let objects = connection.interruptObjects
            dispatcher.deactivate([objects[1], objects[2]])
            dispatcher.deactivate(objects[1])  // already inactive: nothing more
            #expect(backend.calls.all == ["suspend MSI-X 1", "suspend MSI-X 2"])
            dispatcher.activate(objects[2])
            #expect(backend.calls.all == ["suspend MSI-X 1", "suspend MSI-X 2", "resume MSI-X 2"])
            // Disconnecting an inactive message of a device that stays connected resumes it at
            // the backend, so a later connect of that message finds its eventfd attached.
            dispatcher.disconnect(objects[1])
            #expect(backend.calls.all.last == "resume MSI-X 1")
            // The last ones: the device's interrupts are disabled, nothing to resume.
            dispatcher.deactivate(objects[3])
            dispatcher.disconnect(connection)
            #expect(backend.calls.all.last == "suspend MSI-X 3")
        }
    }
}

/// A simulated backend that records `suspendVector`/`resumeVector` (VFIO detaches
/// and re-attaches the eventfd there).
final class SuspendRecordingBackend: InterruptBackend {
    let inner: SimulatedBackend
    let calls = Recorder<String>()

    init(_ inner: SimulatedBackend) { self.inner = inner }

    var device: PCIDeviceInfo { inner.device }
    var supportedInterrupts: [InterruptKind: Int] { inner.supportedInterrupts }
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        try inner.enableInterrupts(kind, count: count)
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    func suspendVector(_ kind: InterruptKind, message: Int) throws(BackendError) { calls.append("suspend \(kind) \(message)") }
    func resumeVector(_ kind: InterruptKind, message: Int) throws(BackendError) { calls.append("resume \(kind) \(message)") }
}
