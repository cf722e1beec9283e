/// A function's configuration space as bytes (read through libpci's
/// `pci_read_block`), decoded with every offset range-checked.
///
/// libpci walks capability lists tolerantly: a loop or a wild pointer is
/// silently cut short, so a broken device (or dump) looks merely capability-less.
/// This type walks them itself and reports such lists as errors instead.
public struct PCIConfigSpace: Sendable, Hashable {
    /// The bytes available, from offset 0 (64, 256 or 4096 of them, or fewer for a damaged dump).
    public let bytes: [UInt8]

    /// Size of the standard header every function has.
    public static let headerSize = 64
    /// Conventional config space; standard capabilities live below this.
    public static let conventionalSize = 256
    /// PCI Express config space; extended capabilities live from 256 up to this.
    public static let extendedSize = 4096

    /// Capability IDs the bridge decodes.
    public enum CapabilityID {
        public static let msi: UInt8 = 0x05
        public static let msix: UInt8 = 0x11
    }

    /// Requires at least the 64-byte standard header.
    public init(bytes: [UInt8]) throws(PCIConfigSpaceError) {
        guard bytes.count >= Self.headerSize else {
            throw .truncated(available: bytes.count, needed: Self.headerSize, reading: "the standard header")
        }
        self.bytes = bytes
    }

    // MARK: Header registers (always present once init succeeded)

    public var vendorID: UInt16 { word(0x00) }
    public var deviceID: UInt16 { word(0x02) }
    public var command: UInt16 { word(0x04) }
    public var status: UInt16 { word(0x06) }
    public var revision: UInt8 { bytes[0x08] }
    /// Base class, subclass, programming interface as 0xBBSSPP.
    public var classCode: UInt32 { UInt32(bytes[0x0b]) << 16 | UInt32(bytes[0x0a]) << 8 | UInt32(bytes[0x09]) }
    /// Header layout: 0 = endpoint, 1 = PCI-PCI bridge, 2 = CardBus bridge.
    public var headerType: UInt8 { bytes[0x0e] & 0x7f }
    public var interruptLine: UInt8 { bytes[0x3c] }
    /// The INTx pin the function uses; nil for 0 (none) or a reserved value.
    public var interruptPin: InterruptPin? { InterruptPin(rawValue: bytes[0x3d]) }
    /// Command register bit 10: INTx emulation disabled.
    public var interruptDisable: Bool { command & 0x0400 != 0 }
    /// Status register bit 4: the function has a capability list.
    public var hasCapabilityList: Bool { status & 0x0010 != 0 }

    // MARK: Capabilities

    /// The standard capability list, in list order.
    public func capabilities() throws(PCIConfigSpaceError) -> [PCICapabilityHeader] {
        guard hasCapabilityList else { return [] }
        // CardBus bridges keep the pointer at 0x14; everything else at 0x34.
        let pointerRegister = headerType == 2 ? 0x14 : 0x34
        var pointer = UInt16(bytes[pointerRegister] & 0xfc)
        var previous: UInt16? = nil
        var visited = Set<UInt16>()
        var list: [PCICapabilityHeader] = []
        while pointer != 0 {
            guard pointer >= UInt16(Self.headerSize), pointer < UInt16(Self.conventionalSize) else {
                throw .capabilityPointerOutOfRange(pointer: pointer, from: previous)
            }
            if visited.contains(pointer) { throw .capabilityLoop(offset: pointer, from: previous ?? 0) }
            try require(Int(pointer) + 2, reading: "the capability at 0x\(hex(UInt64(pointer), width: 2))")
            visited.insert(pointer)
            list.append(PCICapabilityHeader(id: bytes[Int(pointer)], offset: pointer))
            previous = pointer
            pointer = UInt16(bytes[Int(pointer) + 1] & 0xfc)
        }
        return list
    }

    /// The PCI Express extended capability list (from 0x100), in list order. Empty when
    /// fewer than 4096 bytes are available or the first header is 0 or all ones.
    public func extendedCapabilities() throws(PCIConfigSpaceError) -> [PCIExtendedCapabilityHeader] {
        guard bytes.count >= Self.extendedSize else { return [] }
        var offset = UInt16(Self.conventionalSize)
        var previous = offset
        var visited = Set<UInt16>()
        var list: [PCIExtendedCapabilityHeader] = []
        while true {
            let header = dword(Int(offset))
            if offset == UInt16(Self.conventionalSize), header == 0 || header == .max { return [] }
            if visited.contains(offset) { throw .extendedCapabilityLoop(offset: offset, from: previous) }
            visited.insert(offset)
            list.append(PCIExtendedCapabilityHeader(id: UInt16(header & 0xffff), version: UInt8((header >> 16) & 0xf), offset: offset))
            let next = UInt16(header >> 20) & 0xffc
            if next == 0 { return list }
            guard next >= UInt16(Self.conventionalSize) else { throw .extendedCapabilityPointerOutOfRange(pointer: next, from: offset) }
            previous = offset
            offset = next
        }
    }

    /// The MSI capability, decoded; nil when the function has none.
    public func msiCapability() throws(PCIConfigSpaceError) -> MSICapability? {
        guard let header = try capabilities().first(where: { $0.id == CapabilityID.msi }) else { return nil }
        let base = Int(header.offset)
        try require(base + 4, reading: "the MSI capability at 0x\(hex(UInt64(base), width: 2))")
        let control = word(base + 2)
        let is64Bit = control & 0x0080 != 0
        let perVectorMasking = control & 0x0100 != 0
        // Size by layout: 32/64-bit address, with or without Mask and Pending Bits.
        let size = (is64Bit ? 0x0e : 0x0a) + (perVectorMasking ? 0x0a : 0)
        try require(base + size, reading: "the MSI capability at 0x\(hex(UInt64(base), width: 2))")
        let addressLow = UInt64(dword(base + 4))
        let addressHigh = is64Bit ? UInt64(dword(base + 8)) : 0
        return MSICapability(
            offset: header.offset,
            messagesCapable: 1 << min(Int((control >> 1) & 0x7), 5),
            messagesEnabled: 1 << min(Int((control >> 4) & 0x7), 5),
            enabled: control & 0x0001 != 0,
            is64BitAddress: is64Bit,
            perVectorMasking: perVectorMasking,
            messageAddress: addressHigh << 32 | addressLow,
            messageData: word(base + (is64Bit ? 0x0c : 0x08)))
    }

    /// The MSI-X capability, decoded; nil when the function has none.
    public func msixCapability() throws(PCIConfigSpaceError) -> MSIXCapability? {
        guard let header = try capabilities().first(where: { $0.id == CapabilityID.msix }) else { return nil }
        let base = Int(header.offset)
        let what = "the MSI-X capability at 0x\(hex(UInt64(base), width: 2))"
        try require(base + 12, reading: what)
        let control = word(base + 2)
        let table = dword(base + 4)
        let pba = dword(base + 8)
        let tableBAR = Int(table & 0x7)
        let pbaBAR = Int(pba & 0x7)
        guard tableBAR < 6 else { throw .reservedBAR(bir: tableBAR, reading: what + " (table)") }
        guard pbaBAR < 6 else { throw .reservedBAR(bir: pbaBAR, reading: what + " (PBA)") }
        return MSIXCapability(
            offset: header.offset,
            tableSize: Int(control & 0x07ff) + 1,
            enabled: control & 0x8000 != 0,
            functionMasked: control & 0x4000 != 0,
            tableBAR: tableBAR, tableOffset: table & ~0x7,
            pbaBAR: pbaBAR, pbaOffset: pba & ~0x7)
    }

    // MARK: Little-endian access (callers range-check first)

    func word(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    func dword(_ offset: Int) -> UInt32 { UInt32(word(offset)) | UInt32(word(offset + 2)) << 16 }

    func require(_ end: Int, reading what: String) throws(PCIConfigSpaceError) {
        guard end <= bytes.count else { throw .truncated(available: bytes.count, needed: end, reading: what) }
    }
}
