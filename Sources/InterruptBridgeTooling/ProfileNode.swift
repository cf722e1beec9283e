// Strict reading of a composed YAML (or JSON) document: every node keeps its file,
// line and field path, every mapping rejects keys it does not know.
package import Yams

/// A YAML node with the path that reached it.
package struct ProfileNode {
    package let node: Node
    package let file: String
    package let path: String
    /// What the document is, as errors about its root name it: "(profile)", "(configuration)".
    package let document: String

    package init(node: Node, file: String, path: String, document: String = "(profile)") {
        self.node = node
        self.file = file
        self.path = path
        self.document = document
    }

    package var location: ProfileLocation {
        let mark = node.mark
        return ProfileLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, field: path.isEmpty ? document : path)
    }

    package func error(_ kind: ProfileError.Kind, _ message: String) -> ProfileError {
        ProfileError(kind, at: location, message)
    }

    /// What the node is, for "expected a mapping, found a list".
    private var shape: String {
        switch node {
        case .scalar(let scalar): "the value '\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The node as a mapping whose keys are all in `allowed`.
    package func mapping(allowed: [String]?) throws(ProfileError) -> ProfileFields {
        var unknown: [ProfileError] = []
        let fields = try mapping(allowed: allowed, unknownKeys: &unknown, stoppingAtTheFirst: true)
        if let first = unknown.first { throw first }
        return fields
    }

    /// The node as a mapping whose unknown keys are left out and each appended to `unknownKeys`
    /// (a profile check names them all); any other problem still throws.
    package func mapping(allowed: [String], unknownKeys: inout [ProfileError]) throws(ProfileError) -> ProfileFields {
        try mapping(allowed: allowed, unknownKeys: &unknownKeys, stoppingAtTheFirst: false)
    }

    private func mapping(allowed: [String]?, unknownKeys: inout [ProfileError], stoppingAtTheFirst: Bool) throws(ProfileError) -> ProfileFields {
        guard case .mapping(let mapping) = node else { throw error(.badValue, "expected a mapping, found \(shape)") }
        var entries: [(key: String, value: ProfileNode)] = []
        for (keyNode, value) in mapping {
            let keyPath = path.isEmpty ? "" : path + "."
            guard case .scalar(let scalar) = keyNode else {
                throw ProfileNode(node: keyNode, file: file, path: path, document: document).error(.badValue, "a key must be a plain name")
            }
            let key = scalar.string
            let keyAt = ProfileNode(node: keyNode, file: file, path: keyPath + key, document: document)
            if let allowed, !allowed.contains(key) {
                unknownKeys.append(keyAt.error(.unknownKey, "unknown key '\(key)' (expected \(allowed.map { "'\($0)'" }.joined(separator: ", ")))"))
                if stoppingAtTheFirst { break }
                continue
            }
            if entries.contains(where: { $0.key == key }) { throw keyAt.error(.badValue, "'\(key)' is given twice") }
            entries.append((key, ProfileNode(node: value, file: file, path: keyPath + key, document: document)))
        }
        return ProfileFields(owner: self, entries: entries)
    }

    /// The node as a mapping with keys of the caller's choosing (names, addresses), in
    /// order, each with the key's own node (where an error about the key points).
    package func entries() throws(ProfileError) -> [(key: String, keyNode: ProfileNode, value: ProfileNode)] {
        guard case .mapping(let mapping) = node else { return try mapping(allowed: nil).entries.map { ($0.key, $0.value, $0.value) } }
        let fields = try self.mapping(allowed: nil)
        return zip(mapping.keys, fields.entries).map { keyNode, entry in
            (entry.key, ProfileNode(node: keyNode, file: file, path: entry.value.path, document: document), entry.value)
        }
    }

    /// The node as a list.
    package func sequence() throws(ProfileError) -> [ProfileNode] {
        guard case .sequence(let sequence) = node else { throw error(.badValue, "expected a list, found \(shape)") }
        return sequence.enumerated().map { ProfileNode(node: $1, file: file, path: "\(path)[\($0)]", document: document) }
    }

    /// The node as a plain scalar string.
    package func string() throws(ProfileError) -> String {
        guard case .scalar(let scalar) = node else { throw error(.badValue, "expected a value, found \(shape)") }
        return scalar.string
    }

    /// A non-negative integer: decimal, 0x hexadecimal, 0o octal or 0b binary, `_` allowed
    /// between digits (a quoted string is read the same way, so JSON can say "0x24").
    package func integer(atMost limit: UInt64 = .max, what: String = "a number") throws(ProfileError) -> UInt64 {
        let text = try string()
        guard let value = Self.parseInteger(text) else {
            throw error(.badValue, "'\(text)' is not \(what) (write decimal, 0x hexadecimal, 0o octal or 0b binary)")
        }
        guard value <= limit else { throw error(.badValue, "\(text) is too large for \(what) (at most 0x\(String(limit, radix: 16)))") }
        return value
    }

    package func bool() throws(ProfileError) -> Bool {
        switch try string() {
        case "true": true
        case "false": false
        case let text: throw error(.badValue, "'\(text)' is not true or false")
        }
    }

    package static func parseInteger(_ text: String) -> UInt64? {
        var digits = Substring(String(text.filter { $0 != "_" }))
        var radix = 10
        // One prefix at most: the digits of 0x0b11 are hexadecimal "0b11", not binary "11".
        if let (_, base) = [("0x", 16), ("0X", 16), ("0o", 8), ("0b", 2)].first(where: { digits.hasPrefix($0.0) }) {
            digits = digits.dropFirst(2)
            radix = base
        }
        guard !digits.isEmpty, !text.hasPrefix("_"), !text.hasSuffix("_") else { return nil }
        return UInt64(digits, radix: radix)
    }
}

/// A mapping read by `ProfileNode.mapping(allowed:)`.
package struct ProfileFields {
    package let owner: ProfileNode
    package let entries: [(key: String, value: ProfileNode)]

    package subscript(_ key: String) -> ProfileNode? { entries.first { $0.key == key }?.value }

    package func required(_ key: String) throws(ProfileError) -> ProfileNode {
        guard let node = self[key] else {
            let field = owner.path.isEmpty ? key : owner.path + "." + key
            var location = owner.location
            location.field = field
            throw ProfileError(.missingField, at: location, "missing '\(key)'")
        }
        return node
    }

    package var keys: [String] { entries.map(\.key) }
}
