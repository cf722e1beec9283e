// The simulated device's registers: each BAR is zeroed shared memory of the BAR's size,
// made at first use, which the test that plays the device reads and writes
// (`registers(bar:)`) and the driver maps (`mapRegisters`) at addresses of its own. A
// removal lets the driver's go as a closed VFIO device does.
import InterruptBridgeCore
public import InterruptBridgeSystem

/// A simulated device's BAR memory, one region per BAR, made at first use and kept while
/// the backend lives, and the driver's mappings of it: second views of the same pages,
/// which `release` detaches (they then read zeroes, as a VFIO BAR mapping does once its
/// device is closed after a removal), after which the driver gets `.closed`.
final class SimulatedRegisters: Sendable {
    private struct State {
        var regions: [Int: MappedRegion] = [:]
        /// The driver's mappings that may still be alive.
        var views: [WeakRegion] = []
        var released = false
    }

    private struct WeakRegion {
        weak var region: MappedRegion?
    }

    private let state = LockedValue(State())

    /// The device's side: the test reads and writes here, before and after a removal.
    func region(bar: Int, of device: PCIDeviceInfo) throws(BackendError) -> MappedRegion {
        try checkRegisterAccess(device, bar: bar, offset: 0, byteCount: 1)
        return try state.withLock { (state) throws(BackendError) -> MappedRegion in try Self.region(bar, of: device, in: &state) }
    }

    /// The driver's side: a mapping of its own, `.closed` once the device was released.
    func driverMapping(bar: Int, of device: PCIDeviceInfo) throws(BackendError) -> MappedRegion {
        try checkRegisterAccess(device, bar: bar, offset: 0, byteCount: 1)
        return try state.withLock { (state) throws(BackendError) -> MappedRegion in
            guard !state.released else { throw .closed }
            let region = try Self.region(bar, of: device, in: &state)
            let view = try backendCall { () throws(SystemError) in try region.secondView("simulated \(device.address) BAR\(bar)") }
            state.views.removeAll { $0.region == nil }
            state.views.append(WeakRegion(region: view))
            return view
        }
    }

    /// The driver's one access, which the caller checked against the BAR
    /// (`checkRegisterAccess`): `.closed` once the device was released.
    func driverAccess<T>(bar: Int, of device: PCIDeviceInfo, _ body: (MappedRegion) -> T) throws(BackendError) -> T {
        try state.withLock { (state) throws(BackendError) -> T in
            guard !state.released else { throw .closed }
            return body(try Self.region(bar, of: device, in: &state))
        }
    }

    /// The device is given back: every driver mapping still alive reads zeroes from now on.
    func release() {
        let views = state.withLock { state in
            state.released = true
            defer { state.views = [] }
            return state.views.compactMap(\.region)
        }
        for view in views { try? view.detachFromDevice() }
    }

    private static func region(_ bar: Int, of device: PCIDeviceInfo, in state: inout State) throws(BackendError) -> MappedRegion {
        if let region = state.regions[bar] { return region }
        let size = device.bars.first { $0.index == bar }?.size ?? 0
        guard size <= UInt64(Int.max) else { throw .kernelLimit("\(device.address): BAR\(bar) is too large to simulate") }
        let region = try backendCall { () throws(SystemError) in
            try MappedRegion(sharedAnonymousLength: Int(size), "simulated \(device.address) BAR\(bar)")
        }
        state.regions[bar] = region
        return region
    }
}

extension SimulatedBackend {
    /// The memory behind BAR `bar`, where a test plays the device: set a status register
    /// before `raise`, read what the ISR acknowledged. Every mapping of the BAR
    /// (`mapRegisters`, the WDK facade's MmMapIoSpace) shows the same bytes until the
    /// device is released after a removal; this one stays the device's after that.
    public func registers(bar: Int) throws(BackendError) -> MappedRegion {
        try registerMemory.region(bar: bar, of: device)
    }

    /// A mapping of the BAR's memory (memory and I/O BARs alike: a simulated port is
    /// memory too) at an address of the driver's own. As on a VFIO device: it reads zeroes
    /// once the device was released after a removal (`releaseAfterRemoval`), and a new one
    /// is `.closed` then.
    public func mapRegisters(bar: Int) throws(BackendError) -> MappedRegion {
        try registerMemory.driverMapping(bar: bar, of: device)
    }

    /// One access; `.closed` once the device was released after a removal.
    public func readRegister(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> UInt64 {
        try checkRegisterAccess(device, bar: bar, offset: offset, byteCount: byteCount)
        return try registerMemory.driverAccess(bar: bar, of: device) { region in
            switch byteCount {
            case 1: UInt64(region.read8(at: offset))
            case 2: UInt64(region.read16(at: offset))
            case 4: UInt64(region.read32(at: offset))
            default: region.read64(at: offset)
            }
        }
    }

    /// One access; `.closed` once the device was released after a removal.
    public func writeRegister(bar: Int, offset: Int, byteCount: Int, value: UInt64) throws(BackendError) {
        try checkRegisterAccess(device, bar: bar, offset: offset, byteCount: byteCount)
        try registerMemory.driverAccess(bar: bar, of: device) { region in
            switch byteCount {
            case 1: region.write8(UInt8(truncatingIfNeeded: value), at: offset)
            case 2: region.write16(UInt16(truncatingIfNeeded: value), at: offset)
            case 4: region.write32(UInt32(truncatingIfNeeded: value), at: offset)
            default: region.write64(value, at: offset)
            }
        }
    }
}
