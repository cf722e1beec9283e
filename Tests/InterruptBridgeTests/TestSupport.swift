import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import Logging
import Testing

/// Every suite of this target nests in here: `.serialized` runs them one at a
/// time, so descriptor counts and loop timing are not disturbed by each other
/// (a 2-core machine gains nothing from running dispatch threads side by side).
@Suite(.serialized) enum Runtime {}

/// An MSI-X simulated device whose message-0 ISR holds `gate`: the loop blocker.
func connectBlocker(_ dispatcher: InterruptDispatcher, gate: Gate, bus: UInt8 = 9) throws -> (InterruptObject, SimulatedBackend) {
    let (device, backend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: bus, device: 0, function: 0), interruptPin: nil,
                                                       irqLine: nil, msixCount: 1))
    let object = try dispatcher.connectFullySpecified(
        device: device, vector: device.vectors[0].vector, irql: .highestDevice, synchronizeIrql: .highestDevice,
        mode: .latched, shareVector: false, affinity: .first(2), routine: { _ in
            gate.hold()
            return true
        })
    return (object, backend)
}

