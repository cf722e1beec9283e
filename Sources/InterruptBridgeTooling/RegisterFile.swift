// Where register programs read and write: a device's BARs, or a test's fake.
import InterruptBridgeSystem

/// The width of one register access.
public enum RegisterWidth: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case bits8 = 8, bits16 = 16, bits32 = 32, bits64 = 64

    /// Bytes the access covers (also its required alignment).
    public var byteCount: Int { Int(rawValue) / 8 }
    /// The bits a value of this width keeps.
    public var mask: UInt64 { self == .bits64 ? .max : (1 << UInt64(rawValue)) - 1 }
    public var description: String { "\(rawValue)-bit" }
    /// "an 8-bit", "a 16-bit": for messages.
    var withArticle: String { self == .bits8 ? "an \(self)" : "a \(self)" }
}

/// Register access by BAR, offset and width: what a compiled `RegisterProgram` runs over.
///
/// Implementations called from an ISR must not allocate, block, lock or log. Offsets
/// reaching a conforming type were validated against the device and the mapping when the
/// program was bound, so implementations may trap on an access outside the register file.
public protocol RegisterFile {
    /// One access of `width` at `offset` in BAR `bar`, zero-extended.
    func read(bar: Int, offset: Int, width: RegisterWidth) -> UInt64
    /// One access of `width` at `offset` in BAR `bar`; `value` is already truncated to the width.
    func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64)
    /// The bytes of BAR `bar` this register file can reach (0: not reachable).
    func length(ofBAR bar: Int) -> Int
}

/// BARs mapped into this process (by VFIO's region mmap or a sysfs `resourceN` mmap),
/// accessed with volatile loads and stores of exactly the declared width.
///
/// This type does not map anything (syscalls belong to InterruptBridgeSystem): it is
/// given each mapping's base address and length, and keeps its owners alive.
///
/// `@unchecked Sendable`: the bases and lengths never change after init, and the owners
/// (which unmap in their deinit) are only retained; the device memory behind the
/// mappings is the device's to synchronise, as in a kernel driver.
public final class MappedBARs: RegisterFile, @unchecked Sendable {
    /// One mapped BAR.
    public struct Mapping {
        public var bar: Int
        public var base: UnsafeMutableRawPointer
        public var length: Int
        public init(bar: Int, base: UnsafeMutableRawPointer, length: Int) {
            self.bar = bar
            self.base = base
            self.length = length
        }
    }

    // Indexed by BAR number 0...5; nil base / 0 length where not mapped.
    private let bases: ContiguousArray<UnsafeMutableRawPointer?>
    private let lengths: ContiguousArray<Int>
    private let owners: [AnyObject]

    /// - Parameters:
    ///   - mappings: at most one per BAR 0...5.
    ///   - keepAlive: the objects that own the mappings (e.g. `MappedRegion`s); retained
    ///     for as long as this register file lives.
    public init(_ mappings: [Mapping], keepAlive owners: [AnyObject] = []) {
        var bases = ContiguousArray<UnsafeMutableRawPointer?>(repeating: nil, count: PCIBARs.count)
        var lengths = ContiguousArray<Int>(repeating: 0, count: PCIBARs.count)
        for mapping in mappings {
            precondition(PCIBARs.range.contains(mapping.bar), "BAR \(mapping.bar) does not exist (BARs are 0 to 5)")
            precondition(bases[mapping.bar] == nil, "BAR \(mapping.bar) mapped twice")
            bases[mapping.bar] = mapping.base
            lengths[mapping.bar] = mapping.length
        }
        self.bases = bases
        self.lengths = lengths
        self.owners = owners
    }

    public func length(ofBAR bar: Int) -> Int { PCIBARs.range.contains(bar) ? lengths[bar] : 0 }

    @inline(__always)
    private func base(_ bar: Int, _ offset: Int, _ width: RegisterWidth) -> UnsafeMutableRawPointer {
        // Cheap checks that cannot allocate (the message is built only on failure):
        // bound programs were checked against these lengths, so this never fires.
        guard let base = bases[bar], offset >= 0, offset + width.byteCount <= lengths[bar] else {
            preconditionFailure("BAR\(bar)+0x\(String(offset, radix: 16)) is outside the mapped registers")
        }
        return base
    }

    public func read(bar: Int, offset: Int, width: RegisterWidth) -> UInt64 {
        let base = base(bar, offset, width)
        switch width {
        case .bits8: return UInt64(MMIO.read8(base, offset))
        case .bits16: return UInt64(MMIO.read16(base, offset))
        case .bits32: return UInt64(MMIO.read32(base, offset))
        case .bits64: return MMIO.read64(base, offset)
        }
    }

    public func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64) {
        let base = base(bar, offset, width)
        switch width {
        case .bits8: MMIO.write8(base, offset, UInt8(truncatingIfNeeded: value))
        case .bits16: MMIO.write16(base, offset, UInt16(truncatingIfNeeded: value))
        case .bits32: MMIO.write32(base, offset, UInt32(truncatingIfNeeded: value))
        case .bits64: MMIO.write64(base, offset, value)
        }
    }
}

/// PCI's six Base Address Registers.
enum PCIBARs {
    static let count = 6
    static let range = 0..<count
}
