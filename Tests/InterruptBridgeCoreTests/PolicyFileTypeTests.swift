import Foundation
import InterruptBridgeCore
import Testing

/// A policy file that is valid JSON with a value of the wrong type names the key,
/// what it wants and what it found (Foundation alone says "not valid JSON" for 1.5).
@Suite struct PolicyFileTypeTests {
    static func message(_ json: String) -> String? {
        do {
            _ = try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(json.utf8))
            return nil
        } catch DecodingError.typeMismatch(_, let context) {
            return context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [
        (#"{ "default": { "MessageNumberLimit": 1.5 } }"#, "default.MessageNumberLimit: MessageNumberLimit must be a whole number, at least 1, not 1.5"),
        (#"{ "default": { "MessageNumberLimit": 1e30 } }"#, "default.MessageNumberLimit: MessageNumberLimit must be a whole number, at least 1, not 1e+30"),
        (#"{ "default": { "MessageNumberLimit": "2" } }"#, "default.MessageNumberLimit: MessageNumberLimit must be a whole number, at least 1, not the string \"2\""),
        (#"{ "devices": { "00:03.0": { "MSISupported": 1 } } }"#, "devices.00:03.0.MSISupported: MSISupported must be true or false, not 1"),
        (#"{ "default": { "PreferMSIX": null } }"#, nil),
        (#"{ "default": { "PreferMSIX": [true] } }"#, "default.PreferMSIX: PreferMSIX must be true or false, not an array or object"),
        (#"{ "default": { "MessageNumberLimit": 1e400 } }"#, "default.MessageNumberLimit: MessageNumberLimit must be a whole number, at least 1, not a number out of range"),
        (#"{ "default": { "MessageNumberLimit": {"a": 1} } }"#, "default.MessageNumberLimit: MessageNumberLimit must be a whole number, at least 1, not an array or object"),
        (#"{ "default": { "DevicePriority": "urgent" } }"#, "default.DevicePriority: DevicePriority must be \"low\", \"normal\" or \"high\", not the string \"urgent\""),
        (#"{ "default": { "AssignmentSetOverride": 1.5 } }"#, "default.AssignmentSetOverride: AssignmentSetOverride must be a processor mask: a whole number or a \"0x...\" string, not 1.5"),
    ])
    func wrongTypeNamesKeyExpectationAndValue(json: String, expected: String?) {
        #expect(Self.message(json) == expected)
    }

    @Test func rightTypesStillDecode() throws {
        let file = try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(#"{ "default": { "MessageNumberLimit": 2, "MSISupported": true, "AssignmentSetOverride": "0x3" } }"#.utf8))
        #expect(file.defaults?.messageNumberLimit == 2 && file.defaults?.msiSupported == true && file.defaults?.assignmentSetOverride == 3)
    }

    /// An unknown key is told apart from a wrong value (a reader points at the key, not its
    /// value): its `DecodingError` carries `InterruptPolicyFileError.unknownKey`, at the key's path.
    @Test(arguments: [
        (#"{ "default": { "PreferMSI": true } }"#, ["default", "PreferMSI"]),
        (#"{ "devices": { "00:03.0": { "Priority": "high" } } }"#, ["devices", "00:03.0", "Priority"]),
        (#"{ "defaults": {} }"#, ["defaults"]),
    ])
    func anUnknownKeyIsMarkedAsTheKeys(json: String, keyPath: [String]) {
        do {
            _ = try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.codingPath.map(\.stringValue) == keyPath)
            guard case .unknownKey(let key, _) = context.underlyingError as? InterruptPolicyFileError else {
                Issue.record("underlying error: \(String(describing: context.underlyingError))")
                return
            }
            #expect(key == keyPath.last)
        } catch {
            Issue.record("\(error)")
        }
    }

    /// A device key that is no device, or names one another key names, concerns that key.
    @Test func aBadDeviceKeyNamesItsPath() throws {
        let bad = try JSONDecoder().decode(InterruptPolicyFile.self, from: Data(#"{ "devices": { "nonsense": {} } }"#.utf8))
        #expect(throws: InterruptPolicyFileError.badDeviceKey("nonsense")) { try bad.table() }
        #expect(InterruptPolicyFileError.badDeviceKey("nonsense").keyPath == ["devices", "nonsense"])
        #expect(InterruptPolicyFileError.sameDeviceTwice("0000:00:03.0", "00:03.0").keyPath == ["devices", "00:03.0"])
    }
}
