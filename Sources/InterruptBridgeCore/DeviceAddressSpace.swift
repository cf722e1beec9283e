// The device addresses one IOMMU address space (a VFIO container, or a simulated device)
// hands out for DMA buffers: page-aligned ranges, first fit from the lowest page, never
// address 0, never inside a reserved region (the MSI window an x86 IOMMU keeps,
// 0xfee00000-0xfeefffff), each wholly at or below the highest address its device can
// reach. A released range is handed out again.

/// Device addresses (IOVAs) handed out for DMA buffers.
public struct DeviceAddressSpace: Sendable {
    /// Granularity of every range (the IOMMU's page; 4 KiB here).
    public let pageSize: UInt64
    /// Ranges never handed out, inclusive bounds, as the kernel lists them.
    public private(set) var reserved: [ClosedRange<UInt64>] = []
    /// The ranges handed out: start -> length (a multiple of the page size).
    private var allocated: [UInt64: UInt64] = [:]

    /// The IOMMU page of x86 (and of DMA buffers here).
    public static let defaultPageSize: UInt64 = 4096

    public init(pageSize: UInt64 = defaultPageSize, reserved: [ClosedRange<UInt64>] = []) {
        precondition(pageSize > 0 && pageSize & (pageSize - 1) == 0, "a page size is a power of two")
        self.pageSize = pageSize
        reserve(reserved)
    }

    /// Never hands out an address in `ranges` (an IOMMU group's reserved regions; a
    /// container with several groups reserves each group's).
    public mutating func reserve(_ ranges: [ClosedRange<UInt64>]) {
        for range in ranges where !reserved.contains(range) { reserved.append(range) }
    }

    /// How many bytes are handed out now.
    public var allocatedBytes: UInt64 { allocated.values.reduce(0, +) }

    /// `length` rounded up to whole pages; nil when that overflows or `length` is 0.
    public func pageRounded(_ length: UInt64) -> UInt64? {
        length > 0 ? pageAligned(length) : nil
    }

    /// Hands out the lowest free range of `length` bytes (rounded up to pages) whose last
    /// byte is at or below `highestAddress`, none of it at address 0 or in a reserved
    /// region; nil when none is free.
    public mutating func allocate(_ length: UInt64, highestAddress: UInt64) -> UInt64? {
        guard let length = pageRounded(length) else { return nil }
        var candidate = pageSize  // the first page is never handed out: address 0 is a device's NULL
        for busy in busyRanges() {
            if candidate <= busy.lowerBound, busy.lowerBound - candidate >= length { break }
            guard busy.upperBound >= candidate else { continue }
            guard busy.upperBound < UInt64.max, let next = pageAligned(busy.upperBound + 1) else { return nil }
            candidate = next
        }
        let (end, overflow) = candidate.addingReportingOverflow(length - 1)
        guard !overflow, end <= highestAddress else { return nil }
        allocated[candidate] = length
        return candidate
    }

    /// Gives back a range `allocate` handed out, returning its length; nil when `start` is
    /// not the start of one.
    @discardableResult
    public mutating func release(_ start: UInt64) -> UInt64? {
        allocated.removeValue(forKey: start)
    }

    /// Whether the range of `length` bytes at `start` lies inside one range handed out.
    public func contains(_ start: UInt64, length: UInt64) -> Bool {
        allocated.contains { base, size in start >= base && length <= size && start - base <= size - length }
    }

    /// `address` rounded up to the next page boundary; nil when that overflows.
    private func pageAligned(_ address: UInt64) -> UInt64? {
        let (sum, overflow) = address.addingReportingOverflow(pageSize - 1)
        return overflow ? nil : sum & ~(pageSize - 1)
    }

    /// The reserved and handed-out ranges, lowest first.
    private func busyRanges() -> [ClosedRange<UInt64>] {
        let handedOut = allocated.map { start, length in start...(start + length - 1) }
        return (reserved + handedOut).sorted { $0.lowerBound < $1.lowerBound }
    }
}

extension DeviceAddressSpace {
    /// Parses an IOMMU group's `reserved_regions` (sysfs): one region a line, its first and
    /// last address in hex and its kind ("0x00000000fee00000 0x00000000feefffff msi").
    /// Lines that do not parse are skipped.
    public static func reservedRegions(parsing text: String) -> [ClosedRange<UInt64>] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 2, let first = hex(fields[0]), let last = hex(fields[1]), first <= last else { return nil }
            return first...last
        }
    }

    private static func hex(_ field: Substring) -> UInt64? {
        let digits = field.hasPrefix("0x") || field.hasPrefix("0X") ? field.dropFirst(2) : field
        return UInt64(digits, radix: 16)
    }
}
