// Register access for a device under uio_pci_generic, through sysfs: memory BARs mapped
// (`resourceN` mmap), I/O-port BARs read and written one access at a time (`resourceN`
// pread/pwrite, which the kernel turns into in/out instructions).
public import InterruptBridgeCore
public import InterruptBridgeSystem

/// The BARs a profile uses, as sysfs offers them: a memory BAR mapped, an I/O BAR through
/// its `resourceN` file (the kernel takes 1, 2 or 4 bytes at a time there: a 64-bit access
/// to one was refused when the profile was checked against the device).
///
/// Each I/O access is a system call, as `VFIORegionRegisters`' are; a failed one reads as 0
/// and is recorded (`checked(_:)` throws it), so an ISR never traps on it.
///
/// `@unchecked Sendable`: everything is fixed at init; the mapped memory and the ports are
/// the device's to synchronise, as in a kernel driver.
public final class SysfsRegisters: FailableRegisterFile, @unchecked Sendable {
    private let mapped: MappedBARs
    // Indexed by BAR number 0...5: the open resourceN of an I/O BAR, and its size.
    private let ports: [OwnedDescriptor?]
    private let portSizes: [Int]
    private let address: String
    private let failure = FirstAccessFailure()

    /// Opens `bars` of the function at `address`: each of `ioBars` through its resource
    /// file, every other one mapped.
    public init(_ address: String, bars: [Int], ioBars: Set<Int>, sysfs: SysfsPCI = SysfsPCI()) throws(SystemError) {
        var ports = [OwnedDescriptor?](repeating: nil, count: PCIBARs.count)
        var sizes = [Int](repeating: 0, count: PCIBARs.count)
        let bars = bars.filter(PCIBARs.range.contains)
        // On a throw, what was opened or mapped so far goes with its owners (they close and unmap).
        for bar in bars where ioBars.contains(bar) {
            let file = try FileIO.open(sysfs.resourcePath(address, bar: bar), .readWrite)
            ports[bar] = file
            sizes[bar] = try FileIO.size(of: file.rawValue, file.name)
        }
        self.mapped = try MappedBARs.sysfs(address, bars: bars.filter { !ioBars.contains($0) }, sysfs: sysfs)
        self.ports = ports
        self.portSizes = sizes
        self.address = address
    }

    public func length(ofBAR bar: Int) -> Int {
        guard PCIBARs.range.contains(bar) else { return 0 }
        return ports[bar] != nil ? portSizes[bar] : mapped.length(ofBAR: bar)
    }

    public func read(bar: Int, offset: Int, width: RegisterWidth) -> UInt64 {
        guard let port = ports[bar] else { return mapped.read(bar: bar, offset: offset, width: width) }
        do throws(SystemError) {
            return try FileRegisterAccess.read(port.rawValue, at: Int64(offset), width: width,
                                               "\(address) I/O BAR\(bar)+0x\(String(offset, radix: 16))")
        } catch {
            failure.record(error)
            return 0
        }
    }

    public func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64) {
        guard let port = ports[bar] else { return mapped.write(bar: bar, offset: offset, width: width, value: value) }
        do throws(SystemError) {
            try FileRegisterAccess.write(port.rawValue, at: Int64(offset), width: width, value: value,
                                         "\(address) I/O BAR\(bar)+0x\(String(offset, radix: 16))")
        } catch {
            failure.record(error)
        }
    }

    /// Runs `body` (typically `program.run(vector:)`) and throws the first I/O-port access
    /// that failed during it.
    public func checked<Result>(_ body: () -> Result) throws(SystemError) -> Result { try failure.checked(body) }
}

extension SysfsRegisters {
    /// The BARs `profile` uses on `device` (under uio_pci_generic), I/O ones included.
    public convenience init(_ device: PCIDeviceInfo, bars: [Int], sysfs: SysfsPCI = SysfsPCI()) throws(SystemError) {
        let io = Set(device.bars.filter { $0.space == .io }.map(\.index))
        try self.init(device.address.description, bars: bars, ioBars: io, sysfs: sysfs)
    }
}
