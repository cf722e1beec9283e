import ArgumentParser
import Foundation
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTooling
import Logging

/// --policy's help, for discovery and for the bring-up verbs.
let policyHelp = "Per-device interrupt policy (JSON: {\"default\": {...}, \"devices\": {\"VVVV:DDDD\" or BDF: {\"MSISupported\": false, \"MessageNumberLimit\": 2, \"PreferMSIX\": false, ...}}}, or the same as YAML; a regular file of at most \(InterruptPolicyTable.fileSizeLimit >> 20) MiB)."

/// Options every command that discovers devices shares: where to read PCI
/// functions from and which interrupt policy to apply.
struct DiscoveryOptions: ParsableArguments {
    @Option(name: .customLong("dump"), help: ArgumentHelp("Read PCI functions from an `lspci -xxxx` (or `-xxx`) dump file instead of the live system (a regular file of at most \(PCIAccess.dumpSizeLimit >> 20) MiB, checked line by line).", valueName: "file"))
    var dumpFile: String?

    @Option(name: .customLong("policy"), help: ArgumentHelp(policyHelp, valueName: "file"))
    var policyFile: String?

    // No check of the files here: a check by path before opening is a race, and would
    // pass a FIFO or /dev/zero. Discovery opens each once and refuses anything but a
    // regular file of bounded size.

    /// Discovery configured by these options.
    func discovery(logger: Logger) throws -> PCIDiscovery {
        let policies = try loadPolicies(policyFile)
        return PCIDiscovery(source: dumpFile.map { .dump(path: $0) } ?? .live, policies: policies, logger: logger)
    }
}

/// The policy table a --policy file holds (an empty table without one).
func loadPolicies(_ path: String?) throws(CommandFailure) -> InterruptPolicyTable {
    guard let path else { return InterruptPolicyTable() }
    do { return try PolicyFileLoader.load(path: path) } catch { throw .badInput("--policy: \(error)") }
}
