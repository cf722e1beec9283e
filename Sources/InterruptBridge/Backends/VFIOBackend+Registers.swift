// A vfio-pci device's registers for the WDK facade's MmMapIoSpace and READ_PORT_*:
// a BAR's region mapped, or one access through the device file.
public import InterruptBridgeSystem

extension VFIOBackend {
    /// Maps BAR `bar` (its VFIO region, shared with the device). The mapping holds the
    /// device open in the kernel until it is released, or until the backend is closed or
    /// asked for the device back, after which it reads zeroes (`BARMappings.detachAll`).
    /// `.closed` once the backend is closed.
    public func mapRegisters(bar: Int) throws(BackendError) -> MappedRegion {
        guard let vfio = registerDevice.withLock({ $0 }) else { throw .closed }
        return try backendCall { () throws(SystemError) in try vfio.mapBAR(bar) }
    }

    /// One access through the device file (pread at the BAR region's offset): vfio-pci
    /// makes it with an access of that width, in/out for an I/O BAR.
    public func readRegister(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> UInt64 {
        let region = try accessibleRegion(bar: bar, offset: offset, byteCount: byteCount)
        guard let vfio = registerDevice.withLock({ $0 }) else { throw .closed }
        return try backendCall { () throws(SystemError) in
            try FileIO.readRegister(vfio.descriptor.rawValue, at: Int64(region.offset) + Int64(offset), byteCount: byteCount,
                                    "\(vfio.name) BAR\(bar)+0x\(String(offset, radix: 16))")
        }
    }

    public func writeRegister(bar: Int, offset: Int, byteCount: Int, value: UInt64) throws(BackendError) {
        let region = try accessibleRegion(bar: bar, offset: offset, byteCount: byteCount)
        guard let vfio = registerDevice.withLock({ $0 }) else { throw .closed }
        try backendCall { () throws(SystemError) in
            try FileIO.writeRegister(vfio.descriptor.rawValue, at: Int64(region.offset) + Int64(offset), byteCount: byteCount,
                                     value: value, "\(vfio.name) BAR\(bar)+0x\(String(offset, radix: 16))")
        }
    }

    private func accessibleRegion(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> VFIO.RegionInfo {
        guard bar >= 0, bar < barRegions.count, let region = barRegions[bar], region.readable, region.writable else {
            throw .kernelLimit("\(device.address): vfio-pci gives no access to BAR\(bar)")
        }
        try checkRegisterAccess(device.address, bar: bar, offset: offset, byteCount: byteCount, within: region.size)
        return region
    }
}
