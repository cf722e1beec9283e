// Reading the daemon's configuration file strictly: YAML (or JSON), every unknown
// key an error naming file, line and field, every value checked.
//
//   settings:                       # scalar settings (flags and IRQBRIDGE_* override them)
//     socket: /run/irqbridge/control.sock
//     metrics: 127.0.0.1:9464       # or off
//     log-level: info
//     dispatch: {cpu: 1, fifo: 50}
//     storm: {rate-limit: 20000, rate-window-ms: 100}
//   default: {MSISupported: true}   # INF-style settings for every device (the policy file's)
//   devices:
//     "0000:00:03.0":               # an address, or vendor:device ("1234:11e8")
//       driver: vfio-pci            # or uio_pci_generic
//       from: e1000e                # take it from this driver (else only unbound devices)
//       connect: message-based      # or line-based
//       profile: edu                # a built-in profile's name or a profile file (a relative
//                                   # path is in the configuration file's directory)
//       storm: {rate-limit: 1000, rate-window-ms: 100}
//                                   # also enabled, unclaimed-limit, unclaimed-window, and
//                                   # rearm-after-ms (1000; never: held until `irqbridge ctl
//                                   # rearm` or POST /v1/devices/ID/rearm) with rearm-max-ms (64000);
//                                   # a key left out is settings.storm's, then the library's
//       on-exit: restore            # or keep
//       per-message-metrics: false
//       MSISupported: true          # and the other INF settings
//   simulated:
//     sim0: {interrupts: msix, vectors: 16, rate: 1000}
import Foundation
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling
import Yams

public enum DeviceTableLoader {
    /// Parses a configuration document; `file` names it in errors.
    public static func load(_ text: String, file: String) throws(DaemonConfigurationError) -> DeviceTable {
        // An empty file (or comments only) configures nothing: the daemon takes devices by API calls.
        if configuresNothing(text) { return DeviceTable() }
        do {
            return try table(ProfileLoader.compose(text, file: file, document: "(configuration)"))
        } catch {
            throw .inFile(error)
        }
    }

    /// The largest configuration file read (thousands of devices fit well under it).
    public static let fileSizeLimit = 4 << 20

    /// Reads and parses the file at `path`: a regular file of at most `fileSizeLimit`
    /// bytes (never a FIFO waited on or /dev/zero read without end).
    /// Blank lines and comments only (or nothing at all).
    static func configuresNothing(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.hasPrefix("#")
        }
    }

    /// `forReload`: a file of no bytes, or of blank lines and comments only, is refused (one
    /// being rewritten, whose header only is written yet, or truncated by a mistake), since
    /// applying it would give back every configured card.
    public static func load(contentsOf path: String, forReload: Bool = false) throws(DaemonConfigurationError) -> DeviceTable {
        let text: String
        do { text = try RegularFile(reading: path, limit: fileSizeLimit).validText() } catch { throw .unreadable(path: path, reason: error.description) }
        if forReload, configuresNothing(text) {
            throw .unreadable(path: path, reason: "the file is empty or holds only comments (being written?), and applying it would give "
                              + "back every device; for no devices and default settings, write {}")
        }
        return try load(text, file: path)
    }

    static let topKeys = ["settings", "default", "devices", "simulated"]
    static let deviceKeys = ["driver", "from", "connect", "profile", "storm", "on-exit", "per-message-metrics"]
    static let policyKeys = ["MSISupported", "MessageNumberLimit", "PreferMSIX", "DevicePriority", "AssignmentSetOverride"]
    static let simulatedKeys = ["interrupts", "vectors", "rate", "per-message-metrics"]

    static func table(_ root: ProfileNode) throws(ProfileError) -> DeviceTable {
        var table = DeviceTable()
        if case .scalar(let scalar) = root.node, scalar.string.isEmpty { return table }
        let fields = try root.mapping(allowed: topKeys)
        if let settings = fields["settings"] {
            var nodes: [String: ProfileNode] = [:]
            table.settings = try flatten(settings, prefix: "", nodes: &nodes)
            table.settingLocations = nodes.mapValues(\.location.description)
        }
        if let defaults = fields["default"] { table.defaults = try policy(defaults, allowing: policyKeys) }
        var seen: Set<DeviceSelector> = []
        for (key, keyNode, value) in try fields["devices"]?.entries() ?? [] {
            guard let selector = DeviceSelector(key) else {
                throw keyNode.error(.badValue, "'\(key)' is neither a PCI address (0000:00:03.0) nor vendor:device ids (1234:11e8)")
            }
            guard seen.insert(selector).inserted else { throw keyNode.error(.badValue, "\(selector) is configured twice") }
            let (entry, stormLocation) = try device(value, selector: selector)
            table.stormLocations[selector] = stormLocation
            table.devices.append(entry)
        }
        var names: Set<String> = []
        for (name, keyNode, value) in try fields["simulated"]?.entries() ?? [] {
            // ASCII only: the name is a URL path segment, a metrics label and a shell argument.
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }), PCIAddress(name) == nil else {
                throw keyNode.error(.badValue, "a simulated device's name is ASCII letters, digits, '-' and '_' (not '\(name)')")
            }
            guard names.insert(name).inserted else { throw keyNode.error(.badValue, "'\(name)' is given twice") }
            table.simulated.append(try simulated(value, name: name))
        }
        return table
    }

    /// `settings:` as dotted keys, each checked against the daemon's settings; `nodes`
    /// receives each value's node (where it is in the file).
    static func flatten(_ node: ProfileNode, prefix: String, nodes: inout [String: ProfileNode]) throws(ProfileError) -> [String: String] {
        let allowed = Set(DaemonSettings.keys.compactMap { key -> String? in
            guard key.hasPrefix(prefix) else { return nil }
            return String(key.dropFirst(prefix.count).split(separator: ".").first!)
        })
        var values: [String: String] = [:]
        for (key, value) in try node.mapping(allowed: allowed.sorted()).entries {
            if case .mapping = value.node {
                values.merge(try flatten(value, prefix: prefix + key + ".", nodes: &nodes), uniquingKeysWith: { $1 })
            } else {
                guard DaemonSettings.keys.contains(prefix + key) else {
                    throw value.error(.badValue, "'\(prefix + key)' is a group of settings, not a value")
                }
                values[prefix + key] = try value.string()
                nodes[prefix + key] = value
            }
        }
        return values
    }

    /// One `devices:` entry, and where its `storm:` is (for an error about the rules it
    /// resolves to over the daemon-wide policy; nil without one).
    static func device(_ node: ProfileNode, selector: DeviceSelector) throws(ProfileError) -> (entry: DeviceEntry, stormLocation: String?) {
        let fields = try node.mapping(allowed: deviceKeys + policyKeys)
        var entry = DeviceEntry(selector: selector)
        var stormLocation: String?
        if let value = fields["driver"] {
            guard let driver = UserSpaceDriver(rawValue: try value.string()) else {
                throw value.error(.badValue, "'\(try value.string())' is not vfio-pci or uio_pci_generic")
            }
            entry.driver = driver
        }
        if let value = fields["from"] {
            let text = try value.string()
            guard !text.isEmpty, !text.contains("/") else { throw value.error(.badValue, "'\(text)' is not a driver name") }
            entry.from = text
        }
        if let value = fields["connect"] {
            guard let version = ConnectVersion(spelling: try value.string()) else {
                throw value.error(.badValue, "'\(try value.string())' is not one of \(ConnectVersion.allCases.map(\.rawValue).joined(separator: ", "))"
                                  + " (or CONNECT_MESSAGE_BASED, CONNECT_LINE_BASED)")
            }
            entry.connect = version
        }
        if let value = fields["profile"] {
            let text = try value.string()
            let builtIns = ProfileLibrary()
            let isBuiltIn = builtIns.profile(named: text) != nil
            guard isBuiltIn || text.contains("/") || text.hasSuffix(".yaml") || text.hasSuffix(".json")
                    || text.hasSuffix(".yml") else {
                throw value.error(.badValue, "'\(text)' is neither a built-in profile (\(builtIns.profiles.map(\.name).joined(separator: ", "))) nor a profile file")
            }
            // A relative file is beside the configuration, not in whatever directory the daemon
            // starts in (`--check` by hand in one's own, the unit in /).
            let profile = isBuiltIn ? text : besideTheConfiguration(text, configuration: value.location.file)
            if !isBuiltIn {
                // Read now, so `--check`, start-up and a reload refuse a missing or malformed
                // profile file, instead of a device failing to connect later.
                // Its text is kept in the entry, so a reload after the file alone was edited
                // sees the entry changed and reconnects the card with it.
                do {
                    let text = try ProfileLoader.text(ofFileAt: profile)
                    _ = try ProfileLoader.load(text, file: profile)
                    entry.profileText = text
                } catch {
                    throw value.error(.badValue, "\(error)")  // the profile's own error starts with its file
                }
            }
            entry.profile = profile
        }
        if let value = fields["storm"] {
            entry.storm = try storm(value)
            stormLocation = value.location.description
        }
        if let value = fields["on-exit"] {
            guard let disposition = ExitDisposition(rawValue: try value.string()) else {
                throw value.error(.badValue, "'\(try value.string())' is not restore or keep")
            }
            entry.onExit = disposition
        }
        if let value = fields["per-message-metrics"] { entry.perMessageMetrics = try value.bool() }
        if fields.keys.contains(where: policyKeys.contains) { entry.policy = try policy(node, allowing: policyKeys + deviceKeys) }
        return (entry, stormLocation)
    }

    /// The INF-style keys of a mapping, decoded by the policy file's own rules.
    /// `path` as given when absolute, else in the configuration file's directory (the
    /// current one for a configuration named without one).
    static func besideTheConfiguration(_ path: String, configuration: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let directory = (configuration as NSString).deletingLastPathComponent
        return directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path)
    }

    static func policy(_ node: ProfileNode, allowing allowed: [String]) throws(ProfileError) -> InterruptPolicyFile.Settings {
        let fields = try node.mapping(allowed: allowed)
        guard case .mapping(let mapping) = node.node else { throw node.error(.badValue, "expected a mapping") }
        let pairs = mapping.filter { key, _ in policyKeys.contains(key.string ?? "") }
        do {
            return try YAMLDecoder().decode(InterruptPolicyFile.Settings.self, from: .mapping(Node.Mapping(pairs)))
        } catch {
            let key = fields.keys.first(where: policyKeys.contains).flatMap { fields[$0] } ?? node
            throw key.error(.badValue, "\(policyProblem(error))")
        }
    }

    private static func policyProblem(_ error: any Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error { return context.debugDescription }
        if case let DecodingError.typeMismatch(_, context) = error { return context.debugDescription }
        return "\(error)"
    }

    /// A device's `storm:`: the keys it gives, each checked on its own (whether they work
    /// with the daemon-wide policy's is `DeviceTable.checkStorms(daemonWide:)`'s question).
    static func storm(_ node: ProfileNode) throws(ProfileError) -> StormOverrides {
        var given = StormOverrides()
        for (key, value) in try node.mapping(allowed: StormOverrides.keys).entries {
            let text = try value.string()
            do throws(StormOverrides.BadValue) { try given.set(key, to: text) } catch {
                throw value.error(.badValue, "'\(text)' is not \(error.expected)")
            }
        }
        return given
    }

    static func simulated(_ node: ProfileNode, name: String) throws(ProfileError) -> SimulatedEntry {
        let fields = try node.mapping(allowed: simulatedKeys)
        var entry = SimulatedEntry(name: name)
        if let value = fields["interrupts"] {
            switch try value.string() {
            case "msix", "msi-x", "MSI-X": entry.kind = .msix
            case "msi", "MSI": entry.kind = .msi
            case "intx", "INTx": entry.kind = .intx
            case let text: throw value.error(.badValue, "'\(text)' is not msix, msi or intx")
            }
        }
        if let value = fields["vectors"] {
            let limit: UInt64 = entry.kind == .msix ? 2048 : entry.kind == .msi ? 32 : 1
            let count = try value.integer(atMost: limit, what: "a vector count for \(entry.kind) (1...\(limit))")
            guard count >= 1 else { throw value.error(.badValue, "at least 1 vector") }
            entry.vectors = Int(count)
        }
        if let value = fields["rate"] {
            guard let rate = Double(try value.string()), rate >= 0, rate <= 10_000_000 else {
                throw value.error(.badValue, "'\(try value.string())' is not a rate in interrupts per second per vector (0...10000000)")
            }
            entry.rate = rate
        }
        if let value = fields["per-message-metrics"] { entry.perMessageMetrics = try value.bool() }
        return entry
    }
}
