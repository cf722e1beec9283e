// Bus-master DMA as wdm.h spells it: the DEVICE_DESCRIPTION a driver fills, IoGetDmaAdapter,
// and the DMA_ADAPTER whose DMA_OPERATIONS table allocates and frees common buffers
// (DmaAdapters.swift keeps the adapters and their buffers).
import InterruptBridge
import InterruptBridgeCore

public let DEVICE_DESCRIPTION_VERSION: ULONG = 0
public let DEVICE_DESCRIPTION_VERSION1: ULONG = 1
public let DEVICE_DESCRIPTION_VERSION2: ULONG = 2
public let DEVICE_DESCRIPTION_VERSION3: ULONG = 3

/// DMA_WIDTH: the transfer width of a system DMA controller's channel (unused for a bus master).
public struct DMA_WIDTH: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let Width8Bits = DMA_WIDTH(rawValue: 0)
public let Width16Bits = DMA_WIDTH(rawValue: 1)
public let Width32Bits = DMA_WIDTH(rawValue: 2)
public let Width64Bits = DMA_WIDTH(rawValue: 3)
public let WidthNoWrap = DMA_WIDTH(rawValue: 4)

/// DMA_SPEED: a system DMA controller's timing (unused for a bus master).
public struct DMA_SPEED: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let Compatible = DMA_SPEED(rawValue: 0)
public let TypeA = DMA_SPEED(rawValue: 1)
public let TypeB = DMA_SPEED(rawValue: 2)
public let TypeC = DMA_SPEED(rawValue: 3)
public let TypeF = DMA_SPEED(rawValue: 4)

/// DEVICE_DESCRIPTION: what a driver tells IoGetDmaAdapter about its device's DMA. Zero it
/// (`RtlZeroMemory(&desc, MemoryLayout<DEVICE_DESCRIPTION>.size)`) and fill what applies.
///
/// Read here: `Version`, `Master` (a bus master; no system DMA controller is offered), and
/// the device addresses the device can reach: `DmaAddressWidth` bits when `Version` is
/// DEVICE_DESCRIPTION_VERSION3 (and it is not 0), else 64 bits with `Dma64BitAddresses`,
/// 32 with `Dma32BitAddresses`, and 24 (the ISA limit, as the HAL assumes) with neither.
/// `MaximumLength` sizes `NumberOfMapRegisters`. The rest is accepted and not used.
public struct DEVICE_DESCRIPTION: Sendable, Hashable, ZeroInitializable {
    public var Version: ULONG = 0
    public var Master: BOOLEAN = FALSE
    public var ScatterGather: BOOLEAN = FALSE
    public var DemandMode: BOOLEAN = FALSE
    public var AutoInitialize: BOOLEAN = FALSE
    public var Dma32BitAddresses: BOOLEAN = FALSE
    public var IgnoreCount: BOOLEAN = FALSE
    public var Reserved1: BOOLEAN = FALSE
    public var Dma64BitAddresses: BOOLEAN = FALSE
    public var BusNumber: ULONG = 0
    public var DmaChannel: ULONG = 0
    public var InterfaceType = Internal
    public var DmaWidth = Width8Bits
    public var DmaSpeed = Compatible
    public var MaximumLength: ULONG = 0
    public var DmaPort: ULONG = 0
    /// DEVICE_DESCRIPTION_VERSION3: how many bits of address the device drives.
    public var DmaAddressWidth: ULONG = 0
    public var DmaControllerInstance: ULONG = 0
    public var DmaRequestLine: ULONG = 0
    public var DeviceAddress = PHYSICAL_ADDRESS()

    public init() {}

    /// The highest device address the device reaches; nil for a description IoGetDmaAdapter
    /// refuses (a version it does not know, a DmaAddressWidth above 64).
    var highestDeviceAddress: UInt64? {
        guard Version <= DEVICE_DESCRIPTION_VERSION3 else { return nil }
        let width: ULONG
        if Version == DEVICE_DESCRIPTION_VERSION3 && DmaAddressWidth != 0 {
            width = DmaAddressWidth
        } else {
            width = Dma64BitAddresses ? 64 : Dma32BitAddresses ? 32 : 24
        }
        guard width <= 64 else { return nil }
        return width == 64 ? .max : (UInt64(1) << UInt64(width)) - 1
    }
}
/// PDEVICE_DESCRIPTION: `&DeviceDescription` (NULL: IoGetDmaAdapter returns NULL).
public typealias PDEVICE_DESCRIPTION = UnsafeMutablePointer<DEVICE_DESCRIPTION>?
public typealias PPHYSICAL_ADDRESS = UnsafeMutablePointer<PHYSICAL_ADDRESS>?

/// DMA_ADAPTER: what IoGetDmaAdapter returns. `Version` is 1 whatever the description's
/// version, as on Windows; `DmaOperations` is the table of routines a driver calls through.
public struct DMA_ADAPTER {
    public var Version: USHORT
    public var Size: USHORT
    public var DmaOperations: PDMA_OPERATIONS
}
/// PDMA_ADAPTER: the adapter; call its routines as C does, through the pointer:
/// `adapter!.pointee.DmaOperations.pointee.AllocateCommonBuffer(adapter, Length, &Logical, FALSE)`.
public typealias PDMA_ADAPTER = UnsafeMutablePointer<DMA_ADAPTER>?

/// DMA_OPERATIONS: the common-buffer routines of wdm.h's table (version 1's first three). The
/// map-register and scatter/gather routines are not offered: a driver that calls them does
/// not compile.
public struct DMA_OPERATIONS: Sendable {
    public var Size: ULONG
    public var PutDmaAdapter: PPUT_DMA_ADAPTER
    public var AllocateCommonBuffer: PALLOCATE_COMMON_BUFFER
    public var FreeCommonBuffer: PFREE_COMMON_BUFFER
}
public typealias PDMA_OPERATIONS = UnsafeMutablePointer<DMA_OPERATIONS>

/// `PutDmaAdapter(DmaAdapter)`: releases the adapter, and any common buffer the driver left.
public typealias PPUT_DMA_ADAPTER = @Sendable (_ DmaAdapter: PDMA_ADAPTER) -> Void

/// `FreeCommonBuffer(DmaAdapter, Length, LogicalAddress, VirtualAddress, CacheEnabled)`. A
/// typed pointer passes as `VirtualAddress` as it is (Swift converts it to a raw pointer).
public typealias PFREE_COMMON_BUFFER = @Sendable (_ DmaAdapter: PDMA_ADAPTER, _ Length: ULONG, _ LogicalAddress: PHYSICAL_ADDRESS,
                                                  _ VirtualAddress: UnsafeMutableRawPointer?, _ CacheEnabled: BOOLEAN) -> Void

/// `AllocateCommonBuffer(DmaAdapter, Length, &LogicalAddress, CacheEnabled)`: returns the
/// buffer's virtual address, as a raw pointer or, into a typed variable, typed
/// (`devExt.CommonBuffer = ...AllocateCommonBuffer(...)` with `CommonBuffer: PUCHAR?`, as C
/// casts the PVOID).
public struct PALLOCATE_COMMON_BUFFER: Sendable {
    let allocate: @Sendable (PDMA_ADAPTER, ULONG, PPHYSICAL_ADDRESS, BOOLEAN) -> UnsafeMutableRawPointer?

    public func callAsFunction(_ DmaAdapter: PDMA_ADAPTER, _ Length: ULONG, _ LogicalAddress: PPHYSICAL_ADDRESS,
                               _ CacheEnabled: BOOLEAN) -> UnsafeMutableRawPointer? {
        allocate(DmaAdapter, Length, LogicalAddress, CacheEnabled)
    }

    public func callAsFunction<Pointee>(_ DmaAdapter: PDMA_ADAPTER, _ Length: ULONG, _ LogicalAddress: PPHYSICAL_ADDRESS,
                                        _ CacheEnabled: BOOLEAN) -> UnsafeMutablePointer<Pointee>? {
        allocate(DmaAdapter, Length, LogicalAddress, CacheEnabled)?.assumingMemoryBound(to: Pointee.self)
    }
}

/// `IoGetDmaAdapter`: the DMA adapter of a bus-master device, or NULL.
///
/// NULL when `PhysicalDeviceObject` or `DeviceDescription` is NULL, the description's
/// `Version` is not 0 to 3, `Master` is FALSE (there is no system DMA controller), its
/// DmaAddressWidth is above 64, or the device's backend maps no memory for DMA (UIO: bind
/// it to vfio-pci; the debug log says why). On success the device is a bus master (VFIO
/// sets Bus Master Enable in its command register if it was off) and
/// `NumberOfMapRegisters` receives BYTES_TO_PAGES(MaximumLength) + 1, the pages a transfer
/// of MaximumLength bytes may touch (there are no map registers to allocate here).
///
/// At PASSIVE_LEVEL only, as on Windows: above it the process stops. Release the adapter
/// with `PutDmaAdapter` (IRP_MN_STOP_DEVICE, IRP_MN_REMOVE_DEVICE); it is released, with
/// its buffers, when its device object goes too.
public func IoGetDmaAdapter(_ PhysicalDeviceObject: PDEVICE_OBJECT, _ DeviceDescription: PDEVICE_DESCRIPTION,
                            _ NumberOfMapRegisters: UnsafeMutablePointer<ULONG>?) -> PDMA_ADAPTER {
    requireIrql(atMost: PASSIVE_LEVEL, "IoGetDmaAdapter", advice: "at start-device")
    guard let PhysicalDeviceObject, let description = DeviceDescription?.pointee else { return nil }
    let logger = PhysicalDeviceObject.dispatcher.logger
    guard description.Master else {
        logger.debug("IoGetDmaAdapter: \(PhysicalDeviceObject) is not a bus master (Master FALSE) and there is no system DMA controller")
        return nil
    }
    guard let highest = description.highestDeviceAddress else {
        logger.debug("IoGetDmaAdapter: Version \(description.Version) or DmaAddressWidth \(description.DmaAddressWidth) is not one it knows")
        return nil
    }
    do throws(BackendError) {
        try PhysicalDeviceObject.device.backend.enableDMA()
    } catch {
        logger.debug("IoGetDmaAdapter: no DMA for \(PhysicalDeviceObject): \(error)")
        return nil
    }
    NumberOfMapRegisters?.pointee = ULONG((UInt64(description.MaximumLength) + pageSize - 1) / pageSize + 1)
    return DmaAdapters.open(for: PhysicalDeviceObject, highestDeviceAddress: highest)
}

/// The granularity of common buffers and of the IOMMU's mappings (wdm.h's PAGE_SIZE, not
/// exported: Glibc exports a PAGE_SIZE, and a driver file importing both would be ambiguous).
private let pageSize = DeviceAddressSpace.defaultPageSize
