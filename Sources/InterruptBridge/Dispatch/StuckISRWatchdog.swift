import InterruptBridgeSystem
import Logging
import Synchronization

/// What a dispatch loop is serving right now, for the stuck-ISR watchdog: the
/// loop stores a word before each ISR pass and 0 once a batch's passes are done
/// (relaxed stores, no lock, no allocation); the watchdog thread only reads it.
final class ServiceProbe: Sendable {
    /// 0: between batches (no ISR runs). Otherwise bit 63 set, the pass number in bits 32...62
    /// (so a new pass of the same vector is a new word) and the vector below.
    let word = Atomic<UInt64>(0)

    /// Stores a word built from `vectorBits` and a pass number kept shifted into
    /// place (`nextPass`): the dispatch loop keeps both precomputed, so a pass costs
    /// a store and an OR.
    @inline(__always)
    func enter(_ word: UInt64) { self.word.store(word, ordering: .relaxed) }

    /// The word's vector part, with the "in a pass" bit.
    @inline(__always)
    static func vectorBits(_ vector: UInt32) -> UInt64 { 1 << 63 | UInt64(vector) }

    /// Advances shifted pass bits to the next pass number. Not masked: a carry into
    /// bit 63 is absorbed by `vectorBits`, which sets it anyway.
    @inline(__always)
    static func nextPass(_ bits: UInt64) -> UInt64 { bits &+ 1 << 32 }

    @inline(__always)
    func leave() { word.store(0, ordering: .relaxed) }
}

/// A thread that reports an ISR still running after `threshold`: one log line
/// and one `DispatcherEvent.isrStuck` per stuck pass. It cannot stop the ISR: a
/// blocking ISR stalls its own dispatch loop (device-level ISRs share the main
/// loop; passive-level ISRs have their own), and the report says which vector.
final class StuckISRWatchdog: Sendable {
    private let loopName: String
    private let probe: ServiceProbe
    private let threshold: UInt64
    private let interval: Duration
    private let logger: Logger
    /// Warning, or debug when the dispatcher's owner logs the events itself (`DispatchOptions.faultLevel`).
    private let level: Logger.Level
    private let events: EventHub
    private let device: @Sendable (UInt32) -> InterruptDevice?
    private let running = Atomic<Bool>(true)
    // Guarded by its lock: the watchdog thread, until stopped.
    private let thread = LockedValue<PThread.Handle?>(nil)

    init(loopName: String, probe: ServiceProbe, threshold: Duration, logger: Logger, level: Logger.Level, events: EventHub,
         device: @escaping @Sendable (UInt32) -> InterruptDevice?) {
        self.loopName = loopName
        self.probe = probe
        self.threshold = threshold.nanoseconds
        // Sample four times per threshold, at most every 25 ms and at least every 1 ms.
        self.interval = max(.milliseconds(1), min(.milliseconds(25), threshold / 4))
        self.logger = logger
        self.level = level
        self.events = events
        self.device = device
    }

    func start() throws(SystemError) {
        let handle = try PThread.spawn(name: String(loopName.prefix(11)) + "-wd") { [self] in watch() }
        thread.withLock { $0 = handle }
    }

    /// Stops and joins the thread (returns within one sampling interval).
    func stop() {
        running.store(false, ordering: .releasing)
        if let handle = thread.withLock({ $0.take() }) { try? PThread.join(handle) }
    }

    private func watch() {
        var last: UInt64 = 0
        var since: UInt64 = 0
        var reported = false
        while running.load(ordering: .acquiring) {
            PThread.sleep(for: interval)
            let word = probe.word.load(ordering: .relaxed)
            let now = MonotonicClock.nanoseconds()
            guard word != 0, word == last else {
                last = word
                since = now
                reported = false
                continue
            }
            guard !reported, now &- since >= threshold else { continue }
            reported = true
            let vector = UInt32(truncatingIfNeeded: word)
            let duration = Duration.nanoseconds(Int64(now &- since))
            let device = device(vector)
            logger.log(level: level, "ISR of vector 0x\(String(vector, radix: 16))\(device.map { " (\($0))" } ?? "") has been running for at least \(duration) on \(loopName); nothing else on this loop is served meanwhile")
            events.publish(.isrStuck(device, vector: vector, loop: loopName, duration: duration))
        }
    }
}
