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
        ("default: {MSISuported: false}", "policy.yaml:1:11: default.MSISuported: unknown key \"MSISuported\""),
        ("devices: {nonsense: {}}", "policy.yaml:1:11: devices.nonsense: device key \"nonsense\" is neither"),
        ("default: {MessageNumberLimit: 0}", "policy.yaml:1:31: default.MessageNumberLimit: MessageNumberLimit must be at least 1"),
        ("default: {DevicePriority: urgent}", "policy.yaml:1:27: default.DevicePriority: DevicePriority must be"),
        ("default: {MSISupported: maybe}", "policy.yaml:1:25: default.MSISupported: MSISupported must be true or false"),
        ("default: [1, 2", "policy.yaml:2:1: (syntax): not valid YAML or JSON: "),
        ("devices:\n  00:03.0: {MSISupported: false\n", "policy.yaml:3:1: (syntax): not valid YAML or JSON: "),
        ("- just\n- a list", "policy.yaml: "),
        ("devices: [1]", "policy.yaml:1:10: devices: expected an object (a mapping)"),
        ("  \n", "the file is empty"),
        // A key that is a list or a mapping was dropped without a word (status 0, the entry
        // or the misspelling ignored); a !!binary one was an error naming a Swift type.
        ("devices:\n  ? [0000:00:03.0]\n  : {MSISupported: false}\n", "policy.yaml:2:5: devices: a key is a list or a mapping; keys are plain words or strings"),
        ("default:\n  MSISupported: true\n  {MSISuported: x}: 1\n", "policy.yaml:3:3: default: a key is a list or a mapping"),
        ("devices:\n  ? !!binary aGVsbG8=\n  : {MSISupported: false}\n", "policy.yaml:2:5: devices: the key 'aGVsbG8=' is tagged !!binary"),
    ])
    func badYAMLIsOneLineError(yaml: String, expected: String) {
        do {
            let table = try PolicyFileLoader.parse(yaml, path: "policy.yaml")
            Issue.record("accepted \(yaml) as \(table)")
        } catch {
            #expect(error.description.hasPrefix("policy.yaml:"), "\(error.description)")
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(!error.description.contains("\n"), "\(error.description)")
        }
    }

    /// A wrong key or value is named by line and column, as the daemon's configuration names
    /// its own (`file:line:column: field: message`), in YAML and in JSON alike: the key when
    /// the key is wrong (unknown, not a device), the value otherwise.
    @Test(arguments: [
        // YAML
        ("policy.yaml", "# tuned for the rig\ndefault:\n  MSISupported: maybe\n",
         "policy.yaml:3:17: default.MSISupported: MSISupported must be true or false, not the string \"maybe\""),
        ("policy.yaml", "devices:\n  1234:11e8:\n    DevicePriority: high\n    MessageNumberLimit: 0\n",
         "policy.yaml:4:25: devices.1234:11e8.MessageNumberLimit: MessageNumberLimit must be at least 1"),
        ("policy.yaml", "default:\n  MSISupported: true\n  PreferMSI: true\n",
         "policy.yaml:3:3: default.PreferMSI: unknown key \"PreferMSI\" (known: MSISupported, MessageNumberLimit, PreferMSIX, DevicePriority, AssignmentSetOverride)"),
        ("policy.yaml", "devices:\n  0000:00:03.0:\n    MSISupported: false\n    Priority: high\n",
         "policy.yaml:4:5: devices.0000:00:03.0.Priority: unknown key \"Priority\""),
        ("policy.yaml", "devices:\n  0000:00:03.0: {}\n  nonsense: {MSISupported: false}\n",
         "policy.yaml:3:3: devices.nonsense: device key \"nonsense\" is neither a PCI address"),
        ("policy.yaml", "devices:\n  00:03.0: {}\n  0000:00:03.0: {}\n",
         "policy.yaml:2:3: devices.00:03.0: device keys \"0000:00:03.0\" and \"00:03.0\" name the same device"),
        // A key given twice: at the second, the one to remove (block and flow style, a device too).
        ("policy.yaml", "devices:\n  0000:00:03.0:\n    MSISupported: false\n    MSISupported: true\n",
         "policy.yaml:4:5: MSISupported: 'MSISupported' is given twice (first at line 3)"),
        ("policy.yaml", "devices: {\"0000:00:03.0\": {MSISupported: false, MSISupported: true}}\n",
         "policy.yaml:1:49: MSISupported: 'MSISupported' is given twice (first at line 1)"),
        ("policy.yaml", "devices:\n  0000:00:03.0: {MSISupported: false,\n    MSISupported: true}\n",
         "policy.yaml:3:5: MSISupported: 'MSISupported' is given twice (first at line 2)"),
        ("policy.yaml", "devices:\n  1234:11e8: {}\n  0000:00:03.0: {}\n  '1234:11e8': {MSISupported: false}\n",
         "policy.yaml:4:3: 1234:11e8: '1234:11e8' is given twice (first at line 2)"),
        // JSON
        ("policy.json", "{\n  \"default\": {\n    \"MSISupported\": \"maybe\"\n  }\n}\n",
         "policy.json:3:21: default.MSISupported: MSISupported must be true or false, not the string \"maybe\""),
        ("policy.json", "{\n  \"devices\": {\n    \"1234:11e8\": {\"DevicePriority\": \"high\",\n                  \"MessageNumberLimit\": 0}\n  }\n}\n",
         "policy.json:4:41: devices.1234:11e8.MessageNumberLimit: MessageNumberLimit must be at least 1"),
        ("policy.json", "{\n  \"default\": {\n    \"MSISupported\": true,\n    \"PreferMSI\": true\n  }\n}\n",
         "policy.json:4:5: default.PreferMSI: unknown key \"PreferMSI\""),
        ("policy.json", "{\"devices\": {\n  \"0000:00:03.0\": {\n    \"Priority\": \"high\"}}}\n",
         "policy.json:3:5: devices.0000:00:03.0.Priority: unknown key \"Priority\""),
        ("policy.json", "{\"devices\": {\n  \"0000:00:03.0\": {},\n  \"nonsense\": {}}}\n",
         "policy.json:3:3: devices.nonsense: device key \"nonsense\" is neither a PCI address"),
        ("policy.json", "{\"devices\": {\n  \"1234:11e8\": null}}\n",
         "policy.json:2:16: devices.1234:11e8: expected an object (a mapping), found null"),
        ("policy.json", "{\"devices\": {\n  \"0000:00:03.0\": {\"MSISupported\": false,\n    \"MSISupported\": true}}}\n",
         "policy.json:3:5: MSISupported: 'MSISupported' is given twice (first at line 2)"),
        ("policy.json", "{\"devices\": {\"1234:11e8\": {}, \"1234:11e8\": {\"MSISupported\": false}}}",
         "policy.json:1:31: 1234:11e8: '1234:11e8' is given twice (first at line 1)"),
    ])
    func aKeyOrValueIsNamedByLineAndColumn(file: String, text: String, expected: String) {
        do {
            let table = try PolicyFileLoader.parse(text, path: file)
            Issue.record("accepted \(text) as \(table)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
            #expect(!error.description.contains("\n"), "\(error.description)")
        }
    }
}
