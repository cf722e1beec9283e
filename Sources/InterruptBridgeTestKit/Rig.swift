// What a test knows of the QEMU rig (scripts/rig/run.sh, the `rig` command plugin,
// `irqbridge rig`): whether it runs inside it, which device plays which role, and how to
// hand a device to a user-space driver from inside the guest.
#if canImport(Glibc)
import Glibc
#endif
public import InterruptBridgeCore
public import InterruptBridgeDiscovery
import InterruptBridgeSystem
public import Logging

/// The QEMU rig, as seen from code running inside its guest.
///
/// The rig sets `IRQBRIDGE_RIG=1` and `IRQBRIDGE_RIG_DEVICES` (roles and pinned addresses,
/// e.g. `edu=0000:00:03.0 ivshmem-doorbell=0000:00:05.0 qemu0=0000:00:0c.0`) for the command
/// it runs; `IRQBRIDGE_RIG_HOTPLUG` names the hot-pluggable devices. Outside the rig every
/// lookup is empty and ``isInside`` is false, so tests can skip with ``skipReason``.
public enum Rig {
    /// True inside the rig's guest (`IRQBRIDGE_RIG=1`).
    public static var isInside: Bool { environment("IRQBRIDGE_RIG") == "1" }

    /// Why a rig-only test did not run here.
    public static let skipReason = "not inside the QEMU rig (IRQBRIDGE_RIG=1 unset): run it with `swift package --disable-sandbox rig -- test`, `irqbridge rig` or scripts/rig/run.sh"

    /// Every device of this run by role: `edu`, `edu2`, `ivshmem-doorbell`, `e1000e`, `nvme`,
    /// `qemu0` (the first `--qemu-device`), ..., and a `--qemu-device` by its `id=` too
    /// (`--qemu-device rtl8139,id=nic`: `nic`). Empty outside the rig.
    public static var devices: [String: PCIAddress] { parseAssignments(environment("IRQBRIDGE_RIG_DEVICES")) }

    /// The hot-pluggable devices by QMP id (`edu0` -> 0000:01:00.0; a `--qemu-hotplug` device by
    /// its `id=`, else `plug0`, `plug1`, ...); empty when the run has none.
    public static var hotplugDevices: [String: PCIAddress] { parseAssignments(environment("IRQBRIDGE_RIG_HOTPLUG")) }

    /// The address of the device playing `role` (`Rig.device("edu")`), nil when this run has none.
    public static func device(_ role: String) -> PCIAddress? { devices[role] ?? hotplugDevices[role] }

    /// Like ``device(_:)``, but a missing role is an error that names the roles there are.
    public static func requireDevice(_ role: String) throws(RigError) -> PCIAddress {
        guard let address = device(role) else {
            let known = (devices.keys.sorted() + hotplugDevices.keys.sorted()).joined(separator: ", ")
            throw RigError("no rig device '\(role)' in this run (have: \(known.isEmpty ? "none" : known)); add it with --devices or --qemu-device")
        }
        return address
    }

    /// Why a test needing `roles` cannot run in this process, or nil when it can: outside the
    /// rig ``skipReason``, inside it the roles this run lacks and the roles it has.
    package static func skipReason(needing roles: [String], inside: Bool = isInside,
                                   have: [String] = Array(devices.keys) + Array(hotplugDevices.keys)) -> String? {
        guard inside else { return skipReason }
        let missing = roles.filter { !have.contains($0) }
        guard !missing.isEmpty else { return nil }
        return "this rig run has no \(missing.joined(separator: ", ")) (have: \(have.isEmpty ? "none" : have.sorted().joined(separator: ", "))); add it with --devices or --qemu-device"
    }

    /// Binds the device to a user-space driver (`vfio-pci`, `uio_pci_generic`) from inside
    /// the guest (the rig's devices start with no driver; one a `--qemu-device` model brought
    /// a kernel driver for is taken from it). `--bind` does the same before the command
    /// starts. A bridge the guest runs on (host, ISA/LPC, PCI-to-PCI) is refused with a
    /// ``RigError``, as `irqbridge bind` refuses it without `--force`.
    public static func bind(_ address: PCIAddress, to driver: UserSpaceDriver, logger: Logger = .silent("irqbridge.rig")) throws {
        // A device just added back by hot-plug is in sysfs (what `waitUntil` sees) a moment
        // before the kernel lets a driver probe it: a bind then finds it on no driver (1 in 5
        // re-adds in a user's test). Such a bind is tried again for up to half a second.
        var attempt = 0
        while true {
            do {
                // Moving it off vfio-pci waits for this process when it holds the device, as unbind does.
                // Leave to take it from the driver it has (`from`), not `force`, which would bind a bridge too.
                _ = try givingBack(address) { () throws(BindingError) in
                    let binder = DeviceBinder(logger: logger)
                    return try binder.bind(address, to: driver, from: binder.kernel.driver(of: address.description))
                }
                return
            } catch let error as BindingError {
                if case .bridge = error { throw RigError(error.bridgeRefusal + "; Rig.bind does not bind bridges") }
                // In the same window a kernel driver may probe it between the look at its driver
                // and the bind (`.inUse`): the next try takes it from that driver.
                let retried = switch error {
                case .bindFailed(_, _, nil), .inUse: true
                // ... or after the binder's own look, before its driver_override took effect.
                case .bindFailed(_, _, let actual?): UserSpaceDriver(rawValue: actual) == nil
                default: false
                }
                guard retried, attempt < 10 else { throw error }
                attempt += 1
                usleep(50_000)
            }
        }
    }

    /// Gives the device back to the driver it had before ``bind(_:to:logger:)`` (none, in the rig).
    /// The kernel's unbind from vfio-pci waits until every user of the device lets go: a
    /// dispatcher with the device's interrupts connected (or its events watched) does so
    /// when the kernel asks, so this is how a test removes a device from under its driver.
    /// A backend this process left open with neither would hold the device forever: after
    /// 10 s this throws ``RigError`` saying so, instead of hanging the test.
    public static func unbind(_ address: PCIAddress, logger: Logger = .silent("irqbridge.rig")) throws {
        _ = try givingBack(address) { () throws(BindingError) in try DeviceBinder(logger: logger).unbind(address) }
    }

    /// Whether the device's sysfs directory exists.
    public static func isPresent(_ address: PCIAddress) -> Bool {
        FileIO.exists("/sys/bus/pci/devices/\(address)")
    }

    /// Polls every 10 ms until the device is present (or absent); how long that took in ms,
    /// or nil after `timeoutMilliseconds`.
    public static func waitUntil(_ address: PCIAddress, present wanted: Bool, timeoutMilliseconds: Int = 10_000) -> Int? {
        var waited = 0
        while isPresent(address) != wanted {
            guard waited < timeoutMilliseconds else { return nil }
            usleep(10_000)
            waited += 10
        }
        return waited
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// "name=BDF name=BDF" -> [name: address]; malformed entries are left out.
    package static func parseAssignments(_ text: String?) -> [String: PCIAddress] {
        var result: [String: PCIAddress] = [:]
        for entry in (text ?? "").split(separator: " ") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let address = PCIAddress(String(parts[1])) { result[String(parts[0])] = address }
        }
        return result
    }
}

/// A rig request that could not be met (a missing device role, a refused hot-plug request).
public struct RigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
