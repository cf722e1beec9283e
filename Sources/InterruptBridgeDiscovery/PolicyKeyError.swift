/// A policy file's problem with one key or its value, placed by the keys that lead to it:
/// `at devices.1af4:1041.MessageNumberLimit: MessageNumberLimit must be at least 1`.
/// A reader that kept the document's marks (the tooling's `PolicyFileLoader`) turns the
/// keys into a line and column.
public struct PolicyKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The keys from the document's root: ["devices", "1af4:1041", "MessageNumberLimit"]; never empty.
    public var keyPath: [String]
    /// Whether the key itself is wrong (unknown, not a device) rather than its value.
    public var concernsTheKey: Bool
    public var message: String

    public init(keyPath: [String], concernsTheKey: Bool, message: String) {
        self.keyPath = keyPath
        self.concernsTheKey = concernsTheKey
        self.message = message
    }

    /// "devices.1af4:1041.MessageNumberLimit"
    public var field: String { keyPath.joined(separator: ".") }

    public var description: String { "at \(field): \(message)" }
}
