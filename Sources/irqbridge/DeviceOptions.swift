// What the bring-up verbs (watch, wait, trigger) share on top of the tooling's
// DeviceSession: the --profile and --policy options (the trigger socket's protocol:
// TriggerRelay.swift).
import ArgumentParser
import InterruptBridgeCore

/// --profile, shared by the bring-up verbs.
struct ProfileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A device profile (YAML or JSON), preferred to the built-in ones; repeatable. For the one device of wait, trigger or selftest, one of them must be for it.", valueName: "FILE"),
            completion: .file(extensions: ["yaml", "yml", "json"]))
    var profile: [String] = []
}

/// --policy for the bring-up verbs: the INF-style settings a device is connected under
/// (PreferMSIX: false serves MSI on a card that has both; MSISupported: false, its line).
struct ConnectPolicyOption: ParsableArguments {
    @Option(name: .customLong("policy"), help: ArgumentHelp(policyHelp, valueName: "file"))
    var policyFile: String?

    /// The file's policies (read once, before any device is opened; the defaults without a file).
    func table() throws(CommandFailure) -> InterruptPolicyTable { try loadPolicies(policyFile) }
}
