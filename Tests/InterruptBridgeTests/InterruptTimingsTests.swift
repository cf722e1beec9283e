@testable import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeTooling
import Synchronization
import Testing

extension Runtime {
    /// The per-object latency recorders (`DispatchOptions.recordsTimings`) and their snapshots.
    @Suite("Interrupt timings")
    struct InterruptTimingsTests {
        typealias Layout = LatencyBuckets.Layout

        @Test func bucketBoundariesAreContiguousAndHoldTheirValues() {
            let bounds = LatencyBuckets.empty.bucketUpperBoundsNanoseconds
            #expect(bounds.count == Layout.bucketCount)
            #expect(bounds.last == .max)
            // Exact below 128 ns.
            for value: UInt64 in [0, 1, 63, 127] {
                #expect(Layout.index(of: value) == Int(value))
                #expect(bounds[Layout.index(of: value)] == value)
            }
            // Every bucket starts right after the previous one ends, and holds its bounds.
            for index in 1..<(bounds.count - 1) {
                #expect(bounds[index] > bounds[index - 1])
                #expect(Layout.index(of: bounds[index]) == index)
                #expect(Layout.index(of: bounds[index - 1] + 1) == index)
            }
            // Resolution: no finite bucket is wider than 1/64 of its lower bound.
            for index in Int(Layout.exactLimit)..<(bounds.count - 1) {
                let lower = bounds[index - 1] + 1
                #expect(bounds[index] - lower + 1 <= max(1, lower / 64))
            }
            #expect(Layout.index(of: 128) == 128 && Layout.index(of: 129) == 128 && Layout.index(of: 130) == 129)
            #expect(Layout.index(of: 1 << 34 - 1) == Layout.overflowIndex - 1)
            #expect(Layout.index(of: 1 << 34) == Layout.overflowIndex)
            #expect(Layout.index(of: .max) == Layout.overflowIndex)
        }

        @Test func percentilesMaxAndMeanOfKnownValues() throws {
            let recorder = LatencyRecorder()
            #expect(recorder.snapshot.count == 0)
            #expect(recorder.snapshot.percentile(50) == nil)
            #expect(recorder.snapshot.max == nil)
            // 1..1000 us, one each.
            for microseconds in 1...1000 { recorder.record(nanoseconds: UInt64(microseconds) * 1000) }
            let snapshot = recorder.snapshot
            #expect(snapshot.count == 1000)
            #expect(snapshot.sumNanoseconds == 500_500_000)
            #expect(snapshot.mean == .nanoseconds(500_500))
            #expect(snapshot.max == .microseconds(1000))  // exact
            let p50 = try #require(snapshot.percentile(50)).nanoseconds
            let p99 = try #require(snapshot.percentile(99)).nanoseconds
            // The bucket's upper bound: at or above the true value, within 1/64.
            #expect(p50 >= 500_000 && Double(p50) <= 500_000 * (1 + 1.0 / 64))
            #expect(p99 >= 990_000 && Double(p99) <= 990_000 * (1 + 1.0 / 64))
            #expect(snapshot.percentile(100) == .microseconds(1000))
            #expect(try #require(snapshot.percentile(0)).nanoseconds >= 1000)
            // One outlier above the buckets' range: counted, exact maximum.
            recorder.record(nanoseconds: 40_000_000_000)
            #expect(recorder.snapshot.max == .seconds(40))
            #expect(recorder.snapshot.bucketCounts[Layout.overflowIndex] == 1)
        }

        /// A recorder with nothing longer than 0 ns takes its snapshot from the first bucket
        /// alone (the short cut a watch of many idle vectors relies on): still exact.
        @Test func aSnapshotOfZeroLengthDurationsOnlyIsExact() {
            let recorder = LatencyRecorder()
            #expect(recorder.snapshot == .empty)
            recorder.record(nanoseconds: 0)
            recorder.record(nanoseconds: 0)
            #expect(recorder.snapshot.count == 2)
            #expect(recorder.snapshot.bucketCounts[0] == 2)
            #expect(recorder.snapshot.percentile(50) == .zero)
            recorder.record(nanoseconds: 300)
            #expect(recorder.snapshot.count == 3)
            #expect(recorder.snapshot.max == .nanoseconds(300))
        }

        @Test func subtractingGivesTheIntervalAndAddingMerges() throws {
            let recorder = LatencyRecorder()
            for _ in 0..<10 { recorder.record(nanoseconds: 5_000) }
            let earlier = recorder.snapshot
            for _ in 0..<30 { recorder.record(nanoseconds: 80_000) }
            let interval = recorder.snapshot.subtracting(earlier)
            #expect(interval.count == 30)
            #expect(interval.sumNanoseconds == 30 * 80_000)
            let p50 = try #require(interval.percentile(50)).nanoseconds
            #expect(p50 >= 80_000 && p50 < 81_300)
            #expect(interval.max == .nanoseconds(80_000))
            // Nothing new: empty.
            #expect(recorder.snapshot.subtracting(recorder.snapshot).count == 0)
            #expect(recorder.snapshot.subtracting(recorder.snapshot).max == nil)
            // Out of order never goes negative.
            #expect(earlier.subtracting(recorder.snapshot).count == 0)
            let merged = earlier.adding(interval)
            #expect(merged.count == 40)
            #expect(merged.bucketCounts == recorder.snapshot.bucketCounts)
        }

        @Test func hdrHistogramFoldAgreesWithTheBuckets() throws {
            let recorder = LatencyRecorder()
            for value in stride(from: UInt64(300), through: 3_000_000, by: 997) { recorder.record(nanoseconds: value) }
            let snapshot = recorder.snapshot
            let summary = LatencySummary(snapshot)
            #expect(summary.count == snapshot.count)
            for (folded, direct) in [(summary.p50, snapshot.percentile(50)), (summary.p99, snapshot.percentile(99))] {
                let folded = Double(try #require(folded).nanoseconds), direct = Double(try #require(direct).nanoseconds)
                #expect(abs(folded - direct) / direct < 0.01)
            }
            #expect(summary.max == snapshot.max)
            #expect(LatencySummary([snapshot, snapshot]).count == 2 * snapshot.count)
            #expect(LatencySummary(LatencyBuckets.empty).figures == nil)
        }

        @Test func timingsAreEmptyUnlessTheDispatcherRecords() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let object = try dispatcher.connectFullySpecified(
                device: device, vector: device.vectors[0].vector, irql: .highestDevice, synchronizeIrql: .highestDevice,
                mode: .latched, shareVector: false, affinity: .first(2), routine: { _ in true })
            defer { dispatcher.disconnect(object) }
            object.markStimulus()
            #expect(backend.raise(message: 0))
            #expect(eventually { object.serviceCallCount == 1 })
            #expect(!object.timings.isRecorded)
            #expect(object.timings.isrDuration.count == 0 && object.timings.stimulusToISR.count == 0)
        }

        @Test func theLoopRecordsISRDurationAndStimulusLatency() throws {
            let dispatcher = try makeDispatcher(DispatchOptions(recordsTimings: true))
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 2))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
                if message == 1 { PThread.sleep(for: .milliseconds(2)) }  // a slow ISR on message 1
                return true
            })
            defer { dispatcher.disconnect(connection) }
            let (fast, slow) = (connection.interruptObjects[0], connection.interruptObjects[1])
            // Unmarked raises: ISR durations only.
            for index in 1...5 {
                #expect(backend.raise(message: 0))
                #expect(eventually { fast.serviceCallCount == UInt64(index) })
            }
            #expect(fast.timings.isRecorded)
            #expect(fast.timings.isrDuration.count == 5)
            #expect(fast.timings.stimulusToISR.count == 0)
            // Marked raises: one stimulus latency per mark, however many ISR calls follow.
            for index in 1...3 {
                slow.markStimulus()
                #expect(backend.raise(message: 1))
                #expect(eventually { slow.serviceCallCount == UInt64(index) })
            }
            #expect(backend.raise(message: 1))  // unmarked
            #expect(eventually { slow.serviceCallCount == 4 })
            let timings = slow.timings
            #expect(timings.stimulusToISR.count == 3)
            #expect(timings.isrDuration.count == 4)
            #expect(try #require(timings.isrDuration.percentile(50)) >= .milliseconds(2))
            #expect(try #require(timings.stimulusToISR.max) < .seconds(5))
            // The fast vector's recorder is its own.
            #expect(fast.timings.isrDuration.count == 5)
            // The median: one ISR preempted on a loaded machine (the suites run in parallel) can take longer.
            #expect(try #require(fast.timings.isrDuration.percentile(50)) < .milliseconds(2))
        }

        @Test func readingWhileTheLoopRecordsSeesWholeMonotonicCounts() throws {
            let dispatcher = try makeDispatcher(DispatchOptions(recordsTimings: true))
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            defer { dispatcher.disconnect(connection) }
            let object = connection.interruptObjects[0]
            let done = Atomic<Bool>(false)
            let raiser = try PThread.spawn(name: "timings-raiser") {
                for _ in 0..<3000 {
                    object.markStimulus()
                    _ = backend.raise(message: 0)
                }
                done.store(true, ordering: .releasing)
            }
            var previous = LatencyBuckets.empty
            var reads = 0
            while !done.load(ordering: .acquiring) || reads < 10 {
                let now = object.timings.isrDuration
                // Counts only grow, bucket by bucket: nothing torn, nothing lost.
                #expect(zip(now.bucketCounts, previous.bucketCounts).allSatisfy { $0 >= $1 })
                #expect(now.count >= previous.count)
                previous = now
                reads += 1
            }
            try PThread.join(raiser)
            // While the raiser marked faster than the loop served, each call's mark could be
            // overwritten before it was taken (by design: a newer mark is kept, not recorded).
            // One more raise, with nothing racing it, is always recorded.
            let before = object.serviceCallCount
            object.markStimulus()
            #expect(backend.raise(message: 0))
            #expect(eventually { object.serviceCallCount > before })
            #expect(eventually { object.timings.isrDuration.count == object.serviceCallCount })
            let timings = object.timings
            #expect(timings.stimulusToISR.count >= 1 && timings.stimulusToISR.count <= timings.isrDuration.count)
        }
    }
}
