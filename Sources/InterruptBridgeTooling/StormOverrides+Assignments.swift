// The bring-up verbs' `--storm KEY=VALUE`: the daemon's storm keys, written on the command
// line, over the storm rules of every device a verb connects.
public import InterruptBridgeCore

extension StormOverrides {
    /// An assignment that does not parse, or keys that cannot work together: the message
    /// names the assignment (or the keys) and what was expected.
    public struct AssignmentError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Reads `KEY=VALUE` assignments (a later one for the same key wins), each checked as
    /// its key is in a file, then the rules they make over the library's defaults as a whole
    /// (an unclaimed limit above its window, say).
    public init(assignments: [String]) throws(AssignmentError) {
        self.init()
        for assignment in assignments {
            guard let (key, value) = KeyValueAssignment.split(assignment) else {
                throw AssignmentError(description: "'\(assignment)' is not KEY=VALUE (keys: \(Self.keys.joined(separator: ", ")))")
            }
            guard Self.keys.contains(key) else {
                throw AssignmentError(description: "'\(key)' is not a storm key (keys: \(Self.keys.joined(separator: ", ")))")
            }
            do { try set(key, to: value) } catch {
                throw AssignmentError(description: "\(key)=\(value): expected \(error.expected)")
            }
        }
        if let conflict = Self.conflict(in: applied(to: .default)) {
            throw AssignmentError(description: "\(conflict.keys.joined(separator: " and ")): \(conflict.reason)")
        }
    }
}

extension InterruptPolicyTable {
    /// Every policy of the table (its default, and each device's) with `overrides` over its
    /// storm rules (the library's defaults where it has none).
    public func applyingStorm(_ overrides: StormOverrides) -> InterruptPolicyTable {
        func apply(_ policy: InterruptPolicy) -> InterruptPolicy {
            var policy = policy
            policy.storm = overrides.applied(to: policy.storm ?? .default)
            return policy
        }
        return InterruptPolicyTable(byAddress: byAddress.mapValues(apply), byID: byID.mapValues(apply), fallback: apply(fallback))
    }
}
