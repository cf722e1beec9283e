// Register access through a VFIO device's BAR regions with pread/pwrite, for BARs
// whose region does not offer mmap (VFIO_REGION_INFO_FLAG_MMAP clear; always so for I/O
// ports, which vfio-pci reaches with in/out), and for programs that run rarely
// (stimulus, set-up) where a mapping is not worth making.
public import InterruptBridgeSystem

/// The BARs of a vfio-pci device, read and written one access at a time through the
/// device file (pread/pwrite at the region's offset), each access exactly the
/// declared width, as vfio-pci forwards it.
///
/// For stimulus, set-up and quiesce programs: each access is a system call, so an ISR
/// should use `MappedBARs` where the BAR can be mapped. A failed access reads as 0 and
/// is recorded; `checked(_:)` runs a program and throws the first failure.
public final class VFIORegionRegisters: RegisterFile, Sendable {
    public let device: VFIODevice
    // Indexed by BAR number 0...5: where the region starts in the device file, its size.
    private let offsets: [Int64]
    private let sizes: [Int]
    private let failure = FirstAccessFailure()

    /// Reads the region of each BAR (an unimplemented BAR has size 0).
    public init(_ device: VFIODevice) throws(SystemError) {
        var offsets: [Int64] = []
        var sizes: [Int] = []
        for bar in PCIBARs.range {
            let region = try device.regionInfo(bar: bar)
            offsets.append(Int64(region.offset))
            sizes.append(region.readable && region.writable ? Int(region.size) : 0)
        }
        self.device = device
        self.offsets = offsets
        self.sizes = sizes
    }

    public func length(ofBAR bar: Int) -> Int { PCIBARs.range.contains(bar) ? sizes[bar] : 0 }

    public func read(bar: Int, offset: Int, width: RegisterWidth) -> UInt64 {
        do throws(SystemError) {
            return try FileRegisterAccess.read(device.descriptor.rawValue, at: offsets[bar] + Int64(offset), width: width,
                                               "\(device.name) BAR\(bar)+0x\(String(offset, radix: 16))")
        } catch {
            failure.record(error)
            return 0
        }
    }

    public func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64) {
        do throws(SystemError) {
            try FileRegisterAccess.write(device.descriptor.rawValue, at: offsets[bar] + Int64(offset), width: width, value: value,
                                         "\(device.name) BAR\(bar)+0x\(String(offset, radix: 16))")
        } catch {
            failure.record(error)
        }
    }

    /// Runs `body` (typically `program.run(vector:)`) and throws the first access that
    /// failed during it.
    public func checked<Result>(_ body: () -> Result) throws(SystemError) -> Result { try failure.checked(body) }
}
