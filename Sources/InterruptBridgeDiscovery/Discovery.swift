public import InterruptBridgeCore
public import InterruptBridgeSystem
public import Logging

/// Where discovery reads PCI functions from.
public enum DiscoverySource: Sendable, Hashable, CustomStringConvertible {
    /// The running system, through libpci (and libudev for device nodes).
    case live
    /// An `lspci -x`-style dump file, through libpci's dump access method (tests, offline analysis).
    case dump(path: String)

    public var description: String {
        switch self {
        case .live: "the live system"
        case .dump(let path): "dump \(path)"
        }
    }
}

/// Why discovery failed. Each case's message names what to fix.
public enum DiscoveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// libpci could not open the source or failed on a function, or a dump file
    /// was refused before libpci saw it (not a regular file, too large, malformed).
    case access(PCIAccessError)
    /// A function's config space is truncated or its capability list is broken.
    case malformedDevice(PCIAddress, PCIConfigSpaceError)
    /// Reading system facts (online CPUs) failed.
    case system(SystemError)
    /// A named file (the policy file) is not a regular file, too large, or unreadable.
    case unreadableFile(RegularFileError)
    /// The policy file is not valid as a whole (not JSON, empty, not an object).
    case policyFile(path: String, reason: String)
    /// One key or value of the policy file is wrong.
    case policyKey(path: String, PolicyKeyError)

    public var description: String {
        switch self {
        case .access(let error): "\(error)"
        case let .malformedDevice(address, error): "\(address): \(error)"
        case .system(let error): "\(error)"
        case .unreadableFile(let error): "\(error)"
        case let .policyFile(path, reason): "\(path): \(reason)"
        case let .policyKey(path, error): "\(path): \(error)"
        }
    }
}

/// One function with the interrupt policy that applies to it and the CM resource
/// lists that policy yields (what IRP_MN_START_DEVICE would carry).
public struct DiscoveredDevice: Sendable, Hashable {
    public var info: PCIDeviceInfo
    public var policy: InterruptPolicy
    public var resources: ResourceAssignment

    public init(info: PCIDeviceInfo, policy: InterruptPolicy, resources: ResourceAssignment) {
        self.info = info
        self.policy = policy
        self.resources = resources
    }

    /// False when the policy allows MSI and MSI-X but the function's capabilities were
    /// unreadable (`PCIDeviceInfo.capabilitiesUnreadable`): its resource lists then carry
    /// its BARs and no interrupt, which says nothing about the interrupts it would get.
    public var isAssignmentKnown: Bool { !(info.capabilitiesUnreadable && policy.msiSupported) }
}

/// The functions found by one discovery pass, and the system facts they were translated with.
public struct DeviceCatalog: Sendable, Hashable {
    public var devices: [DiscoveredDevice]
    public var facts: ResourceTranslator.SystemFacts

    public init(devices: [DiscoveredDevice], facts: ResourceTranslator.SystemFacts) {
        self.devices = devices
        self.facts = facts
    }

    /// The function at `address`, if the pass found it.
    public func device(at address: PCIAddress) -> DiscoveredDevice? {
        devices.first { $0.info.address == address }
    }
}

/// Finds PCI functions (libpci), resolves their device nodes (libudev) and
/// translates them into CM resource descriptors under a per-device policy.
public struct PCIDiscovery: Sendable {
    public var source: DiscoverySource
    public var policies: InterruptPolicyTable
    /// Facts to translate with; nil reads them from the running system
    /// (online CPUs, and /proc/irq/N/smp_affinity for live sources).
    public var facts: ResourceTranslator.SystemFacts?
    public var logger: Logger

    public init(source: DiscoverySource = .live, policies: InterruptPolicyTable = InterruptPolicyTable(),
                facts: ResourceTranslator.SystemFacts? = nil, logger: Logger) {
        self.source = source
        self.policies = policies
        self.facts = facts
        self.logger = logger
    }

    /// Every function, sorted by address. Throws on the first malformed one, naming it.
    public func devices() throws(DiscoveryError) -> [PCIDeviceInfo] {
        let found = try decodedDevices()
        if let first = found.malformed.first { throw first }
        return found.devices
    }

    /// Every function whose config space decodes, sorted by address, and an error naming
    /// each one that does not: one broken card does not hide the rest of the bus (a
    /// daemon's view; `devices()` refuses the whole pass instead).
    public func decodedDevices() throws(DiscoveryError) -> (devices: [PCIDeviceInfo], malformed: [DiscoveryError]) {
        let snapshots: [PCIFunctionSnapshot]
        do {
            snapshots = try PCIAccess.scan(accessSource)
        } catch {
            throw .access(error)
        }
        var devices: [PCIDeviceInfo] = []
        var malformed: [DiscoveryError] = []
        for snapshot in snapshots {
            do {
                devices.append(try info(snapshot))
            } catch {
                malformed.append(.malformedDevice(snapshot.address, error))
            }
        }
        logger.debug("discovered PCI functions", metadata: ["source": "\(source)", "count": "\(devices.count)", "malformed": "\(malformed.count)"])
        return (devices, malformed)
    }

    /// The function at `address`, or nil when there is none. Only that function's
    /// config space is decoded, so a malformed neighbour does not hide it.
    public func device(at address: PCIAddress) throws(DiscoveryError) -> PCIDeviceInfo? {
        let snapshots: [PCIFunctionSnapshot]
        do {
            snapshots = try PCIAccess.scan(accessSource, only: address)
        } catch {
            throw .access(error)
        }
        guard let snapshot = snapshots.first(where: { $0.address == address }) else { return nil }
        do {
            return try info(snapshot)
        } catch {
            throw .malformedDevice(snapshot.address, error)
        }
    }

    /// The policy `device` is translated under: the policy table's, except that a function
    /// bound to uio_pci_generic is assigned its line only (MSISupported false), because
    /// UIO delivers INTx and nothing else, so that is all a connect can be given.
    public func policy(for device: PCIDeviceInfo) -> InterruptPolicy {
        var policy = policies.policy(for: device)
        if device.driver == "uio_pci_generic" { policy.msiSupported = false }
        return policy
    }

    /// Every function with its policy (`policy(for:)`) and resource lists.
    public func catalog() throws(DiscoveryError) -> DeviceCatalog {
        try catalog(of: try devices())
    }

    /// `catalog()` of the functions that decode, and an error naming each one that does not
    /// (see `decodedDevices()`).
    public func decodedCatalog() throws(DiscoveryError) -> (catalog: DeviceCatalog, malformed: [DiscoveryError]) {
        let found = try decodedDevices()
        return (try catalog(of: found.devices), found.malformed)
    }

    private func catalog(of devices: [PCIDeviceInfo]) throws(DiscoveryError) -> DeviceCatalog {
        let facts: ResourceTranslator.SystemFacts
        if let given = self.facts { facts = given } else { facts = try readFacts(for: devices) }
        let translator = ResourceTranslator(facts: facts)
        return DeviceCatalog(devices: devices.map { device in
            let policy = policy(for: device)
            return DiscoveredDevice(info: device, policy: policy, resources: translator.resources(for: device, policy: policy))
        }, facts: facts)
    }

    /// The function at `address` with its policy and resource lists, as `catalog()` gives
    /// it, reading only that function (nil: none there).
    public func discovered(at address: PCIAddress) throws(DiscoveryError) -> DiscoveredDevice? {
        try catalog(at: address).devices.first
    }

    /// `catalog()` of the function at `address` alone (no device: none there), reading only
    /// that function, so a malformed neighbour does not hide it.
    public func catalog(at address: PCIAddress) throws(DiscoveryError) -> DeviceCatalog {
        try catalog(of: try device(at: address).map { [$0] } ?? [])
    }

    /// Kernel add/remove/bind/unbind events for PCI functions, from the uevent
    /// netlink socket (no udev daemon needed), read on a dedicated thread. Past `limit`
    /// events waiting to be consumed, the oldest are dropped.
    public static func hotplugEvents(bufferingNewest limit: Int = 256) throws(DiscoveryError) -> AsyncStream<PCIHotplugEvent> {
        do {
            return try UDevMonitor.events(bufferingNewest: limit)
        } catch {
            throw .system(error)
        }
    }

    private var accessSource: PCIAccess.Source {
        switch source {
        case .live: .live
        case .dump(let path): .dump(path: path)
        }
    }

    /// The function's facts; from the live system also whether its IRQ was routed yet, and
    /// whether it is its MSI's instead (sysfs `irq` while MSI is enabled).
    private func info(_ snapshot: PCIFunctionSnapshot) throws(PCIConfigSpaceError) -> PCIDeviceInfo {
        var info = try PCIDeviceInfo(snapshot: snapshot, deviceNodes: nodes(for: snapshot))
        // The capability's enable bit, or, where it was unreadable (no root), msi_irqs/.
        if case .live = source, let irq = info.irqLine,
           info.msi?.enabled == true || (info.capabilitiesUnreadable && SysfsPCI().isMSIIRQ(irq, of: snapshot.address.description)) {
            info.irqLineIsMSI = true
            return info
        }
        if case .live = source, let irq = info.irqLine, ResourceTranslator.isRoutedLine(irq),
           let enabled = SysfsPCI().isEnabled(snapshot.address.description) {
            // Closing VFIO disables the function again but keeps the routed line, so an IRQ
            // that differs from the firmware's register was routed whatever `enable` says.
            let firmware = try PCIConfigSpace(bytes: snapshot.config).interruptLine
            info.isIRQRouted = enabled || irq != UInt32(firmware)
        }
        return info
    }

    private func nodes(for snapshot: PCIFunctionSnapshot) -> DeviceNodes {
        guard case .live = source, let driver = snapshot.driver, driver == "vfio-pci" || driver.hasPrefix("uio") else {
            return DeviceNodes()
        }
        do {
            return try UDev.deviceNodes(for: snapshot.address)
        } catch {
            logger.debug("no device nodes", metadata: ["device": "\(snapshot.address)", "error": "\(error)"])
            return DeviceNodes()
        }
    }

    private func readFacts(for devices: [PCIDeviceInfo]) throws(DiscoveryError) -> ResourceTranslator.SystemFacts {
        // A dump describes another machine's IRQ routing: only this machine's processors apply.
        let irqs: [UInt32] = if case .live = source { devices.compactMap(\.irqLine) } else { [] }
        do {
            return try SystemFacts.read(irqs: irqs)
        } catch {
            throw .system(error)
        }
    }
}
