import InterruptBridgeCore
import Testing

/// DeviceAddressSpace against a brute-force model: the lowest page-aligned start at or
/// above the first page whose range touches no reserved or handed-out byte and ends at or
/// below the highest address. Small pages and a small space, so every case is reachable.
@Suite("Device address space against a brute-force model")
struct DeviceAddressSpaceModelTests {
    static func modelAllocate(_ length: UInt64, highest: UInt64, page: UInt64,
                              busy: [ClosedRange<UInt64>]) -> UInt64? {
        guard length > 0 else { return nil }
        let rounded = (length + page - 1) / page * page
        var start = page
        while start + rounded - 1 <= highest {
            let range = start...(start + rounded - 1)
            if !busy.contains(where: { $0.overlaps(range) }) { return start }
            start += page
        }
        return nil
    }

    @Test(arguments: 0..<300) func matchesTheModel(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        let page: UInt64 = 8
        var reserved: [ClosedRange<UInt64>] = []
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            let low = UInt64.random(in: 0...300, using: &random)
            reserved.append(low...(low + UInt64.random(in: 0...40, using: &random)))
        }
        var space = DeviceAddressSpace(pageSize: page, reserved: reserved)
        var handedOut: [UInt64: UInt64] = [:]
        for _ in 0..<40 {
            if !handedOut.isEmpty, Bool.random(using: &random) {
                let start = handedOut.keys.randomElement(using: &random)!
                #expect(space.release(start) == handedOut.removeValue(forKey: start))
                continue
            }
            let length = UInt64.random(in: 1...40, using: &random)
            let highest = UInt64.random(in: 0...360, using: &random)
            let busy = reserved + handedOut.map { $0...($0 + $1 - 1) }
            let expected = Self.modelAllocate(length, highest: highest, page: page, busy: busy)
            let got = space.allocate(length, highestAddress: highest)
            #expect(got == expected, "seed \(seed): \(length) bytes at or below \(highest), reserved \(reserved), busy \(busy)")
            if let got { handedOut[got] = (length + page - 1) / page * page }
            if got != expected { return }
        }
    }
}
