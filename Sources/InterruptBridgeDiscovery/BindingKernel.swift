// What device binding asks of the kernel, as a protocol: sysfs on a real
// machine, a scripted fake in the tests (which plays the PCI core's probe).
public import InterruptBridgeSystem
import InterruptBridgeCore

/// The sysfs operations binding needs. `SysfsPCI` is the real one.
public protocol BindingKernel: Sendable {
    func deviceExists(_ address: String) -> Bool
    func driver(of address: String) -> String?
    func driverRegistered(_ driver: String) -> Bool
    func iommuGroup(of address: String) -> Int?
    func groupMembers(_ group: Int) throws(SystemError) -> [(address: String, driver: String?)]
    func driverOverride(of address: String) -> String?
    func setDriverOverride(_ address: String, _ driver: String?) throws(SystemError)
    func unbind(_ address: String, from driver: String) throws(SystemError)
    func probe(_ address: String) throws(SystemError)
    func bind(_ address: String, to driver: String) throws(SystemError)
    func loadModule(_ name: String) throws(SystemError)
    /// The function's class code (0xBBSSPP), nil when unknown.
    func classCode(of address: String) -> UInt32?
}

extension BindingKernel {
    public func classCode(of address: String) -> UInt32? { nil }
}

extension SysfsPCI: BindingKernel {
    public func loadModule(_ name: String) throws(SystemError) { try Modprobe.load(name) }
}

/// Where `bind` remembers a device's original driver, so `unbind` can give it back
/// (one small file per device, "original=DRIVER" / "override=VALUE" lines).
public struct BindingRecordStore: Sendable {
    public var directory: String
    /// Who the records this store writes are from ("cli" for `irqbridge bind`, "daemon").
    /// The CLI and the daemon share the directory (`unbind` gives back either's), and a
    /// daemon gives back at start-up no unconfigured device the CLI bound.
    public var owner: String?

    public init(directory: String = "/run/irqbridge/bindings", owner: String? = "cli") {
        self.directory = directory
        self.owner = owner
    }

    public struct Record: Sendable, Hashable {
        /// The driver the device had before `bind` (nil: it had none).
        public var originalDriver: String?
        /// driver_override before `bind` (nil: none).
        public var originalOverride: String?
        public var boundTo: String
        /// Who bound it (`BindingRecordStore.owner` of the store that wrote it; nil: a
        /// version that did not say, which only a daemon's records came from in practice).
        public var owner: String?

        public init(originalDriver: String?, originalOverride: String?, boundTo: String, owner: String? = nil) {
            self.originalDriver = originalDriver
            self.originalOverride = originalOverride
            self.boundTo = boundTo
            self.owner = owner
        }
    }

    func path(_ address: String) -> String { "\(directory)/\(address)" }

    public func load(_ address: String) -> Record? {
        guard let text = try? FileIO.readText(path(address)) else { return nil }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let boundTo = fields["boundTo"] else { return nil }
        return Record(originalDriver: fields["original"], originalOverride: fields["override"], boundTo: boundTo, owner: fields["owner"])
    }

    /// Writes `record`, as this store's owner's, or (`keepingOwner`: a record put back as
    /// it was) as its own.
    public func save(_ record: Record, for address: String, keepingOwner: Bool = false) throws(SystemError) {
        try FileIO.makeDirectories(directory)
        var text = "boundTo=\(record.boundTo)\n"
        if let original = record.originalDriver { text += "original=\(original)\n" }
        if let override = record.originalOverride { text += "override=\(override)\n" }
        if let owner = keepingOwner ? record.owner : owner ?? record.owner { text += "owner=\(owner)\n" }
        try FileIO.replaceAtomically(path(address), text, mode: 0o644)
    }

    /// The addresses that have a record (devices irqbridge bound and has not given back).
    public func addresses() -> [String] {
        ((try? FileIO.listDirectory(directory)) ?? []).filter { PCIAddress($0) != nil }.sorted()
    }

    public func remove(_ address: String) throws(SystemError) { try FileIO.remove(path(address)) }
}
