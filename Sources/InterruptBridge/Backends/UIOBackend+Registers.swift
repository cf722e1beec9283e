// A uio_pci_generic function's registers for the WDK facade's MmMapIoSpace and
// READ_PORT_*: through its sysfs resourceN files (UIO itself maps none of a PCI BAR).
public import InterruptBridgeSystem

extension UIOBackend {
    /// Maps memory BAR `bar` through sysfs resourceN (shared with the device).
    public func mapRegisters(bar: Int) throws(BackendError) -> MappedRegion {
        try checkRegisterAccess(device, bar: bar, offset: 0, byteCount: 1)
        guard device.bars.first(where: { $0.index == bar })?.space == .memory else {
            throw .kernelLimit("\(device.address): BAR\(bar) is I/O ports, which cannot be mapped")
        }
        return try backendCall { () throws(SystemError) in try sysfs.mapResource(device.address.description, bar: bar) }
    }

    /// One access through sysfs resourceN (pread; the kernel makes it with in/out for I/O
    /// ports). An I/O BAR's file is open already: one system call, no allocation. A memory
    /// BAR's is opened for the access (map it instead where accesses are many).
    public func readRegister(bar: Int, offset: Int, byteCount: Int) throws(BackendError) -> UInt64 {
        try checkRegisterAccess(device, bar: bar, offset: offset, byteCount: byteCount)
        if let file = portFiles[bar] {
            return try backendCall { () throws(SystemError) in
                try FileIO.readRegister(file.rawValue, at: Int64(offset), byteCount: byteCount, "\(device.address) BAR\(bar)+0x\(String(offset, radix: 16))")
            }
        }
        return try backendCall { () throws(SystemError) in
            try sysfs.readResource(device.address.description, bar: bar, at: offset, byteCount: byteCount)
        }
    }

    public func writeRegister(bar: Int, offset: Int, byteCount: Int, value: UInt64) throws(BackendError) {
        try checkRegisterAccess(device, bar: bar, offset: offset, byteCount: byteCount)
        if let file = portFiles[bar] {
            return try backendCall { () throws(SystemError) in
                try FileIO.writeRegister(file.rawValue, at: Int64(offset), byteCount: byteCount, value: value,
                                         "\(device.address) BAR\(bar)+0x\(String(offset, radix: 16))")
            }
        }
        try backendCall { () throws(SystemError) in
            try sysfs.writeResource(device.address.description, bar: bar, at: offset, byteCount: byteCount, value: value)
        }
    }
}
