import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeTooling
import Testing

/// `--policy` as YAML: the same keys, checks and errors as the JSON file.
struct PolicyFileLoaderTests {
    static let json = #"""
        {"default": {"MSISupported": true, "PreferMSIX": false},
         "devices": {"0000:00:03.0": {"MSISupported": false},
                     "1AF4:1041": {"MessageNumberLimit": 1, "DevicePriority": "high", "AssignmentSetOverride": "0x2"}}}
        """#

    @Test func yamlReadsAsTheSameJSONDoes() throws {
        let yaml = """
            # what list --policy takes, as YAML
            default: {MSISupported: true, PreferMSIX: false}
            devices:
              0000:00:03.0: {MSISupported: false}
              1AF4:1041:
                MessageNumberLimit: 1
                DevicePriority: high
                AssignmentSetOverride: 0x2
            """
        let fromYAML = try PolicyFileLoader.parse(yaml, path: "policy.yaml")
        #expect(fromYAML == (try InterruptPolicyTable.parse(json: Self.json)))
        #expect(fromYAML.byAddress[PCIAddress("0000:00:03.0")!]?.msiSupported == false)
        #expect(fromYAML.byID["1af4:1041"]?.affinityOverride == ProcessorAffinity(rawValue: 2))
        // JSON through the same entry point (it begins with "{") is read as JSON.
        #expect(try PolicyFileLoader.parse(Self.json) == fromYAML)
    }

    @Test(arguments: [
        ("default: {MSISuported: false}", "at default.MSISuported: unknown key \"MSISuported\""),
        ("devices: {nonsense: {}}", "device key \"nonsense\" is neither"),
        ("default: {MessageNumberLimit: 0}", "MessageNumberLimit must be at least 1"),
        ("default: {DevicePriority: urgent}", "at default.DevicePriority"),
        ("default: {MSISupported: maybe}", "MSISupported"),
        ("default: [1, 2", "policy.yaml: "),
        ("devices:\n  00:03.0: {MSISupported: false\n", "3:1"),
        ("- just\n- a list", "policy.yaml: "),
        ("devices: [1]", "at devices: expected an object (a mapping)"),
        ("  \n", "the file is empty"),
        // A key that is a list or a mapping was dropped without a word (status 0, the entry
        // or the misspelling ignored); a !!binary one was an error naming a Swift type.
        ("devices:\n  ? [0000:00:03.0]\n  : {MSISupported: false}\n", "line 2, column 5: a key is a list or a mapping (in devices)"),
        ("default:\n  MSISupported: true\n  {MSISuported: x}: 1\n", "line 3, column 3: a key is a list or a mapping (in default)"),
        ("devices:\n  ? !!binary aGVsbG8=\n  : {MSISupported: false}\n", "line 2, column 5: the key 'aGVsbG8=' is tagged !!binary"),
    ])
    func badYAMLIsOneLineError(yaml: String, expected: String) {
        do {
            let table = try PolicyFileLoader.parse(yaml, path: "policy.yaml")
            Issue.record("accepted \(yaml) as \(table)")
        } catch {
            #expect(error.description.hasPrefix("policy.yaml: "), "\(error.description)")
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(!error.description.contains("\n"), "\(error.description)")
        }
    }
}
