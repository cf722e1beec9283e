import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeTooling
import Testing

/// `trigger`'s raising, as a holder (`wait`, `watch`) runs it for a relayed request:
/// it stops when asked, also between paced raises, and says how many went out.
@Suite(.timeLimit(.minutes(1)))
struct RaisingTests {
    /// A two-vector MSI-X device connected with a claiming routine, for `body`.
    func withTwoVectors(_ body: (SimulatedBackend, [InterruptObject]) throws -> Void) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 2))
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        defer { dispatcher.disconnect(connection) }
        try body(backend, connection.interruptObjects)
    }

    @Test func aPacedRunStopsWithinItsSleep() throws {
        try withTwoVectors { backend, objects in
            // One raise per 100 s: without slices, stopping would wait out the first sleep.
            let start = ContinuousClock.now
            let stopAt = start + .milliseconds(300)
            let raised = try Raising.run(vector: 1, count: 10, rate: 0.01, stimulus: .simulated(backend), objects: objects,
                                         unmaskCount: nil, shouldStop: { ContinuousClock.now >= stopAt })
            #expect(raised == 1)
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(eventually { objects[1].serviceCallCount == 1 })
        }
    }

    @Test func anUnpacedRunRaisesEachOnceItWasServed() throws {
        try withTwoVectors { backend, objects in
            let raised = try Raising.run(vector: nil, count: 20, rate: nil, stimulus: .simulated(backend), objects: objects, unmaskCount: nil)
            #expect(raised == 20)
            #expect(objects.map(\.serviceCallCount) == [10, 10], "every vector in turn, none merged")
            let stopped = try Raising.run(vector: 0, count: 20, rate: nil, stimulus: .simulated(backend), objects: objects,
                                          unmaskCount: nil, shouldStop: { true })
            #expect(stopped == 0)
        }
    }

    /// A raise the stimulus refuses (a card pulled mid-run) ends the run with how many had
    /// gone out, so the caller can say "after 3 of 10" once the removal is known.
    @Test func aRefusedRaiseSaysHowManyWentOut() throws {
        struct Pulled: Error {}
        try withTwoVectors { backend, objects in
            let raises = Counter()
            let simulated = SelftestStimulus.simulated(backend)
            let failing = SelftestStimulus(name: "pulled after 3", kernelCounts: false, raise: { message in
                guard raises.increment() <= 3 else { throw Pulled() }
                try simulated.raise(message)
            }, acknowledge: { _ in true })
            #expect {
                _ = try Raising.run(vector: nil, count: 10, rate: nil, stimulus: failing, objects: objects, unmaskCount: nil)
            } throws: { error in
                (error as? RaisingFailure)?.raised == 3 && (error as? RaisingFailure)?.underlying is Pulled
            }
        }
        let disconnectedLater = ContinuousClock.now + .milliseconds(100)
        #expect(Raising.failedForRemoval({ ContinuousClock.now >= disconnectedLater }))
        #expect(!Raising.failedForRemoval({ false }, patience: .milliseconds(50)))
    }

    /// Disconnected under the run (the card pulled, or unbound): the device is quiesced at
    /// once by the raising thread, paced or not, so a raise that landed after its messages
    /// were disabled does not hold its INTx line asserted until the owner lets it go.
    @Test(arguments: [nil, 50.0])
    func aRunDisconnectedUnderItQuiescesTheDeviceAtOnce(rate: Double?) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 2))
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        let objects = connection.interruptObjects
        let raises = Counter(), quiesces = Counter()
        let simulated = SelftestStimulus.simulated(backend)
        let stimulus = SelftestStimulus(name: "pulled after 3", kernelCounts: false, raise: { message in
            try simulated.raise(message)
            if raises.increment() == 3 { dispatcher.disconnect(connection) }
        }, acknowledge: { _ in true }, quiesce: { quiesces.increment() })
        let raised = try Raising.run(vector: nil, count: 10, rate: rate, stimulus: stimulus, objects: objects, unmaskCount: nil)
        #expect(raised == 3)
        #expect(quiesces.count == 1)
        // Not disconnected: nothing is quiesced (the owner decides when it lets the device go).
        let (other, otherBackend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 2))
        let connected = try dispatcher.connectMessageBased(device: other, messageRoutine: { _, _ in true })
        defer { dispatcher.disconnect(connected) }
        let plain = SelftestStimulus.simulated(otherBackend)
        let counted = SelftestStimulus(name: "present", kernelCounts: false, raise: { try plain.raise($0) }, acknowledge: { _ in true },
                                       quiesce: { quiesces.increment() })
        #expect(try Raising.run(vector: nil, count: 4, rate: rate.map { $0 * 10 }, stimulus: counted, objects: connected.interruptObjects,
                                unmaskCount: nil) == 4)
        #expect(quiesces.count == 1)
    }

    /// trigger's verdict: unpaced, every raise is served and claimed once; paced, raises
    /// faster than the ISR fold into fewer calls (as on hardware), but every message the
    /// kernel took (every loopback raise) must signal the loop.
    @Test func pacedRaisesMayFoldButUnpacedOnesMayNot() {
        func failure(_ served: UInt64, claimed: UInt64, signals: UInt64, kernel: UInt64? = nil, paced: Bool,
                     messages: Bool = true, claims: Bool = true) -> String? {
            Raising.failure(count: 20, served: served, claimed: claimed, signals: signals, kernel: kernel, paced: paced,
                            messages: messages, claimsExpected: claims)
        }
        #expect(failure(20, claimed: 20, signals: 20, kernel: 20, paced: false) == nil)
        #expect(failure(22, claimed: 20, signals: 32, kernel: 32, paced: false) == nil, "a device that signals a raise twice")
        #expect(failure(19, claimed: 19, signals: 19, paced: false) == "1 of 20 interrupt(s) did not reach the ISR")
        #expect(failure(20, claimed: 18, signals: 20, paced: false) == "the profile's acknowledge claimed 18 of 20 raise(s)")
        #expect(failure(20, claimed: 0, signals: 20, paced: false, claims: false) == nil, "a loopback raise need not be claimed")

        #expect(failure(1, claimed: 1, signals: 20, kernel: 20, paced: true) == nil, "20 MSIs served by one call")
        #expect(failure(3, claimed: 3, signals: 12, kernel: 12, paced: true) == nil, "MSIs folded at the interrupt controller")
        #expect(failure(1, claimed: 1, signals: 1, kernel: 7, paced: true, messages: false) == nil, "a shared level line")
        #expect(failure(2, claimed: 2, signals: 15, kernel: 18, paced: true) == "the kernel took 18 message(s), only 15 signalled the dispatch loop")
        #expect(failure(2, claimed: 0, signals: 15, paced: true, claims: false) == "5 of 20 raised message(s) never signalled the dispatch loop")
        #expect(failure(3, claimed: 0, signals: 20, kernel: 20, paced: true) == "the profile's acknowledge claimed none of 3 call(s)")
        #expect(failure(0, claimed: 0, signals: 0, paced: true) == "no interrupt reached the ISR (20 raised)")
        #expect(failure(0, claimed: 0, signals: 0, paced: false) == "no interrupt reached the ISR (20 raised)")
    }
}
