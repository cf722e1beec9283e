import FoundationEssentials
public import InterruptBridgeCore
import InterruptBridgeSystem

extension InterruptPolicyTable {
    /// The largest policy file read (a table of thousands of devices is well under it).
    public static let fileSizeLimit = 1 << 20

    /// Reads a policy file (see `InterruptPolicyFile` for the format): a regular file
    /// of at most `fileSizeLimit` bytes.
    public static func load(path: String) throws(DiscoveryError) -> InterruptPolicyTable {
        try parse(json: try text(ofPolicyFile: path), path: path)
    }

    /// The text of the policy file at `path`, read as `load(path:)` reads it (the
    /// tooling's YAML reader shares it).
    public static func text(ofPolicyFile path: String) throws(DiscoveryError) -> String {
        do {
            return try RegularFile(reading: path, limit: fileSizeLimit).validText()
        } catch {
            throw .unreadableFile(error)
        }
    }

    /// Parses policy-file JSON; `path` only names the source in errors.
    /// A key written twice in one object is refused, as YAML's parser refuses it: the
    /// decoder would keep the last and drop the first without a word.
    public static func parse(json text: String, path: String = "policy") throws(DiscoveryError) -> InterruptPolicyTable {
        let table: InterruptPolicyTable
        do {
            table = try Self.table(path: path) { try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(text.utf8)) }
        } catch {
            // Foundation says only "not valid JSON"; the line and column are what an editor needs.
            guard case .policyFile(_, let reason) = error, reason.contains("not valid JSON"),
                  let syntax = JSONSyntaxError.first(in: text) else { throw error }
            throw .policyFile(path: path, reason: "not valid JSON: \(syntax)")
        }
        if let key = JSONDuplicateKeys.first(in: text) {
            throw .policyFile(path: path, reason: "\"\(key)\" is written twice in one object; only one can be meant")
        }
        return table
    }

    /// The table of a policy file that `decode` decodes (another format's decoder
    /// over the same `InterruptPolicyFile`: the tooling's YAML), its errors phrased
    /// as JSON's are; `path` only names the source in errors.
    public static func table(path: String, decode: () throws -> InterruptPolicyFile) throws(DiscoveryError) -> InterruptPolicyTable {
        let file: InterruptPolicyFile
        do {
            file = try decode()
        } catch let error as DecodingError {
            let (keyPath, reason) = Self.describe(error)
            guard !keyPath.isEmpty else { throw .policyFile(path: path, reason: reason) }
            let concernsTheKey = Self.underlyingError(of: error) is InterruptPolicyFileError
            throw .policyKey(path: path, PolicyKeyError(keyPath: keyPath, concernsTheKey: concernsTheKey, message: reason))
        } catch {
            throw .policyFile(path: path, reason: "\(error)")
        }
        do {
            return try file.table()
        } catch {
            throw .policyKey(path: path, PolicyKeyError(keyPath: error.keyPath, concernsTheKey: true, message: error.message))
        }
    }

    private static func underlyingError(of error: DecodingError) -> (any Error)? {
        switch error {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            context.underlyingError
        @unknown default: nil
        }
    }

    /// A decoder's "Expected to decode Dictionary<String, Any> but found an array instead."
    /// in the file's own terms: "expected an object (a mapping), found an array".
    static func plainMismatch(_ text: String) -> String {
        guard text.hasPrefix("Expected to decode "), let but = text.firstRange(of: " but found ") else { return text }
        let wanted = text[text.index(text.startIndex, offsetBy: "Expected to decode ".count)..<but.lowerBound]
        var found = text[but.upperBound...]
        if found.hasSuffix(" instead.") { found = found.dropLast(" instead.".count) }
        let kind: String
        switch wanted {
        case let name where name.hasPrefix("Dictionary") || name == "Mapping": kind = "an object (a mapping)"
        case let name where name.hasPrefix("Array") || name == "Sequence": kind = "a list"
        case "String": kind = "a string"
        case "Bool": kind = "true or false"
        case let name where name.hasPrefix("Int") || name.hasPrefix("UInt"): kind = "a whole number"
        default: kind = String(wanted)
        }
        let what = found == "Node" ? "something else" : String(found)
        return "expected \(kind), found \(what)"
    }

    /// The keys that lead to the problem (empty when it is the document's) and what it is.
    private static func describe(_ error: DecodingError) -> (keyPath: [String], reason: String) {
        func at(_ context: DecodingError.Context) -> (keyPath: [String], reason: String) {
            (context.codingPath.map(\.stringValue), context.debugDescription)
        }
        switch error {
        case .dataCorrupted(let context):
            // A parser's own error (Yams': "LINE:COLUMN: error: ...") says where; keep its first line.
            guard let underlying = context.underlyingError, !(underlying is InterruptPolicyFileError),
                  let first = "\(underlying)".split(whereSeparator: \.isNewline).first, !first.isEmpty else { return at(context) }
            let (keyPath, message) = at(context)
            return (keyPath, (message.hasSuffix(".") ? String(message.dropLast()) : message) + " (" + String(first.drop(while: \.isWhitespace)) + ")")
        case .keyNotFound(let key, let context):
            let (keyPath, message) = at(context)
            return (keyPath, message + " (missing \(key.stringValue))")
        case .typeMismatch(_, let context):
            return at(DecodingError.Context(codingPath: context.codingPath, debugDescription: Self.plainMismatch(context.debugDescription)))
        case .valueNotFound(let type, let context):
            // The decoder's "Cannot get keyed decoding container -- found null value instead",
            // in the file's own terms, as a type mismatch is put.
            return at(DecodingError.Context(codingPath: context.codingPath,
                                            debugDescription: Self.plainMismatch("Expected to decode \(type) but found null instead.")))
        @unknown default: return ([], "\(error)")
        }
    }
}
