// Whether an INTx line had another handler on it at any moment of a wait or a watch, so
// the kernel's count over that time is not shown as the device's own.
public import InterruptBridge
public import InterruptBridgeCore
import InterruptBridgeSystem

/// Remembers every other handler seen on the watched INTx lines since it was made.
///
/// /proc/interrupts counts a line, not a handler: while another card's handler is on the
/// same IRQ (another `irqbridge` serving a card that shares it, or a kernel driver), the
/// line's count includes that card's interrupts. A reading at the start and one at the
/// end can both show the line alone while a second user came and went in between (a
/// `trigger` on the other card raising 25 interrupts showed up as "kernel 25" on a watched
/// card that took none). `look()` reads `/sys/kernel/irq/N/actions` (one short line per
/// IRQ, cheap enough every few milliseconds) and latches what it finds; a line with
/// another handler at any look has no count of its own for the whole span.
public struct SharedLineLatch: Sendable {
    /// How often a wait or a watch looks: another `irqbridge` takes far longer than this
    /// to open a card, connect its line, raise and let go.
    public static let lookInterval: Duration = .milliseconds(10)

    /// The watched lines' IRQs.
    public let irqs: Set<UInt32>
    private let root: String
    /// The handlers seen on each IRQ at the looks that found more than one.
    public private(set) var handlers: [UInt32: [String]] = [:]
    private var nextLook: ContinuousClock.Instant

    public init(irqs: some Sequence<UInt32>, root: String = "/sys/kernel/irq") {
        self.irqs = Set(irqs)
        self.root = root
        nextLook = ContinuousClock.now + Self.lookInterval
        look()
    }

    /// A connected vector's INTx line IRQ, as `table` names it (nil: a message, or a line not
    /// in the table): what a wait or a watch hands the latch, and asks `note` about.
    public static func lineIRQ(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32?,
                               in table: ProcInterruptsTable?) -> UInt32? {
        object.kind == .intx ? table.flatMap { KernelInterruptCounts.irq(of: object, address: address, uioIRQ: uioIRQ, in: $0) } : nil
    }

    /// `look()` at most every `lookInterval`: for a loop that turns far more often.
    public mutating func lookIfDue() {
        guard !irqs.isEmpty, ContinuousClock.now >= nextLook else { return }
        look()
        nextLook = ContinuousClock.now + Self.lookInterval
    }

    /// Reads each line's handlers now and remembers any line found shared.
    public mutating func look() {
        for irq in irqs {
            guard let text = try? FileIO.readText("\(root)/\(irq)/actions") else { continue }
            let names = text.split(whereSeparator: { $0 == "," || $0 == "\n" }).map(String.init)
            guard names.count > 1 else { continue }
            var seen = handlers[irq] ?? []
            for name in names where !seen.contains(name) { seen.append(name) }
            handlers[irq] = seen
        }
    }

    /// Why `irq`'s count over the span is not the device's own, or nil: it was never seen shared.
    public func note(irq: UInt32?, during span: String) -> String? {
        guard let irq, let seen = handlers[irq] else { return nil }
        return "IRQ \(irq) was shared (\(seen.joined(separator: ", "))) during the \(span): "
            + "the kernel counts every device's interrupts on it"
    }
}
