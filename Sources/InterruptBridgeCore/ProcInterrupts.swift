/// One line of /proc/interrupts: the IRQ, its per-CPU counts and the
/// description after them ("IR-PCI-MSI 49152-edge vfio-msi[0](0000:00:03.0)").
public struct ProcInterruptsLine: Sendable, Hashable {
    public var irq: String
    public var perCPU: [UInt64]
    public var description: String
    public var total: UInt64 { perCPU.reduce(0, +) }

    /// The handlers registered on the IRQ, in the kernel's order ("vfio-intx(0000:00:0d.0)",
    /// "uhci_hcd:usb1", "PCIe PME"): after the chip and the hardware IRQ with its flow
    /// ("21-fasteoi", "49152-edge"), the kernel prints the first action's name, then ", " and
    /// the next (kernel/irq/proc.c). More than one: the line is shared, and `total` counts
    /// them all. Empty: no handler.
    public var handlers: [String] {
        let words = description.split(separator: " ")
        if let flow = words.lastIndex(where: Self.isHardwareIRQAndFlow) {
            let actions = words[words.index(after: flow)...].joined(separator: " ")
            return actions.isEmpty ? [] : actions.split(separator: ", ").map(String.init)
        }
        // Without the x86 flow column: the handlers are the last words, joined by ", ".
        guard let last = words.lastIndex(where: { !$0.hasSuffix(",") }) else { return [] }
        var first = last
        while first > words.startIndex, words[words.index(before: first)].hasSuffix(",") { first = words.index(before: first) }
        return words[first...last].map { $0.hasSuffix(",") ? String($0.dropLast()) : String($0) }
    }

    /// "21-fasteoi", "49152-edge": a number, "-", a word.
    private static func isHardwareIRQAndFlow(_ word: Substring) -> Bool {
        let parts = word.split(separator: "-", maxSplits: 1)
        return parts.count == 2 && parts[0].allSatisfy(\.isNumber) && parts[1].allSatisfy(\.isLetter)
    }

    /// Parses /proc/interrupts text: a header naming the CPUs, then one line per IRQ.
    /// Lines that do not parse (ERR:, MIS:) are skipped.
    public static func parse(_ text: String) -> [ProcInterruptsLine] {
        var lines = text.split(separator: "\n")
        guard !lines.isEmpty else { return [] }
        let cpus = lines.removeFirst().split(separator: " ").count
        return lines.compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first, first.hasSuffix(":") else { return nil }
            var counts: [UInt64] = []
            var index = 1
            while index < fields.count, counts.count < cpus, let count = UInt64(fields[index]) {
                counts.append(count)
                index += 1
            }
            guard !counts.isEmpty else { return nil }
            return ProcInterruptsLine(irq: String(first.dropLast()), perCPU: counts,
                                      description: fields[index...].joined(separator: " "))
        }
    }

    /// The kernel's count for a VFIO or UIO interrupt of a device: the lines whose
    /// description names `address` and, for VFIO, the handler (`vfio-intx`,
    /// `vfio-msi[2]`, `vfio-msix[0]`); for UIO, the `uioN` name.
    public static func total(in lines: [ProcInterruptsLine], matching handler: String, address: String? = nil) -> UInt64? {
        let matches = lines.filter { line in
            line.description.split(separator: " ").contains { token in
                token.hasPrefix(handler) && (address.map { token.contains($0) } ?? true)
            }
        }
        return matches.isEmpty ? nil : matches.reduce(0) { $0 + $1.total }
    }

    /// The kernel's count for one IRQ number (a UIO device's INTx line, from sysfs `irq`).
    public static func total(in lines: [ProcInterruptsLine], irq: UInt32) -> UInt64? {
        lines.first { $0.irq == String(irq) }?.total
    }
}

/// /proc/interrupts read once and indexed by handler name and IRQ, for counting many
/// vectors from one read: a card with 2,048 MSI-X vectors has as many lines, and looking
/// each vector up by scanning them all made a sample of its counts take seconds.
public struct ProcInterruptsTable: Sendable {
    public let lines: [ProcInterruptsLine]
    /// Each handler's lines' totals, summed (a handler on two lines counts both).
    private let totalsByHandler: [String: UInt64]
    /// The first line each handler and each IRQ is on.
    private let lineByHandler: [String: Int]
    private let lineByIRQ: [String: Int]

    public init(_ lines: [ProcInterruptsLine]) {
        self.lines = lines
        var totals: [String: UInt64] = [:]
        var byHandler: [String: Int] = [:]
        var byIRQ: [String: Int] = [:]
        for (index, line) in lines.enumerated() {
            if byIRQ[line.irq] == nil { byIRQ[line.irq] = index }
            let total = line.total
            for handler in line.handlers {
                totals[handler, default: 0] &+= total
                if byHandler[handler] == nil { byHandler[handler] = index }
            }
        }
        totalsByHandler = totals
        lineByHandler = byHandler
        lineByIRQ = byIRQ
    }

    /// The count of the lines a handler is on, by its exact name ("vfio-msix[3](0000:00:07.0)").
    public func total(handler: String) -> UInt64? { totalsByHandler[handler] }

    /// The first line a handler is on.
    public func line(handler: String) -> ProcInterruptsLine? { lineByHandler[handler].map { lines[$0] } }

    /// The line of one IRQ number.
    public func line(irq: UInt32) -> ProcInterruptsLine? { lineByIRQ[String(irq)].map { lines[$0] } }
}
