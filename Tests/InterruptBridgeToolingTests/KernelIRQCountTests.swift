import Foundation
import InterruptBridgeTooling
import Testing

/// One IRQ's count from /sys/kernel/irq/N/per_cpu_count, read beside the ISR's counters
/// (the whole /proc/interrupts table is too slow to read for a baseline while a device
/// interrupts).
@Suite struct KernelIRQCountTests {
    static func root(_ files: [UInt32: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("irq-\(UUID().uuidString.prefix(8))").path
        for (irq, text) in files {
            try FileManager.default.createDirectory(atPath: "\(root)/\(irq)", withIntermediateDirectories: true)
            try #require(FileManager.default.createFile(atPath: "\(root)/\(irq)/per_cpu_count", contents: Data(text.utf8)))
        }
        return root
    }

    @Test func thePerProcessorFiguresAreSummed() throws {
        let root = try Self.root([24: "1,0\n", 25: "17,4000000000,3\n", 26: "7\n", 27: "1,x\n", 28: ""])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(KernelInterruptCounts.currentCount(ofIRQ: 24, root: root) == 1)
        #expect(KernelInterruptCounts.currentCount(ofIRQ: 25, root: root) == 4_000_000_020)
        #expect(KernelInterruptCounts.currentCount(ofIRQ: 26, root: root) == 7)
        #expect(KernelInterruptCounts.currentCount(ofIRQ: 27, root: root) == nil, "a field that is no number")
        #expect(KernelInterruptCounts.currentCount(ofIRQ: 28, root: root) == 0)
        #expect(KernelInterruptCounts.currentCount(ofIRQ: 99, root: root) == nil, "no such IRQ")
    }

    /// This machine's own: the same figures /proc/interrupts sums.
    @Test func thisMachinesCountsMatchTheTable() throws {
        let table = try String(contentsOfFile: "/proc/interrupts", encoding: .utf8)
        guard let line = table.split(separator: "\n").dropFirst().first(where: { $0.split(separator: " ").first?.dropLast().allSatisfy(\.isNumber) == true }),
              let irq = UInt32(line.split(separator: " ")[0].dropLast()) else { return }
        let count = try #require(KernelInterruptCounts.currentCount(ofIRQ: irq))
        let processors = line.split(separator: " ").dropFirst().prefix { UInt64($0) != nil }.compactMap { UInt64($0) }
        #expect(count >= processors.reduce(0, +), "IRQ \(irq): \(count) against the table's \(processors)")
    }
}
