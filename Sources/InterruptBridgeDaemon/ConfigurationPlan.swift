// What start-up would do with a configuration on the bus as it is now, found without
// binding or opening anything: `irqbridge daemon --check` prints it, so a file can be
// tried before a restart or a reload puts it to work. The same checks as the
// registry's (the binder's preconditions, the entry's connect refusal), so the plan
// and the daemon cannot disagree.
public import InterruptBridgeCore
public import InterruptBridgeDiscovery
import InterruptBridgeTooling

public struct ConfigurationPlan: Sendable, Equatable {
    /// What start-up would do with one configured PCI function.
    public enum Outcome: Sendable, Equatable {
        /// Bound (unless on the driver already) and connected: what it does, in words.
        case connect(String)
        /// Reported failed, with the reason (the daemon goes on with the others).
        case fail(String)
        /// Named by address and not on the bus: bound when it appears.
        case absent
    }

    public struct Item: Sendable, Equatable {
        public var address: PCIAddress
        /// The entry that selects it ("0000:00:03.0" or "8086:10d3").
        public var entry: DeviceSelector
        /// "1234:11e8" (nil: absent).
        public var ids: String?
        public var outcome: Outcome
    }

    public var items: [Item] = []
    /// What the file says that may not be what its author meant: an ids entry that a
    /// device's address entry overrides, an ids entry that selects nothing now.
    public var notes: [String] = []

    /// - Parameters:
    ///   - bus: every function whose config space decodes (`PCIDiscovery.decodedCatalog`).
    ///   - malformed: the functions whose config space does not (the catalog's `malformed`):
    ///     one the file names is reported failed with the reason, as start-up does.
    ///   - binder: asked only for its refusal (nothing is bound).
    ///   - daemonWideStorm: the settings' storm rules, under each device's own keys.
    public init(table: DeviceTable, bus: [PCIDeviceInfo], malformed: [DiscoveryError] = [], binder: DeviceBinder, daemonWideStorm: StormPolicy) {
        for entry in table.devices {
            switch entry.selector {
            case .address(let address):
                guard let info = bus.first(where: { $0.address == address }) else {
                    let broken = malformed.first { if case .malformedDevice(address, _) = $0 { true } else { false } }
                    items.append(Item(address: address, entry: entry.selector, ids: nil, outcome: broken.map { .fail("\($0)") } ?? .absent))
                    continue
                }
                items.append(Self.item(info, entry, table.policy(for: entry, daemonWideStorm: daemonWideStorm), binder))
            case .ids:
                let selected = bus.filter { entry.selector.matches($0) }
                if selected.isEmpty {
                    notes.append("\(entry.selector) selects no device on the bus now (one that appears is bound then)")
                }
                for info in selected {
                    guard table.entry(for: info) == entry else {
                        notes.append("\(info.address) is \(entry.selector) too, but its address entry is the one used: "
                                     + "none of the \(entry.selector) entry's settings apply to it")
                        continue
                    }
                    items.append(Self.item(info, entry, table.policy(for: entry, daemonWideStorm: daemonWideStorm), binder))
                }
            }
        }
        items.sort { $0.address < $1.address }
    }

    /// In start-up's order: what the entry refuses before the card leaves its driver, then
    /// what the binder refuses. (A card on the entry's driver already meets the entry's
    /// refusal at the connect instead, and the binder refuses it nothing: the same verdict.)
    private static func item(_ info: PCIDeviceInfo, _ entry: DeviceEntry, _ policy: InterruptPolicy, _ binder: DeviceBinder) -> Item {
        let ids = hex(UInt64(info.vendorID), width: 4) + ":" + hex(UInt64(info.deviceID), width: 4)
        func item(_ outcome: Outcome) -> Item { Item(address: info.address, entry: entry.selector, ids: ids, outcome: outcome) }
        if let unreadable = DeviceSession.unreadableCapabilities(info) { return item(.fail(unreadable)) }
        if let refusal = entry.connectRefusal(info, policy: policy) { return item(.fail(refusal)) }
        if let refusal = binder.refusal(info.address, to: entry.driver, from: entry.from) {
            return item(.fail(DeviceRegistry.controlError(refusal).description))
        }
        if let refusal = groupRefusal(info, entry, binder) { return item(.fail(refusal)) }
        let current = binder.kernel.driver(of: info.address.description)
        let onDriver = current == entry.driver.rawValue
        // A profile file that does not load was connectRefusal's to report.
        let profile = (try? entry.profileLibrary()).flatMap { entry.profile(for: info, in: $0) }
        let binding = onDriver ? "on \(entry.driver) already" : "bind to \(entry.driver)" + (current.map { " from \($0)" } ?? "")
        let connecting = info.msi == nil && info.msix == nil || entry.servesLine(policy: policy)
            ? "connect its INTx line" : "connect message-based"
        return item(.connect("\(binding), \(connecting)" + (profile.map { ", profile \($0.name)" } ?? ", no profile")))
    }

    /// Why a card bound for vfio-pci could not be opened there: another member of its IOMMU
    /// group is on a kernel driver that does not leave DMA to VFIO (the daemon never takes a
    /// device it was not given, and VFIO opens only a viable group). A member the same
    /// configuration names does not help: each device opens its group for itself, and the
    /// kernel lets one open it at a time. Checked before the card leaves its driver (nil:
    /// nothing in the way, or on vfio-pci already, where the connect reports it).
    static func groupRefusal(_ info: PCIDeviceInfo, _ entry: DeviceEntry, _ binder: DeviceBinder) -> String? {
        guard entry.driver == .vfioPCI, info.driver != UserSpaceDriver.vfioPCI.rawValue else { return nil }
        let (group, blocking) = binder.groupMembersBlockingVFIO(info.address)
        guard let first = blocking.first else { return nil }
        let others = blocking.count > 1 ? " (and \(blocking.count - 1) more)" : ""
        return "IOMMU group \(group) also holds \(first.address) on \(first.driver)\(others): VFIO cannot open the group "
            + "until every other member is unbound or on vfio-pci, and the daemon takes only the devices it is given"
    }

    /// One line per configured function, then the notes (prefixed "note: ").
    public var lines: [String] {
        items.map { item in
            let selected = item.entry == .address(item.address) ? "by address" : "by \(item.entry)"
            let head = "\(item.address)" + (item.ids.map { " (\($0), \(selected))" } ?? " (\(selected))")
            switch item.outcome {
            case .connect(let what): return "\(head): \(what)"
            case .fail(let reason): return "\(head): fails: \(reason)"
            case .absent: return "\(head): absent, bound when it appears"
            }
        } + notes.map { "note: " + $0 }
    }

    /// Functions that would be reported failed.
    public var failures: Int { items.count { if case .fail = $0.outcome { true } else { false } } }
}
