import FoundationEssentials
public import InterruptBridgeCore
import InterruptBridgeSystem

extension InterruptPolicyTable {
    /// The largest policy file read (a table of thousands of devices is well under it).
    public static let fileSizeLimit = 1 << 20

    /// Reads a policy file (see `InterruptPolicyFile` for the format): a regular file
    /// of at most `fileSizeLimit` bytes.
    public static func load(path: String) throws(DiscoveryError) -> InterruptPolicyTable {
        let file: RegularFile
        do {
            file = try RegularFile(reading: path, limit: fileSizeLimit)
        } catch {
            throw .unreadableFile(error)
        }
        return try parse(json: String(decoding: file.bytes, as: UTF8.self), path: path)
    }

    /// Parses policy-file JSON; `path` only names the source in errors.
    public static func parse(json text: String, path: String = "policy") throws(DiscoveryError) -> InterruptPolicyTable {
        try table(path: path) { try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(text.utf8)) }
    }

    /// The table of a policy file that `decode` decodes (another format's decoder
    /// over the same `InterruptPolicyFile`: the tooling's YAML), its errors phrased
    /// as JSON's are; `path` only names the source in errors.
    public static func table(path: String, decode: () throws -> InterruptPolicyFile) throws(DiscoveryError) -> InterruptPolicyTable {
        let file: InterruptPolicyFile
        do {
            file = try decode()
        } catch let error as DecodingError {
            throw .policyFile(path: path, reason: Self.describe(error))
        } catch {
            throw .policyFile(path: path, reason: "\(error)")
        }
        do {
            return try file.table()
        } catch {
            throw .policyFile(path: path, reason: error.description)
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func at(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "at \(path): ") + context.debugDescription
        }
        switch error {
        case .dataCorrupted(let context):
            // A parser's own error (Yams': "LINE:COLUMN: error: ...") says where; keep its first line.
            guard let underlying = context.underlyingError,
                  let first = "\(underlying)".split(whereSeparator: \.isNewline).first, !first.isEmpty else { return at(context) }
            let message = at(context)
            return (message.hasSuffix(".") ? String(message.dropLast()) : message) + " (" + String(first.drop(while: \.isWhitespace)) + ")"
        case .keyNotFound(let key, let context): return at(context) + " (missing \(key.stringValue))"
        case .typeMismatch(_, let context): return at(context)
        case .valueNotFound(_, let context): return at(context)
        @unknown default: return "\(error)"
        }
    }
}
