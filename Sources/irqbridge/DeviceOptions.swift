// What the bring-up verbs (watch, wait, trigger) share on top of the tooling's
// DeviceSession: the --profile and --policy options (the trigger socket's protocol:
// TriggerRelay.swift).
import ArgumentParser
import InterruptBridgeCore
import InterruptBridgeTooling

/// --profile, shared by the bring-up verbs.
struct ProfileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A device profile (YAML or JSON), preferred to the built-in ones; repeatable. For the one device of wait, trigger or selftest, one of them must be for it.", valueName: "FILE"),
            completion: .file(extensions: ["yaml", "yml", "json"]))
    var profile: [String] = []
}

/// --policy for the bring-up verbs: the INF-style settings a device is connected under
/// (PreferMSIX: false serves MSI on a card that has both; MSISupported: false, its line),
/// and --storm, the storm rules its vectors are contained by.
struct ConnectPolicyOption: ParsableArguments {
    @Option(name: .customLong("policy"), help: ArgumentHelp(policyHelp, valueName: "file"))
    var policyFile: String?

    @Option(name: .customLong("storm"), help: ArgumentHelp(
        "A storm rule for the devices connected, as the daemon's storm: keys take it: enabled, rate-limit, rate-window-ms, "
            + "unclaimed-limit, unclaimed-window, rearm-after-ms (or never: held until the command ends), rearm-max-ms; "
            + "repeatable (e.g. --storm rate-limit=1000 for a UIO card whose line the ISR does not quiet).",
        valueName: "key=value"))
    var storm: [String] = []

    func validate() throws {
        _ = try stormOverrides()
    }

    /// The file's policies (read once, before any device is opened; the defaults without a
    /// file), with the --storm rules over each.
    func table() throws(CommandFailure) -> InterruptPolicyTable {
        let table = try loadPolicies(policyFile)
        return storm.isEmpty ? table : table.applyingStorm(try stormOverrides())
    }

    private func stormOverrides() throws(CommandFailure) -> StormOverrides {
        do { return try StormOverrides(assignments: storm) } catch { throw .badInput("--storm \(error)") }
    }
}
