// The simulated device's DMA buffers: zeroed page-aligned memory, each at a device address
// from an address space laid out as an x86 IOMMU group's (address 0 and the MSI window
// 0xfee00000-0xfeefffff never handed out), which a test resolves to the memory to play the
// device (`deviceMemory(at:count:)`).
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization

/// A simulated device's DMA buffers by device address, and whether it is a bus master.
final class SimulatedDMAMemory: Sendable {
    /// The reserved region of an x86 IOMMU group: the MSI window.
    static let messageWindow: ClosedRange<UInt64> = 0xfee0_0000...0xfeef_ffff

    private struct Buffers {
        var space = DeviceAddressSpace(reserved: [SimulatedDMAMemory.messageWindow])
        var memory: [UInt64: MappedRegion] = [:]
    }

    private let buffers = LockedValue(Buffers())
    let busMaster = Atomic<Bool>(false)

    func allocate(length: Int, highestAddress: UInt64, for device: PCIDeviceInfo) throws(BackendError) -> DMABuffer {
        try buffers.withLock { (buffers) throws(BackendError) -> DMABuffer in
            let rounded = try DMABuffer.pagedLength(length, in: buffers.space)
            guard let address = buffers.space.allocate(rounded, highestAddress: highestAddress) else {
                throw .kernelLimit("\(device.address): no free device address range of \(rounded) bytes at or below 0x\(String(highestAddress, radix: 16))")
            }
            do throws(SystemError) {
                // Private memory reserved lazily: a test may allocate much and touch little.
                let memory = try MappedRegion(anonymousLength: Int(rounded), "simulated DMA buffer of \(device.address)")
                buffers.memory[address] = memory
                return DMABuffer(address: memory.baseAddress, deviceAddress: address, length: memory.length)
            } catch {
                buffers.space.release(address)
                throw .system(error)
            }
        }
    }

    func free(at deviceAddress: UInt64, of device: PCIDeviceInfo) throws(BackendError) {
        let memory = buffers.withLock { buffers -> MappedRegion? in
            buffers.space.release(deviceAddress)
            return buffers.memory.removeValue(forKey: deviceAddress)
        }
        guard memory != nil else { throw .kernelLimit("\(device.address) has no DMA buffer at 0x\(String(deviceAddress, radix: 16))") }
    }

    func resolve(_ deviceAddress: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0 else { return nil }
        return buffers.withLock { buffers in
            for (base, memory) in buffers.memory where deviceAddress >= base && deviceAddress - base < UInt64(memory.length) {
                let offset = Int(deviceAddress - base)
                guard count <= memory.length - offset else { return nil }
                return UnsafeMutableRawBufferPointer(start: memory.baseAddress + offset, count: count)
            }
            return nil
        }
    }

    var count: Int { buffers.withLock { $0.memory.count } }
}

extension SimulatedBackend {
    /// Makes the simulated device a bus master (`isBusMaster`).
    public func enableDMA() throws(BackendError) {
        dmaMemory.busMaster.store(true, ordering: .releasing)
    }

    /// Whether `enableDMA` made the device a bus master (IoGetDmaAdapter does).
    public var isBusMaster: Bool { dmaMemory.busMaster.load(ordering: .acquiring) }

    /// Zeroed page-aligned memory at the lowest free device address that ends at or below
    /// `highestAddress`, never at 0 or in the MSI window (0xfee00000-0xfeefffff).
    public func allocateDMABuffer(length: Int, highestAddress: UInt64) throws(BackendError) -> DMABuffer {
        try dmaMemory.allocate(length: length, highestAddress: highestAddress, for: device)
    }

    public func freeDMABuffer(at deviceAddress: UInt64) throws(BackendError) {
        try dmaMemory.free(at: deviceAddress, of: device)
    }

    /// The memory the device reaches at `deviceAddress` for `count` bytes, where a test plays
    /// the device's DMA (read what the driver put in a common buffer, write what the device
    /// would); nil when no buffer allocated now holds the whole range, where a real device's
    /// access would fault in the IOMMU. Valid until the buffer is freed.
    public func deviceMemory(at deviceAddress: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        dmaMemory.resolve(deviceAddress, count: count)
    }

    /// How many DMA buffers are allocated now.
    public var dmaBufferCount: Int { dmaMemory.count }
}
