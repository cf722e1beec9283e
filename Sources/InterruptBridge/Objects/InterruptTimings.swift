import InterruptBridgeSystem
import Synchronization

/// What an interrupt object's dispatch loop measured of it (`InterruptObject.timings`),
/// when the dispatcher records timings (`DispatchOptions.recordsTimings`); empty otherwise.
public struct InterruptTimings: Sendable, Hashable {
    /// How long each call of the ISR took (the routine alone, under its lock).
    public var isrDuration: LatencyBuckets
    /// From `InterruptObject.markStimulus()` to the start of the first ISR call after
    /// it: how long an interrupt the caller raised took to reach the ISR.
    public var stimulusToISR: LatencyBuckets
    /// Whether the object's dispatcher records timings (false: both are always empty).
    public var isRecorded: Bool

    public init(isrDuration: LatencyBuckets = .empty, stimulusToISR: LatencyBuckets = .empty, isRecorded: Bool = false) {
        self.isrDuration = isrDuration
        self.stimulusToISR = stimulusToISR
        self.isRecorded = isRecorded
    }

    /// Both measured together (another connection's, to go on from); recorded if either was.
    public func adding(_ other: InterruptTimings) -> InterruptTimings {
        InterruptTimings(isrDuration: isrDuration.adding(other.isrDuration), stimulusToISR: stimulusToISR.adding(other.stimulusToISR),
                         isRecorded: isRecorded || other.isRecorded)
    }

    /// What was measured after `earlier` (a snapshot of the same object taken before).
    public func subtracting(_ earlier: InterruptTimings) -> InterruptTimings {
        InterruptTimings(isrDuration: isrDuration.subtracting(earlier.isrDuration),
                         stimulusToISR: stimulusToISR.subtracting(earlier.stimulusToISR), isRecorded: isRecorded)
    }
}

/// One object's two latency recorders and its pending stimulus mark. Written by the
/// object's dispatch thread only (the mark also by the stimulus issuer); read by anyone.
final class TimingRecorders: Sendable {
    let isrDuration = LatencyRecorder()
    let stimulusToISR = LatencyRecorder()
    /// When a stimulus issuer last raised (monotonic ns; 0: no stimulus pending).
    let stimulusMark = Atomic<UInt64>(0)

    /// The start of an ISR call: the stimulus latency, if one is pending (cleared by a
    /// compare-exchange, so a mark set meanwhile for the next raise is kept).
    @inline(__always)
    func recordStimulus(at now: UInt64) {
        let mark = stimulusMark.load(ordering: .relaxed)
        guard mark != 0 else { return }
        guard stimulusMark.compareExchange(expected: mark, desired: 0, ordering: .relaxed).exchanged else { return }
        stimulusToISR.record(nanoseconds: now >= mark ? now &- mark : 0)
    }

    var snapshot: InterruptTimings {
        InterruptTimings(isrDuration: isrDuration.snapshot, stimulusToISR: stimulusToISR.snapshot, isRecorded: true)
    }
}

/// A log-linear histogram of durations (`LatencyBuckets.Layout`) as relaxed atomic
/// counters in one block allocated up front. One writer (the dispatch thread): a
/// count is a relaxed load and store, not a locked read-modify-write; readers on
/// other threads see whole values. Recording does not allocate, lock or log.
final class LatencyRecorder: @unchecked Sendable {
    // @unchecked: `cells` is allocated in init and freed in deinit; between the two
    // every access goes through the `Atomic` cells it points at, which never move.
    /// Bucket counts, then the sum and the longest duration (ns).
    private let cells: UnsafeMutablePointer<Atomic<UInt64>>
    private static let sumCell = LatencyBuckets.Layout.bucketCount
    private static let longestCell = sumCell + 1
    private static let cellCount = longestCell + 1

    init() {
        cells = .allocate(capacity: Self.cellCount)
        for index in 0..<Self.cellCount { (cells + index).initialize(to: Atomic(0)) }
    }

    deinit {
        cells.deinitialize(count: Self.cellCount)
        cells.deallocate()
    }

    /// Counts one duration. Called by the single writer only.
    @inline(__always)
    func record(nanoseconds: UInt64) {
        Self.add(cells[LatencyBuckets.Layout.index(of: nanoseconds)], 1)
        Self.add(cells[Self.sumCell], nanoseconds)
        if nanoseconds > cells[Self.longestCell].load(ordering: .relaxed) {
            cells[Self.longestCell].store(nanoseconds, ordering: .relaxed)
        }
    }

    @inline(__always)
    private static func add(_ cell: borrowing Atomic<UInt64>, _ amount: UInt64) {
        cell.store(cell.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// The counts now (any thread; allocates the snapshot's array). Taken while the
    /// writer records, it may miss the durations being recorded, never tear a count.
    var snapshot: LatencyBuckets {
        let longest = cells[Self.longestCell].load(ordering: .relaxed)
        // Nothing longer than 0 ns recorded: only the first bucket can hold anything. Most
        // vectors of a many-vector card, which a watch samples every interval, are so.
        if longest == 0 {
            let zeroLength = cells[0].load(ordering: .relaxed)
            guard zeroLength > 0 else { return .empty }
            var counts = LatencyBuckets.Layout.zeros
            counts[0] = zeroLength
            return LatencyBuckets(bucketCounts: counts, sumNanoseconds: 0, longestNanoseconds: 0)
        }
        let counts = [UInt64](unsafeUninitializedCapacity: LatencyBuckets.Layout.bucketCount) { buffer, initialized in
            for index in 0..<LatencyBuckets.Layout.bucketCount {
                buffer.initializeElement(at: index, to: cells[index].load(ordering: .relaxed))
            }
            initialized = LatencyBuckets.Layout.bucketCount
        }
        return LatencyBuckets(bucketCounts: counts, sumNanoseconds: cells[Self.sumCell].load(ordering: .relaxed),
                              longestNanoseconds: longest)
    }
}
