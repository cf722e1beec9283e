@testable import InterruptBridgeDaemon
import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeTooling
import Testing

/// A reload that changes `settings.storm` rules the connected devices at once: each by its own
/// keys over the new daemon-wide policy, in place; one the change does not reach is left alone,
/// and a policy some device's keys clash with is refused whole.
@Suite("Daemon: a reload of settings.storm")
struct DaemonWideStormReloadTests {
    /// A fake PCI core with no cards: the configured addresses are absent, and the test
    /// connects them to simulated functions (the harness has no VFIO).
    static func kernel() -> FakeBindingKernel { FakeBindingKernel(devices: [:], registered: ["vfio-pci"]) }

    static let partial = "0000:0e:00.0"
    static let covering = "0000:0e:00.1"

    /// The file: a simulated device, a card whose `storm:` leaves the rate limit to the
    /// daemon-wide policy, and one whose own rate limit covers it.
    static func configuration(_ settingsStorm: String) -> String {
        "settings: {storm: {\(settingsStorm)}}\nsimulated:\n  loud: {interrupts: msi, vectors: 1}\ndevices:\n"
            + "  \"\(partial)\": {storm: {unclaimed-limit: 50000}}\n  \"\(covering)\": {storm: {rate-limit: 20000}}\n"
    }

    /// Whether 400 interrupts at 2000 a second left `id`'s vector contained.
    static func containedByABurst(_ daemon: DaemonHarness, _ id: String) async throws -> Bool? {
        let burst = try await daemon.call("POST", "/v1/devices/\(id)/trigger", ["count": 400, "rate": 2000])
        #expect(burst.status == 200, "\(id): \(burst.text)")
        return try await contained(daemon, id)
    }

    static func contained(_ daemon: DaemonHarness, _ id: String) async throws -> Bool? {
        let vectors = try await daemon.call("GET", "/v1/devices/\(id)/statistics").json["vectors"] as? [[String: Any]]
        return vectors?.first?["contained"] as? Bool
    }

    /// The daemon-wide policy GET /v1/config reports (what save-config writes).
    static func runningStorm(_ daemon: DaemonHarness) async throws -> StormPolicy {
        let text = try await daemon.call("GET", "/v1/config").json["configuration"] as? String ?? ""
        let table = try DeviceTableLoader.load(text, file: "saved.yaml")
        return try DaemonSettings.load(arguments: [:], environment: [:], file: table.settings).storm
    }

    /// The simulated device and the card that leaves the rate limit out are contained at the
    /// new limit without a restart; the card whose own limit covers it keeps its own, is not
    /// counted as changed, and IRQBRIDGE_STORM_* still wins over the file's key.
    @Test func aReloadRulesTheConnectedDevicesByTheNewPolicyAtOnce() async throws {
        let daemon = try await DaemonHarness(Self.configuration("rearm-after-ms: 100"),
                                             environment: ["IRQBRIDGE_STORM_REARM_AFTER_MS": "never"], kernel: Self.kernel())
        for (index, id) in [Self.partial, Self.covering].enumerated() {
            try await daemon.services.registry.connectToSimulatedFunction(id, index: 10 + index)
        }
        #expect(try await Self.containedByABurst(daemon, "loud") == false, "under the start-up limit")

        try Self.configuration("rate-limit: 20, rearm-after-ms: 100").write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        let message = reloaded.json["message"] as? String ?? ""
        #expect(reloaded.status == 200 && message.hasPrefix("reloaded: 0 added, 2 changed, 0 removed"), "\(reloaded.text)")
        #expect(!message.contains("restart"), "\(message)")

        for id in ["loud", Self.partial] { #expect(try await Self.containedByABurst(daemon, id) == true, "\(id) at the new rate limit") }
        #expect(try await Self.containedByABurst(daemon, Self.covering) == false, "its own rate limit stands")
        // The environment's `never`, not the file's 100 ms: still held well after that.
        try await Task.sleep(for: .milliseconds(600))
        for id in ["loud", Self.partial] { #expect(try await Self.contained(daemon, id) == true, "\(id) held under the environment's never") }
        let running = try await Self.runningStorm(daemon)
        #expect(running.rateLimit == 20 && running.initialBackoff == nil, "\(running)")
        try await daemon.stop()
    }

    /// Device keys that work over the new daemon-wide policy, though not over the running one,
    /// are applied; a policy a device's keys clash with is refused in one line naming the
    /// device, and nothing of it applies.
    @Test func aReloadIsCheckedAgainstTheNewPolicyNotTheRunningOne() async throws {
        let daemon = try await DaemonHarness("settings: {storm: {unclaimed-limit: 50, unclaimed-window: 100, rearm-after-ms: never}}\n"
                                             + "simulated:\n  loud: {interrupts: msi, vectors: 1}\n", kernel: Self.kernel())
        let device = "devices:\n  \"\(Self.partial)\": {storm: {unclaimed-limit: 500}}\n"
        try ("settings: {storm: {unclaimed-limit: 50, unclaimed-window: 1000, rearm-after-ms: never}}\n"
             + "simulated:\n  loud: {interrupts: msi, vectors: 1}\n" + device).write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let applied = try await daemon.call("POST", "/v1/reload")
        #expect(applied.status == 200, "over the new window of 1000 the device's 500 works: \(applied.text)")

        try ("settings: {storm: {unclaimed-limit: 50, unclaimed-window: 100, rate-limit: 20, rearm-after-ms: never}}\n"
             + "simulated:\n  loud: {interrupts: msi, vectors: 1}\n" + device).write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let rejected = try await daemon.call("POST", "/v1/reload")
        let reason = rejected.json["message"] as? String ?? ""
        #expect(rejected.status == 422 && !reason.contains("\n") && reason.contains("daemon.yaml:5:")
                && reason.contains("devices.\(Self.partial).storm: unclaimed-limit 500 (its own) and unclaimed-window 100 (settings.storm's)"), "\(reason)")
        #expect(try await Self.containedByABurst(daemon, "loud") == false, "the refused rate limit is not applied")
        let running = try await Self.runningStorm(daemon)
        #expect(running.unclaimedWindow == 1000 && running.rateLimit == StormPolicy.default.rateLimit, "\(running)")
        try await daemon.stop()
    }
    /// A vector contained under `rearm-after-ms: never` is not held past a reload whose rules
    /// would not hold it (off, or a back-off): it is watched again at once. One the new rules
    /// still hold for good stays contained.
    @Test(arguments: [("rate-limit: 20, rearm-after-ms: 100", false), ("enabled: false", false),
                      ("rate-limit: 20, rate-window-ms: 200, rearm-after-ms: never", true)])
    func aVectorHeldForGoodFollowsTheNewBackOff(_ storm: String, _ held: Bool) async throws {
        func file(_ storm: String) -> String { "settings: {storm: {\(storm)}}\nsimulated:\n  loud: {interrupts: msi, vectors: 1}\n" }
        let daemon = try await DaemonHarness(file("rate-limit: 20, rearm-after-ms: never"), kernel: Self.kernel())
        #expect(try await Self.containedByABurst(daemon, "loud") == true)
        try file(storm).write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.status == 200 && (reloaded.json["message"] as? String ?? "").hasPrefix("reloaded: 0 added, 1 changed"), "\(reloaded.text)")
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await Self.contained(daemon, "loud") == held, "\(storm)")
        try await daemon.stop()
    }
}

extension DeviceRegistry {
    /// Connects a configured card to a simulated function under the rules its entry resolves
    /// to, as `connect` does once VFIO has opened it (which the harness cannot).
    /// `index`: the simulated function's place on its made-up bus, one per card.
    func connectToSimulatedFunction(_ id: String, index: Int) throws {
        let device = try device(id)
        let entry = try #require(device.entry)
        let session = DeviceSession.simulated(SimulatedBackend(Self.simulatedDevice(SimulatedEntry(name: id), index: index)))
        var policy = policy(for: entry)
        policy.msiSupported = true
        policy.preferMSIX = true
        device.connected = try session.connect(dispatcher, lineBased: false, policy: policy)
        device.session = session
        device.state = .connected
        device.triggers.reopen()
        resetBaselines(device)
    }
}
