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
        default:
            if let problem = nonScalarKey(in: text) { throw .policyFile(path: path, reason: problem) }
            return try InterruptPolicyTable.table(path: path) { try YAMLDecoder().decode(InterruptPolicyFile.self, from: text) }
        }
    }

    /// A mapping key that is a list or a mapping (`? [a, b]`), or a scalar tagged
    /// binary (`? !!binary ...`): the decoder's string-keyed mappings dropped the first
    /// without a word, so an entry, or an unknown key, was ignored; the second was an
    /// error naming a Swift type. Nil when every key is a plain scalar, or when the text is
    /// no YAML the composer takes (the decoder names that).
    static func nonScalarKey(in text: String) -> String? {
        guard let root = try? Yams.compose(yaml: text) else { return nil }
        func walk(_ node: Node, _ path: String) -> String? {
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    let place = "line \(key.mark?.line ?? 1), column \(key.mark?.column ?? 1)"
                    guard let scalar = key.scalar else {
                        return "\(place): a key is a list or a mapping\(path.isEmpty ? "" : " (in \(path))"); keys are plain words or strings"
                    }
                    if key.tag.description == Tag.Name.binary.rawValue {
                        return "\(place): the key '\(scalar.string)' is tagged !!binary; keys are plain words or strings"
                    }
                    if let problem = walk(value, path.isEmpty ? scalar.string : path + "." + scalar.string) { return problem }
                }
            case .sequence(let sequence):
                for item in sequence { if let problem = walk(item, path) { return problem } }
            default:
                break
            }
            return nil
        }
        return walk(root, "")
    }
}
