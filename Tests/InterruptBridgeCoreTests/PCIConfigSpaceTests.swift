import InterruptBridgeCore
import Testing

/// Config-space decoding on hand-built bytes: the field combinations no fixture device has
/// (32-bit MSI with per-vector masking and several messages, a programmed message,
/// enabled and masked MSI-X, reserved BIRs, CardBus pointers, long lists).
@Suite struct PCIConfigSpaceTests {
    /// 256 bytes of an endpoint with a capability list; `capabilities` are (offset, bytes) written in place.
    static func config(status: UInt16 = 0x0010, pointer: UInt8 = 0x40, headerType: UInt8 = 0,
                       capabilities: [(Int, [UInt8])] = [], count: Int = 256) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes[0] = 0x34; bytes[1] = 0x12; bytes[2] = 0xe8; bytes[3] = 0x11
        bytes[6] = UInt8(status & 0xff); bytes[7] = UInt8(status >> 8)
        bytes[0x0e] = headerType
        bytes[headerType == 2 ? 0x14 : 0x34] = pointer
        bytes[0x3c] = 10; bytes[0x3d] = 2
        for (offset, body) in capabilities { bytes.replaceSubrange(offset..<offset + body.count, with: body) }
        return bytes
    }

    @Test func msi32BitWithMaskingAndThirtyTwoMessagesCapable() throws {
        // Control 0x013b: enable, MMC=5 (32), MME=3 (8), 32-bit, per-vector masking.
        let msi: [UInt8] = [0x05, 0x00, 0x3b, 0x01, 0x00, 0x10, 0xe0, 0xfe, 0x21, 0x43, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0]
        let space = try PCIConfigSpace(bytes: Self.config(capabilities: [(0x40, msi)]))
        #expect(try space.msiCapability() == MSICapability(offset: 0x40, messagesCapable: 32, messagesEnabled: 8, enabled: true,
                                                           is64BitAddress: false, perVectorMasking: true,
                                                           messageAddress: 0xfee0_1000, messageData: 0x4321))
        #expect(space.interruptPin == .b && space.interruptLine == 10)
    }

    @Test func msi64BitProgrammedAddressAndData() throws {
        // Control 0x0081: enabled, 1 message, 64-bit; address 0x1_fee0_0000; data at +0x0c.
        let msi: [UInt8] = [0x05, 0x00, 0x81, 0x00, 0x00, 0x00, 0xe0, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x25, 0x40]
        let capability = try #require(try PCIConfigSpace(bytes: Self.config(capabilities: [(0x40, msi)])).msiCapability())
        #expect(capability.is64BitAddress && capability.enabled && !capability.perVectorMasking)
        #expect(capability.messageAddress == 0x1_fee0_0000 && capability.messageData == 0x4025)
    }

    @Test func msixEnabledAndFunctionMasked() throws {
        // Control 0xc7ff: enable, function mask, table size 2048; table BIR 2 at 0x1000, PBA BIR 4 at 0x2800.
        let msix: [UInt8] = [0x11, 0x00, 0xff, 0xc7, 0x02, 0x10, 0x00, 0x00, 0x04, 0x28, 0x00, 0x00]
        let capability = try PCIConfigSpace(bytes: Self.config(capabilities: [(0x40, msix)])).msixCapability()
        #expect(capability == MSIXCapability(offset: 0x40, tableSize: 2048, enabled: true, functionMasked: true,
                                             tableBAR: 2, tableOffset: 0x1000, pbaBAR: 4, pbaOffset: 0x2800))
    }

    @Test func msixReservedBIRIsAnError() throws {
        let msix: [UInt8] = [0x11, 0x00, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00]
        let space = try PCIConfigSpace(bytes: Self.config(capabilities: [(0x40, msix)]))
        #expect(throws: PCIConfigSpaceError.reservedBAR(bir: 7, reading: "the MSI-X capability at 0x40 (table)")) { try space.msixCapability() }
    }

    @Test func noCapabilityListWhenStatusBitIsClear() throws {
        // The pointer register holds garbage, but Status says there is no list: nothing is walked.
        let space = try PCIConfigSpace(bytes: Self.config(status: 0, pointer: 0x13))
        #expect(try space.capabilities().isEmpty)
        #expect(try space.msiCapability() == nil && space.msixCapability() == nil)
    }

    @Test func pointerLowBitsAreIgnoredAndListOrderIsKept() throws {
        // 0x43 -> 0x40 (low two bits reserved); 0x40 -> 0x80 -> 0x60 -> end.
        let space = try PCIConfigSpace(bytes: Self.config(pointer: 0x43, capabilities: [(0x40, [0x01, 0x81]), (0x80, [0x10, 0x62]), (0x60, [0x11, 0x00])]))
        #expect(try space.capabilities() == [PCICapabilityHeader(id: 0x01, offset: 0x40), PCICapabilityHeader(id: 0x10, offset: 0x80),
                                             PCICapabilityHeader(id: 0x11, offset: 0x60)])
    }

    @Test func cardBusBridgeKeepsItsPointerAt0x14() throws {
        let space = try PCIConfigSpace(bytes: Self.config(pointer: 0x80, headerType: 2, capabilities: [(0x80, [0x01, 0x00])]))
        #expect(try space.capabilities() == [PCICapabilityHeader(id: 0x01, offset: 0x80)])
    }

    @Test func longestPossibleListTerminatesAndALoopAtItsEndIsFound() throws {
        // 48 capabilities chained 0x40 -> 0x44 -> ... -> 0xfc, then 0xfc points back to 0x80.
        let chain = stride(from: 0x40, through: 0xfc, by: 4).map { offset in (offset, [UInt8(0x09), UInt8(offset == 0xfc ? 0 : offset + 4)]) }
        let list = try PCIConfigSpace(bytes: Self.config(capabilities: chain)).capabilities()
        #expect(list.count == 48)
        let looped = try PCIConfigSpace(bytes: Self.config(capabilities: chain + [(0xfc, [0x09, 0x80])]))
        #expect(throws: PCIConfigSpaceError.capabilityLoop(offset: 0x80, from: 0xfc)) { try looped.capabilities() }
    }

    @Test func nextPointerIntoTheHeaderIsOutOfRange() throws {
        let space = try PCIConfigSpace(bytes: Self.config(capabilities: [(0x40, [0x05, 0x3c])]))
        #expect(throws: PCIConfigSpaceError.capabilityPointerOutOfRange(pointer: 0x3c, from: 0x40)) { try space.capabilities() }
    }

    @Test func msiControlRegisterBeyondTheBytesIsTruncated() throws {
        // 64 + 2 bytes: the header of a capability at 0x40 is there, its Message Control is not.
        let space = try PCIConfigSpace(bytes: Array(Self.config(capabilities: [(0x40, [0x05, 0x00])]).prefix(0x42)))
        #expect(try space.capabilities() == [PCICapabilityHeader(id: 0x05, offset: 0x40)])
        #expect(throws: PCIConfigSpaceError.truncated(available: 0x42, needed: 0x44, reading: "the MSI capability at 0x40")) { try space.msiCapability() }
    }

    @Test func emptyConfigSpaceIsTruncated() {
        #expect(throws: PCIConfigSpaceError.truncated(available: 0, needed: 64, reading: "the standard header")) { try PCIConfigSpace(bytes: []) }
    }

    @Test func barsDecodeFromLibpciFlagBits() {
        let bars = PCIBar.decode(baseAddresses: [0xfe80_0000, 0xc041, 0x40_0000_000c, 0, 0, 0], sizes: [0x10_0000, 0x20, 0x8_0000, 0, 0x1000, 0])
        #expect(bars == [
            PCIBar(index: 0, address: 0xfe80_0000, size: 0x10_0000, space: .memory),
            PCIBar(index: 1, address: 0xc040, size: 0x20, space: .io),
            PCIBar(index: 2, address: 0x40_0000_0000, size: 0x8_0000, space: .memory, is64Bit: true, prefetchable: true),
            // Unassigned but sized: kept, so a size check can see it.
            PCIBar(index: 4, address: 0, size: 0x1000, space: .memory),
        ])
    }

    /// 4096 bytes with extended capability headers (id, version, next) written at their offsets.
    static func extended(_ headers: [(offset: Int, id: UInt16, version: UInt8, next: Int)]) -> [UInt8] {
        var bytes = config(status: 0, count: 4096)
        for header in headers {
            let value = UInt32(header.id) | UInt32(header.version) << 16 | UInt32(header.next) << 20
            for byte in 0..<4 { bytes[header.offset + byte] = UInt8((value >> (8 * UInt32(byte))) & 0xff) }
        }
        return bytes
    }

    @Test func extendedCapabilitiesInListOrder() throws {
        let space = try PCIConfigSpace(bytes: Self.extended([(0x100, 0x0001, 2, 0x300), (0x300, 0x000b, 1, 0x148), (0x148, 0x0003, 1, 0)]))
        #expect(try space.extendedCapabilities() == [PCIExtendedCapabilityHeader(id: 0x0001, version: 2, offset: 0x100),
                                                     PCIExtendedCapabilityHeader(id: 0x000b, version: 1, offset: 0x300),
                                                     PCIExtendedCapabilityHeader(id: 0x0003, version: 1, offset: 0x148)])
    }

    @Test func noExtendedCapabilitiesWithoutExtendedConfigSpaceOrWithAnEmptyHeader() throws {
        #expect(try PCIConfigSpace(bytes: Self.config()).extendedCapabilities().isEmpty)
        #expect(try PCIConfigSpace(bytes: Self.extended([])).extendedCapabilities().isEmpty)
        var allOnes = Self.extended([])
        allOnes.replaceSubrange(0x100..<0x104, with: [0xff, 0xff, 0xff, 0xff])
        #expect(try PCIConfigSpace(bytes: allOnes).extendedCapabilities().isEmpty)
    }

    @Test func extendedCapabilityLoopIsAnError() throws {
        let space = try PCIConfigSpace(bytes: Self.extended([(0x100, 0x0001, 1, 0x200), (0x200, 0x0003, 1, 0x100)]))
        #expect(throws: PCIConfigSpaceError.extendedCapabilityLoop(offset: 0x100, from: 0x200)) { try space.extendedCapabilities() }
        let selfLoop = try PCIConfigSpace(bytes: Self.extended([(0x100, 0x0001, 1, 0x100)]))
        #expect(throws: PCIConfigSpaceError.extendedCapabilityLoop(offset: 0x100, from: 0x100)) { try selfLoop.extendedCapabilities() }
    }

    @Test func extendedPointerBelow0x100IsOutOfRange() throws {
        let space = try PCIConfigSpace(bytes: Self.extended([(0x100, 0x0001, 1, 0x0f0)]))
        #expect(throws: PCIConfigSpaceError.extendedCapabilityPointerOutOfRange(pointer: 0x0f0, from: 0x100)) { try space.extendedCapabilities() }
        #expect(PCIConfigSpaceError.extendedCapabilityPointerOutOfRange(pointer: 0x0f0, from: 0x100).description
                == "extended capability pointer out of range: the capability at 0x100 points to 0x0f0")
    }
}
