import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

extension Runtime {
    /// Prints the raise-to-ISR round trip on the simulated backend (eventfd write
    /// on this thread -> epoll wake-up -> read -> ISR on the dispatch thread).
    /// Figures only; the assertions are about delivery, never about speed.
    @Suite("Dispatch latency report")
    struct DispatchLatencyReport {
        static let rounds = 2000

        func measure(_ options: DispatchOptions) throws -> [Double] {
            let dispatcher = try makeDispatcher(options)
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                calls.increment()
                return true
            })
            var microseconds: [Double] = []
            microseconds.reserveCapacity(Self.rounds)
            for round in 1...Self.rounds {
                let start = ContinuousClock.now
                backend.raise()
                while calls.count < round {}
                let elapsed = ContinuousClock.now - start
                microseconds.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
            }
            dispatcher.disconnect(connection)
            #expect(calls.count == Self.rounds)
            return microseconds.sorted()
        }

        @Test func roundTripFigures() throws {
            for (name, options) in [("sleeping", DispatchOptions()), ("busy-poll", DispatchOptions(busyPoll: true))] {
                let sorted = try measure(options)
                let mean = sorted.reduce(0, +) / Double(sorted.count)
                func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
                print("dispatch round trip (\(name), \(sorted.count) interrupts): mean \(Int(mean)) us, "
                      + "p50 \(Int(percentile(0.5))) us, p99 \(Int(percentile(0.99))) us, max \(Int(sorted.last ?? 0)) us")
            }
        }
    }
}
