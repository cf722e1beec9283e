// Reading an interrupt policy file (`--policy`) as JSON or YAML. The JSON reader
// lives with discovery, which needs no YAML; this one adds YAML through Yams, the
// same decoder over the same `InterruptPolicyFile`, so the keys, their checks and
// the error wording are one set:
//
//   default: {MSISupported: true}
//   devices:
//     0000:00:03.0: {MSISupported: false}
//     1af4:1041: {MessageNumberLimit: 2, DevicePriority: high, AssignmentSetOverride: 0x1}
public import InterruptBridgeCore
public import InterruptBridgeDiscovery
import Yams

public enum PolicyFileLoader {
    /// Reads the policy file at `path` (a regular file of at most
    /// `InterruptPolicyTable.fileSizeLimit` bytes): JSON when it begins with "{",
    /// YAML otherwise.
    public static func load(path: String) throws(DiscoveryError) -> InterruptPolicyTable {
        try parse(try InterruptPolicyTable.text(ofPolicyFile: path), path: path)
    }

    /// Parses a policy file's text, JSON or YAML; `path` only names it in errors.
    public static func parse(_ text: String, path: String = "policy") throws(DiscoveryError) -> InterruptPolicyTable {
        switch text.first(where: { !$0.isWhitespace }) {
        case nil: throw .policyFile(path: path, reason: "the file is empty (an empty policy is {} in JSON)")
        case "{": return try InterruptPolicyTable.parse(json: text, path: path)
        default: return try InterruptPolicyTable.table(path: path) { try YAMLDecoder().decode(InterruptPolicyFile.self, from: text) }
        }
    }
}
