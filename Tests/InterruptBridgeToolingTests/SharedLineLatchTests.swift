import Foundation
import InterruptBridgeTooling
import Testing

/// A line another card's handler joined and left between two readings of /proc/interrupts
/// has no count of its own for the span: the latch keeps what any look saw.
@Suite struct SharedLineLatchTests {
    static func setActions(_ root: String, _ irq: UInt32, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: "\(root)/\(irq)", withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: "\(root)/\(irq)/actions", contents: Data(text.utf8)))
    }

    @Test func aHandlerThatCameAndWentLeavesItsLineSharedForTheSpan() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("irq-actions-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.setActions(root, 23, "vfio-intx(0000:00:03.0)\n")
        try Self.setActions(root, 24, "vfio-intx(0000:00:04.0)\n")
        var latch = SharedLineLatch(irqs: [23, 24, 99], root: root)
        #expect(latch.note(irq: 23, during: "wait") == nil, "alone at the first look")
        try Self.setActions(root, 23, "vfio-intx(0000:00:03.0),vfio-intx(0000:00:0b.0)\n")
        latch.look()
        try Self.setActions(root, 23, "vfio-intx(0000:00:03.0)\n")
        latch.look()
        #expect(latch.note(irq: 23, during: "wait")
                == "IRQ 23 was shared (vfio-intx(0000:00:03.0), vfio-intx(0000:00:0b.0)) during the wait: the kernel counts every device's interrupts on it")
        #expect(latch.note(irq: 24, during: "wait") == nil, "another line, alone throughout")
        #expect(latch.note(irq: 99, during: "wait") == nil, "an IRQ with no actions file is not guessed at")
        #expect(latch.note(irq: nil, during: "wait") == nil, "a message has no line")
        // Every handler seen, once each, across the looks.
        try Self.setActions(root, 23, "vfio-intx(0000:00:03.0),uio_pci_generic\n")
        latch.look()
        #expect(latch.handlers[23] == ["vfio-intx(0000:00:03.0)", "vfio-intx(0000:00:0b.0)", "uio_pci_generic"])
    }

    @Test func aLineSharedAtTheStartIsNotedAtOnce() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("irq-actions-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.setActions(root, 20, "vfio-intx(0000:00:18.0),vfio-intx(0000:00:0c.0)\n")
        let latch = SharedLineLatch(irqs: [20], root: root)
        #expect(latch.note(irq: 20, during: "watch")?.hasPrefix("IRQ 20 was shared (vfio-intx(0000:00:18.0), vfio-intx(0000:00:0c.0)) during the watch") == true)
    }
}
