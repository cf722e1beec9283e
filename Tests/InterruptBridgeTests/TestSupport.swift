import Glibc
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Logging
import Testing

/// The dispatch suites nest in here: `.serialized` runs them one at a time, so
/// loop timing is not disturbed by another dispatch thread (a 2-core machine
/// gains nothing from running them side by side).
///
/// Their descriptor leak checks are per owner (`InterruptDispatcher.openDescriptorCount`,
/// `SimulatedBackend.openDescriptorCount`), exact in any run, and also count the whole
/// process's descriptors where that is exact (`ProcessDescriptorCount`).
@Suite(.serialized) enum Runtime {}

/// The whole process's open descriptors as a leak check: it also catches a
/// descriptor no owner accounts for, but any suite running beside this one (a
/// subprocess's pipes, a udev monitor, a daemon's sockets) disturbs it. So it is
/// taken only when INTERRUPTBRIDGE_EXACT_DESCRIPTOR_COUNT=1 says this target runs
/// alone (`scripts/test.sh` runs it alone with `--no-parallel` and sets it); a
/// plain `swift test` keeps the per-owner checks.
struct ProcessDescriptorCount {
    static let isExact = getenv("INTERRUPTBRIDGE_EXACT_DESCRIPTOR_COUNT").map { String(cString: $0) == "1" } ?? false
    let atStart: Int?

    init() throws { atStart = Self.isExact ? try FileIO.openDescriptorCount() : nil }

    /// The count now, where it is exact.
    var now: Int? { Self.isExact ? try? FileIO.openDescriptorCount() : nil }

    /// Expects the count back at its start (or below), waiting for threads that
    /// close theirs as they end.
    func expectNoneLeaked(_ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        guard let atStart else { return }
        let settled = eventually { (try? FileIO.openDescriptorCount()) ?? .max <= atStart }
        let atEnd = (try? FileIO.openDescriptorCount()) ?? -1
        #expect(settled, "descriptors leaked\(comment): \(atEnd) open, \(atStart) at start", sourceLocation: sourceLocation)
    }
}

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

