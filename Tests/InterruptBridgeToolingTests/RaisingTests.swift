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
}
