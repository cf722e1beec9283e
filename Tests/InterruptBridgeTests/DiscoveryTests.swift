import Foundation
import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Testing

/// The fixtures of InterruptBridgeCoreTests: its resource bundle beside the test binary
/// (copied along when the tests run elsewhere, e.g. in the QEMU rig), else the source tree.
enum Fixtures {
    static let directory: String = {
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let bundled = binary.appendingPathComponent("InterruptBridge_InterruptBridgeCoreTests.resources/Fixtures").path
        if FileManager.default.fileExists(atPath: bundled) { return bundled }
        return "/" + #filePath.split(separator: "/").dropLast(2).joined(separator: "/") + "/InterruptBridgeCoreTests/Fixtures"
    }()

    static func path(_ name: String) -> String { directory + "/" + name }
}

@Suite struct DiscoveryTests {
    let logger = Logger(label: "test.discovery")
    let facts = ResourceTranslator.SystemFacts(onlineProcessors: .first(2))

    func catalog(_ dump: String, policies: InterruptPolicyTable = InterruptPolicyTable()) throws(DiscoveryError) -> DeviceCatalog {
        try PCIDiscovery(source: .dump(path: Fixtures.path(dump)), policies: policies, facts: facts, logger: logger).catalog()
    }

    /// UIO delivers INTx only, so a function on uio_pci_generic is given its line, whatever
    /// the policy file says; on any other driver the file's policy stands.
    @Test(arguments: [("uio_pci_generic", false), ("vfio-pci", true), (nil, true)] as [(String?, Bool)])
    func aFunctionOnUIOIsAssignedItsLineOnly(driver: String?, messages: Bool) throws {
        var info = SimulatedDevice(msiCount: 4, msixCount: 8).info
        info.driver = driver
        let table = try InterruptPolicyTable.parse(json: #"{ "default": { "MSISupported": true, "MessageNumberLimit": 2 } }"#)
        let discovery = PCIDiscovery(source: .dump(path: Fixtures.path("rig-q35.lspci")), policies: table, facts: facts, logger: logger)
        let policy = discovery.policy(for: info)
        #expect(policy.msiSupported == messages)
        #expect(policy.messageNumberLimit == 2)
        let resources = ResourceTranslator(facts: facts).resources(for: info, policy: policy)
        #expect(resources.interruptKind == (messages ? .msix : .intx))
    }

    @Test func catalogPairsEachFunctionWithItsPolicyAndResources() throws {
        let table = try InterruptPolicyTable.parse(json: """
            { "default": { "MessageNumberLimit": 2 },
              "devices": { "0000:00:03.0": { "MSISupported": false }, "1b36:0010": { "DevicePriority": "low" } } }
            """)
        let catalog = try catalog("rig-q35.lspci", policies: table)
        #expect(catalog.devices.count == 9)
        #expect(catalog.facts == facts)

        let edu = try #require(catalog.device(at: PCIAddress(bus: 0, device: 3, function: 0)))
        #expect(!edu.policy.msiSupported)
        #expect(edu.resources.interruptKind == .intx)

        let nvme = try #require(catalog.device(at: PCIAddress(bus: 0, device: 8, function: 0)))
        #expect(nvme.policy.devicePriority == .low && nvme.policy.messageNumberLimit == 2)
        #expect(nvme.resources.translatedInterrupts.count == 2)
        guard case .messageInterrupt(let message)? = nvme.resources.translatedInterrupts.first?.payload else { Issue.record("no message"); return }
        #expect(message.translated.level == 7)

        let e1000e = try #require(catalog.device(at: PCIAddress(bus: 0, device: 7, function: 0)))
        #expect(e1000e.policy == InterruptPolicy(messageNumberLimit: 2))
        #expect(e1000e.resources.translatedInterrupts.count == 2)
    }

    @Test func malformedFunctionIsNamedInTheError() throws {
        #expect(throws: DiscoveryError.malformedDevice(PCIAddress(bus: 0, device: 3, function: 0), .capabilityLoop(offset: 0x40, from: 0x50))) {
            try catalog("malformed-capability-loop.lspci")
        }
        do {
            _ = try catalog("malformed-capability-loop.lspci")
        } catch {
            #expect(error.description == "0000:00:03.0: capability list loops: the capability at 0x50 points back to 0x40")
        }
    }

    @Test func unreadableSourceIsAnAccessError() {
        do {
            _ = try catalog("no-such-dump.lspci")
            Issue.record("discovery of a missing dump succeeded")
        } catch {
            guard case .access(.unreadableDump(.system(let system))) = error else { Issue.record("wrong error \(error)"); return }
            #expect(system.code == ENOENT && system.operation.hasPrefix("open "))
        }
    }

    /// The daemon's view: a function that does not decode is named, not fatal to the pass.
    @Test func aMalformedFunctionIsLeftOutOfTheDecodedPassAndNamed() throws {
        let broken = PCIDiscovery(source: .dump(path: Fixtures.path("malformed-capability-loop.lspci")), facts: facts, logger: logger)
        let found = try broken.decodedCatalog()
        #expect(found.catalog.devices.isEmpty)
        #expect(found.malformed == [.malformedDevice(PCIAddress(bus: 0, device: 3, function: 0), .capabilityLoop(offset: 0x40, from: 0x50))])
        let whole = PCIDiscovery(source: .dump(path: Fixtures.path("rig-q35.lspci")), facts: facts, logger: logger)
        #expect(try whole.decodedCatalog().catalog == whole.catalog() && whole.decodedCatalog().malformed.isEmpty)
    }

    /// One function's policy and resource lists, read alone, are what the whole pass gives it.
    @Test func oneDiscoveredFunctionAgreesWithTheCatalog() throws {
        let discovery = PCIDiscovery(source: .dump(path: Fixtures.path("rig-q35.lspci")), facts: facts, logger: logger)
        let catalog = try discovery.catalog()
        for device in catalog.devices {
            let alone = try #require(try discovery.discovered(at: device.info.address))
            #expect(alone.info == device.info && alone.policy == device.policy && alone.resources == device.resources, "\(device.info.address)")
        }
        #expect(try discovery.discovered(at: PCIAddress(bus: 0, device: 9, function: 0)) == nil)
    }

    @Test func oneFunctionIsFoundWithoutDecodingTheOthers() throws {
        let discovery = PCIDiscovery(source: .dump(path: Fixtures.path("rig-q35.lspci")), logger: logger)
        #expect(try discovery.device(at: PCIAddress(bus: 0, device: 5, function: 0))?.msix?.tableSize == 4)
        #expect(try discovery.device(at: PCIAddress(bus: 0, device: 9, function: 0)) == nil)
        let broken = PCIDiscovery(source: .dump(path: Fixtures.path("malformed-capability-loop.lspci")), logger: logger)
        #expect(throws: DiscoveryError.malformedDevice(PCIAddress(bus: 0, device: 3, function: 0), .capabilityLoop(offset: 0x40, from: 0x50))) {
            try broken.device(at: PCIAddress(bus: 0, device: 3, function: 0))
        }
    }

    @Test func dumpSourcesGetNoDeviceNodes() throws {
        #expect(try catalog("host-virtio.lspci").devices.allSatisfy { $0.info.deviceNodes == DeviceNodes() })
    }
}

@Suite struct PolicyFileTests {
    @Test func settingsOverrideTheDefaultWhichOverridesBuiltIns() throws {
        let table = try InterruptPolicyTable.parse(json: """
            { "default": { "PreferMSIX": false, "AssignmentSetOverride": "0x2" },
              "devices": { "00:03.0": { "MSISupported": false, "AssignmentSetOverride": 1 }, "1AF4:1041": { "MessageNumberLimit": 1 } } }
            """)
        #expect(table.fallback == InterruptPolicy(preferMSIX: false, affinityOverride: ProcessorAffinity(rawValue: 2)))
        #expect(table.byAddress[PCIAddress(bus: 0, device: 3, function: 0)]
                == InterruptPolicy(msiSupported: false, preferMSIX: false, affinityOverride: ProcessorAffinity(rawValue: 1)))
        #expect(table.byID["1af4:1041"] == InterruptPolicy(messageNumberLimit: 1, preferMSIX: false, affinityOverride: ProcessorAffinity(rawValue: 2)))
    }

    /// Equal keys in different objects, and strings that only look like keys, are not duplicates.
    @Test func duplicateKeysAreFoundOnlyWithinOneObject() {
        #expect(JSONDuplicateKeys.first(in: #"{"devices": {"a": {"MSISupported": true}, "b": {"MSISupported": true}}}"#) == nil)
        #expect(JSONDuplicateKeys.first(in: #"{"a": ["a", "a", {"a": 1}], "b": "a"}"#) == nil)
        #expect(JSONDuplicateKeys.first(in: #"{"a\"b": 1, "a\"c": 2}"#) == nil)
        #expect(JSONDuplicateKeys.first(in: #"{"x": [{"a": 1, "a": 2}]}"#) == "x.a")
        #expect(JSONDuplicateKeys.first(in: #"{"a": 1, "b": {}, "a": 2}"#) == "a")
        #expect(JSONDuplicateKeys.first(in: #"{"unterminated"#) == nil)
    }

    /// A parser decodes a key's escapes before it compares keys: spelt differently, they are
    /// still one key, of which the decoder keeps one value and drops the other.
    @Test func keysSpeltWithEscapesAreTheSameKey() {
        #expect(JSONDuplicateKeys.first(in: #"{"count": 1, "\u0063ount": 3}"#) == "count")
        #expect(JSONDuplicateKeys.first(in: #"{"a/b": 1, "a\/b": 2}"#) == "a/b")
        #expect(JSONDuplicateKeys.first(in: #"{"\"": 1, "\u0022": 2}"#) == "\"")
        #expect(JSONDuplicateKeys.first(in: #"{"\ud83d\ude00": 1, "😀": 2}"#) == "😀", "a surrogate pair is one scalar")
        #expect(JSONDuplicateKeys.first(in: #"{"\u00e9": 1, "\u00E9x": 2, "tab\t": 3, "tab\u0009": 4}"#) == "tab\t")
    }

    @Test func emptyObjectIsTheBuiltInDefault() throws {
        #expect(try InterruptPolicyTable.parse(json: "{}") == InterruptPolicyTable())
    }

    @Test(arguments: [
        (#"{ "default": { "MSISuported": false } }"#, "at default.MSISuported: unknown key \"MSISuported\""),
        (#"{ "devices": { "nonsense": {} } }"#, "device key \"nonsense\" is neither"),
        (#"{ "default": { "MessageNumberLimit": 0 } }"#, "MessageNumberLimit must be at least 1"),
        (#"{ "default": { "AssignmentSetOverride": "0x0" } }"#, "AssignmentSetOverride names no processor"),
        (#"{ "default": { "DevicePriority": "urgent" } }"#, "at default.DevicePriority"),
        (#"{ "default": "#, "not valid JSON: line 1, column 14: the text ends where a value should be"),
        // Where a hand edit broke the file, not Foundation's bare "not valid JSON".
        ("{\n  \"devices\": {\n    \"0000:00:03.0\": { \"MSISupported\": false }\n    \"0000:00:04.0\": {}\n  }\n}",
         #"not valid JSON: line 4, column 5: expected ',' or '}', found '"'"#),
        (#"{ "devices": [] }"#, "at devices: expected an object (a mapping), found an array"),
        // One device twice: a parser keeps the last entry without a word, so both are refused.
        (#"{ "devices": { "0000:00:03.0": { "MSISupported": false }, "0000:00:03.0": {} } }"#,
         #""devices.0000:00:03.0" is written twice in one object"#),
        (#"{ "default": { "PreferMSIX": true, "PreferMSIX": false } }"#, #""default.PreferMSIX" is written twice"#),
        (#"{ "devices": { "00:03.0": {}, "0000:00:03.0": {} } }"#,
         #"device keys "0000:00:03.0" and "00:03.0" name the same device"#),
        (#"{ "devices": { "1af4:1041": {}, "1AF4:1041": {} } }"#, #"device keys "1AF4:1041" and "1af4:1041" name the same device"#),
    ])
    func badFilesAreOneLineErrors(json: String, expected: String) {
        do {
            _ = try InterruptPolicyTable.parse(json: json, path: "policy.json")
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.hasPrefix("policy.json: "))
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }
}
