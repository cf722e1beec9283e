import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeTooling
import Testing

/// `trigger`'s raising, as a holder (`wait`, `watch`) runs it for a relayed request:
/// it stops when asked, also between paced raises, and says how many went out.
@Suite(.timeLimit(.minutes(1)))
struct RaisingTests {
    @Test func aPacedRunStopsWithinItsSleep() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 2))
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        defer { dispatcher.disconnect(connection) }
        // One raise per 100 s: without slices, stopping would wait out the first sleep.
        let start = ContinuousClock.now
        let stopAt = start + .milliseconds(300)
        let raised = try Raising.run(vector: 1, count: 10, rate: 0.01, stimulus: .simulated(backend),
                                     objects: connection.interruptObjects, unmaskCount: nil,
                                     shouldStop: { ContinuousClock.now >= stopAt })
        #expect(raised == 1)
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(eventually { connection.interruptObjects[1].serviceCallCount == 1 })
    }

    @Test func anUnpacedRunRaisesEachOnceItWasServed() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 2))
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        defer { dispatcher.disconnect(connection) }
        let raised = try Raising.run(vector: nil, count: 20, rate: nil, stimulus: .simulated(backend),
                                     objects: connection.interruptObjects, unmaskCount: nil)
        #expect(raised == 20)
        #expect(connection.interruptObjects.map(\.serviceCallCount) == [10, 10], "every vector in turn, none merged")
        let stopped = try Raising.run(vector: 0, count: 20, rate: nil, stimulus: .simulated(backend),
                                      objects: connection.interruptObjects, unmaskCount: nil, shouldStop: { true })
        #expect(stopped == 0)
    }
}
