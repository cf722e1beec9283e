// Memory a device reaches by DMA, as a backend hands it out: where the process reads and
// writes it, and the address the device uses for it.
import InterruptBridgeCore

/// A buffer `InterruptBackend.allocateDMABuffer` returned. The backend owns the memory
/// until `freeDMABuffer(at:)` (or until the backend goes away).
public struct DMABuffer: @unchecked Sendable, Hashable {
    // @unchecked: `address` is memory the backend owns and keeps mapped for as long as the
    // buffer is allocated; this value only carries it (readers and writers synchronize
    // with the device as a driver does, through its registers and interrupts).
    /// Where this process reads and writes the buffer (page-aligned).
    public var address: UnsafeMutableRawPointer
    /// The address the device uses for it (an IOVA under VFIO), page-aligned.
    public var deviceAddress: UInt64
    /// Its length in bytes: what was asked, rounded up to whole pages.
    public var length: Int

    public init(address: UnsafeMutableRawPointer, deviceAddress: UInt64, length: Int) {
        self.address = address
        self.deviceAddress = deviceAddress
        self.length = length
    }
}

extension DMABuffer {
    /// The length a backend allocates for a request of `length` bytes: whole pages of
    /// `space`. `.kernelLimit` for a length of 0 or less, or one whose pages an Int cannot count.
    static func pagedLength(_ length: Int, in space: DeviceAddressSpace = DeviceAddressSpace()) throws(BackendError) -> UInt64 {
        guard length > 0, let rounded = space.pageRounded(UInt64(length)), rounded <= UInt64(Int.max) else {
            throw .kernelLimit("a DMA buffer of \(length) bytes cannot be allocated")
        }
        return rounded
    }
}
