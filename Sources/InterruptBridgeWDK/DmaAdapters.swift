// The DMA adapters IoGetDmaAdapter handed out and the common buffers allocated through
// each: what AllocateCommonBuffer, FreeCommonBuffer and PutDmaAdapter act on, and what a
// device object's end releases.
import InterruptBridge
import InterruptBridgeSystem
import Logging

enum DmaAdapters {
    /// One common buffer: the backend's, and the length the driver asked for (which its
    /// FreeCommonBuffer must repeat).
    private struct CommonBuffer: Sendable {
        var buffer: DMABuffer
        var requestedLength: ULONG
    }

    /// One adapter. `backend` is nil once its device object went: the adapter then allocates
    /// nothing and its buffers are freed already.
    private struct Adapter: Sendable {
        var owner: ObjectIdentifier
        var name: String
        var backend: (any InterruptBackend)?
        var logger: Logger
        var highestDeviceAddress: UInt64
        /// By virtual address.
        var buffers: [UInt: CommonBuffer] = [:]
    }

    /// By the DMA_ADAPTER's address. Held across the backend's map and unmap calls (never on
    /// the interrupt path: these routines run at PASSIVE_LEVEL).
    private static let adapters = LockedValue<[UInt: Adapter]>([:])

    /// The one DMA_OPERATIONS table every adapter points at, made at first use and never
    /// changed or freed after, as the HAL's is.
    private nonisolated(unsafe) static let operations: PDMA_OPERATIONS = {
        // nonisolated(unsafe): the pointer is written once here (a static's initializer runs
        // once, under the runtime's lock) and only read after; the table is Sendable values.
        let table = PDMA_OPERATIONS.allocate(capacity: 1)
        table.initialize(to: DMA_OPERATIONS(
            Size: ULONG(MemoryLayout<DMA_OPERATIONS>.size),
            PutDmaAdapter: { put($0) },
            AllocateCommonBuffer: PALLOCATE_COMMON_BUFFER(allocate: { allocate($0, $1, $2, $3) }),
            FreeCommonBuffer: { free($0, $1, $2, $3, $4) }))
        return table
    }()

    static func open(for deviceObject: DEVICE_OBJECT, highestDeviceAddress: UInt64) -> PDMA_ADAPTER {
        let header = UnsafeMutablePointer<DMA_ADAPTER>.allocate(capacity: 1)
        header.initialize(to: DMA_ADAPTER(Version: 1, Size: USHORT(MemoryLayout<DMA_ADAPTER>.size), DmaOperations: operations))
        let adapter = Adapter(owner: ObjectIdentifier(deviceObject), name: "\(deviceObject)", backend: deviceObject.device.backend,
                              logger: deviceObject.dispatcher.logger, highestDeviceAddress: highestDeviceAddress)
        adapters.withLock { $0[key(header)] = adapter }
        return header
    }

    private static func key(_ adapter: UnsafeMutablePointer<DMA_ADAPTER>) -> UInt { UInt(bitPattern: adapter) }

    /// A driver's bug (a freed or made-up adapter), which corrupts memory on Windows.
    private static func unknownAdapter(_ adapter: UnsafeMutablePointer<DMA_ADAPTER>, _ caller: String) -> Never {
        preconditionFailure("\(caller): \(adapter) is not an adapter IoGetDmaAdapter returned (or it was put already)")
    }

    /// AllocateCommonBuffer: NULL for a NULL adapter or LogicalAddress, a Length of 0, an
    /// adapter whose device object went, or when the backend cannot (the debug log says why).
    private static func allocate(_ DmaAdapter: PDMA_ADAPTER, _ Length: ULONG, _ LogicalAddress: PPHYSICAL_ADDRESS,
                                 _ CacheEnabled: BOOLEAN) -> UnsafeMutableRawPointer? {
        requireIrql(atMost: PASSIVE_LEVEL, "AllocateCommonBuffer")
        guard let DmaAdapter, let LogicalAddress, Length > 0 else { return nil }
        return adapters.withLock { adapters -> UnsafeMutableRawPointer? in
            guard var adapter = adapters[key(DmaAdapter)] else {
                unknownAdapter(DmaAdapter, "AllocateCommonBuffer")
            }
            guard let backend = adapter.backend else {
                adapter.logger.debug("AllocateCommonBuffer: the device object of \(adapter.name) is gone")
                return nil
            }
            do throws(BackendError) {
                let buffer = try backend.allocateDMABuffer(length: Int(Length), highestAddress: adapter.highestDeviceAddress)
                adapter.buffers[UInt(bitPattern: buffer.address)] = CommonBuffer(buffer: buffer, requestedLength: Length)
                adapters[key(DmaAdapter)] = adapter
                LogicalAddress.pointee = PHYSICAL_ADDRESS(QuadPart: LONGLONG(bitPattern: buffer.deviceAddress))
                return buffer.address
            } catch {
                adapter.logger.debug("AllocateCommonBuffer: \(Length) bytes for \(adapter.name): \(error)")
                return nil
            }
        }
    }

    /// FreeCommonBuffer: the arguments must be those of the allocation, or the process stops
    /// (a driver's bug, which corrupts memory on Windows). After the adapter's device object
    /// went, its buffers are freed already and this does nothing.
    private static func free(_ DmaAdapter: PDMA_ADAPTER, _ Length: ULONG, _ LogicalAddress: PHYSICAL_ADDRESS,
                             _ VirtualAddress: UnsafeMutableRawPointer?, _ CacheEnabled: BOOLEAN) {
        requireIrql(atMost: PASSIVE_LEVEL, "FreeCommonBuffer")
        guard let DmaAdapter else { preconditionFailure("FreeCommonBuffer: DmaAdapter is NULL") }
        adapters.withLock { adapters in
            guard var adapter = adapters[key(DmaAdapter)] else {
                unknownAdapter(DmaAdapter, "FreeCommonBuffer")
            }
            guard let backend = adapter.backend else { return }
            let address = UInt(bitPattern: VirtualAddress)
            guard let common = adapter.buffers[address], common.requestedLength == Length,
                  UInt64(bitPattern: LogicalAddress.QuadPart) == common.buffer.deviceAddress else {
                preconditionFailure("FreeCommonBuffer: \(Length) bytes at \(VirtualAddress.map { "\($0)" } ?? "NULL") (logical 0x"
                    + "\(String(LogicalAddress.QuadPart, radix: 16))) is not a common buffer \(adapter.name)'s adapter allocated")
            }
            adapter.buffers[address] = nil
            adapters[key(DmaAdapter)] = adapter
            release(common, of: adapter, backend)
        }
    }

    /// PutDmaAdapter: frees the common buffers the driver left (a leak on Windows; a warning
    /// here) and the adapter.
    private static func put(_ DmaAdapter: PDMA_ADAPTER) {
        requireIrql(atMost: PASSIVE_LEVEL, "PutDmaAdapter")
        guard let DmaAdapter else { preconditionFailure("PutDmaAdapter: DmaAdapter is NULL") }
        adapters.withLock { adapters in
            guard let adapter = adapters.removeValue(forKey: key(DmaAdapter)) else {
                unknownAdapter(DmaAdapter, "PutDmaAdapter")
            }
            if let backend = adapter.backend, !adapter.buffers.isEmpty {
                adapter.logger.warning("PutDmaAdapter: \(adapter.name)'s driver left \(adapter.buffers.count) common buffer(s); freeing them")
                for common in adapter.buffers.values { release(common, of: adapter, backend) }
            }
        }
        DmaAdapter.deinitialize(count: 1)
        DmaAdapter.deallocate()
    }

    /// A device object goes: its adapters' buffers are freed and the adapters allocate
    /// nothing more. Each adapter's DMA_ADAPTER stays until its PutDmaAdapter.
    static func deviceObjectGone(_ owner: ObjectIdentifier) {
        adapters.withLock { adapters in
            for (address, var adapter) in adapters where adapter.owner == owner {
                if let backend = adapter.backend {
                    for common in adapter.buffers.values { release(common, of: adapter, backend) }
                }
                adapter.buffers = [:]
                adapter.backend = nil
                adapters[address] = adapter
            }
        }
    }

    /// How many common buffers the adapter holds now (nil: not an adapter).
    static func bufferCount(_ adapter: PDMA_ADAPTER) -> Int? {
        guard let adapter else { return nil }
        return adapters.withLock { $0[key(adapter)]?.buffers.count }
    }

    private static func release(_ common: CommonBuffer, of adapter: Adapter, _ backend: any InterruptBackend) {
        do throws(BackendError) {
            try backend.freeDMABuffer(at: common.buffer.deviceAddress)
        } catch {
            adapter.logger.warning("cannot free the common buffer at logical 0x\(String(common.buffer.deviceAddress, radix: 16)) of \(adapter.name): \(error)")
        }
    }
}
