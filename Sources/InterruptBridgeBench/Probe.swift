internal import CBaselines

/// The shared probe (CBaselines' `cbl_probe`) that a receiver calls once per
/// delivered interrupt: the bridge's ISR and the C waiter call the same C code.
///
/// `@unchecked Sendable`: the fields the writer and receiver threads share are C
/// `_Atomic`s; everything else is written before the threads start (init, reset,
/// window) and read after they were joined (samples, allocation counters).
public final class Probe: @unchecked Sendable {
    let raw: UnsafeMutablePointer<cbl_probe>

    /// A probe for `vectors` vectors keeping up to `samples` latency samples.
    public init(vectors: Int, samples: Int) throws(BenchError) {
        raw = .allocate(capacity: 1)
        guard cbl_probe_init(raw, vectors, samples) == 0 else {
            raw.deallocate()
            throw .outOfMemory
        }
    }

    deinit {
        cbl_probe_destroy(raw)
        raw.deallocate()
    }

    /// Records one delivery on `vector`. Called on the receiving thread; never allocates.
    @inline(__always)
    public func hit(vector: Int) {
        cbl_probe_hit(raw, UInt32(truncatingIfNeeded: vector))
    }

    /// Clears counters and credits, and reads the receiver's allocation counter at
    /// deliveries `window` (first and last, zero-based). With `tracksPlacement`,
    /// every delivery is also checked against the processor its interrupt was
    /// raised on (`onRaisingProcessorShare`).
    func reset(allocationWindow window: ClosedRange<Int>?, tracksPlacement: Bool = false) {
        cbl_probe_reset(raw)
        cbl_probe_track_placement(raw, tracksPlacement ? 1 : 0)
        raw.pointee.window_first_hit = window.map { UInt64($0.lowerBound) } ?? .max
        raw.pointee.window_last_hit = window.map { UInt64($0.upperBound) } ?? .max
    }

    /// The share of deliveries (0...1) the receiver made on the processor the
    /// writer raised them on: a wake-up on the same processor, rather than one
    /// across processors. nil when the run did not track placement or saw nothing.
    var onRaisingProcessorShare: Double? {
        guard raw.pointee.tracks_placement != 0, hits > 0 else { return nil }
        return Double(raw.pointee.same_cpu_hits) / Double(hits)
    }

    var hits: Int { Int(cbl_probe_hits(raw)) }
    var strayHits: Int { Int(cbl_probe_stray_hits(raw)) }

    /// Latency samples (ns) of deliveries `range`.
    func samples(_ range: Range<Int>) -> [Double] {
        let end = min(range.upperBound, raw.pointee.sample_capacity, hits)
        guard range.lowerBound < end, let samples = raw.pointee.samples else { return [] }
        return (range.lowerBound..<end).map { Double(samples[$0]) }
    }

    /// Whether a malloc counter is linked into this process and sees Swift's own
    /// allocations (checked by allocating once, so a counter that is linked but
    /// bypassed is never mistaken for a zero).
    public static let countsAllocations: Bool = {
        guard cbl_allocation_counting_available() != 0 else { return false }
        let before = cbl_thread_allocations()
        let witness = allocationWitness(before)
        let after = cbl_thread_allocations()
        return withExtendedLifetime(witness) { after > before }
    }()

    /// CPU time (ns) the receiving side used between the window's first and last
    /// delivery, on whatever threads it ran: the process's CPU time over the
    /// window less the writer thread's (the only other thread at work; the
    /// caller waits in pthread_join). Not meaningful while load threads burn.
    var receivingSideCPUNanoseconds: Double {
        let process = raw.pointee.process_cpu_ns_at_last &- raw.pointee.process_cpu_ns_at_first
        return max(Double(process) - Double(raw.pointee.writer_cpu_ns), 0)
    }

    /// Allocations the receiving thread made between the window's first and last delivery.
    var allocationsInWindow: Int? {
        // Thread-local counters: a receiver that hopped threads (libdispatch) has no figure.
        guard Self.countsAllocations, raw.pointee.thread_at_first == raw.pointee.thread_at_last else { return nil }
        return Int(raw.pointee.allocations_at_last &- raw.pointee.allocations_at_first)
    }
}

/// A heap buffer, allocated only to see whether the allocation counter counts
/// (returned, so it escapes and cannot be promoted to the stack).
@inline(never)
private func allocationWitness(_ value: UInt64) -> [UInt64] {
    [UInt64](repeating: value, count: 64)
}
