// The simulated device's registers: each BAR is zeroed memory of the BAR's size, made at
// first use, which the driver's mappings and accesses share with the test that plays the
// device (`registers(bar:)`).
import InterruptBridgeCore
public import InterruptBridgeSystem

/// A simulated device's BAR memory, one region per BAR, made at first use and kept while
/// the backend lives.
final class SimulatedRegisters: Sendable {
    private let regions = LockedValue<[Int: MappedRegion]>([:])

    func region(bar: Int, of device: PCIDeviceInfo) throws(BackendError) -> MappedRegion {
        try checkRegisterAccess(device, bar: bar, offset: 0, byteCount: 1)
        return try regions.withLock { (regions) throws(BackendError) -> MappedRegion in
            if let region = regions[bar] { return region }
            let size = device.bars.first { $0.index == bar }?.size ?? 0
            guard size <= UInt64(Int.max) else { throw .kernelLimit("\(device.address): BAR\(bar) is too large to simulate") }
            let region = try backendCall { () throws(SystemError) in
                try MappedRegion(anonymousLength: Int(size), "simulated \(device.address) BAR\(bar)")
            }
            regions[bar] = region
            return region
        }
    }
}

extension SimulatedBackend {
    /// The memory behind BAR `bar`, where a test plays the device: set a status register
    /// before `raise`, read what the ISR acknowledged. Every mapping of the BAR
    /// (`mapRegisters`, the WDK facade's MmMapIoSpace) shows the same bytes.
    public func registers(bar: Int) throws(BackendError) -> MappedRegion {
        try registerMemory.region(bar: bar, of: device)
    }

    /// The BAR's memory (memory and I/O BARs alike: a simulated port is memory too).
    public func mapRegisters(bar: Int) throws(BackendError) -> MappedRegion {
        try registers(bar: bar)
    }

    public func readRegister(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> UInt64 {
        try checkRegisterAccess(device, bar: bar, offset: offset, byteCount: byteCount)
        let region = try registers(bar: bar)
        switch byteCount {
        case 1: return UInt64(region.read8(at: offset))
        case 2: return UInt64(region.read16(at: offset))
        case 4: return UInt64(region.read32(at: offset))
        default: return region.read64(at: offset)
        }
    }

    public func writeRegister(bar: Int, offset: Int, byteCount: Int, value: UInt64) throws(BackendError) {
        try checkRegisterAccess(device, bar: bar, offset: offset, byteCount: byteCount)
        let region = try registers(bar: bar)
        switch byteCount {
        case 1: region.write8(UInt8(truncatingIfNeeded: value), at: offset)
        case 2: region.write16(UInt16(truncatingIfNeeded: value), at: offset)
        case 4: region.write32(UInt32(truncatingIfNeeded: value), at: offset)
        default: region.write64(value, at: offset)
        }
    }
}
