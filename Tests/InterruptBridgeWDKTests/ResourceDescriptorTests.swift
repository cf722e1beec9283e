import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Testing

@Suite("CM resource descriptors")
struct ResourceDescriptorTests {
    /// A device with a 64-bit prefetchable BAR beyond 4 GiB, an I/O BAR, MSI and INTx.
    static let device = PCIDeviceInfo(
        address: PCIAddress(bus: 0x02, device: 3, function: 0), vendorID: 0x1234, deviceID: 0x11e8,
        bars: [
            PCIBar(index: 0, address: 0xfe00_0000, size: 0x10_0000, space: .memory),
            PCIBar(index: 1, address: 0xc000, size: 0x20, space: .io),
            PCIBar(index: 2, address: 0x8_0000_0000, size: 0x2_0000_0000, space: .memory, is64Bit: true, prefetchable: true),
        ],
        interruptPin: .a, irqLine: 11,
        msi: MSICapability(offset: 0x40, messagesCapable: 4))
    static let translator = ResourceTranslator(facts: .init(onlineProcessors: .first(4)))

    @Test func memoryPortAndLargeMemoryDescriptorsCarryWdmValues() {
        let assignment = Self.translator.resources(for: Self.device)
        let list = CM_RESOURCE_LIST.allocatedResourcesTranslated(assignment, address: Self.device.address)!
        #expect(list.Count == 1)
        #expect(list.List[0].InterfaceType == PCIBus)
        #expect(list.List[0].BusNumber == 2)
        let descriptors = list.List[0].PartialResourceList.PartialDescriptors
        #expect(list.List[0].PartialResourceList.Count == ULONG(descriptors.count))

        #expect(descriptors[0].Type == CmResourceTypeMemory)
        #expect(descriptors[0].u.Memory.Start.QuadPart == 0xfe00_0000)
        #expect(descriptors[0].u.Memory.Length == 0x10_0000)
        #expect(descriptors[0].Flags & CM_RESOURCE_MEMORY_BAR != 0)

        #expect(descriptors[1].Type == CmResourceTypePort)
        #expect(descriptors[1].u.Port.Start.LowPart == 0xc000)
        #expect(descriptors[1].u.Port.Length == 0x20)
        #expect(descriptors[1].Flags & CM_RESOURCE_PORT_IO != 0)

        #expect(descriptors[2].Type == CmResourceTypeMemoryLarge)
        #expect(descriptors[2].Flags & CM_RESOURCE_MEMORY_LARGE == CM_RESOURCE_MEMORY_LARGE_64)
        #expect(descriptors[2].Flags & CM_RESOURCE_MEMORY_PREFETCHABLE != 0)
        var start: ULONGLONG = 0
        #expect(RtlCmDecodeMemIoResource(descriptors[2], &start) == 0x2_0000_0000)
        #expect(start == 0x8_0000_0000)
    }

    /// Just under 2^40 or 2^48, a length whose rounding up would overflow the finer unit's
    /// 32-bit count takes the coarser unit: it never decodes shorter than the window.
    @Test(arguments: [(UInt64(1) << 40) - 1, (UInt64(1) << 48) - 0xff, (UInt64(1) << 48) - 1])
    func aWindowJustUnderAUnitsReachIsNotCut(size: UInt64) throws {
        let device = PCIDeviceInfo(address: PCIAddress(bus: 0, device: 3, function: 0), vendorID: 1, deviceID: 2, bars: [
            PCIBar(index: 0, address: 0x1_0000_0000_0000, size: size, space: .memory, is64Bit: true),
        ])
        let assignment = Self.translator.resources(for: device)
        let window = try #require(CM_RESOURCE_LIST.allocatedResources(assignment, address: device.address)?.List[0].PartialResourceList.PartialDescriptors.first)
        var start: ULONGLONG = 0
        let decoded = RtlCmDecodeMemIoResource(window, &start)
        #expect(decoded >= size && decoded - size < 1 << 32, "size 0x\(String(size, radix: 16)) decoded 0x\(String(decoded, radix: 16))")
    }

    /// A driver reads a window's length with RtlCmDecodeMemIoResource: it gets the BAR's
    /// whole length back for windows beyond 4 GiB that are not multiples of 4 GiB too
    /// (Length64 alone would drop the rest), and every window's start.
    @Test(arguments: [UInt64(0x2_0000_0000), 0x1_8000_0000, 0x1_0000_0100, 0x1_0000_0001, 0xffff_ffff, 0x1000])
    func everyMemoryWindowDecodesToItsLength(size: UInt64) throws {
        let device = PCIDeviceInfo(address: PCIAddress(bus: 0, device: 3, function: 0), vendorID: 1, deviceID: 2, bars: [
            PCIBar(index: 0, address: 0x80_0000_0000, size: size, space: .memory, is64Bit: true),
        ])
        let assignment = Self.translator.resources(for: device)
        for list in [CM_RESOURCE_LIST.allocatedResources(assignment, address: device.address),
                     CM_RESOURCE_LIST.allocatedResourcesTranslated(assignment, address: device.address)] {
            let window = try #require(list?.List[0].PartialResourceList.PartialDescriptors.first)
            var start: ULONGLONG = 0
            let decoded = RtlCmDecodeMemIoResource(window, &start)
            #expect(start == 0x80_0000_0000)
            // A length no LARGE_* granularity states (not a multiple of 256) is rounded up to one.
            #expect(decoded == (size & 0xff == 0 || size <= 0xffff_ffff ? size : (size | 0xff) + 1), "size 0x\(String(size, radix: 16))")
        }
    }

    @Test func messageInterruptShowsRawInRawListAndTranslatedInTranslatedList() throws {
        let assignment = Self.translator.resources(for: Self.device)
        let raw = try #require(CM_RESOURCE_LIST.allocatedResources(assignment, address: Self.device.address))
        let translated = try #require(CM_RESOURCE_LIST.allocatedResourcesTranslated(assignment, address: Self.device.address))
        let rawInterrupt = try #require(raw.List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })
        let IntResource = try #require(translated.List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })

        #expect(IntResource.Flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0)
        #expect(IntResource.Flags & CM_RESOURCE_INTERRUPT_LATCHED != 0)
        #expect(rawInterrupt.u.MessageInterrupt.Raw.MessageCount == 4)
        #expect(rawInterrupt.u.MessageInterrupt.Raw.Affinity == 0xf)
        let expectedVector = ResourceTranslator.messageVector(Self.device.address, message: 0)
        #expect(IntResource.u.MessageInterrupt.Translated.Vector == expectedVector)
        #expect(IntResource.u.MessageInterrupt.Translated.Level == 8)
        #expect(IntResource.u.MessageInterrupt.Translated.Affinity == 0xf)
        // As in C, u.Interrupt overlays u.MessageInterrupt.Translated.
        #expect(IntResource.u.Interrupt.Vector == expectedVector)
        #expect(IntResource.u.Interrupt.Level == 8)
    }

    @Test func lineInterruptIsSharedAndLevelSensitive() throws {
        let assignment = Self.translator.resources(for: Self.device, policy: InterruptPolicy(msiSupported: false))
        let translated = try #require(CM_RESOURCE_LIST.allocatedResourcesTranslated(assignment, address: Self.device.address))
        let IntResource = try #require(translated.List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })
        #expect(IntResource.ShareDisposition == CmResourceShareShared)
        #expect(IntResource.Flags & CM_RESOURCE_INTERRUPT_MESSAGE == 0)
        #expect(IntResource.Flags & CM_RESOURCE_INTERRUPT_LATCHED == 0)
        #expect(IntResource.u.Interrupt.Vector == 11)
        #expect(IntResource.u.Interrupt.Level == 5)
        #expect(IntResource.u.Interrupt.Affinity == 0xf)
    }

    @Test func deviceWithoutResourcesGetsNullLists() {
        let bare = PCIDeviceInfo(address: PCIAddress(bus: 0, device: 1, function: 0), vendorID: 1, deviceID: 2)
        let assignment = Self.translator.resources(for: bare)
        #expect(CM_RESOURCE_LIST.allocatedResources(assignment, address: bare.address) == nil)
        #expect(CM_RESOURCE_LIST.allocatedResourcesTranslated(assignment, address: bare.address) == nil)
    }

    @Test func unionFieldsRoundTripWithoutDisturbingEachOther() {
        var descriptor = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        descriptor.u.Interrupt.Level = 0x0a
        descriptor.u.Interrupt.Group = 0x1
        descriptor.u.Interrupt.Vector = 0xdead_beef
        descriptor.u.Interrupt.Affinity = 0x8000_0000_0000_0001
        #expect(descriptor.u.Interrupt.Level == 0x0a)
        #expect(descriptor.u.Interrupt.Group == 0x1)
        #expect(descriptor.u.Interrupt.Vector == 0xdead_beef)
        #expect(descriptor.u.Interrupt.Affinity == 0x8000_0000_0000_0001)
        // Raw overlays the same bytes with Group first, then MessageCount (x64 wdm.h layout).
        #expect(descriptor.u.MessageInterrupt.Raw.Group == 0x0a)
        #expect(descriptor.u.MessageInterrupt.Raw.MessageCount == 0x1)
    }

    /// wdm.h's Raw member: "USHORT Group" with NT_PROCESSOR_GROUPS, "USHORT Reserved"
    /// without ("Reserved for system use"), then MessageCount, Vector and Affinity. Both
    /// spellings name the first two bytes; MessageCount, Vector and Affinity stay where they are.
    @Test func messageInterruptRawHasEveryWdmMemberReservedAliasingGroup() {
        var descriptor = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        descriptor.u.MessageInterrupt.Raw.MessageCount = 4
        descriptor.u.MessageInterrupt.Raw.Vector = 0x51
        descriptor.u.MessageInterrupt.Raw.Affinity = 0x3
        descriptor.u.MessageInterrupt.Raw.Reserved = 0x7
        #expect(descriptor.u.MessageInterrupt.Raw.Group == 0x7)
        descriptor.u.MessageInterrupt.Raw.Group = 0x2
        #expect(descriptor.u.MessageInterrupt.Raw.Reserved == 0x2)
        #expect(descriptor.u.MessageInterrupt.Raw.MessageCount == 4)
        #expect(descriptor.u.MessageInterrupt.Raw.Vector == 0x51)
        #expect(descriptor.u.MessageInterrupt.Raw.Affinity == 0x3)
        // Translated overlays the same bytes: Level is where Group/Reserved is.
        #expect(descriptor.u.MessageInterrupt.Translated.Level == 0x2)
    }
}

@Suite("Basic types")
struct BasicTypeTests {
    @Test func largeIntegerHalvesViewTheQuadPart() {
        var address = PHYSICAL_ADDRESS(QuadPart: 0x1_2345_6789)
        #expect(address.LowPart == 0x2345_6789)
        #expect(address.HighPart == 1)
        address.LowPart = 0xfee0_0000
        #expect(address.QuadPart == 0x1_fee0_0000)
        address.HighPart = 2
        #expect(address.QuadPart == 0x2_fee0_0000)
    }

    /// ReactOS's serial.sys reads `PartialDescriptor->u.Port.Start.u.LowPart`: wdm.h's named
    /// `u` struct views the same halves as the anonymous one.
    @Test func largeIntegerNamedHalvesViewTheQuadPartToo() {
        var address = PHYSICAL_ADDRESS(QuadPart: 0x1_2345_6789)
        #expect(address.u.LowPart == 0x2345_6789)
        #expect(address.u.HighPart == 1)
        address.u.LowPart = 0xc060
        #expect(address.QuadPart == 0x1_0000_c060)
        address.u.HighPart = -1
        #expect(address.QuadPart == LONGLONG(bitPattern: 0xffff_ffff_0000_c060))
        #expect(address.HighPart == -1 && address.LowPart == 0xc060)
    }

    @Test func outParameterWritesThroughAPointerToo() {
        var slot: PVOID = nil
        withUnsafeMutablePointer(to: &slot) { pointer in
            let out = OutParameter(pointer)
            out.pointee = "written"
        }
        #expect(slot as? String == "written")
    }

    @Test func versionsAndLevelsHaveWdmValues() {
        #expect([CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED, CONNECT_FULLY_SPECIFIED_GROUP] == [1, 2, 3, 4])
        #expect([PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL] == [0, 1, 2, 15])
        #expect(LevelSensitive.rawValue == 0 && Latched.rawValue == 1)
        #expect(CmResourceTypeInterrupt == 2 && CmResourceShareShared == 3)
        #expect(CM_RESOURCE_INTERRUPT_LATCHED == 1 && CM_RESOURCE_INTERRUPT_MESSAGE == 2)
    }
}

@Suite("NTSTATUS")
struct NTSTATUSTests {
    @Test func valuesAreThoseOfNtstatusH() {
        #expect(STATUS_SUCCESS.rawValue == 0)
        #expect(UInt32(bitPattern: STATUS_INVALID_PARAMETER.rawValue) == 0xC000_000D)
        #expect(UInt32(bitPattern: STATUS_INVALID_PARAMETER_1.rawValue) == 0xC000_00EF)
        #expect(UInt32(bitPattern: STATUS_INVALID_PARAMETER_10.rawValue) == 0xC000_00F8)
        #expect(UInt32(bitPattern: STATUS_INVALID_DEVICE_REQUEST.rawValue) == 0xC000_0010)
        #expect(UInt32(bitPattern: STATUS_NOT_FOUND.rawValue) == 0xC000_0225)
        #expect(UInt32(bitPattern: STATUS_INSUFFICIENT_RESOURCES.rawValue) == 0xC000_009A)
    }

    @Test func successIsNonNegative() {
        #expect(NT_SUCCESS(STATUS_SUCCESS))
        #expect(NT_SUCCESS(STATUS_PENDING))
        #expect(!NT_SUCCESS(STATUS_NOT_FOUND))
        #expect(NT_ERROR(STATUS_INVALID_PARAMETER))
        #expect(NT_WARNING(STATUS_DEVICE_BUSY))
        #expect(!NT_ERROR(STATUS_SUCCESS))
    }

    @Test func descriptionNamesTheStatus() {
        #expect(STATUS_NOT_FOUND.description == "STATUS_NOT_FOUND (0xC0000225)")
        #expect(NTSTATUS(0xC000_1234).description == "NTSTATUS 0xC0001234")
    }
}

/// `print(descriptor)` decodes it by Type, as a debugger's resource dump would.
@Suite("CM descriptors as text")
struct ResourceDescriptorTextTests {
    @Test func aLineAMessageAndAMemoryRangeReadAsWhatTheyAre() throws {
        var line = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        line.Type = CmResourceTypeInterrupt
        line.ShareDisposition = CmResourceShareShared
        line.Flags = CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE
        line.u.Interrupt.Level = 5
        line.u.Interrupt.Vector = 23
        line.u.Interrupt.Affinity = 0x3
        #expect(line.description == "Interrupt (LevelSensitive, Shared): Level 5 Vector 0x17 Group 0 Affinity 0x3")

        var message = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        message.Type = CmResourceTypeInterrupt
        message.ShareDisposition = CmResourceShareDeviceExclusive
        message.Flags = CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE
        message.u.MessageInterrupt.Raw.MessageCount = 4
        message.u.MessageInterrupt.Raw.Vector = 0x41
        #expect(message.description.hasPrefix("Interrupt (message-signaled, DeviceExclusive): raw MessageCount 4 Vector 0x41"), "\(message)")

        var memory = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        memory.Type = CmResourceTypeMemory
        memory.ShareDisposition = CmResourceShareDeviceExclusive
        memory.u.Memory.Start.QuadPart = 0xfebf_0000
        memory.u.Memory.Length = 0x1000
        #expect(memory.description == "Memory (DeviceExclusive, Flags 0x0): Start 0xfebf0000 Length 0x1000")
        let list = CM_PARTIAL_RESOURCE_LIST(PartialDescriptors: [memory, line])
        #expect(list.description == "CM_PARTIAL_RESOURCE_LIST Version 1 Revision 1 Count 2\n  [0] \(memory)\n  [1] \(line)")
    }

    /// `RtlZeroMemory` leaves every field 0, as in C: a list the driver builds starts at
    /// Version 0 and Revision 0, not at the PnP manager's 1 and 1.
    @Test func rtlZeroMemoryLeavesEveryResourceStructureZero() {
        var list = CM_PARTIAL_RESOURCE_LIST(PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR()])
        RtlZeroMemory(&list, MemoryLayout<CM_PARTIAL_RESOURCE_LIST>.size)
        #expect(list.Version == 0 && list.Revision == 0 && list.Count == 0)
        var full = CM_FULL_RESOURCE_DESCRIPTOR(InterfaceType: PCIBus, BusNumber: 2, PartialResourceList: list)
        RtlZeroMemory(&full, MemoryLayout<CM_FULL_RESOURCE_DESCRIPTOR>.size)
        #expect(full.InterfaceType == Internal && full.BusNumber == 0 && full.PartialResourceList.Version == 0)
        var descriptor = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        descriptor.Type = CmResourceTypeInterrupt
        descriptor.u.Interrupt.Vector = 11
        RtlZeroMemory(&descriptor, MemoryLayout<CM_PARTIAL_RESOURCE_DESCRIPTOR>.size)
        #expect(descriptor.Type == CmResourceTypeNull && descriptor.ShareDisposition == CmResourceShareUndetermined
                && descriptor.Flags == 0 && descriptor.u.Interrupt.Vector == 0)
    }
}
