// The devices the daemon owns, as configured: today's policy file (INF-style
// settings per address or vendor:device) extended with what the daemon does with
// each device, and simulated devices for machines without VFIO.
public import InterruptBridgeCore
public import InterruptBridgeDiscovery
public import InterruptBridgeTooling

/// Which devices an entry applies to: one address, or every function with these ids.
public enum DeviceSelector: Sendable, Hashable, CustomStringConvertible {
    case address(PCIAddress)
    case ids(vendor: UInt16, device: UInt16)

    /// "0000:00:03.0" or "1234:11e8".
    public init?(_ text: String) {
        if let address = PCIAddress(text) {
            self = .address(address)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 4 }), let vendor = UInt16(parts[0], radix: 16),
              let device = UInt16(parts[1], radix: 16) else { return nil }
        self = .ids(vendor: vendor, device: device)
    }

    public func matches(_ info: PCIDeviceInfo) -> Bool {
        switch self {
        case .address(let address): info.address == address
        case let .ids(vendor, device): info.vendorID == vendor && info.deviceID == device
        }
    }

    public var description: String {
        switch self {
        case .address(let address): address.description
        case let .ids(vendor, device): hex(UInt64(vendor), width: 4) + ":" + hex(UInt64(device), width: 4)
        }
    }
}

/// How the daemon connects a device's interrupts (IoConnectInterruptEx's versions).
public enum ConnectVersion: String, Sendable, Hashable, CaseIterable {
    /// CONNECT_MESSAGE_BASED, falling back to the line when the device has no messages.
    case messageBased = "message-based"
    /// CONNECT_LINE_BASED: the INTx line (needs an acknowledge program).
    case lineBased = "line-based"

    /// The file's spelling ("message-based") or the version's wdm.h name
    /// (`CONNECT_MESSAGE_BASED`, `CONNECT_LINE_BASED`), which is what issue 12's
    /// "connect version" names; `save-config` writes the file's spelling.
    public init?(spelling: String) {
        switch spelling {
        case "CONNECT_MESSAGE_BASED": self = .messageBased
        case "CONNECT_LINE_BASED": self = .lineBased
        default: self.init(rawValue: spelling)
        }
    }
}

/// What the daemon does with a device's driver when it exits.
public enum ExitDisposition: String, Sendable, Hashable, CaseIterable {
    /// Give it back to the driver it had before the daemon bound it.
    case restore
    /// Leave it on vfio-pci / uio_pci_generic.
    case keep
}

/// One configured device (or family of devices, when selected by ids).
public struct DeviceEntry: Sendable, Hashable {
    public var selector: DeviceSelector
    public var driver: UserSpaceDriver = .vfioPCI
    /// The driver the device may be taken from (nil: only an unbound device, or one
    /// already on `driver`, is taken).
    public var from: String?
    public var connect: ConnectVersion = .messageBased
    /// A built-in profile's name or a profile file (nil: the library's match).
    public var profile: String?
    /// The profile file's text when the configuration was loaded (nil: a built-in or none):
    /// an entry whose file was edited is not equal to the one before, so a reload applies it.
    public var profileText: String?
    /// INF-style interrupt settings (MSISupported, MessageNumberLimit, ...).
    public var policy: InterruptPolicyFile.Settings?
    /// The storm keys this device's `storm:` gives (nil: none), each over the daemon-wide
    /// policy's (`stormPolicy(over:)`).
    public var storm: StormOverrides?
    public var onExit: ExitDisposition = .restore
    /// A metric label per message (off by default: cardinality stays per device).
    public var perMessageMetrics = false

    public init(selector: DeviceSelector) { self.selector = selector }
}

/// A simulated PCI function whose interrupts a generator in the daemon raises.
public struct SimulatedEntry: Sendable, Hashable {
    public var name: String
    public var kind: InterruptKind = .msix
    public var vectors = 1
    /// Interrupts per second per vector (0: only when triggered).
    public var rate: Double = 0
    public var perMessageMetrics = false

    public init(name: String) { self.name = name }
}

/// The configuration file: settings, INF defaults, devices, simulated devices.
public struct DeviceTable: Sendable, Hashable {
    /// The `settings:` section, flattened ("dispatch.cpu" -> "1").
    public var settings: [String: String] = [:]
    /// Where each setting's value is in the file ("daemon.yaml:4:21"), for an error that
    /// names its place.
    public var settingLocations: [String: String] = [:]
    /// Where each device's `storm:` is in the file ("daemon.yaml:9:12"), for an error about
    /// the policy it resolves to.
    public var stormLocations: [DeviceSelector: String] = [:]
    /// `default:` INF settings applied under every device's own.
    public var defaults: InterruptPolicyFile.Settings?
    public var devices: [DeviceEntry] = []
    public var simulated: [SimulatedEntry] = []

    public init() {}

    /// The INF-style settings and storm rules an entry's devices connect under: the
    /// `default:` settings, then the entry's own; the daemon-wide storm policy
    /// (`daemonWideStorm`), then the keys the entry gives.
    public func policy(for entry: DeviceEntry, daemonWideStorm: StormPolicy) -> InterruptPolicy {
        var policy = InterruptPolicy()
        if let defaults { policy = defaults.applied(to: policy) }
        if let own = entry.policy { policy = own.applied(to: policy) }
        policy.storm = entry.stormPolicy(over: daemonWideStorm)
        return policy
    }

    /// The entry for a discovered device: its address's entry, else its ids'.
    public func entry(for info: PCIDeviceInfo) -> DeviceEntry? {
        devices.first { if case .address = $0.selector { $0.selector.matches(info) } else { false } }
            ?? devices.first { $0.selector.matches(info) }
    }
}
