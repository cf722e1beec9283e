import Foundation
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

@Suite("Device address space (IOVAs for DMA buffers)")
struct DeviceAddressSpaceTests {
    static let messageWindow: ClosedRange<UInt64> = 0xfee0_0000...0xfeef_ffff

    @Test func rangesArePagesFromTheLowestFreeOneNeverAddressZero() {
        var space = DeviceAddressSpace()
        #expect(space.allocate(1, highestAddress: .max) == 0x1000, "one byte takes a page, and page 0 is never handed out")
        #expect(space.allocate(0x2001, highestAddress: .max) == 0x2000)
        #expect(space.allocate(0x1000, highestAddress: .max) == 0x5000, "0x2001 bytes took three pages")
        #expect(space.allocatedBytes == 0x5000)
        #expect(space.allocate(0, highestAddress: .max) == nil)
        #expect(space.contains(0x2000, length: 0x3000) && !space.contains(0x2000, length: 0x3001))
    }

    @Test func aReleasedRangeIsHandedOutAgain() {
        var space = DeviceAddressSpace()
        let first = space.allocate(0x3000, highestAddress: .max)
        let second = space.allocate(0x1000, highestAddress: .max)
        #expect(space.release(0x1000) == 0x3000)
        #expect(space.release(0x1000) == nil, "released once")
        #expect(space.allocate(0x4000, highestAddress: .max) == 0x5000, "too big for the hole: after the second")
        #expect(space.allocate(0x2000, highestAddress: .max) == first, "fits the hole")
        #expect(space.allocate(0x1000, highestAddress: .max) == 0x3000)
        #expect(second == 0x4000)
    }

    @Test func everyRangeEndsAtOrBelowTheHighestAddress() {
        var space = DeviceAddressSpace()
        #expect(space.allocate(0xF000, highestAddress: 0xFFFF) == 0x1000)
        #expect(space.allocate(0x1000, highestAddress: 0xFFFF) == nil, "full below 64 KiB")
        #expect(space.allocate(0x1000, highestAddress: 0x1_0FFF) == 0x1_0000)
        #expect(space.allocate(0x1000, highestAddress: 0xFFF) == nil, "not even page 0")
        #expect(space.allocate(UInt64.max, highestAddress: .max) == nil, "rounding it up overflows")
    }

    @Test func reservedRegionsAreSteppedOver() {
        var space = DeviceAddressSpace(reserved: [Self.messageWindow])
        #expect(space.allocate(0xFEDF_F000, highestAddress: 0xFFFF_FFFF) == 0x1000, "ends just below the window")
        #expect(space.allocate(0x1000, highestAddress: 0xFFFF_FFFF) == 0xFEF0_0000, "the next page after the window")
        space.reserve([0x1_0000_0000...0x1_0000_0fff, Self.messageWindow])
        #expect(space.reserved.count == 2, "a region two groups share is kept once")
        #expect(space.allocate(0x10_0000, highestAddress: .max) == 0xFEF0_1000)
        #expect(space.allocate(0x100_0000, highestAddress: .max) == 0x1_0000_1000, "past the second region")
        // A region that does not start or end on a page boundary still keeps its pages out.
        var odd = DeviceAddressSpace(reserved: [0x1800...0x2800])
        #expect(odd.allocate(0x1000, highestAddress: .max) == 0x3000)
    }

    @Test func sysfsReservedRegionsParse() {
        let text = """
        0x00000000fee00000 0x00000000feefffff msi
        0x00000000000a0000 0x00000000000bffff direct-relaxable
        garbage
        0x10 0x0f direct

        """
        #expect(DeviceAddressSpace.reservedRegions(parsing: text) == [0xfee0_0000...0xfeef_ffff, 0xa_0000...0xb_ffff])
    }

    /// What VFIOGroup.open reserves in its container: the group's file, none where it is missing.
    @Test func aGroupsReservedRegionsAreReadFromSysfs() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysfs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/kernel/iommu_groups/7", withIntermediateDirectories: true)
        try "0x00000000fee00000 0x00000000feefffff msi\n".write(toFile: root + "/kernel/iommu_groups/7/reserved_regions", atomically: true, encoding: .utf8)
        let sysfs = SysfsPCI(root: root)
        #expect(sysfs.reservedRegions(ofGroup: 7) == [Self.messageWindow])
        #expect(sysfs.reservedRegions(ofGroup: 8).isEmpty)
    }
}
