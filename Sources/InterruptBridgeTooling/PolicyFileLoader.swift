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
    public static func load(path: String) throws(PolicyFileLoadError) -> InterruptPolicyTable {
        let text: String
        do { text = try InterruptPolicyTable.text(ofPolicyFile: path) } catch { throw .file(error) }
        return try parse(text, path: path)
    }

    /// Parses a policy file's text, JSON or YAML; `path` only names it in errors. A problem
    /// with one key or value is told at its line and column (JSON is composed as YAML for them).
    public static func parse(_ text: String, path: String = "policy") throws(PolicyFileLoadError) -> InterruptPolicyTable {
        guard let first = text.first(where: { !$0.isWhitespace }) else {
            throw .file(.policyFile(path: path, reason: "the file is empty (an empty policy is {} in JSON)"))
        }
        // YAML is composed before decoding (for its keys, and so that a syntax error or a key
        // given twice is told at its line, as in a profile); JSON only when a key or value is wrong.
        var yamlRoot: Node?
        if first != "{" {
            do { yamlRoot = try Yams.compose(yaml: text) } catch { throw .located(ProfileLoader.syntaxError(error, file: path, text: text)) }
        }
        if let yamlRoot, let problem = nonScalarKey(in: yamlRoot, file: path) { throw .located(problem) }
        do throws(DiscoveryError) {
            if first == "{" { return try InterruptPolicyTable.parse(json: text, path: path) }
            return try InterruptPolicyTable.table(path: path) { try YAMLDecoder().decode(InterruptPolicyFile.self, from: text) }
        } catch .policyKey(let file, let problem) {
            guard let root = yamlRoot ?? (try? Yams.compose(yaml: text)), let mark = mark(of: problem, in: root) else {
                throw .file(.policyKey(path: file, problem))
            }
            throw .located(ProfileError(problem.concernsTheKey ? .unknownKey : .badValue,
                                        at: ProfileLocation(file: file, line: mark.line, column: mark.column, field: problem.field),
                                        problem.message))
        } catch {
            // A JSON key written twice: composed as YAML (which JSON is), Yams finds it too, and
            // it is told at its line and column as in YAML.
            if first == "{", JSONDuplicateKeys.first(in: text) != nil, let located = duplicateKey(in: text, path: path) {
                throw .located(located)
            }
            throw .file(error)
        }
    }

    /// A key given twice, from composing `text` as YAML: where its second occurrence is.
    static func duplicateKey(in text: String, path: String) -> ProfileError? {
        do { _ = try Yams.compose(yaml: text) } catch {
            if case .duplicatedKeysInMapping? = error as? YamlError { return ProfileLoader.syntaxError(error, file: path, text: text) }
        }
        return nil
    }

    /// Where `problem` is in the composed document: its key's mark when the key is wrong,
    /// its value's otherwise; nil when the keys do not lead there (an alias on the way).
    static func mark(of problem: PolicyKeyError, in root: Node) -> Mark? {
        var value = root, key: Node?
        for name in problem.keyPath {
            guard case .mapping(let mapping) = value,
                  let entry = mapping.first(where: { $0.key.scalar?.string == name }) else { return nil }
            (key, value) = (entry.key, entry.value)
        }
        return problem.concernsTheKey ? key?.mark : value.mark
    }

    /// A mapping key that is a list or a mapping (`? [a, b]`), or a scalar tagged
    /// binary (`? !!binary ...`): the decoder's string-keyed mappings dropped the first
    /// without a word, so an entry, or an unknown key, was ignored; the second was an
    /// error naming a Swift type. Nil when every key is a plain scalar.
    static func nonScalarKey(in root: Node, file: String) -> ProfileError? {
        func walk(_ node: Node, _ path: String) -> ProfileError? {
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    func problem(_ message: String) -> ProfileError {
                        ProfileError(.badValue, at: ProfileLocation(file: file, line: key.mark?.line ?? 1, column: key.mark?.column ?? 1,
                                                                    field: path.isEmpty ? "(policy)" : path),
                                     message + "; keys are plain words or strings")
                    }
                    guard let scalar = key.scalar else { return problem("a key is a list or a mapping") }
                    if key.tag.description == Tag.Name.binary.rawValue {
                        return problem("the key '\(scalar.string)' is tagged !!binary")
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
