// One JSON object on one line, keys sorted, absent values as null (a script's `jq .field`
// finds every key, set or not): what `bind`, `unbind`, `wait` and `trigger` print with --json.
import ArgumentParser
import Foundation

enum JSONLine {
    static func object(_ fields: [String: Any?]) -> String { line(present(fields), or: "{}") }

    /// The objects as one JSON array on one line, each as `object` writes it.
    static func array(_ objects: [[String: Any?]]) -> String { line(objects.map(present), or: "[]") }

    /// Absent values as null, so every key is written.
    private static func present(_ fields: [String: Any?]) -> [String: Any] { fields.mapValues { $0 ?? NSNull() } }

    private static func line(_ value: Any, or fallback: String) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return fallback }
        return String(decoding: data, as: UTF8.self)
    }
}

/// `--json`, for the verbs that print one result.
struct JSONFlag: ParsableArguments {
    @Flag(help: "Print the result as one JSON object (keys always present, null when not known) instead of text.")
    var json = false
}
