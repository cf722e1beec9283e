import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Runtime {
    /// Prints the raise-to-ISR round trip on the simulated backend (eventfd write
    /// on this thread -> epoll wake-up -> read -> ISR on the dispatch thread).
    /// Figures only; the assertions are about delivery, never about speed.
    @Suite("Dispatch latency report")
    struct DispatchLatencyReport {
        /// IRQBRIDGE_LATENCY_ROUNDS overrides the count (e.g. to compare two runs'
        /// allocation counts on the dispatch thread under an LD_PRELOAD counter).
        static let rounds = getenv("IRQBRIDGE_LATENCY_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 2000

        /// Message-signaled: raise -> ISR. Line-based: raise -> ISR (which queues the
        /// device's DPC and claims, so the line is unmasked) -> DPC.
        func measure(_ options: DispatchOptions, lineBasedWithDPC: Bool = false) throws -> [Double] {
            let dispatcher = try makeDispatcher(options)
            defer { dispatcher.shutdown() }
            let (device, backend) = lineBasedWithDPC
                ? makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
                : makeDevice(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let connection: MessageConnection
            if lineBasedWithDPC {
                device.initializeDPCRequest(dispatcher: dispatcher) { _, _, _ in calls.increment() }
                connection = .line(try dispatcher.connectLineBased(device: device, routine: { interrupt in
                    interrupt.device.requestDPC()
                    return true
                }))
            } else {
                connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                    calls.increment()
                    return true
                })
            }
            var microseconds: [Double] = []
            microseconds.reserveCapacity(Self.rounds)
            // With timings recorded, each raise is marked, so the loop records both latencies.
            let marked = options.recordsTimings ? connection.interruptObjects.first : nil
            for round in 1...Self.rounds {
                let start = ContinuousClock.now
                marked?.markStimulus()
                backend.raise()
                while calls.count < round {}
                let elapsed = ContinuousClock.now - start
                microseconds.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
            }
            if let marked {
                #expect(marked.timings.stimulusToISR.count == UInt64(Self.rounds))
                #expect(marked.timings.isrDuration.count == marked.serviceCallCount)
            }
            dispatcher.disconnect(connection)
            #expect(calls.count == Self.rounds)
            return microseconds.sorted()
        }

        @Test func roundTripFigures() throws {
            let configurations = [
                ("MSI-X, sleeping", DispatchOptions(), false),
                ("MSI-X, busy-poll", DispatchOptions(busyPoll: true), false),
                ("INTx + DPC, sleeping", DispatchOptions(), true),
                ("MSI-X, sleeping, timings recorded", DispatchOptions(recordsTimings: true), false),
                ("INTx + DPC, sleeping, timings recorded", DispatchOptions(recordsTimings: true), true),
            ]
            for (name, options, lineBasedWithDPC) in configurations {
                let sorted = try measure(options, lineBasedWithDPC: lineBasedWithDPC)
                let mean = sorted.reduce(0, +) / Double(sorted.count)
                func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
                print("dispatch round trip (\(name), \(sorted.count) interrupts): mean \(Int(mean)) us, "
                      + "p50 \(Int(percentile(0.5))) us, p99 \(Int(percentile(0.99))) us, max \(Int(sorted.last ?? 0)) us")
            }
        }
    }
}
