// What the bring-up verbs (watch, wait, trigger) share on top of the tooling's
// DeviceSession: the --profile option (the trigger socket's protocol: TriggerRelay.swift).
import ArgumentParser
import InterruptBridgeCore

/// --profile, shared by the bring-up verbs.
struct ProfileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A device profile (YAML or JSON), preferred to the built-in ones; repeatable. For the one device of wait, trigger or selftest, one of them must be for it.", valueName: "FILE"),
            completion: .file(extensions: ["yaml", "yml", "json"]))
    var profile: [String] = []
}
