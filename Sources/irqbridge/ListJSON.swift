import Foundation
import InterruptBridgeCore
import InterruptBridgeDiscovery

extension ListOutput {
    /// The `--json` document: a pretty-printed array, keys sorted for stable diffs.
    static func json(_ devices: [DiscoveredDevice]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(devices.map(DeviceJSON.init)), as: UTF8.self)
    }
}

/// One hot-plug event as `irqbridge list --watch --json` prints it (one object per line).
struct HotplugEventJSON: Encodable {
    var action: String
    var address: String
    @NullEncoded var driver: String?
}

extension ListOutput {
    /// A hot-plug event as a single line of JSON.
    static func json(_ event: PCIHotplugEvent) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let object = HotplugEventJSON(action: event.action.description, address: event.address.description, driver: event.driver)
        return String(decoding: try encoder.encode(object), as: UTF8.self)
    }
}
