// Moving a named PCI function to vfio-pci or uio_pci_generic and giving it back.
//
// Rules: only the named function is ever unbound (never another member of its
// IOMMU group); a function in use by a driver the user did not name is refused;
// the original driver is remembered on disk and restored by `unbind`.
public import InterruptBridgeCore
public import InterruptBridgeSystem
public import Logging

/// The drivers that deliver interrupts to user space.
public enum UserSpaceDriver: String, Sendable, CaseIterable, CustomStringConvertible {
    case vfioPCI = "vfio-pci"
    case uioPCIGeneric = "uio_pci_generic"

    /// The module to load when the driver is not registered.
    public var module: String { self == .vfioPCI ? "vfio-pci" : "uio_pci_generic" }
    public var description: String { rawValue }
}

/// Why a bind or unbind did not happen.
public enum BindingError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchDevice(String)
    /// In use by `driver`, which the user did not name with --from (or --force).
    case inUse(address: String, driver: String, target: String)
    /// --from named a driver the device is not bound to.
    case notBoundTo(address: String, expected: String, actual: String?)
    case driverUnavailable(driver: String, reason: String)
    /// The kernel did not bind the device as asked (it was given back where possible).
    case bindFailed(address: String, driver: String, actual: String?)
    /// `unbind` of a device bound to a driver irqbridge does not manage.
    case notManaged(address: String, driver: String)
    /// A bridge the system itself runs on (host, ISA/LPC, PCI-to-PCI), refused without --force.
    case bridge(address: String, kind: String, classCode: UInt32)
    /// A function whose config header is not type 0 (a PCI-to-PCI or CardBus bridge): vfio-pci's
    /// probe refuses every one (EINVAL, with no reason in the kernel log), so it is refused first.
    case notVFIOCapable(address: String, kind: String, classCode: UInt32)
    case system(SystemError)

    public var description: String {
        switch self {
        case let .noSuchDevice(address):
            "no PCI device \(address)"
        case let .inUse(address, driver, target):
            "\(address) is in use by \(driver); to take it for \(target) anyway, pass --from \(shellWord(driver)) (irqbridge unbind gives it back)"
        case let .notBoundTo(address, expected, actual):
            "\(address) is bound to \(actual ?? "no driver"), not \(expected)"
        case let .driverUnavailable(driver, reason):
            "driver \(driver) is not available: \(reason)"
        case let .bindFailed(address, driver, actual):
            "\(address) did not bind to \(driver) (now: \(actual ?? "no driver")): "
                + (actual == nil ? "its probe refused the device; the kernel log (dmesg) says why" : "another driver took it first")
        case let .notManaged(address, driver):
            "\(address) is bound to \(driver), which irqbridge does not manage; nothing was changed"
        case .bridge:
            bridgeRefusal + " (--force if you really mean it)"
        case let .notVFIOCapable(address, kind, classCode):
            "\(address) is \(DeviceBinder.withArticle(kind)) (class 0x\(hex(UInt64(classCode), width: 6))): vfio-pci takes "
                + "only functions with a type 0 config header and its probe would refuse it, even with --force; nothing was changed"
        case let .system(error):
            error.description
        }
    }

    /// A `.bridge` refusal without the command line's way past it (the description for the other cases).
    public var bridgeRefusal: String {
        guard case let .bridge(address, kind, classCode) = self else { return description }
        return "\(address) is \(DeviceBinder.withArticle(kind)) (class 0x\(hex(UInt64(classCode), width: 6))): the system runs on it, "
            + "and a user-space driver would take it away; nothing was changed"
    }
}

/// Binds and unbinds named devices. Root only on a real machine.
public struct DeviceBinder: Sendable {
    public var kernel: any BindingKernel
    public var records: BindingRecordStore
    public var logger: Logger

    public init(kernel: any BindingKernel = SysfsPCI(), records: BindingRecordStore = BindingRecordStore(), logger: Logger) {
        self.kernel = kernel
        self.records = records
        self.logger = logger
    }

    /// What `bind` did.
    public struct BindOutcome: Sendable, Equatable {
        /// The driver the device had before (nil: none).
        public var previousDriver: String?
        /// False when it was already bound to the target (nothing changed).
        public var changed: Bool
        /// Things the user must know (other group members that keep a VFIO group unusable).
        public var warnings: [String]

        public init(previousDriver: String?, changed: Bool, warnings: [String]) {
            self.previousDriver = previousDriver
            self.changed = changed
            self.warnings = warnings
        }
    }

    /// Binds `address` to `target`.
    ///
    /// - Parameters:
    ///   - from: the driver the user expects the device to be bound to now; required
    ///     (or `force`) when it is bound to any driver other than the target.
    ///   - force: take the device from whatever driver has it.
    public func bind(_ address: PCIAddress, to target: UserSpaceDriver, from expected: String? = nil,
                     force: Bool = false) throws(BindingError) -> BindOutcome {
        let name = address.description
        let checked = try preconditions(address, to: target, from: expected, force: force)
        let current = checked.current
        let earlier = checked.ours
        if checked.alreadyBound {
            return BindOutcome(previousDriver: current, changed: false, warnings: groupWarnings(name, target: target))
        }
        if !kernel.driverRegistered(target.rawValue) {
            do throws(SystemError) {
                try kernel.loadModule(target.module)
            } catch {
                throw .driverUnavailable(driver: target.rawValue, reason: error.description)
            }
            guard kernel.driverRegistered(target.rawValue) else {
                throw .driverUnavailable(driver: target.rawValue, reason: "modprobe \(target.module) did not register it")
            }
        }
        let previousOverride = kernel.driverOverride(of: name)
        // Remember first, so an interrupted bind can still be undone.
        let record = earlier.map { BindingRecordStore.Record(originalDriver: $0.originalDriver, originalOverride: $0.originalOverride,
                                                              boundTo: target.rawValue) }
            ?? .init(originalDriver: current, originalOverride: previousOverride, boundTo: target.rawValue)
        try wrap { () throws(SystemError) in try records.save(record, for: name) }
        do throws(SystemError) {
            if let current { try kernel.unbind(name, from: current) }
            try kernel.setDriverOverride(name, target.rawValue)
            try kernel.probe(name)
        } catch {
            logger.warning("binding \(name) to \(target) failed: \(error); giving it back")
            restore(name, original: current, override: previousOverride, record: earlier)
            throw .system(error)
        }
        let now = kernel.driver(of: name)
        guard now == target.rawValue else {
            restore(name, original: current, override: previousOverride, record: earlier)
            throw .bindFailed(address: name, driver: target.rawValue, actual: now)
        }
        logger.info("bound \(name) to \(target) (was \(current ?? "unbound"))")
        return BindOutcome(previousDriver: current, changed: true, warnings: groupWarnings(name, target: target))
    }

    /// Why `bind` would refuse, found without changing anything: no such device, not on
    /// the driver `from` names, a bridge, in use by another driver (nil: it would go ahead,
    /// or it is on `target` already). A driver module not loaded yet is not a refusal.
    public func refusal(_ address: PCIAddress, to target: UserSpaceDriver, from expected: String? = nil,
                        force: Bool = false) -> BindingError? {
        do { _ = try preconditions(address, to: target, from: expected, force: force) } catch { return error }
        return nil
    }

    private struct Preconditions {
        var current: String?
        /// irqbridge's own record of the device, while it is still off its original driver.
        var ours: BindingRecordStore.Record?
        var alreadyBound: Bool
    }

    private func preconditions(_ address: PCIAddress, to target: UserSpaceDriver, from expected: String?,
                               force: Bool) throws(BindingError) -> Preconditions {
        let name = address.description
        guard kernel.deviceExists(name) else { throw .noSuchDevice(name) }
        let current = kernel.driver(of: name)
        // irqbridge's own record of the device, while it is still off its original driver: on
        // the driver it was bound to, on the other user-space driver, or on none (unbound from
        // ours by someone else). Its original driver and override are the ones to keep, and
        // `from` naming that original driver still holds (a daemon entry's `from: e1000e`
        // after the device moved from vfio-pci to uio_pci_generic, or fell off vfio-pci).
        let ours = records.load(name).flatMap { record in
            current == nil || current == record.boundTo || current.flatMap(UserSpaceDriver.init(rawValue:)) != nil ? record : nil
        }
        // `from` gives leave to take the device from that driver; one on no driver needs none
        // (a `from: e1000e` entry whose module is not loaded takes the free card).
        if let expected, let current, expected != current, current != target.rawValue, ours?.originalDriver != expected {
            throw .notBoundTo(address: name, expected: expected, actual: current)
        }
        if current == target.rawValue { return Preconditions(current: current, ours: ours, alreadyBound: true) }
        if !force, let code = kernel.classCode(of: name), let kind = Self.systemBridge(code) {
            throw .bridge(address: name, kind: kind, classCode: code)
        }
        // Checked before anything is unbound: with --force the bridge's own driver (pcieport)
        // would otherwise be taken away, vfio-pci's probe fail with a bare EINVAL, and the
        // device be probed back.
        if target == .vfioPCI, let code = kernel.classCode(of: name), let kind = Self.nonType0Header(code) {
            throw .notVFIOCapable(address: name, kind: kind, classCode: code)
        }
        // A device irqbridge itself moved to the other user-space driver may switch
        // without --from; its recorded original driver stays the one `unbind` restores.
        if let current, expected != current, !force, ours == nil {
            throw .inUse(address: name, driver: current, target: target.rawValue)
        }
        return Preconditions(current: current, ours: ours, alreadyBound: false)
    }

    /// Gives `address` back to the driver it had before `bind`. Returns that driver
    /// (nil: it had none and is left unbound). A device on no driver that irqbridge has no
    /// record of, and whose driver_override does not hold it for a user-space driver, is
    /// left alone: there is nothing of irqbridge's to give back, and a probe would hand it
    /// to whichever driver claims it (one the user took it from on purpose, or a bridge's
    /// hot-plug driver that fails noisily).
    @discardableResult
    public func unbind(_ address: PCIAddress) throws(BindingError) -> String? {
        let name = address.description
        guard kernel.deviceExists(name) else { throw .noSuchDevice(name) }
        let current = kernel.driver(of: name)
        let record = records.load(name)
        if let current, UserSpaceDriver(rawValue: current) == nil {
            if let back = forgetIfBack(address) { return back }
            throw .notManaged(address: name, driver: current)
        }
        if current == nil, record == nil, kernel.driverOverride(of: name).flatMap(UserSpaceDriver.init(rawValue:)) == nil {
            return nil
        }
        do throws(SystemError) {
            if let current { try kernel.unbind(name, from: current) }
        } catch {
            throw .system(error)
        }
        restore(name, original: record?.originalDriver, override: record?.originalOverride)
        if record == nil {
            // Not bound by irqbridge (or the record was lost): let the kernel pick the default driver.
            try? kernel.probe(name)
        }
        let now = kernel.driver(of: name)
        if let original = record?.originalDriver, now != original {
            // Kept: a later `unbind` (the device now on no driver) restores from it again.
            throw .bindFailed(address: name, driver: original, actual: now)
        }
        try? records.remove(name)
        logger.info("gave \(name) back to \(now ?? "no driver")")
        return now
    }

    /// A device back on the kernel driver its record names (its module, reloaded, probed it
    /// again): nothing is left to give back but the record, which would otherwise stay for
    /// good. Drops the record and returns that driver; nil (nothing done) when the device is
    /// elsewhere or has no record.
    @discardableResult
    public func forgetIfBack(_ address: PCIAddress) -> String? {
        let name = address.description
        guard let record = records.load(name), let original = record.originalDriver, UserSpaceDriver(rawValue: original) == nil,
              kernel.driver(of: name) == original else { return nil }
        try? records.remove(name)
        logger.info("\(name) is on \(original) already, the driver it had: binding record removed")
        return original
    }

    /// A device no longer on the bus (pulled): the kernel's device, with the driver_override
    /// irqbridge set on it, went with it, and one plugged in again starts afresh on its own
    /// driver. Drops its record, which would otherwise stay for good, and returns true;
    /// false (nothing done) while the device is there or has no record.
    @discardableResult
    public func forgetIfGone(_ address: PCIAddress) -> Bool {
        let name = address.description
        guard !kernel.deviceExists(name), records.load(name) != nil else { return false }
        try? records.remove(name)
        logger.info("\(name) is no longer on the bus: binding record removed")
        return true
    }

    /// A device someone else unbound from irqbridge's driver: puts its driver_override back
    /// to what it was before irqbridge bound it (usually none). Left as irqbridge set it,
    /// the override keeps every other driver off the device: its own driver's probe passes
    /// it by, and a bind by hand to another driver fails. The record stays, so `unbind`
    /// and a later `bind` still know the driver it had. Returns whether it changed
    /// anything: nothing is done to a device on a driver, or whose override is not the
    /// one irqbridge set.
    @discardableResult
    public func releaseOverride(_ address: PCIAddress) -> Bool {
        let name = address.description
        guard let record = records.load(name), kernel.driver(of: name) == nil,
              kernel.driverOverride(of: name) == record.boundTo, record.originalOverride != record.boundTo else { return false }
        do throws(SystemError) {
            try kernel.setDriverOverride(name, record.originalOverride)
        } catch {
            logger.warning("\(name): putting back its driver_override failed: \(error)")
            return false
        }
        logger.info("\(name) left \(record.boundTo) outside irqbridge: driver_override put back to \(record.originalOverride ?? "none")")
        return true
    }

    /// "a host bridge", "an ISA bridge".
    public static func withArticle(_ kind: String) -> String {
        (kind.first.map { "AEIOU".contains($0) } == true ? "an " : "a ") + kind
    }

    /// What a class code names when it is a bridge the system runs on (nil: anything else;
    /// "other" bridges, 0x0680, are left to the user: some cards present as one).
    public static func systemBridge(_ classCode: UInt32) -> String? {
        guard classCode >> 16 == 0x06 else { return nil }
        switch (classCode >> 8) & 0xff {
        case 0x00: return "host bridge"
        case 0x01: return "ISA bridge"
        case 0x04, 0x09: return "PCI-to-PCI bridge"
        default: return nil
        }
    }

    /// What a class code names when the function's config header is not type 0 (nil: a type 0
    /// function): PCI-to-PCI bridges (type 1, semi-transparent ones too) and CardBus bridges (type 2).
    public static func nonType0Header(_ classCode: UInt32) -> String? {
        guard classCode >> 16 == 0x06 else { return nil }
        switch (classCode >> 8) & 0xff {
        case 0x04, 0x09: return "PCI-to-PCI bridge"
        case 0x07: return "CardBus bridge"
        default: return nil
        }
    }

    /// Clears the override and lets the original driver take the device again.
    /// Best effort (used on failure paths too); never touches another device.
    private func restore(_ name: String, original: String?, override: String?) {
        try? kernel.setDriverOverride(name, override)
        guard let original, kernel.driver(of: name) == nil else { return }
        try? kernel.probe(name)
        if kernel.driver(of: name) == nil { try? kernel.bind(name, to: original) }
    }

    /// A failed bind's way back: `restore`, then the record as it was before the bind
    /// (`earlier`: the one that moved it to the driver it is on; none: the new one goes)
    /// once the device is back where it was. Elsewhere the new record stays, for `unbind`.
    private func restore(_ name: String, original: String?, override: String?, record earlier: BindingRecordStore.Record?) {
        restore(name, original: original, override: override)
        guard kernel.driver(of: name) == original else { return }
        if let earlier { try? records.save(earlier, for: name, keepingOwner: true) } else { try? records.remove(name) }
    }

    /// The other members of `address`'s IOMMU group that keep it from being viable for
    /// VFIO: each bound to a driver that does not leave DMA to VFIO
    /// (`VFIOGroup.leavesDMAToVFIO`). Empty when the group cannot be read (no IOMMU group:
    /// VFIO's own open reports that).
    public func groupMembersBlockingVFIO(_ address: PCIAddress) -> (group: Int, members: [(address: String, driver: String)]) {
        let name = address.description
        guard let group = kernel.iommuGroup(of: name), let members = try? kernel.groupMembers(group) else { return (-1, []) }
        return (group, members.compactMap { member in
            guard member.address != name, let driver = member.driver, !VFIOGroup.leavesDMAToVFIO(driver) else { return nil }
            return (member.address, driver)
        })
    }

    /// Other members of the device's IOMMU group that keep the group from being viable.
    /// They are reported, never unbound.
    private func groupWarnings(_ name: String, target: UserSpaceDriver) -> [String] {
        guard target == .vfioPCI, let address = PCIAddress(name) else { return [] }
        let (group, members) = groupMembersBlockingVFIO(address)
        return members.map { member in
            "IOMMU group \(group) also holds \(member.address) (bound to \(member.driver)): VFIO cannot open the group until "
                + "it is bound to vfio-pci or unbound; irqbridge does not touch devices you did not name"
        }
    }

    private func wrap(_ body: () throws(SystemError) -> Void) throws(BindingError) {
        do throws(SystemError) { try body() } catch { throw .system(error) }
    }
}

/// `word` as a shell reads it back as one argument: as it is when it is plain, else in
/// single quotes ("i6300ESB timer" is a driver's name; the hint must paste as is).
func shellWord(_ word: String) -> String {
    let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { scalar in
        scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || "-_.:/+@%".unicodeScalars.contains(scalar))
    }
    return plain ? word : "'" + word.replacing("'", with: "'\\''") + "'"
}
