import Foundation
import InterruptBridgeSystem
import Testing

/// A mapped BAR's accessors, over a shared mapping of an ordinary file: each width is one
/// access at its offset, little-endian as PCI registers are, and neighbours are untouched.
@Suite struct MappedRegionTests {
    /// A 4 KiB zeroed file in the temporary directory (`path`, removed by the caller) and a
    /// shared mapping of it.
    static func mappedFile() throws -> (path: String, region: MappedRegion) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-bar-\(UUID().uuidString.prefix(8))").path
        try Data(count: 4096).write(to: URL(fileURLWithPath: path))
        let file = try FileIO.open(path, .readWrite)
        return (path, try MappedRegion(fd: file.rawValue, offset: 0, length: 4096, "test BAR"))
    }

    @Test func everyWidthReadsAndWritesOnlyItsOwnBytes() throws {
        let (path, region) = try Self.mappedFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        region.write32(0xAABB_CCDD, at: 0x10)
        region.write8(0x11, at: 0x11)
        #expect(region.read32(at: 0x10) == 0xAABB_11DD, "an 8-bit write changed one byte")
        #expect(region.read8(at: 0x13) == 0xAA && region.read16(at: 0x12) == 0xAABB)
        region.write16(0x2233, at: 0x12)
        #expect(region.read32(at: 0x10) == 0x2233_11DD)
        region.write64(0x0102_0304_0506_0708, at: 0x18)
        #expect(region.read64(at: 0x18) == 0x0102_0304_0506_0708)
        #expect(region.read8(at: 0x18) == 0x08 && region.read32(at: 0x1c) == 0x0102_0304)
        #expect(region.read32(at: 0x0c) == 0 && region.read32(at: 0x20) == 0, "neighbours untouched")
    }

    /// Detached from its file, the address stays usable: reads give 0, writes reach private
    /// memory, and the file (the device) sees nothing more.
    @Test func aDetachedRegionReadsZeroAndNoLongerReachesTheFile() throws {
        let (path, region) = try Self.mappedFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        region.write32(0x1234_5678, at: 0x40)
        try region.detachFromDevice()
        #expect(region.read32(at: 0x40) == 0, "private zeroed memory now")
        region.write32(0xDEAD_BEEF, at: 0x40)
        #expect(region.read32(at: 0x40) == 0xDEAD_BEEF)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes[0x40..<0x44].elementsEqual([0x78, 0x56, 0x34, 0x12]), "the file kept what was written before, and only that")
    }
}
