// Issue 10 in the rig: the hot-pluggable edu (0000:01:00.0, QMP id edu0) removed while
// its MSI or INTx fires, by QMP device_del and by the guest's sysfs `remove`, then added
// back and connected again; another device keeps delivering throughout.
#if canImport(Glibc)
import Glibc
#endif
import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import Testing

/// A flag other threads poll (a firing loop's stop).
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Milliseconds since `start` (MonotonicClock).
func milliseconds(since start: UInt64) -> Double { Double(MonotonicClock.nanoseconds() &- start) / 1e6 }

/// The rig's ivshmem-doorbell (MSI-X, vfio-pci) connected on `dispatcher`: the device
/// that must keep delivering while another one is removed or storms.
struct HealthyDevice {
    let backend: VFIOBackend
    let probe = ISRProbe()
    let connection: MessageConnection

    init(dispatcher: InterruptDispatcher) throws {
        try Rig.bind(Rig.ivshmem, to: .vfioPCI)
        backend = try VFIOBackend(device: Rig.deviceInfo(Rig.ivshmem), logger: Rig.logger)
        // The default storm rule, whatever the dispatcher's (a storm test scales its own down).
        let device = InterruptDevice(backend: backend, policy: InterruptPolicy(storm: .default))
        let probe = self.probe
        connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
            probe.record(message: message)
            return true
        })
    }

    /// How many of `count` loopback interrupts, raised one at a time, reached the ISR.
    func delivers(_ count: Int) -> Int {
        let before = probe.count
        return (try? fireOneAtATime(count, probe: probe) { _ in try backend.triggerLoopback(message: 0) }).map { $0 - before } ?? 0
    }

    func close(_ dispatcher: InterruptDispatcher) {
        dispatcher.disconnect(connection)
        backend.close()
    }
}

/// Binds a device that was just added: the kernel may still be adding it when sysfs
/// shows it (a bind then finds no driver), so retry for up to 2 s.
func bindAdded(_ address: PCIAddress) throws {
    for attempt in 1...20 {
        do {
            return try Rig.bind(address, to: .vfioPCI)
        } catch where attempt < 20 {
            usleep(100_000)
        }
    }
}

extension RigIntegrationTests {
    @Suite("Removal while firing", .enabled(if: Rig.hotplugDevices["edu0"] != nil, "the run has no edu@port (run.sh --devices ...,edu@port)"))
    struct RemovalWhileFiringTests {
        enum Removal: CustomStringConvertible {
            case qmp, sysfs
            var description: String { self == .qmp ? "QMP device_del" : "sysfs remove" }

            /// Blocks until the device is gone (the kernel waits for its user to let go).
            func remove(_ address: PCIAddress) throws {
                switch self {
                case .qmp: _ = try Rig.hotplug(.remove, "edu0")
                case .sysfs: try FileIO.writeText("/sys/bus/pci/devices/\(address)/remove", "1")
                }
            }

            func addBack() throws {
                switch self {
                case .qmp: _ = try Rig.hotplug(.add, "edu0")
                case .sysfs: try FileIO.writeText("/sys/bus/pci/rescan", "1")
                }
            }
        }

        struct Outcome {
            var clean = true
            /// From the loop reading the kernel's request to the device leaving sysfs.
            var requestToGone: Double?
        }

        /// One cycle: bind, open, watch, connect `kind`, fire from a thread, remove, check, add back.
        static func cycle(_ index: Int, kind: InterruptKind, removal: Removal, address: PCIAddress,
                          dispatcher: InterruptDispatcher, healthy: HealthyDevice) throws -> Outcome {
            var outcome = Outcome()
            func check(_ condition: Bool, _ what: String) {
                if !condition {
                    outcome.clean = false
                    Issue.record("removal \(index) (\(kind), \(removal)): \(what)")
                }
            }
            try bindAdded(address)
            let descriptorsBefore = try FileIO.openDescriptorCount()
            let probe = ISRProbe()
            do {
                let backend = try VFIOBackend(device: Rig.deviceInfo(address), logger: Rig.logger)
                let device = InterruptDevice(backend: backend, policy: kind == .intx ? InterruptPolicy(msiSupported: false) : .default)
                dispatcher.watchEvents(of: device)
                let connection = try dispatcher.connectMessageBased(
                    device: device, messageRoutine: { _, message in probe.record(message: message); return true },
                    fallbackRoutine: { _ in probe.record(); return true })
                let objects = connection.interruptObjects
                check(objects.first?.kind == kind, "connected \(objects.first.map { "\($0.kind)" } ?? "nothing"), expected \(kind)")
                let stop = StopFlag()
                let firer = try PThread.spawn(name: "edu-fire") {
                    while !stop.isSet {
                        try? backend.triggerLoopback(message: 0)
                        usleep(200)
                    }
                }
                check(eventually(within: 10) { probe.count >= 20 }, "the firing never reached the ISR")
                let failure = Mutex<String?>(nil)
                let start = MonotonicClock.nanoseconds()
                let remover = try PThread.spawn(name: "edu-remove") {
                    do { try removal.remove(address) } catch { failure.withLock { $0 = "\(error)" } }
                }
                check(eventually(within: 30) { device.removalRequestCount == 1 }, "no removal request reached the loop")
                let requested = MonotonicClock.nanoseconds()
                check(eventually(within: 30) { !Rig.isPresent(address) }, "the device never left")
                outcome.requestToGone = milliseconds(since: requested)
                try PThread.join(remover)
                stop.set()
                try PThread.join(firer)
                check(failure.withLock { $0 } == nil, "the removal failed: \(failure.withLock { $0 } ?? "")")
                check(objects.allSatisfy { !$0.isConnected }, "an interrupt object is still connected")
                check(backend.vfioDevice == nil, "the backend did not close the device")
                let calls = probe.count
                usleep(200_000)
                check(probe.count == calls, "an ISR ran after the removal")
                check(healthy.delivers(50) == 50, "the other device stopped delivering")
                print("removal \(index) (\(kind), \(removal)): \(calls) ISR calls while firing; request read after "
                      + "\(String(format: "%.1f", Double(requested - start) / 1e6)) ms, device gone "
                      + "\(String(format: "%.1f", outcome.requestToGone!)) ms after the request")
            }
            check(eventually(within: 5) { ((try? FileIO.openDescriptorCount()) ?? .max) <= descriptorsBefore },
                  "descriptors left open: \((try? FileIO.openDescriptorCount()) ?? -1) > \(descriptorsBefore)")
            try removal.addBack()
            check(Rig.waitUntil(address, present: true, timeoutMilliseconds: 30_000) != nil, "the device did not come back")
            return outcome
        }

        @Test func removalsWhileMSIAndINTxFireLoseNothingAndLeakNothing() throws {
            let address = try #require(Rig.hotplugDevices["edu0"])
            let cycles = Int(getenv("IRQBRIDGE_RIG_REMOVALS").map { String(cString: $0) } ?? "") ?? 10
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let healthy = try HealthyDevice(dispatcher: dispatcher)
            defer { healthy.close(dispatcher) }
            var outcomes: [Outcome] = []
            for index in 0..<cycles {
                // MSI and INTx alternate; QMP and the guest's sysfs remove alternate in pairs.
                let kind: InterruptKind = index.isMultiple(of: 2) ? .msi : .intx
                let removal: Removal = index % 4 < 2 ? .qmp : .sysfs
                outcomes.append(try Self.cycle(index, kind: kind, removal: removal, address: address, dispatcher: dispatcher, healthy: healthy))
            }
            // Connected again after the last add: the device that came back works.
            try bindAdded(address)
            let backend = try VFIOBackend(device: Rig.deviceInfo(address), logger: Rig.logger)
            let probe = ISRProbe()
            let device = InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: false))
            #expect(device.resources.interruptKind == .intx, "a re-added device offers INTx once the backend opened it")
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in probe.record(); return true })
            #expect(try fireOneAtATime(50, probe: probe, unmasks: { backend.unmaskCount }) { _ in try backend.triggerLoopback() } == 50)
            dispatcher.disconnect(object)
            backend.close()
            try SysfsPCI().unbind(address.description, from: "vfio-pci")

            let times = outcomes.compactMap(\.requestToGone)
            let clean = outcomes.filter(\.clean).count
            print("removals: \(cycles) tried, \(clean) with nothing lost or leaked; request-to-gone max "
                  + "\(String(format: "%.1f", times.max() ?? -1)) ms, median \(String(format: "%.1f", times.isEmpty ? -1 : times.sorted()[times.count / 2])) ms")
            #expect(clean == cycles)
            #expect(times.allSatisfy { $0 < 1000 }, "the kernel's unbind completes within 1 s of the request")
        }
    }
}
