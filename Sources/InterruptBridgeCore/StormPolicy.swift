/// When a vector's interrupts count as a storm, and what happens then.
///
/// Two rules, checked on the dispatch thread for every vector, each cheap on the
/// healthy path (a few counter updates per interrupt, a clock read once per
/// `rateLimit` interrupts):
///
/// - **Unclaimed ratio** (Linux genirq's "nobody cared" detector,
///   kernel/irq/spurious.c): of the last `unclaimedWindow` ISR passes of the vector,
///   more than `unclaimedLimit` were claimed by no ISR. Defaults: 99,900 of 100,000.
/// - **Rate** (in the spirit of Zephyr's storm detection): `rateLimit` interrupts
///   arrived within `rateWindow`. Defaults: 20,000 within 100 ms (200,000 per second,
///   sustained): the clock starts at the first interrupt, which is not counted, so a
///   storm faster than that is contained once `rateLimit` more of its interrupts
///   arrived within one window (the `rateLimit + 1`th in all).
///
/// A third rule, `StormRule.unquietedLine`, needs the kernel's count, so it is judged
/// off the dispatch thread (the daemon does, once a second) and applied with
/// `InterruptDispatcher.contain(_:rule:)`; it follows the same policy otherwise.
///
/// On a trip the vector stops being watched (a level-triggered line stays masked, a
/// message vector is disabled through VFIO), the trip is counted, logged once and
/// published on the dispatcher's event stream; the vector is re-armed by
/// `InterruptDispatcher.rearm(_:)` or after `initialBackoff`, a back-off that doubles
/// (up to `maximumBackoff`) while the storm persists after each re-arm.
public struct StormPolicy: Sendable, Hashable, Codable {
    /// False: neither rule is checked (the vector is never contained).
    public var isEnabled: Bool
    /// Unclaimed passes within `unclaimedWindow` passes that trip the unclaimed rule.
    public var unclaimedLimit: Int
    /// The number of ISR passes the unclaimed rule looks at.
    public var unclaimedWindow: Int
    /// Interrupts within `rateWindow` that trip the rate rule.
    public var rateLimit: Int
    /// The window of the rate rule.
    public var rateWindow: Duration
    /// How long a contained vector stays off before it is re-armed automatically
    /// (nil: only `rearm` brings it back).
    public var initialBackoff: Duration?
    /// The longest back-off, however long the storm persists.
    public var maximumBackoff: Duration

    public init(isEnabled: Bool = true, unclaimedLimit: Int = 99_900, unclaimedWindow: Int = 100_000, rateLimit: Int = 20_000,
                rateWindow: Duration = .milliseconds(100), initialBackoff: Duration? = .seconds(1),
                maximumBackoff: Duration = .seconds(64)) {
        self.isEnabled = isEnabled
        self.unclaimedLimit = unclaimedLimit
        self.unclaimedWindow = unclaimedWindow
        self.rateLimit = rateLimit
        self.rateWindow = rateWindow
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Genirq's unclaimed ratio and 20,000 interrupts per 100 ms, re-armed after 1 s, doubling up to 64 s.
    public static let `default` = StormPolicy()

    /// No storm detection.
    public static let disabled = StormPolicy(isEnabled: false)

    /// Why the values cannot work (nil: they can).
    public var problem: String? {
        guard isEnabled else { return nil }
        if unclaimedWindow < 1 { return "the unclaimed window must be at least 1 pass" }
        if !(1...unclaimedWindow).contains(unclaimedLimit) { return "the unclaimed limit must be 1...\(unclaimedWindow) (the window)" }
        if rateLimit < 1 { return "the rate limit must be at least 1 interrupt" }
        if rateWindow <= .zero { return "the rate window must be positive" }
        if let initialBackoff, initialBackoff <= .zero || initialBackoff > maximumBackoff {
            return "the initial back-off must be positive and at most the maximum back-off"
        }
        return nil
    }
}

/// Which storm rule a vector tripped.
public enum StormRule: String, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Nearly every ISR pass was claimed by no ISR.
    case unclaimed
    /// Interrupts arrived faster than the rate rule allows.
    case rate
    /// A level-triggered line whose ISR claims every pass without quieting the device:
    /// VFIO signals it again at each unmask, with no new interrupt the kernel counts.
    /// Neither rule above sees it (every call is claimed, at the unmask round trip's
    /// rate); a caller that compares the kernel's count contains it with
    /// `InterruptDispatcher.contain(_:rule:)` (the daemon does).
    case unquietedLine = "unquieted-line"

    public var description: String {
        switch self {
        case .unclaimed: "unclaimed interrupts"
        case .rate: "interrupt rate"
        case .unquietedLine: "a line claimed but not quieted"
        }
    }
}
