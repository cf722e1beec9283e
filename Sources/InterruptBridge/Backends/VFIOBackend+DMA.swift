// A vfio-pci device's DMA buffers: page-aligned shared memory mapped at an IOVA of the
// device's container (VFIO_IOMMU_MAP_DMA), below the device's highest address, clear of
// its group's reserved regions. The device must be a bus master to use them.
import InterruptBridgeCore
import InterruptBridgeSystem

/// One buffer of a VFIO device: its memory, and the container it is mapped in until it is
/// unmapped (freed, or the device closed or taken away).
struct VFIODMABuffer: Sendable {
    var memory: MappedRegion
    var mappedIn: VFIOContainer?
}

extension VFIOBackend {
    /// Sets Bus Master Enable (and Memory Space) in the command register when either is
    /// off: without it the device's reads and writes of memory never leave it.
    public func enableDMA() throws(BackendError) {
        guard let vfio = registerDevice.withLock({ $0 }) else { throw .closed }
        try backendCall { () throws(SystemError) in try vfio.enableBusMaster() }
    }

    /// Maps zeroed shared memory at the lowest free IOVA of the device's container that
    /// ends at or below `highestAddress`. The pages are pinned (RLIMIT_MEMLOCK counts them).
    public func allocateDMABuffer(length: Int, highestAddress: UInt64) throws(BackendError) -> DMABuffer {
        let rounded = try DMABuffer.pagedLength(length)
        let buffer = try dmaBuffers.withLock { (buffers) throws(BackendError) -> DMABuffer in
            // Looked at under the buffers' lock: `close` lets the device go before it unmaps
            // every buffer under that lock, so no buffer is mapped after the close unmapped.
            guard let vfio = registerDevice.withLock({ $0 }) else { throw .closed }
            let container = vfio.group.container
            let memory = try backendCall { () throws(SystemError) in try MappedRegion(dmaLength: Int(rounded), "DMA buffer of \(vfio.name)") }
            let iova: UInt64
            do throws(SystemError) {
                iova = try container.mapDMA(memory, highestAddress: highestAddress)
            } catch where error.code == ENOMEM {
                throw .kernelLimit("\(device.address): the kernel cannot pin \(rounded) more bytes for DMA (\(error.name)): "
                    + "raise RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK")
            } catch {
                throw .system(error)
            }
            buffers[iova] = VFIODMABuffer(memory: memory, mappedIn: container)
            return DMABuffer(address: memory.baseAddress, deviceAddress: iova, length: memory.length)
        }
        logger.debug("mapped a DMA buffer of \(buffer.length) bytes at IOVA 0x\(String(buffer.deviceAddress, radix: 16))")
        return buffer
    }

    /// Unmaps the buffer from the IOMMU (unless the device's close did already) and frees it.
    public func freeDMABuffer(at deviceAddress: UInt64) throws(BackendError) {
        try dmaBuffers.withLock { (buffers) throws(BackendError) in
            guard let buffer = buffers.removeValue(forKey: deviceAddress) else {
                throw .kernelLimit("\(device.address) has no DMA buffer at 0x\(String(deviceAddress, radix: 16))")
            }
            try backendCall { () throws(SystemError) in
                try buffer.mappedIn?.unmapDMA(at: deviceAddress, length: buffer.memory.length)
            }
        }  // the memory is unmapped from the process as `buffer` goes
    }

    /// Unmaps every buffer from the IOMMU, keeping the memory (a driver may still read it)
    /// until it is freed or the backend goes: at close, and so at a removal request, after
    /// which the device reaches none of it. Their IOVAs are free again.
    func unmapDMABuffersFromDevice() {
        dmaBuffers.withLock { buffers in
            for (iova, buffer) in buffers {
                guard let container = buffer.mappedIn else { continue }
                do throws(SystemError) {
                    try container.unmapDMA(at: iova, length: buffer.memory.length)
                } catch {
                    logger.warning("cannot unmap the DMA buffer at IOVA 0x\(String(iova, radix: 16)): \(error)")
                }
                buffers[iova]?.mappedIn = nil
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
