// What is wrong with the daemon's configuration: one line naming where.
public import InterruptBridgeTooling

/// A problem with the daemon's configuration, found at start-up (exit status 2)
/// or on reload (rejected whole, the running state kept).
public enum DaemonConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file cannot be read.
    case unreadable(path: String, reason: String)
    /// A problem in the file: `daemon.yaml:7:5: devices.0000:00:03.0.driver: ...`.
    case inFile(ProfileError)
    /// A setting whose value does not parse.
    case badSetting(key: String, value: String, expected: String)
    /// A setting the daemon does not have.
    case unknownSetting(key: String, source: String)
    /// Settings that parse but do not work together (the storm rules' unclaimed limit
    /// above their window): the keys involved.
    case conflictingSettings(keys: [String], reason: String)
    /// A device's `storm:` keys that, over the daemon-wide policy, make rules that cannot
    /// work: each key named with its value and whose it is ("its own", "settings.storm's").
    case conflictingStorm(device: String, keys: [String], reason: String)
    /// A setting's error with where its value came from: `daemon.yaml:4:21` or the
    /// IRQBRIDGE_* variable.
    indirect case located(String, DaemonConfigurationError)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read the configuration \(path): \(reason)"
        case let .inFile(error): error.description
        case let .badSetting(key, value, expected): "setting '\(key)': '\(value)' is not \(expected)"
        case let .unknownSetting(key, source): "unknown setting '\(key)' in \(source)"
        case let .conflictingSettings(keys, reason): "settings \(keys.map { "'\($0)'" }.joined(separator: " and ")): \(reason)"
        case let .conflictingStorm(device, keys, reason):
            "devices.\(device).storm: \(keys.joined(separator: " and ")) do not work together: \(reason)"
        case let .located(place, error): "\(place): \(error)"
        }
    }
}
