// Register access through a VFIO device's BAR regions with pread/pwrite, for BARs
// whose region does not offer mmap (VFIO_REGION_INFO_FLAG_MMAP clear), and for
// programs that run rarely (stimulus, set-up) where a mapping is not worth making.
public import InterruptBridgeSystem
import Synchronization

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
    private let failure = Mutex<SystemError?>(nil)

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
        var value: UInt64 = 0
        do throws(SystemError) {
            try withUnsafeMutableBytes(of: &value) { (bytes) throws(SystemError) in
                try FileIO.pread(device.descriptor.rawValue, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<width.byteCount]),
                                 at: offsets[bar] + Int64(offset), "\(device.name) BAR\(bar)+0x\(String(offset, radix: 16))")
            }
        } catch {
            record(error)
            return 0
        }
        return UInt64(littleEndian: value) & width.mask
    }

    public func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64) {
        var little = value.littleEndian
        do throws(SystemError) {
            try withUnsafeBytes(of: &little) { (bytes) throws(SystemError) in
                try FileIO.pwrite(device.descriptor.rawValue, from: UnsafeRawBufferPointer(rebasing: bytes[0..<width.byteCount]),
                                  at: offsets[bar] + Int64(offset), "\(device.name) BAR\(bar)+0x\(String(offset, radix: 16))")
            }
        } catch {
            record(error)
        }
    }

    private func record(_ error: SystemError) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    /// Runs `body` (typically `program.run(vector:)`) and throws the first access that
    /// failed during it.
    public func checked<Result>(_ body: () -> Result) throws(SystemError) -> Result {
        failure.withLock { $0 = nil }
        let result = body()
        if let error = failure.withLock({ $0 }) { throw error }
        return result
    }
}
