import FoundationEssentials
public import InterruptBridgeCore
import InterruptBridgeSystem

extension InterruptPolicyTable {
    /// Reads a policy file (see `InterruptPolicyFile` for the format).
    public static func load(path: String) throws(DiscoveryError) -> InterruptPolicyTable {
        let text: String
        do {
            text = try SystemFacts.readText(path)
        } catch {
            throw .system(error)
        }
        return try parse(json: text, path: path)
    }

    /// Parses policy-file JSON; `path` only names the source in errors.
    public static func parse(json text: String, path: String = "policy") throws(DiscoveryError) -> InterruptPolicyTable {
        let file: InterruptPolicyFile
        do {
            file = try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(text.utf8))
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
        case .dataCorrupted(let context): return at(context)
        case .keyNotFound(let key, let context): return at(context) + " (missing \(key.stringValue))"
        case .typeMismatch(_, let context): return at(context)
        case .valueNotFound(_, let context): return at(context)
        @unknown default: return "\(error)"
        }
    }
}
