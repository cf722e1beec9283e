// DMA through a VFIO container's type-1 IOMMU: memory of this process mapped at an IOVA
// its devices use, chosen by the container's DeviceAddressSpace (below the device's
// highest address, clear of reserved regions and of address 0).
import InterruptBridgeCore
#if canImport(Glibc)
import Glibc
#endif

extension VFIOContainer {
    /// Never maps an IOVA in `regions` (an attached group's reserved regions).
    func reserve(_ regions: [ClosedRange<UInt64>]) {
        addressSpace.withLock { $0.reserve(regions) }
    }

    /// Maps `memory` (page-aligned, a whole number of pages) for the container's devices at
    /// the lowest free IOVA whose last byte is at or below `highestAddress`, and returns that
    /// IOVA. ENOSPC when no such range is free; the kernel's errno when it refuses (ENOMEM:
    /// RLIMIT_MEMLOCK, the locked-memory limit, is too low for the pages it pins).
    public func mapDMA(_ memory: MappedRegion, highestAddress: UInt64) throws(SystemError) -> UInt64 {
        let length = UInt64(memory.length)
        return try addressSpace.withLock { (space) throws(SystemError) -> UInt64 in
            guard let iova = space.allocate(length, highestAddress: highestAddress) else {
                throw SystemError("no free IOVA range of 0x\(String(length, radix: 16)) bytes at or below 0x\(String(highestAddress, radix: 16))",
                                  code: ENOSPC)
            }
            do throws(SystemError) {
                try VFIO.VFIO_IOMMU_MAP_DMA(descriptor.rawValue, vaddr: UInt64(UInt(bitPattern: memory.baseAddress)), iova: iova, size: length)
            } catch {
                space.release(iova)
                throw error
            }
            return iova
        }
    }

    /// Unmaps what `mapDMA` mapped at `iova` (`length` bytes, as mapped); the IOVA range is
    /// then free for the next mapping (not when the kernel refused: it may still be mapped).
    public func unmapDMA(at iova: UInt64, length: Int) throws(SystemError) {
        try addressSpace.withLock { (space) throws(SystemError) in
            try VFIO.VFIO_IOMMU_UNMAP_DMA(descriptor.rawValue, iova: iova, size: UInt64(length))
            space.release(iova)
        }
    }
}
