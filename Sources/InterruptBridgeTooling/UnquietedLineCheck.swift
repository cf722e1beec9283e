// The daemon's unquieted-line rule as a pure decision: fed each check's counts, it says
// when a VFIO INTx line's ISR ran with no interrupt the kernel took, for a whole window.

/// Judges, window by window, whether a VFIO INTx line is claimed but never quieted
/// (`StormRule.unquietedLine`): VFIO signals such a line again at every unmask without
/// a new interrupt, so the ISR runs while the kernel's count stands still.
///
/// A window trips when the kernel took no interrupt on the line and the ISR claimed at
/// least `minimum` calls (claimed: on a shared line, another device's raises run this
/// ISR too, unclaimed, and those are the unclaimed rule's). A healthy device that raises new causes while its line is
/// masked also has them delivered at the unmask, unseen by the kernel, but its line
/// deasserts now and then, and each new assertion is one the kernel counts. A window
/// is not judged when a trigger ran in it or at either end (VFIO's loopback raises are
/// invisible to the kernel), when the kernel's count went backwards (a processor taken
/// offline leaves /proc/interrupts; a 32-bit per-processor counter wrapped), or when
/// there is no earlier check to compare with.
public struct UnquietedLineCheck: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        /// Claimed ISR calls on the line since connect.
        public var calls: UInt64
        /// The kernel's count for the line (/proc/interrupts).
        public var kernel: UInt64
        /// Triggers started on the device so far.
        public var triggersStarted: UInt64
        /// Whether a trigger runs at the moment of the sample.
        public var triggerRunning: Bool

        public init(calls: UInt64, kernel: UInt64, triggersStarted: UInt64, triggerRunning: Bool) {
            self.calls = calls
            self.kernel = kernel
            self.triggersStarted = triggersStarted
            self.triggerRunning = triggerRunning
        }
    }

    /// ISR calls in one window that, with no kernel interrupt, trip the rule.
    public var minimum: UInt64
    private var last: Sample?

    public init(minimum: UInt64 = 1_000) {
        self.minimum = minimum
    }

    /// Takes this check's sample; returns the window's ISR calls when it trips, else nil.
    public mutating func judge(_ sample: Sample) -> UInt64? {
        defer { last = sample }
        guard let last, !last.triggerRunning, !sample.triggerRunning, last.triggersStarted == sample.triggersStarted,
              sample.kernel == last.kernel, sample.calls >= last.calls else { return nil }
        let calls = sample.calls - last.calls
        return calls >= minimum ? calls : nil
    }

    /// Forgets the last sample (a reconnect: counts start again).
    public mutating func reset() { last = nil }
}
