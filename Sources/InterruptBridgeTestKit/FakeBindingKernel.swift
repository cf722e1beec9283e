// A BindingKernel that plays the PCI core in memory, for tests of binding and of
// the daemon without root or sysfs.
#if canImport(Glibc)
import Glibc
#endif
public import InterruptBridgeDiscovery
public import InterruptBridgeSystem
public import Synchronization

/// Plays the PCI core: devices with drivers, driver_override, and a probe that
/// binds the override (or the device's default driver) — and records every write.
public final class FakeBindingKernel: BindingKernel {
    public struct Device: Sendable {
        public var driver: String?
        public var defaultDriver: String?
        public var override: String?
        public var group: Int?
        public var classCode: UInt32?

        public init(driver: String? = nil, defaultDriver: String? = nil, override: String? = nil, group: Int? = nil, classCode: UInt32? = nil) {
            self.driver = driver
            self.defaultDriver = defaultDriver
            self.override = override
            self.group = group
            self.classCode = classCode
        }
    }

    public let state: Mutex<(devices: [String: Device], registered: Set<String>, modules: Set<String>, log: [String])>

    public init(devices: [String: Device], registered: Set<String>, loadable: Set<String> = []) {
        state = Mutex((devices, registered, loadable, []))
    }

    public var log: [String] { state.withLock { $0.log } }

    /// The driver leaves (its module unloaded): binding to it fails from now on.
    public func unregister(_ driver: String) { _ = state.withLock { $0.registered.remove(driver) } }

    /// The function leaves the bus (pulled, no event seen).
    public func remove(_ address: String) { _ = state.withLock { $0.devices.removeValue(forKey: address) } }
    public func device(_ address: String) -> Device? { state.withLock { $0.devices[address] } }

    public func deviceExists(_ address: String) -> Bool { device(address) != nil }
    public func driver(of address: String) -> String? { device(address)?.driver }
    public func driverRegistered(_ driver: String) -> Bool { state.withLock { $0.registered.contains(driver) } }
    public func iommuGroup(of address: String) -> Int? { device(address)?.group }
    public func classCode(of address: String) -> UInt32? { device(address)?.classCode }
    public func groupMembers(_ group: Int) throws(SystemError) -> [(address: String, driver: String?)] {
        state.withLock { $0.devices.filter { $0.value.group == group }.map { ($0.key, $0.value.driver) }.sorted { $0.0 < $1.0 } }
    }
    public func driverOverride(of address: String) -> String? { device(address)?.override }
    public func setDriverOverride(_ address: String, _ driver: String?) throws(SystemError) {
        state.withLock {
            $0.devices[address]?.override = driver
            $0.log.append("override \(address) \(driver ?? "-")")
        }
    }
    public func unbind(_ address: String, from driver: String) throws(SystemError) {
        try state.withLock { (state) throws(SystemError) in
            guard state.devices[address]?.driver == driver else { throw SystemError("unbind", code: ENODEV) }
            state.devices[address]?.driver = nil
            state.log.append("unbind \(address) \(driver)")
        }
    }
    public func probe(_ address: String) throws(SystemError) {
        state.withLock { state in
            state.log.append("probe \(address)")
            guard var device = state.devices[address], device.driver == nil else { return }
            let candidate = device.override ?? device.defaultDriver
            if let candidate, state.registered.contains(candidate) { device.driver = candidate }
            state.devices[address] = device
        }
    }
    public func bind(_ address: String, to driver: String) throws(SystemError) {
        try state.withLock { (state) throws(SystemError) in
            // As sysfs: no drivers/DRIVER/bind without the driver registered.
            guard state.registered.contains(driver) else { throw SystemError("bind \(driver)", code: ENOENT) }
            state.devices[address]?.driver = driver
            state.log.append("bind \(address) \(driver)")
        }
    }
    public func loadModule(_ name: String) throws(SystemError) {
        try state.withLock { (state) throws(SystemError) in
            guard state.modules.contains(name) else { throw SystemError("modprobe \(name)", code: ENOENT) }
            state.registered.insert(name)
            state.log.append("modprobe \(name)")
        }
    }
}
