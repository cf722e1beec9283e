import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeTooling
import Testing

/// A card pulled while its messages are connected: a raise that reached it after the loop
/// disabled them asserts its INTx line (QEMU's edu), and vfio-pci neither resets the card as
/// it is closed during a removal nor leaves Interrupt Disable set, so the line storms until
/// the card is gone (`scripts/rig/intx-flood.sh`: 10,000 to 15,000 unhandled interrupts on a
/// shared line in 4 of 12 pulls mid-trigger). No raise may reach it once they are disabled.
@Suite(.timeLimit(.minutes(1)))
struct RemovalQuiesceTests {
    /// At the removal request the stimulus's quiesce runs before the messages are disabled
    /// (and so before the device is given back, when its registers are out of reach), and a
    /// raise from then on does not reach the device.
    @Test func aRemovalQuiescesTheDeviceBeforeItsMessagesGoAndRefusesLaterRaises() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 1))
        let atQuiesce = Recorder<String>()
        let object = Recorder<InterruptObject>()
        let raisesRun = Recorder<Int>()
        let plain = SelftestStimulus(name: "recording", kernelCounts: false,
                                     raise: { message in
                                         raisesRun.append(message)
                                         guard backend.raise(message: message) else { throw BackendError.closed }
                                     },
                                     acknowledge: { _ in true },
                                     quiesce: {
                                         atQuiesce.append("released \(backend.releaseCount), connected \(object.all.first?.isConnected == true)")
                                     })
        let stimulus = plain.gated(by: backend.removalGate)
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        object.append(connection.interruptObjects[0])
        try stimulus.raise(0)
        #expect(eventually { connection.interruptObjects[0].serviceCallCount == 1 })
        #expect(atQuiesce.all.isEmpty, "nothing quiesced while connected")

        #expect(backend.requestRemoval(reason: "vfio-pci release request"))
        #expect(eventually { backend.releaseCount == 1 })
        #expect(atQuiesce.all == ["released 0, connected true"], "quiesced once, before the messages were disabled")
        #expect(!connection.interruptObjects[0].isConnected)
        let raisedBefore = backend.raisedCount
        #expect(throws: BackendError.self) { try stimulus.raise(0) }
        #expect(backend.raisedCount == raisedBefore, "a raise after the release does not reach the device")
        #expect(raisesRun.all == [0], "the gate refused it: the raise itself never ran (its registers are not touched)")
    }

    /// The gate keeps the session's quiesce, which names the device: neither may keep the
    /// backend alive once the session is closed and dropped (its eventfds, BAR and DMA memory).
    @Test func aClosedSimulatedSessionLetsItsBackendGo() throws {
        weak var gone: SimulatedBackend?
        do {
            let backend = SimulatedBackend(SimulatedDevice(interruptPin: .a, msiCount: 1))
            gone = backend
            let session = DeviceSession.simulated(backend)
            session.stimulus?.quiesce()
            session.close()
        }
        #expect(gone == nil, "the backend was freed")
        // Dropped without close (a caller that forgot): the quiesce does not hold it either.
        do {
            let backend = SimulatedBackend(SimulatedDevice(interruptPin: .a, msiCount: 1))
            gone = backend
            _ = DeviceSession.simulated(backend)
        }
        #expect(gone == nil, "the backend was freed without a close")
    }

    /// A backend that can tell the device is going (UIO: its node fails) has the raise close
    /// the gate itself: the raise does not run, the masking and the quiesce do, once, in order.
    @Test func aRaiseThatFindsTheDeviceGoingClosesTheGateInstead() {
        let going = Flag()
        let order = Recorder<String>()
        let gate = RemovalGate(masking: { order.append("mask") }, isGoing: { going.isSet })
        gate.onRelease { order.append("quiesce") }
        #expect(gate.pass { order.append("raise") })
        going.set()
        #expect(!gate.pass { order.append("raise") })
        #expect(gate.isClosed)
        gate.close()
        #expect(!gate.pass { order.append("raise") })
        #expect(order.all == ["raise", "mask", "quiesce"])
    }

    /// A raise in flight when the release comes finishes first: the quiesce, which clears
    /// what it left pending, runs after it, never before; later raises are refused.
    @Test func theReleaseWaitsForARaiseInFlight() throws {
        let gate = RemovalGate()
        let order = Recorder<String>()
        gate.onRelease { order.append("quiesce") }
        let raising = Flag(), finishRaise = Flag(), released = Flag()
        let raiser = try PThread.spawn(name: "raiser") {
            _ = gate.pass {
                raising.set()
                _ = eventually { finishRaise.isSet }
                order.append("raise")
            }
        }
        #expect(eventually { raising.isSet })
        let closer = try PThread.spawn(name: "closer") {
            gate.close()
            released.set()
        }
        PThread.sleep(for: .milliseconds(100))
        #expect(!released.isSet, "the release waits for the raise in flight")
        finishRaise.set()
        #expect(eventually { released.isSet })
        try PThread.join(raiser)
        try PThread.join(closer)
        #expect(order.all == ["raise", "quiesce"])
        #expect(gate.isClosed)
        #expect(gate.pass { Issue.record("a raise passed a closed gate") } == false)
        gate.close()
        #expect(order.all.count == 2, "the quiesce runs once")
    }
}
