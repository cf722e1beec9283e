// The running configuration written back in the file's own format (YAML), so the
// daemon started from it replays the same state (SPDK's save_config).
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem

enum ConfigurationWriter {
    static func yaml(_ table: DeviceTable, settings: DaemonSettings) -> String {
        var lines = ["# irqbridge daemon configuration (saved from the running daemon)", "settings:"]
        var groups: [String: [(String, String)]] = [:]
        var plain: [(String, String)] = []
        for (key, value) in settings.fileValues.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2 { groups[parts[0], default: []].append((parts[1], value)) } else { plain.append((key, value)) }
        }
        for (key, value) in plain { lines.append("  \(key): \(quoted(value))") }
        for (group, values) in groups.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(group):")
            for (key, value) in values { lines.append("    \(key): \(quoted(value))") }
        }
        if let defaults = table.defaults {
            lines.append("default:")
            lines += policyLines(defaults, indent: "  ")
        }
        if !table.devices.isEmpty {
            lines.append("devices:")
            for entry in table.devices {
                lines.append("  \(quoted(entry.selector.description)):")
                lines.append("    driver: \(entry.driver.rawValue)")
                if let from = entry.from { lines.append("    from: \(quoted(from))") }
                lines.append("    connect: \(entry.connect.rawValue)")
                if let profile = entry.profile { lines.append("    profile: \(quoted(profile))") }
                // Only the keys the device gives: the others stay the daemon-wide policy's.
                if let storm = entry.storm, !storm.givenKeys.isEmpty {
                    lines.append("    storm: {" + storm.fileValues.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}")
                }
                lines.append("    on-exit: \(entry.onExit.rawValue)")
                if entry.perMessageMetrics { lines.append("    per-message-metrics: true") }
                if let policy = entry.policy { lines += policyLines(policy, indent: "    ") }
            }
        }
        if !table.simulated.isEmpty {
            lines.append("simulated:")
            for entry in table.simulated {
                let kind = switch entry.kind { case .msix: "msix"; case .msi: "msi"; case .intx: "intx" }
                lines.append("  \(entry.name): {interrupts: \(kind), vectors: \(entry.vectors), rate: \(entry.rate)"
                             + (entry.perMessageMetrics ? ", per-message-metrics: true}" : "}"))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func policyLines(_ settings: InterruptPolicyFile.Settings, indent: String) -> [String] {
        var lines: [String] = []
        if let value = settings.msiSupported { lines.append("\(indent)MSISupported: \(value)") }
        if let value = settings.messageNumberLimit { lines.append("\(indent)MessageNumberLimit: \(value)") }
        if let value = settings.preferMSIX { lines.append("\(indent)PreferMSIX: \(value)") }
        if let value = settings.devicePriority { lines.append("\(indent)DevicePriority: \(value.rawValue)") }
        if let value = settings.assignmentSetOverride { lines.append("\(indent)AssignmentSetOverride: \"0x\(String(value, radix: 16))\"") }
        return lines
    }

    /// A YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
