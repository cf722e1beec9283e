import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
@testable import InterruptBridgeWDK
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A ported driver's DMA state: the adapter and one common buffer, as its extension holds them.
final class COMMON_BUFFER_EXTENSION: @unchecked Sendable {
    // @unchecked: written and read by the test thread only.
    var DmaAdapter: PDMA_ADAPTER = nil
    var NumberOfMapRegisters: ULONG = 0
    var CommonBuffer: PUCHAR? = nil
    var CommonBufferLogical = PHYSICAL_ADDRESS()
}

@Suite("DMA adapters and common buffers")
struct CommonBufferTests {
    /// The description a PCI bus master's start routine fills.
    static func description(_ configure: (inout DEVICE_DESCRIPTION) -> Void = { $0.Dma32BitAddresses = TRUE }) -> DEVICE_DESCRIPTION {
        var desc = DEVICE_DESCRIPTION()
        RtlZeroMemory(&desc, MemoryLayout<DEVICE_DESCRIPTION>.size)
        desc.Version = DEVICE_DESCRIPTION_VERSION
        desc.Master = TRUE
        desc.ScatterGather = TRUE
        desc.InterfaceType = PCIBus
        desc.MaximumLength = 0x10000
        configure(&desc)
        return desc
    }

    static func adapter(for pdo: DEVICE_OBJECT, _ configure: (inout DEVICE_DESCRIPTION) -> Void = { $0.Dma32BitAddresses = TRUE }) throws -> UnsafeMutablePointer<DMA_ADAPTER> {
        var desc = description(configure)
        var mapRegisters: ULONG = 0
        return try #require(IoGetDmaAdapter(pdo, &desc, &mapRegisters))
    }

    static func allocate(_ adapter: PDMA_ADAPTER, _ length: ULONG) -> (UnsafeMutableRawPointer?, PHYSICAL_ADDRESS) {
        var logical = PHYSICAL_ADDRESS()
        let virtual: UnsafeMutableRawPointer? = adapter!.pointee.DmaOperations.pointee.AllocateCommonBuffer(adapter, length, &logical, FALSE)
        return (virtual, logical)
    }

    static func logical(_ address: PHYSICAL_ADDRESS) -> UInt64 { UInt64(bitPattern: address.QuadPart) }

    /// The start and stop routines of a ported driver, nearly as in C; the test plays the
    /// device's DMA through the simulated device's memory at the logical address.
    @Test func aDriverAllocatesACommonBufferTheDeviceReachesAtItsLogicalAddress() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.edu, on: dispatcher)
        let devExt = COMMON_BUFFER_EXTENSION()
        #expect(!backend.isBusMaster)

        var DeviceDescription = DEVICE_DESCRIPTION()
        RtlZeroMemory(&DeviceDescription, MemoryLayout<DEVICE_DESCRIPTION>.size)
        DeviceDescription.Version = DEVICE_DESCRIPTION_VERSION
        DeviceDescription.Master = TRUE
        DeviceDescription.ScatterGather = TRUE
        DeviceDescription.Dma32BitAddresses = TRUE
        DeviceDescription.InterfaceType = PCIBus
        DeviceDescription.MaximumLength = 0x10000
        devExt.DmaAdapter = IoGetDmaAdapter(pdo, &DeviceDescription, &devExt.NumberOfMapRegisters)
        let adapter = try #require(devExt.DmaAdapter)
        #expect(adapter.pointee.Version == 1, "version 1 whatever the description's, as on Windows")
        #expect(adapter.pointee.DmaOperations.pointee.Size == ULONG(MemoryLayout<DMA_OPERATIONS>.size))
        #expect(devExt.NumberOfMapRegisters == 17, "BYTES_TO_PAGES(64 KiB) + 1")
        #expect(backend.isBusMaster, "the adapter made the device a bus master")

        devExt.CommonBuffer = devExt.DmaAdapter!.pointee.DmaOperations.pointee.AllocateCommonBuffer(
            devExt.DmaAdapter, 0x2000, &devExt.CommonBufferLogical, FALSE)
        let buffer = try #require(devExt.CommonBuffer)
        let logical = Self.logical(devExt.CommonBufferLogical)
        #expect(logical != 0 && logical % 0x1000 == 0 && logical + 0x2000 - 1 <= 0xFFFF_FFFF, "0x\(String(logical, radix: 16))")
        #expect(UInt(bitPattern: buffer) % 0x1000 == 0)
        #expect((0..<0x2000).allSatisfy { buffer[$0] == 0 }, "zeroed")

        // The driver writes, the device reads at the logical address; and the reverse.
        for index in 0..<0x2000 { buffer[index] = UCHAR(truncatingIfNeeded: index * 7) }
        let device = try #require(backend.deviceMemory(at: logical, count: 0x2000))
        #expect(device.elementsEqual(UnsafeBufferPointer(start: buffer, count: 0x2000)))
        let tail = try #require(backend.deviceMemory(at: logical + 0x1ff0, count: 0x10))
        tail.copyBytes(from: [UInt8](repeating: 0xa5, count: 0x10))
        #expect(buffer[0x1ff0] == 0xa5 && buffer[0x1fff] == 0xa5)
        #expect(backend.deviceMemory(at: logical + 0x1ff0, count: 0x11) == nil, "past the buffer's end")

        devExt.DmaAdapter!.pointee.DmaOperations.pointee.FreeCommonBuffer(
            devExt.DmaAdapter, 0x2000, devExt.CommonBufferLogical, devExt.CommonBuffer, FALSE)
        devExt.CommonBuffer = nil
        #expect(backend.dmaBufferCount == 0)
        #expect(backend.deviceMemory(at: logical, count: 1) == nil, "freed: the device reaches nothing there")
        devExt.DmaAdapter!.pointee.DmaOperations.pointee.PutDmaAdapter(devExt.DmaAdapter)
        devExt.DmaAdapter = nil
    }

    /// The logical addresses handed out stay within what the description says the device drives.
    @Test func logicalAddressesStayWithinTheDevicesAddressWidth() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.edu, on: dispatcher)

        // DEVICE_DESCRIPTION_VERSION3's DmaAddressWidth: 16 bits hold 15 pages (page 0 is never handed out).
        let narrow = try Self.adapter(for: pdo) { $0.Version = DEVICE_DESCRIPTION_VERSION3; $0.DmaAddressWidth = 16; $0.Dma64BitAddresses = TRUE }
        var pages: [UInt64] = []
        for _ in 0..<15 {
            let (virtual, logical) = Self.allocate(narrow, 0x1000)
            #expect(virtual != nil)
            pages.append(Self.logical(logical))
        }
        #expect(pages == (1...15).map { UInt64($0) * 0x1000 }, "the lowest free pages, never address 0")
        #expect(Self.allocate(narrow, 0x1000).0 == nil, "no page left below 64 KiB")
        narrow.pointee.DmaOperations.pointee.PutDmaAdapter(narrow)
        #expect(backend.dmaBufferCount == 0)

        // DmaAddressWidth is read only in version 3: the same width in version 2 means Dma32BitAddresses.
        let version2 = try Self.adapter(for: pdo) { $0.Version = DEVICE_DESCRIPTION_VERSION2; $0.DmaAddressWidth = 16; $0.Dma32BitAddresses = TRUE }
        let (_, above) = Self.allocate(version2, 0x20000)
        #expect(Self.logical(above) + 0x20000 - 1 > 0xFFFF && Self.logical(above) + 0x20000 - 1 <= 0xFFFF_FFFF)
        version2.pointee.DmaOperations.pointee.PutDmaAdapter(version2)

        // Neither Dma32BitAddresses nor Dma64BitAddresses: 24 bits, as the HAL takes a bus master then.
        let isa = try Self.adapter(for: pdo) { _ in }
        #expect(Self.allocate(isa, 0x100_0000).0 == nil, "16 MiB cannot fit below 16 MiB without page 0")
        let (most, mostLogical) = Self.allocate(isa, 0xFF_F000)
        #expect(most != nil && Self.logical(mostLogical) == 0x1000)
        isa.pointee.DmaOperations.pointee.PutDmaAdapter(isa)

        // Dma32BitAddresses: below 4 GiB, never in the MSI window; Dma64BitAddresses above it.
        let thirtyTwo = try Self.adapter(for: pdo)
        let (low, lowLogical) = Self.allocate(thirtyTwo, 0xFED0_0000)
        #expect(low != nil && Self.logical(lowLogical) == 0x1000)
        let (_, windowLogical) = Self.allocate(thirtyTwo, 0x20_0000)
        #expect(Self.logical(windowLogical) == 0xFEF0_0000, "past the MSI window 0xfee00000-0xfeefffff, not in it")
        #expect(Self.allocate(thirtyTwo, 0x100_0000).0 == nil, "no 16 MiB left below 4 GiB")
        let sixtyFour = try Self.adapter(for: pdo) { $0.Dma64BitAddresses = TRUE }
        let (wide, wideLogical) = Self.allocate(sixtyFour, 0x100_0000)
        #expect(wide != nil && Self.logical(wideLogical) + 0x100_0000 - 1 > 0xFFFF_FFFF, "it ends above 4 GiB")
        thirtyTwo.pointee.DmaOperations.pointee.PutDmaAdapter(thirtyTwo)
        sixtyFour.pointee.DmaOperations.pointee.PutDmaAdapter(sixtyFour)
        #expect(backend.dmaBufferCount == 0)
    }

    @Test func aFreedBufferIsReusedAndPutDmaAdapterFreesWhatTheDriverLeft() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.edu, on: dispatcher)
        let adapter = try Self.adapter(for: pdo)
        let (first, firstLogical) = Self.allocate(adapter, 0x3000)
        let (second, secondLogical) = Self.allocate(adapter, 100)
        #expect(first != nil && second != nil)
        #expect(Self.logical(secondLogical) == Self.logical(firstLogical) + 0x3000, "a length is rounded up to whole pages")
        adapter.pointee.DmaOperations.pointee.FreeCommonBuffer(adapter, 0x3000, firstLogical, first, FALSE)
        let (third, thirdLogical) = Self.allocate(adapter, 0x2000)
        #expect(third != nil && Self.logical(thirdLogical) == Self.logical(firstLogical), "the freed range is handed out again")
        #expect(backend.dmaBufferCount == 2)
        #expect(DmaAdapters.bufferCount(adapter) == 2)

        // The driver forgets both: PutDmaAdapter frees them (Windows leaks them).
        adapter.pointee.DmaOperations.pointee.PutDmaAdapter(adapter)
        #expect(backend.dmaBufferCount == 0)
        #expect(backend.deviceMemory(at: Self.logical(secondLogical), count: 1) == nil)
    }

    @Test func theDeviceObjectsEndFreesItsBuffersAndTheAdapterAllocatesNoMore() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        var (pdo, backend): (DEVICE_OBJECT?, SimulatedBackend) = makePDO(Devices.edu, on: dispatcher)
        let adapter = try Self.adapter(for: pdo!)
        let (buffer, logical) = Self.allocate(adapter, 0x1000)
        #expect(buffer != nil && backend.dmaBufferCount == 1)
        pdo = nil  // IoDeleteDevice before the driver freed anything
        #expect(backend.dmaBufferCount == 0, "the device object took its buffers with it")
        #expect(Self.allocate(adapter, 0x1000).0 == nil)
        adapter.pointee.DmaOperations.pointee.FreeCommonBuffer(adapter, 0x1000, logical, buffer, FALSE)  // nothing left to free
        adapter.pointee.DmaOperations.pointee.PutDmaAdapter(adapter)
    }

    @Test func badArgumentsGetNULL() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.edu, on: dispatcher)
        var desc = Self.description()
        var mapRegisters: ULONG = 0
        #expect(IoGetDmaAdapter(nil, &desc, &mapRegisters) == nil, "no device object")
        #expect(IoGetDmaAdapter(pdo, nil, &mapRegisters) == nil, "no description")
        for (why, configure) in [
            ("a slave device: there is no system DMA controller", { (d: inout DEVICE_DESCRIPTION) in d.Master = FALSE }),
            ("an unknown version", { (d: inout DEVICE_DESCRIPTION) in d.Version = 4 }),
            ("an address wider than 64 bits", { (d: inout DEVICE_DESCRIPTION) in d.Version = DEVICE_DESCRIPTION_VERSION3; d.DmaAddressWidth = 65 }),
        ] as [(String, (inout DEVICE_DESCRIPTION) -> Void)] {
            var bad = Self.description()
            configure(&bad)
            #expect(IoGetDmaAdapter(pdo, &bad, &mapRegisters) == nil, "\(why)")
        }
        #expect(!backend.isBusMaster, "a refused adapter changed nothing")

        let adapter = try Self.adapter(for: pdo)
        #expect(Self.allocate(adapter, 0).0 == nil, "Length 0")
        let noLogical: UnsafeMutableRawPointer? = adapter.pointee.DmaOperations.pointee.AllocateCommonBuffer(adapter, 0x1000, nil, FALSE)
        #expect(noLogical == nil, "nowhere to put the logical address")
        let noAdapter: UnsafeMutableRawPointer? = adapter.pointee.DmaOperations.pointee.AllocateCommonBuffer(nil, 0x1000, &desc.DeviceAddress, FALSE)
        #expect(noAdapter == nil)
        #expect(backend.dmaBufferCount == 0)
        adapter.pointee.DmaOperations.pointee.PutDmaAdapter(adapter)
    }

    /// A device whose backend maps no memory for DMA (UIO's case) gets no adapter.
    @Test func aBackendWithoutDMAGetsNoAdapterAndTheDebugLogSaysWhy() throws {
        let messages = Recorder<String>()
        let dispatcher = try InterruptDispatcher(logger: .capturing(into: messages))
        defer { dispatcher.shutdown() }
        // RefusingBackend gives no DMA (the protocol's default), as UIO gives none.
        let pdo = makePDO(backend: RefusingBackend(SimulatedBackend(.edu())), on: dispatcher)
        var desc = Self.description()
        #expect(IoGetDmaAdapter(pdo, &desc, nil) == nil)
        #expect(messages.all.contains { $0.hasPrefix("debug: IoGetDmaAdapter: no DMA for") && $0.contains("maps no memory for the device's DMA") },
                "\(messages.all)")
    }

    /// "Callers of IoGetDmaAdapter must be running at IRQL = PASSIVE_LEVEL", AllocateCommonBuffer
    /// and FreeCommonBuffer too: above it the process stops with a message naming the call. So
    /// does a FreeCommonBuffer whose arguments are not the allocation's.
    @Test func aCallAbovePassiveLevelOrAMismatchedFreeStopsTheProcess() async {
        let get = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.edu, on: dispatcher)
            var desc = CommonBufferTests.description()
            var old: KIRQL = 0
            KeRaiseIrql(DISPATCH_LEVEL, &old)
            _ = IoGetDmaAdapter(pdo, &desc, nil)
            exit(0)
        }
        let getMessage = String(decoding: get?.standardErrorContent ?? [], as: UTF8.self)
        #expect(getMessage.contains("IoGetDmaAdapter at IRQL 2"), "\(getMessage)")
        let allocate = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.edu, on: dispatcher)
            let adapter = try CommonBufferTests.adapter(for: pdo)
            var old: KIRQL = 0
            KeRaiseIrql(APC_LEVEL, &old)
            _ = CommonBufferTests.allocate(adapter, 0x1000)
            exit(0)
        }
        let allocateMessage = String(decoding: allocate?.standardErrorContent ?? [], as: UTF8.self)
        #expect(allocateMessage.contains("AllocateCommonBuffer at IRQL 1"), "\(allocateMessage)")
        let mismatched = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let dispatcher = try makeDispatcher()
            let (pdo, _) = makePDO(Devices.edu, on: dispatcher)
            let adapter = try CommonBufferTests.adapter(for: pdo)
            let (buffer, logical) = CommonBufferTests.allocate(adapter, 0x2000)
            adapter.pointee.DmaOperations.pointee.FreeCommonBuffer(adapter, 0x1000, logical, buffer, FALSE)  // part of it
            exit(0)
        }
        let mismatchedMessage = String(decoding: mismatched?.standardErrorContent ?? [], as: UTF8.self)
        #expect(mismatchedMessage.contains("is not a common buffer"), "\(mismatchedMessage)")
    }
}
