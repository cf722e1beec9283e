@testable import InterruptBridgeDaemon
import Foundation
import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// A device's `storm:` overrides the daemon-wide policy key by key: what it leaves out is
/// settings.storm's (then the library's), checked whole once combined, and written back
/// as the device gave it.
@Suite("A device's storm keys over the daemon-wide policy")
struct DeviceStormOverridesTests {
    static let configuration = """
        settings:
          storm: {rearm-after-ms: never, rate-window-ms: 50}
        devices:
          "0000:00:03.0": {storm: {rate-limit: 1000}}
          "0000:00:04.0": {from: e1000e}
        """

    static func loaded(_ text: String) throws -> (table: DeviceTable, settings: DaemonSettings) {
        let table = try DeviceTableLoader.load(text, file: "d.yaml")
        return (table, try DaemonConfiguration.settings(for: table, arguments: [:], environment: [:]))
    }

    /// The key the device gives is its own, the rest settings.storm's; a device without
    /// `storm:` has the daemon-wide policy whole.
    @Test func aDeviceKeepsTheDaemonWideKeysItLeavesOut() throws {
        let (table, settings) = try Self.loaded(Self.configuration)
        let own = table.policy(for: table.devices[0], daemonWideStorm: settings.storm).storm
        #expect(own?.rateLimit == 1000 && own?.rateWindow == .milliseconds(50) && own?.initialBackoff == nil, "\(String(describing: own))")
        #expect(own?.maximumBackoff == StormPolicy.default.maximumBackoff && own?.unclaimedLimit == StormPolicy.default.unclaimedLimit)
        let none = table.policy(for: table.devices[1], daemonWideStorm: settings.storm).storm
        #expect(none == settings.storm && none?.initialBackoff == nil && none?.rateWindow == .milliseconds(50))
    }

    /// Keys that clash only once the device's are over the settings' are an error naming the
    /// device's `storm:` (file and line), each key's value and whose it is.
    @Test func keysThatClashOnlyCombinedNameTheDevice() throws {
        let text = "settings:\n  storm: {unclaimed-limit: 50, unclaimed-window: 100}\ndevices:\n  \"0000:00:03.0\":\n    storm: {unclaimed-limit: 500}\n"
        let table = try DeviceTableLoader.load(text, file: "d.yaml")
        #expect {
            try DaemonConfiguration.settings(for: table, arguments: [:], environment: [:])
        } throws: { error in
            "\(error)" == "d.yaml:5:12: devices.0000:00:03.0.storm: unclaimed-limit 500 (its own) and unclaimed-window 100 (settings.storm's) "
                + "do not work together: the unclaimed limit must be 1...100 (the window)"
        }
        // The same window from the environment: still the device's error, over the policy the daemon would run.
        let quiet = try DeviceTableLoader.load("devices:\n  \"0000:00:03.0\": {storm: {unclaimed-limit: 500}}\n", file: "d.yaml")
        #expect(throws: DaemonConfigurationError.self) {
            try DaemonConfiguration.settings(for: quiet, arguments: [:], environment: ["IRQBRIDGE_STORM_UNCLAIMED_LIMIT": "50", "IRQBRIDGE_STORM_UNCLAIMED_WINDOW": "100"])
        }
    }

    /// A device's own back-off above its own maximum, or above the daemon-wide one, is refused
    /// at its `storm:`.
    @Test(arguments: [
        ("devices:\n  \"0000:00:03.0\":\n    storm: {rearm-after-ms: 5000, rearm-max-ms: 1000}\n", "d.yaml:3:",
         "rearm-after-ms 5000 (its own) and rearm-max-ms 1000 (its own)"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: 100000}}\n", "d.yaml:2:",
         "rearm-after-ms 100000 (its own) and rearm-max-ms 64000 (settings.storm's)"),
        ("settings:\n  storm: {rearm-max-ms: 2000}\ndevices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: 5000}}\n", "d.yaml:4:",
         "rearm-after-ms 5000 (its own) and rearm-max-ms 2000 (settings.storm's)"),
    ])
    func aBackOffAboveItsMaximumIsTheDevicesError(text: String, location: String, message: String) throws {
        let table = try DeviceTableLoader.load(text, file: "d.yaml")
        #expect {
            try DaemonConfiguration.settings(for: table, arguments: [:], environment: [:])
        } throws: { error in
            "\(error)".hasPrefix(location) && "\(error)".contains(message) && !"\(error)".contains("\n")
        }
    }

    /// save-config writes only the keys the device gave, so the saved file keeps them following
    /// settings.storm.
    @Test func saveConfigKeepsTheDevicesKeysOnly() throws {
        let (table, settings) = try Self.loaded(Self.configuration)
        let written = ConfigurationWriter.yaml(table, settings: settings)
        #expect(written.contains("    storm: {rate-limit: 1000}\n"), "\(written)")
        let (reloaded, replayed) = try Self.loaded(written)
        #expect(reloaded.devices.map(\.storm) == table.devices.map(\.storm), "\(written)")
        #expect(reloaded.policy(for: reloaded.devices[0], daemonWideStorm: replayed.storm).storm
                == table.policy(for: table.devices[0], daemonWideStorm: settings.storm).storm)
    }
}
