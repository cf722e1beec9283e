// Issue 10 in the rig: storms from a real device contained within 100 ms of the first
// storming interrupt, a healthy vector on the same loop unaffected, re-arm working.
// The rig runs under TCG, far below the default rate rule (20,000 per 100 ms), so the
// rule is scaled to the rig: 100 interrupts within 100 ms (the healthy device keeps the
// default rule: one at a time, it would trip the scaled one).
//
// The time to containment is printed against the issue's 100 ms; what is asserted is the
// rule's own bound (contained within `rateLimit` ISR passes after the first) and 1 s of
// wall time: a TCG guest on a loaded host runs the dispatch thread at the host's mercy
// (26 and 89 ms were seen on a quiet host, 130 and 243 ms at a load average of 23).
#if canImport(Glibc)
import Glibc
#endif
import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import Testing

extension RigIntegrationTests {
    @Suite("Storms from real devices")
    struct StormIntegrationTests {
        static let storm = StormPolicy(rateLimit: 100, rateWindow: .milliseconds(100), initialBackoff: nil)

        /// Polls every 0.2 ms until the object is contained; the milliseconds since
        /// `start`, nil after 10 s. Sleeps between polls: a spinning test thread would
        /// take a guest processor from the dispatch thread it is timing.
        static func containment(of object: InterruptObject, since start: () -> UInt64) -> Double? {
            let deadline = MonotonicClock.nanoseconds() + 10_000_000_000
            while !object.isContained {
                guard MonotonicClock.nanoseconds() < deadline else { return nil }
                usleep(200)
            }
            return Double(MonotonicClock.nanoseconds() &- start()) / 1e6
        }

        @Test func anINTxWhoseISRNeverAcknowledgesIsContainedAndReArmed() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            let edu = try Edu(bar: #require(backend.vfioDevice).mapBAR(0))
            edu.acknowledgeAll()
            let dispatcher = try InterruptDispatcher(logger: Rig.logger, options: DispatchOptions(storm: Self.storm))
            defer { dispatcher.shutdown() }
            let healthy = try HealthyDevice(dispatcher: dispatcher)
            defer { healthy.close(dispatcher) }
            let device = InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: false))
            let probe = ISRProbe()
            let acknowledges = StopFlag()
            // Claims every interrupt, and until told otherwise never quiets the device:
            // the line is asserted again the moment it is unmasked.
            // Records after acknowledging: a test that sees the count move may raise the
            // next interrupt at once, and an acknowledge still to come would clear it too
            // (edu's status register merges raises of the same bit).
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in
                if acknowledges.isSet { edu.acknowledgeAll() }
                probe.record()
                return true
            })
            let start = MonotonicClock.nanoseconds()
            edu.interrupt()
            let contained = Self.containment(of: object) { start }
            #expect(contained != nil, "the storm was never contained")
            let calls = probe.count
            print("INTx storm (claimed, never acknowledged): contained \(String(format: "%.1f", contained ?? -1)) ms after the first "
                  + "interrupt, after \(calls) ISR calls")
            #expect((contained ?? .infinity) < 1000)
            #expect(calls <= Self.storm.rateLimit + 2, "contained by the rule's bound: the first pass, then rateLimit more")
            #expect(object.stormCount == 1)
            #expect(healthy.delivers(100) == 100, "the healthy vector on the same loop is unaffected")
            #expect(probe.count == calls, "a contained line stays masked")
            // Re-arm once the device is quieted: served normally again.
            acknowledges.set()
            dispatcher.rearm(object)
            #expect(!object.isContained)
            #expect(eventually { probe.count > calls }, "re-armed: the still asserted line fires and is acknowledged")
            #expect(fireOneAtATime(20, probe: probe, unmasks: { backend.unmaskCount }) { _ in edu.interrupt() } >= calls + 20)
            #expect(!object.isContained && object.stormCount == 1)
            dispatcher.disconnect(object)
        }

        @Test func aLoopbackMSIFloodIsContainedAndReArmed() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            let dispatcher = try InterruptDispatcher(logger: Rig.logger, options: DispatchOptions(storm: Self.storm))
            defer { dispatcher.shutdown() }
            let healthy = try HealthyDevice(dispatcher: dispatcher)
            defer { healthy.close(dispatcher) }
            let device = InterruptDevice(backend: backend, policy: .default)
            let probe = ISRProbe()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
                probe.record(message: message)
                return true
            })
            let object = try #require(connection.interruptObjects.first)
            #expect(object.kind == .msi)
            let stop = StopFlag()
            let firstTrigger = Atomic<UInt64>(0)
            let triggers = Atomic<Int>(0)
            let flood = try PThread.spawn(name: "msi-flood") {
                firstTrigger.store(MonotonicClock.nanoseconds(), ordering: .releasing)
                while !stop.isSet {
                    try? backend.triggerLoopback(message: 0)
                    triggers.add(1, ordering: .relaxed)
                }
            }
            let contained = Self.containment(of: object) { firstTrigger.load(ordering: .acquiring) }
            stop.set()
            try PThread.join(flood)
            #expect(contained != nil, "the flood was never contained")
            let calls = probe.count
            print("loopback MSI flood: contained \(String(format: "%.1f", contained ?? -1)) ms after the first trigger, "
                  + "after \(calls) ISR calls (\(triggers.load(ordering: .relaxed)) triggers in all)")
            #expect((contained ?? .infinity) < 1000)
            #expect(calls <= Self.storm.rateLimit + 2, "contained within the rule's bound of ISR passes")
            #expect(healthy.delivers(100) == 100, "the healthy vector on the same loop is unaffected")
            try backend.triggerLoopback(message: 0)
            usleep(100_000)
            #expect(probe.count == calls, "a contained message vector is unwatched: nothing reaches the ISR")
            dispatcher.rearm(object)
            #expect(!object.isContained)
            // A signal latched before the vector was contained may arrive at the re-arm: settle first.
            usleep(100_000)
            let settled = probe.count
            #expect(settled <= calls + 1)
            #expect(try fireOneAtATime(20, probe: probe) { _ in try backend.triggerLoopback(message: 0) } == settled + 20)
            #expect(object.stormCount == 1)
            dispatcher.disconnect(connection)
        }

        /// The card's own MSI storm on a function without per-vector masking (edu) is
        /// contained with its eventfd left attached: detached, the kernel frees the vector's
        /// handler and writes a zero message into the capability, and each further interrupt
        /// of the storm is a DMA write to address 0 (an IOMMU fault here; memory at 0 with
        /// no IOMMU).
        @Test func anUnmaskableMSIStormIsContainedWithoutSendingTheCardToAddressZero() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let info = try Rig.deviceInfo(Rig.eduVFIO)
            let msi = try #require(info.msi)
            #expect(!msi.perVectorMasking, "edu's MSI has no per-vector mask")
            let backend = try VFIOBackend(device: info, logger: Rig.logger)
            defer { backend.close() }
            let edu = try Edu(bar: #require(backend.vfioDevice).mapBAR(0))
            // A rule a slow (emulated, loaded) raising loop trips for certain: 20 in 100 ms.
            let rule = StormPolicy(rateLimit: 20, rateWindow: .milliseconds(100), initialBackoff: nil)
            let dispatcher = try InterruptDispatcher(logger: Rig.logger, options: DispatchOptions(storm: rule))
            defer { dispatcher.shutdown() }
            let probe = ISRProbe()
            let connection = try dispatcher.connectMessageBased(device: InterruptDevice(backend: backend, policy: .default),
                                                                 messageRoutine: { _, message in
                probe.record(message: message)
                return true
            })
            let object = try #require(connection.interruptObjects.first)
            #expect(object.kind == .msi)
            let start = MonotonicClock.nanoseconds()
            while !object.isContained, MonotonicClock.nanoseconds() &- start < 5_000_000_000 { edu.interrupt() }
            let contained = Self.containment(of: object) { start }
            #expect(contained != nil, "the card's storm was never contained")
            // The function's own capability (sysfs reads the hardware; VFIO's view is virtual).
            let config = try SysfsDeviceInfo.readConfig("/sys/bus/pci/devices/\(Rig.eduVFIO)/config")
            let offset = Int(msi.offset) + 4
            let address = UInt32(config[offset]) | UInt32(config[offset + 1]) << 8 | UInt32(config[offset + 2]) << 16 | UInt32(config[offset + 3]) << 24
            #expect(address != 0, "the contained vector's message address was zeroed")
            let faultsBefore = Self.iommuFaultInterrupts()
            for _ in 0..<50 { edu.interrupt() }
            usleep(200_000)
            #expect(Self.iommuFaultInterrupts() == faultsBefore, "raises while contained faulted in the IOMMU")
            let calls = probe.count
            dispatcher.rearm(object)
            usleep(100_000)
            let settled = probe.count
            #expect(settled <= calls + 1, "what was raised while contained arrives as one pass at most")
            #expect(fireOneAtATime(10, probe: probe) { _ in edu.interrupt() } == settled + 10, "re-armed, the card's MSI is served")
            dispatcher.disconnect(connection)
        }

        /// The IOMMU's fault-reporting interrupts so far (the DMAR-MSI line), 0 without one.
        static func iommuFaultInterrupts() -> UInt64 {
            let text = (try? String(contentsOfFile: "/proc/interrupts", encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.contains("DMAR-MSI") }) else { return 0 }
            return line.split(separator: " ").dropFirst().prefix { UInt64($0) != nil }.reduce(0) { $0 + UInt64($1)! }
        }
    }
}
