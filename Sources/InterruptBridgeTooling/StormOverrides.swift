// The storm keys one place gives (a daemon device's `storm:`, or `settings.storm` with its
// IRQBRIDGE_STORM_* variables and `--set storm.KEY=VALUE`, or the bring-up verbs'
// `--storm KEY=VALUE`), each parsed and checked on its own here, the same way wherever
// it is written. What a place leaves out is the
// layer's under it: a device's over the daemon-wide policy, the daemon-wide policy over
// the library's defaults. Whether the keys work together is a question for the policy
// they resolve to (`StormOverrides.conflict(in:)`).
public import InterruptBridgeCore

/// The storm keys one place gives (nil: the layer under it decides).
public struct StormOverrides: Sendable, Hashable {
    public var isEnabled: Bool?
    public var rateLimit: Int?
    public var rateWindow: Duration?
    public var unclaimedLimit: Int?
    public var unclaimedWindow: Int?
    /// `.some(nil)`: never re-armed automatically (`rearm-after-ms: never`).
    public var initialBackoff: Duration??
    public var maximumBackoff: Duration?

    public init() {}

    /// The longest back-off `rearm-after-ms` and `rearm-max-ms` take: an hour.
    public static let longestRearmMilliseconds = 3_600_000

    /// The keys as written in the file (under `storm:`), in the order they are documented.
    public static let keys = ["enabled", "rate-limit", "rate-window-ms", "unclaimed-limit", "unclaimed-window", "rearm-after-ms", "rearm-max-ms"]

    /// A value that does not parse for its key: what the key takes.
    public struct BadValue: Error, Sendable, Hashable {
        public var expected: String
    }

    /// Sets `key` (one of `keys`) from its text. Each value is checked on its own: whether
    /// it works with the others is for the resolved policy.
    public mutating func set(_ key: String, to text: String) throws(BadValue) {
        let rearmLimit = Self.longestRearmMilliseconds
        func number(_ range: ClosedRange<Int>, _ expected: String) throws(BadValue) -> Int {
            guard let value = ProfileNode.parseInteger(text), value <= UInt64(range.upperBound), range.contains(Int(value)) else {
                throw BadValue(expected: expected)
            }
            return Int(value)
        }
        switch key {
        case "enabled":
            guard let enabled = Bool(text) else { throw BadValue(expected: "true or false") }
            isEnabled = enabled
        case "rate-limit": rateLimit = try number(1...100_000_000, "interrupts per window (at least 1)")
        case "rate-window-ms": rateWindow = .milliseconds(try number(1...60_000, "milliseconds (1...60000)"))
        case "unclaimed-limit": unclaimedLimit = try number(1...100_000_000, "unclaimed interrupts (at least 1)")
        case "unclaimed-window": unclaimedWindow = try number(1...100_000_000, "interrupts (at least 1)")
        case "rearm-after-ms":
            if text == "never" { initialBackoff = .some(nil) } else {
                initialBackoff = .some(.milliseconds(try number(1...rearmLimit, "milliseconds (1...\(rearmLimit)) or never")))
            }
        case "rearm-max-ms": maximumBackoff = .milliseconds(try number(1...rearmLimit, "milliseconds (1...\(rearmLimit))"))
        default: throw BadValue(expected: "one of the storm keys (\(Self.keys.joined(separator: ", ")))")
        }
    }

    /// The keys given, in `keys`' order.
    public var givenKeys: [String] {
        let given: [String: Bool] = ["enabled": isEnabled != nil, "rate-limit": rateLimit != nil, "rate-window-ms": rateWindow != nil,
                                     "unclaimed-limit": unclaimedLimit != nil, "unclaimed-window": unclaimedWindow != nil,
                                     "rearm-after-ms": initialBackoff != nil, "rearm-max-ms": maximumBackoff != nil]
        return Self.keys.filter { given[$0] == true }
    }

    /// `policy` with the keys given replaced.
    public func applied(to policy: StormPolicy) -> StormPolicy {
        var result = policy
        if let isEnabled { result.isEnabled = isEnabled }
        if let rateLimit { result.rateLimit = rateLimit }
        if let rateWindow { result.rateWindow = rateWindow }
        if let unclaimedLimit { result.unclaimedLimit = unclaimedLimit }
        if let unclaimedWindow { result.unclaimedWindow = unclaimedWindow }
        if let initialBackoff { result.initialBackoff = initialBackoff }
        if let maximumBackoff { result.maximumBackoff = maximumBackoff }
        return result
    }

    /// The keys given, each in the file's spelling (what `set(_:to:)` reads back).
    public var fileValues: [(key: String, value: String)] {
        let policy = applied(to: .default)
        return givenKeys.map { ($0, Self.fileValue(of: $0, in: policy)) }
    }

    /// `key`'s value in `policy`, as the file writes it.
    public static func fileValue(of key: String, in policy: StormPolicy) -> String {
        func milliseconds(_ duration: Duration) -> String { "\(duration.nanoseconds / 1_000_000)" }
        return switch key {
        case "enabled": "\(policy.isEnabled)"
        case "rate-limit": "\(policy.rateLimit)"
        case "rate-window-ms": milliseconds(policy.rateWindow)
        case "unclaimed-limit": "\(policy.unclaimedLimit)"
        case "unclaimed-window": "\(policy.unclaimedWindow)"
        case "rearm-after-ms": policy.initialBackoff.map(milliseconds) ?? "never"
        default: milliseconds(policy.maximumBackoff)
        }
    }

    /// Why a policy whose keys each parse cannot work, with the keys that clash (nil: it
    /// can): a limit above its window, or the first back-off above the longest.
    public static func conflict(in policy: StormPolicy) -> (keys: [String], reason: String)? {
        guard let problem = policy.problem else { return nil }
        let keys = policy.unclaimedLimit > policy.unclaimedWindow ? ["unclaimed-limit", "unclaimed-window"]
            : policy.initialBackoff.map { $0 > policy.maximumBackoff } == true ? ["rearm-after-ms", "rearm-max-ms"]
            : Self.keys
        return (keys, problem)
    }
}
