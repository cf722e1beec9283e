import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Logging
import Synchronization
import Testing

extension Runtime {
    /// Issue 10: storms contained per vector, re-armed by call or after a doubling
    /// back-off, every trip counted and published; stuck ISRs reported. The rules
    /// run on the manually stepped twin, so every count below is exact.
    @Suite("Storm containment")
    struct StormContainmentTests {
        static func stepped(_ storm: StormPolicy) throws -> InterruptDispatcher {
            try .manuallyStepped(logger: .silent(), options: DispatchOptions(storm: storm))
        }

        /// Collects what the dispatcher published until it shuts down.
        static func drain(_ events: AsyncStream<DispatcherEvent>) async -> [DispatcherEvent] {
            var received: [DispatcherEvent] = []
            for await event in events { received.append(event) }
            return received
        }

        /// The back-offs the containments published, in order, once the dispatcher shut down.
        static func backoffs(_ events: AsyncStream<DispatcherEvent>) async -> [Duration] {
            await drain(events).compactMap { event -> Duration? in
                if case let .stormContained(report) = event { return report.backoff }
                return nil
            }
        }

        /// genirq's unclaimed rule at a small scale (9 of 10), a 20 ms back-off doubling up to a second.
        static let smallUnclaimedRule = StormPolicy(unclaimedLimit: 9, unclaimedWindow: 10, rateLimit: 1_000_000,
                                                    initialBackoff: .milliseconds(20), maximumBackoff: .seconds(1))

        /// Steps `dispatcher` until `object` is re-armed (at most 5 s).
        static func awaitRearm(_ object: InterruptObject, on dispatcher: InterruptDispatcher) {
            let waited = ContinuousClock.now
            while object.isContained, ContinuousClock.now - waited < .seconds(5) { dispatcher.step(waitingMilliseconds: 1000) }
        }

        @Test func anUnclaimedLevelLineIsContainedMaskedAndReArmedByCall() async throws {
            // genirq's rule at a small scale: 9 unclaimed of 10 passes.
            let dispatcher = try Self.stepped(StormPolicy(unclaimedLimit: 9, unclaimedWindow: 10, rateLimit: 1_000_000, initialBackoff: nil))
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in false })  // never its interrupt
            backend.raise()
            for _ in 0..<9 { #expect(dispatcher.step() == 1) }
            #expect(!object.isContained && object.serviceCallCount == 9)
            #expect(dispatcher.step() == 1, "the tenth pass trips the rule")
            #expect(object.isContained && object.stormCount == 1)
            #expect(backend.isLineMasked, "a contained level line stays masked")
            #expect(dispatcher.step() == 0 && dispatcher.step() == 0, "and is no longer served")
            #expect(object.serviceCallCount == 10)

            dispatcher.rearm(object)
            #expect(!object.isContained)
            #expect(dispatcher.step() == 1, "re-armed: unmasked, the still asserted line fires again")
            backend.acknowledge()
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let received = await Self.drain(events).map(\.description)
            #expect(received == [
                "storm on \(device) vector 0xb (message 0): unclaimed interrupts; contained (trip 1), until rearm",
                "\(device) vector 0xb (message 0) re-armed after a storm",
            ])
        }

        /// A contained storm is logged at warning, or at debug when the owner logs the
        /// published events itself (`logsFaults` off, as the daemon runs): one line per fault.
        @Test(arguments: [true, false])
        func aStormIsLoggedAtWarningUnlessTheOwnerLogsItsEvents(logsFaults: Bool) throws {
            let messages = Recorder<String>()
            let dispatcher = try InterruptDispatcher.manuallyStepped(
                logger: .capturing(into: messages),
                options: DispatchOptions(storm: StormPolicy(unclaimedLimit: 9, unclaimedWindow: 10, rateLimit: 1_000_000, initialBackoff: nil),
                                         logsFaults: logsFaults))
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in false })
            backend.raise()
            for _ in 0..<10 { dispatcher.step() }
            #expect(object.isContained)
            dispatcher.rearm(object)
            backend.acknowledge()
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let faults = messages.all.filter { $0.contains("storm on") || $0.contains("re-armed") }
            #expect(faults.count == 2, "\(messages.all)")
            let expected = logsFaults ? ["warning", "notice"] : ["debug", "debug"]
            #expect(faults.map { String($0.prefix { $0 != ":" }) } == expected)
        }

        /// A removal request and an error report are faults the owner logs too: at debug when
        /// it logs the published events itself, as a storm is.
        @Test(arguments: [true, false])
        func aRemovalAndAnErrorAreLoggedAtDebugWhenTheOwnerLogsItsEvents(logsFaults: Bool) throws {
            let messages = Recorder<String>()
            let dispatcher = try InterruptDispatcher.manuallyStepped(logger: .capturing(into: messages),
                                                                     options: DispatchOptions(logsFaults: logsFaults))
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            dispatcher.watchEvents(of: device)
            #expect(backend.reportError(reason: "AER"))
            #expect(dispatcher.step() == 1)
            #expect(backend.requestRemoval(reason: "unbind"))
            #expect(dispatcher.step() == 1)
            dispatcher.shutdown()
            let faults = messages.all.filter { $0.contains("removal requested") || $0.contains("reported an error") }
            #expect(faults.count == 2, "\(messages.all)")
            let expected = logsFaults ? ["error", "info"] : ["debug", "debug"]
            #expect(faults.map { String($0.prefix { $0 != ":" }) } == expected, "\(faults)")
        }

        /// A rule judged off the interrupt path (the daemon's unquieted-line check) contains
        /// through `contain(_:rule:)` as the loop's own rules do: masked, counted, published
        /// once; a second call while contained, or under a disabled policy, does nothing.
        @Test func aLineClaimedButNotQuietedIsContainedOnRequest() async throws {
            let dispatcher = try Self.stepped(StormPolicy(initialBackoff: nil))
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in true })  // claims, never acknowledges
            backend.raise()
            for _ in 0..<5 { #expect(dispatcher.step() == 1, "the unquieted line is served again at every unmask") }
            #expect(!object.isContained, "every call is claimed, and slowly: the loop's own rules do not trip")

            dispatcher.contain([object], rule: .unquietedLine)
            #expect(object.isContained && object.stormCount == 1)
            #expect(backend.isLineMasked)
            #expect(dispatcher.step() == 0)
            dispatcher.contain([object], rule: .unquietedLine)
            #expect(object.stormCount == 1, "already contained: not a second trip")
            dispatcher.rearm(object)
            #expect(dispatcher.step() == 1)
            backend.acknowledge()
            dispatcher.disconnect(object)

            let (calm, calmBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 1, device: 0, function: 0), interruptPin: .a,
                                                                 irqLine: 12, holdsLineUntilAcknowledged: true))
            let unguarded = try InterruptDispatcher.manuallyStepped(logger: .silent(), options: DispatchOptions(storm: .disabled))
            let other = try unguarded.connectLineBased(device: calm, routine: { _ in true })
            calmBackend.raise()
            unguarded.contain([other], rule: .unquietedLine)
            #expect(!other.isContained && other.stormCount == 0, "storm detection off: never contained")
            calmBackend.acknowledge()
            unguarded.disconnect(other)
            unguarded.shutdown()

            dispatcher.shutdown()
            let received = await Self.drain(events).map(\.description)
            #expect(received == [
                "storm on \(device) vector 0xb (message 0): a line claimed but not quieted; contained (trip 1), until rearm",
                "\(device) vector 0xb (message 0) re-armed after a storm",
            ])
        }

        @Test func aClaimedFloodTripsTheRateRuleAndAHealthyVectorIsUnaffected() async throws {
            let dispatcher = try Self.stepped(StormPolicy(rateLimit: 100, rateWindow: .seconds(30), initialBackoff: nil))
            let events = dispatcher.events()
            let (stormy, stormyBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 1, device: 0, function: 0), msixCount: 1))
            let (healthy, healthyBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1))
            let flood = try dispatcher.connectMessageBased(device: stormy, messageRoutine: { _, _ in true }).interruptObjects[0]
            let calm = try dispatcher.connectMessageBased(device: healthy, messageRoutine: { _, _ in true }).interruptObjects[0]
            // The first pass starts the rate clock (its 50 signals piled up at unknown
            // times and are not counted); the 100th interrupt after it, within 30 s, trips.
            for _ in 0..<50 { stormyBackend.raise() }
            dispatcher.step()
            for _ in 0..<99 { stormyBackend.raise() }
            healthyBackend.raise()
            dispatcher.step()
            #expect(!flood.isContained, "99 is below the limit")
            stormyBackend.raise()
            healthyBackend.raise()
            dispatcher.step()
            #expect(flood.isContained && flood.stormCount == 1 && flood.deliveredSignalCount == 150)
            #expect(calm.serviceCallCount == 2 && !calm.isContained)
            // Contained: the flood is not served; the healthy vector still is.
            for _ in 0..<150 { stormyBackend.raise() }
            healthyBackend.raise()
            #expect(dispatcher.step() == 1)
            #expect(flood.deliveredSignalCount == 150 && calm.serviceCallCount == 3)
            // Re-armed: what was raised meanwhile arrives (edge-triggered signals were counted, not lost).
            dispatcher.rearm(flood)
            dispatcher.step()
            #expect(flood.deliveredSignalCount == 300, "150 more, more than the limit, and they do not trip the rule again: the first pass after a re-arm only starts the clock")
            #expect(!flood.isContained)
            dispatcher.disconnect(flood)
            dispatcher.disconnect(calm)
            dispatcher.shutdown()
            let contained = await Self.drain(events).compactMap { event -> StormReport? in
                if case let .stormContained(report) = event { return report }
                return nil
            }
            #expect(contained.count == 1)
            #expect(contained.first?.rule == .rate && contained.first?.device === stormy)
        }

        /// A one-vector MSI-X card connected under `rules` on the stepped twin, with its
        /// dispatcher's events, and a storm for it: 20 interrupts in two batches (rate-limit 10 trips).
        static func stormingVector(under rules: StormPolicy) throws
            -> (dispatcher: InterruptDispatcher, events: AsyncStream<DispatcherEvent>, object: InterruptObject, storm: () -> Void) {
            let dispatcher = try Self.stepped(rules)
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true }).interruptObjects[0]
            let storm = {
                for _ in 0..<2 {
                    for _ in 0..<10 { backend.raise() }
                    dispatcher.step()
                }
            }
            return (dispatcher, events, object, storm)
        }

        @Test func theBackoffReArmsByItselfAndDoublesWhileTheStormPersists() async throws {
            let (dispatcher, events, object, storm) = try Self.stormingVector(
                under: StormPolicy(rateLimit: 10, rateWindow: .seconds(30), initialBackoff: .milliseconds(40), maximumBackoff: .milliseconds(100)))
            storm()
            #expect(object.isContained)
            // The loop's wait honours the back-off: it returns for the re-arm by itself.
            let waited = ContinuousClock.now
            while object.isContained, ContinuousClock.now - waited < .seconds(5) { dispatcher.step(waitingMilliseconds: 1000) }
            #expect(!object.isContained, "re-armed after the back-off")
            storm()
            #expect(object.isContained && object.stormCount == 2)
            while object.isContained, ContinuousClock.now - waited < .seconds(5) { dispatcher.step(waitingMilliseconds: 1000) }
            storm()
            storm()
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let backoffs = await Self.backoffs(events)
            #expect(backoffs == [.milliseconds(40), .milliseconds(80), .milliseconds(100)],
                    "doubles while the storm persists after each re-arm, up to the maximum")
        }

        /// Rules changed between two trips (a daemon reload): the doubling starts from the new
        /// rules' first back-off when that is longer, never below it (it doubled the old one).
        @Test func aBackoffNeverFallsBelowTheRulesInForce() async throws {
            let shortRules = StormPolicy(rateLimit: 10, rateWindow: .seconds(30), initialBackoff: .milliseconds(20),
                                         maximumBackoff: .seconds(1))
            let (dispatcher, events, object, storm) = try Self.stormingVector(under: shortRules)
            storm()
            #expect(object.isContained)
            Self.awaitRearm(object, on: dispatcher)
            #expect(!object.isContained, "re-armed after 20 ms")
            var longRules = shortRules
            longRules.initialBackoff = .milliseconds(500)
            try dispatcher.setStormPolicy(longRules, for: [object])
            storm()
            #expect(object.isContained && object.stormCount == 2)
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let backoffs = await Self.backoffs(events)
            #expect(backoffs == [.milliseconds(20), .milliseconds(500)], "the second trip doubled 20 ms to 40 ms, below the rules' 500")
        }

        /// A slow storm (an ISR that takes long, so the unclaimed window fills long after the
        /// back-off) that comes back at the re-arm and never lets up still doubles the back-off;
        /// one that comes back after the vector served well for a window starts over.
        @Test func aSlowStormThatNeverLetsUpDoublesTheBackoffToo() async throws {
            let dispatcher = try Self.stepped(Self.smallUnclaimedRule)
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let claiming = Atomic<Bool>(false)
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in claiming.load(ordering: .relaxed) })
            backend.raise()
            func passes(_ count: Int, apart: Duration) {
                for _ in 0..<count where !object.isContained {
                    dispatcher.step()
                    PThread.sleep(for: apart)
                }
            }
            passes(10, apart: .zero)
            #expect(object.isContained && object.stormCount == 1)
            Self.awaitRearm(object, on: dispatcher)
            // Back at the re-arm, unclaimed throughout, but the window fills after 100 ms (5 back-offs).
            passes(10, apart: .milliseconds(10))
            #expect(object.isContained && object.stormCount == 2)
            Self.awaitRearm(object, on: dispatcher)
            // A window served well, then unclaimed again: a new storm.
            claiming.store(true, ordering: .relaxed)
            passes(10, apart: .zero)
            claiming.store(false, ordering: .relaxed)
            passes(10, apart: .milliseconds(10))
            #expect(object.isContained && object.stormCount == 3)
            backend.acknowledge()
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let backoffs = await Self.backoffs(events)
            #expect(backoffs == [.milliseconds(20), .milliseconds(40), .milliseconds(20)])
        }

        /// A storm that comes back after a quiet spell is a new one, however few passes the
        /// vector made meanwhile (a rarely interrupting card keeps its unclaimed window open
        /// for hours): the back-off starts over.
        @Test func aStormAfterAQuietSpellStartsTheBackoffOver() async throws {
            let dispatcher = try Self.stepped(Self.smallUnclaimedRule)
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: .a, irqLine: 11, holdsLineUntilAcknowledged: true))
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in false })
            backend.raise()
            for _ in 0..<10 where !object.isContained { dispatcher.step() }
            #expect(object.isContained && object.stormCount == 1)
            Self.awaitRearm(object, on: dispatcher)
            #expect(!object.isContained)
            dispatcher.step()  // the still asserted line fires at the re-arm's unmask
            backend.acknowledge()
            PThread.sleep(for: .milliseconds(500))  // quiet, far longer than twice the back-off
            backend.raise()
            for _ in 0..<20 where !object.isContained { dispatcher.step() }
            #expect(object.isContained && object.stormCount == 2)
            backend.acknowledge()
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let backoffs = await Self.backoffs(events)
            #expect(backoffs == [.milliseconds(20), .milliseconds(20)])
        }

        @Test func aDevicePolicyOverridesTheDispatchersStormRules() throws {
            let dispatcher = try Self.stepped(StormPolicy(rateLimit: 5, rateWindow: .seconds(30), initialBackoff: nil))
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1), policy: InterruptPolicy(storm: .disabled))
            let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true }).interruptObjects[0]
            for _ in 0..<10 {
                for _ in 0..<10 { backend.raise() }
                dispatcher.step()
            }
            #expect(!object.isContained && object.deliveredSignalCount == 100)
            dispatcher.disconnect(object)
            dispatcher.shutdown()
        }

        /// A policy changed while connected applies from then on, windows afresh, without a
        /// reconnect: disabled, a flood passes; back to the dispatcher's, it trips again.
        @Test func aStormPolicyChangedWhileConnectedAppliesAtOnce() throws {
            let dispatcher = try Self.stepped(StormPolicy(rateLimit: 5, rateWindow: .seconds(30), initialBackoff: nil))
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true }).interruptObjects[0]
            #expect(throws: DispatchError.self) { try dispatcher.setStormPolicy(StormPolicy(rateLimit: -1), for: [object]) }
            // Disabled: its other fields are not checked, and nothing traps on them.
            try dispatcher.setStormPolicy(StormPolicy(isEnabled: false, unclaimedLimit: -1, rateLimit: -1, rateWindow: .zero), for: [object])
            for _ in 0..<10 {
                for _ in 0..<10 { backend.raise() }
                dispatcher.step()
            }
            #expect(!object.isContained && object.deliveredSignalCount == 100, "disabled: a flood passes")
            try dispatcher.setStormPolicy(nil, for: [object])
            for _ in 0..<10 {
                backend.raise()
                dispatcher.step()
            }
            #expect(object.isContained, "the dispatcher's rules again: the flood trips them")
            // 10 passes before; then one that starts the clock, four more, and the sixth, which is served and trips.
            #expect(object.serviceCallCount == 16, "\(object.serviceCallCount)")
            dispatcher.disconnect(object)
            dispatcher.shutdown()
        }

        @Test func invalidStormPoliciesAreRefusedWithAReason() {
            #expect(throws: DispatchError.self) {
                _ = try InterruptDispatcher.manuallyStepped(logger: .silent(), options: DispatchOptions(storm: StormPolicy(unclaimedLimit: 0)))
            }
            #expect(StormPolicy(unclaimedLimit: 11, unclaimedWindow: 10).problem == "the unclaimed limit must be 1...10 (the window)")
            #expect(StormPolicy(rateWindow: .zero).problem == "the rate window must be positive")
            #expect(StormPolicy.default.problem == nil)
        }

        @Test func aBlockingISRIsReportedByTheWatchdogWithItsVectorAndHowLong() async throws {
            let messages = Recorder<String>()
            let dispatcher = try InterruptDispatcher(logger: .capturing(into: messages),
                                                     options: DispatchOptions(stuckISRThreshold: .milliseconds(50)))
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                PThread.sleep(for: .milliseconds(400))
                return true
            }).interruptObjects[0]
            backend.raise()
            #expect(eventually { object.serviceCallCount == 1 })
            dispatcher.disconnect(object)
            dispatcher.shutdown()
            let stuck = await Self.drain(events).compactMap { event -> (UInt32, Duration)? in
                if case let .isrStuck(stuckDevice, vector, _, duration) = event, stuckDevice === device { return (vector, duration) }
                return nil
            }
            #expect(stuck.count == 1, "reported once for the one stuck call")
            #expect(stuck.first?.0 == device.vectors[0].vector)
            #expect((stuck.first?.1 ?? .zero) >= .milliseconds(50))
            #expect(messages.all.contains { $0.hasPrefix("warning") && $0.contains("has been running for at least") })
        }

        /// The watchdog names ISRs: a DPC that runs long on the loop after its ISR returned
        /// is no ISR still running, nor is a loop that sleeps after serving a vector.
        @Test func aLongDPCAfterAQuickISRIsNotReportedAsAStuckISR() async throws {
            let dispatcher = try InterruptDispatcher(logger: .silent(), options: DispatchOptions(stuckISRThreshold: .milliseconds(50)))
            let events = dispatcher.events()
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 2))
            let dpc = DeferredProcedureCall(dispatcher: dispatcher) { _, _, _ in PThread.sleep(for: .milliseconds(300)) }
            let objects = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                _ = dpc.enqueue(.none, .none)
                return true
            }).interruptObjects
            backend.raise(message: 0)
            backend.raise(message: 1)
            #expect(eventually { dpc.runCount >= 1 && objects.allSatisfy { $0.serviceCallCount == 1 } })
            #expect(eventually { dpc.runCount == 2 || (dpc.runCount == 1 && !dpc.isQueued) })
            PThread.sleep(for: .milliseconds(200))
            for object in objects { dispatcher.disconnect(object) }
            dispatcher.shutdown()
            let stuck = await Self.drain(events).filter { if case .isrStuck = $0 { true } else { false } }
            #expect(stuck.isEmpty, "no ISR ran longer than 50 ms: \(stuck)")
        }
    }
}
