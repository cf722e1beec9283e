@testable import InterruptBridgeDaemon
import Foundation
import InterruptBridgeCore
import Testing

/// The storm back-off a configuration sets (`rearm-after-ms`, `rearm-max-ms`): written back
/// as it was read, and `never` holding a contained vector until an explicit rearm, so a
/// harness can watch a storm held as long as it likes.
@Suite("Storm re-arm back-off")
struct StormRearmTests {
    static let configuration = """
        settings:
          storm: {rearm-after-ms: never, rearm-max-ms: 2000}
        devices:
          "0000:00:03.0": {storm: {rearm-after-ms: 500, rearm-max-ms: 8000}}
          "0000:00:04.0": {storm: {rearm-after-ms: never}}
        """

    /// save-config writes both keys, for the daemon's default rules and a device's own.
    @Test func whatSaveConfigWritesLoadsBackToTheSameBackOff() throws {
        let table = try DeviceTableLoader.load(Self.configuration, file: "d.yaml")
        let settings = try DaemonSettings.load(arguments: [:], environment: [:], file: table.settings)
        let written = ConfigurationWriter.yaml(table, settings: settings)
        let reloaded = try DeviceTableLoader.load(written, file: "saved.yaml")
        #expect(reloaded.devices.map(\.storm) == table.devices.map(\.storm), "\(written)")
        #expect(reloaded.devices.map(\.storm?.initialBackoff) == [.milliseconds(500), .some(nil)], "\(written)")
        let replayed = try DaemonSettings.load(arguments: [:], environment: [:], file: reloaded.settings)
        #expect(replayed.storm == settings.storm && replayed.storm.initialBackoff == nil, "\(written)")
    }

    /// Under `rearm-after-ms: never` a contained vector is still off well after the default
    /// second, and comes back on `POST /v1/devices/ID/rearm`; a reload with a back-off that
    /// cannot work is refused, naming the key.
    @Test func aVectorContainedUnderNeverStaysOffUntilItIsRearmed() async throws {
        let daemon = try await DaemonHarness("settings: {storm: {rate-limit: 20, rate-window-ms: 100, rearm-after-ms: never}}\n"
                                             + "simulated:\n  loud: {interrupts: msi, vectors: 1}\n")
        func contained() async throws -> Bool? {
            let vectors = try await daemon.call("GET", "/v1/devices/loud/statistics").json["vectors"] as? [[String: Any]]
            return vectors?.first?["contained"] as? Bool
        }
        let storm = try await daemon.call("POST", "/v1/devices/loud/trigger", ["count": 400, "rate": 2000])
        #expect(storm.status == 200, "\(storm.text)")
        #expect(try await contained() == true)
        try await Task.sleep(for: .milliseconds(1800))
        #expect(try await contained() == true, "held past the default 1 s back-off")
        #expect(try await daemon.call("POST", "/v1/devices/loud/rearm", [:]).status == 200)
        var rearmed = try await contained()
        for _ in 0..<20 where rearmed != false {
            try await Task.sleep(for: .milliseconds(25))
            rearmed = try await contained()
        }
        #expect(rearmed == false, "the explicit rearm brought it back")

        for text in ["settings: {storm: {rearm-after-ms: 5000, rearm-max-ms: 1000}}\n",
                     "devices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: soon}}\n"] {
            try text.write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
            let rejected = try await daemon.call("POST", "/v1/reload")
            let message = rejected.json["message"] as? String ?? ""
            #expect(rejected.status == 422 && message.contains("rearm-") && message.contains("daemon.yaml:"), "\(rejected.text)")
        }
        try await daemon.stop()
    }
}
