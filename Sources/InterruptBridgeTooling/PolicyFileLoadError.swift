// Why `PolicyFileLoader` refused a policy file, one line either way.
public import InterruptBridgeDiscovery

/// A policy file refused: as a whole (unreadable, empty, not YAML or JSON), named by its
/// path; or for one key or value, named by file, line, column and field as the daemon's
/// configuration and device profiles name theirs:
/// `policy.yaml:7:25: devices.1af4:1041.MessageNumberLimit: MessageNumberLimit must be at least 1`.
public enum PolicyFileLoadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file, or a key or value whose place could not be found (then named by its keys).
    case file(DiscoveryError)
    case located(ProfileError)

    public var description: String {
        switch self {
        case .file(let error): "\(error)"
        case .located(let error): "\(error)"
        }
    }
}
