import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import Logging
import Testing

/// The dispatch suites nest in here: `.serialized` runs them one at a time, so
/// loop timing is not disturbed by another dispatch thread (a 2-core machine
/// gains nothing from running them side by side).
///
/// Some of them count the whole process's open descriptors, which any suite
/// running beside them can disturb (a subprocess's pipes, a udev monitor).
/// Their leak checks hold only in a run where nothing else runs beside them:
/// `scripts/test.sh` runs this target alone with `--no-parallel`.
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

