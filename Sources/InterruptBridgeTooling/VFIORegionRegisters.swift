// Register access through a VFIO device's BAR regions with pread/pwrite, for BARs
// whose region does not offer mmap (VFIO_REGION_INFO_FLAG_MMAP clear; always so for I/O
// ports, which vfio-pci reaches with in/out), and for programs that run rarely
// (stimulus, set-up) where a mapping is not worth making.
public import InterruptBridgeSystem
import Synchronization

/// The BARs of a vfio-pci device, read and written one access at a time through the
/// device file (pread/pwrite at the region's offset), each access exactly the
/// declared width, as vfio-pci forwards it.
///
/// For stimulus, set-up and quiesce programs: each access is a system call, so an ISR
/// should use `MappedBARs` where the BAR can be mapped. A failed access reads as 0 and
/// is recorded; `checked(_:)` runs a program and throws the first failure.
///
/// It keeps the device file open (the kernel's unbind of a vfio-pci device waits for its
/// last user) until `detach()`, after which every access reads 0 without touching it.
public final class VFIORegionRegisters: FailableRegisterFile, Sendable {
    /// The device, until `detach()`.
    public var device: VFIODevice? { holder.withLock { $0 } }
    private let holder: LockedValue<VFIODevice?>
    private let detached = Atomic<Bool>(false)
    private let descriptor: Int32
    private let name: String
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
        self.holder = LockedValue(device)
        self.descriptor = device.descriptor.rawValue
        self.name = device.name
        self.offsets = offsets
        self.sizes = sizes
    }

    public func length(ofBAR bar: Int) -> Int { PCIBARs.range.contains(bar) ? sizes[bar] : 0 }

    /// Lets go of the device: its file closes once nothing else holds it, and later
    /// accesses read 0 and write nothing. Only when no program runs on this register
    /// file any more (its interrupts disconnected, its stimulus idle).
    public func detach() {
        detached.store(true, ordering: .releasing)
        holder.withLock { $0 = nil }
    }

    public func read(bar: Int, offset: Int, width: RegisterWidth) -> UInt64 {
        guard !detached.load(ordering: .acquiring) else { return 0 }
        do throws(SystemError) {
            return try FileRegisterAccess.read(descriptor, at: offsets[bar] + Int64(offset), width: width,
                                               "\(name) BAR\(bar)+0x\(String(offset, radix: 16))")
        } catch {
            failure.record(error)
            return 0
        }
    }

    public func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64) {
        guard !detached.load(ordering: .acquiring) else { return }
        do throws(SystemError) {
            try FileRegisterAccess.write(descriptor, at: offsets[bar] + Int64(offset), width: width, value: value,
                                         "\(name) BAR\(bar)+0x\(String(offset, radix: 16))")
        } catch {
            failure.record(error)
        }
    }

    /// Runs `body` (typically `program.run(vector:)`) and throws the first access that
    /// failed during it.
    public func checked<Result>(_ body: () -> Result) throws(SystemError) -> Result { try failure.checked(body) }
}
