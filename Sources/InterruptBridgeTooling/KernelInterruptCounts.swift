// The kernel's own count for a connected vector, from /proc/interrupts, so a lost
// interrupt shows as a difference between its count and ours.
public import InterruptBridge
public import InterruptBridgeCore
import InterruptBridgeSystem

public enum KernelInterruptCounts {
    /// The count /proc/interrupts keeps for `object`'s vector: VFIO names each
    /// handler "vfio-msix[3](0000:00:07.0)", "vfio-msi[0](...)", "vfio-intx(...)";
    /// a UIO device's line is its IRQ number (`uioIRQ`). Nil: not in the table
    /// (a simulated device, or a kernel that names it otherwise).
    /// On a shared INTx line this is the line's total, every handler's interrupts: right
    /// for "did the line take any interrupt" (`UnquietedLineCheck`), wrong as the device's
    /// own count (`ownCount`).
    public static func count(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32? = nil,
                             in table: ProcInterruptsTable) -> UInt64? {
        if let uioIRQ { return table.line(irq: uioIRQ)?.total }
        return table.total(handler: handlerName(of: object, address: address))
    }

    /// The IRQ the kernel takes `object`'s interrupts on, as the table names it (nil: not
    /// in the table).
    public static func irq(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32? = nil,
                           in table: ProcInterruptsTable) -> UInt32? {
        if let uioIRQ { return uioIRQ }
        return table.line(handler: handlerName(of: object, address: address)).flatMap { UInt32($0.irq) }
    }

    /// One IRQ's count now, from `/sys/kernel/irq/N/per_cpu_count`: the per-processor
    /// figures /proc/interrupts sums, in one small file rather than the whole table, which
    /// takes milliseconds to read (far longer under emulation). A baseline taken beside a
    /// snapshot of the ISR's counters then spans the same interrupts as the snapshot, also
    /// while the device interrupts. Nil when the file cannot be read or parsed.
    public static func currentCount(ofIRQ irq: UInt32, root: String = "/sys/kernel/irq") -> UInt64? {
        guard let text = try? FileIO.readText("\(root)/\(irq)/per_cpu_count") else { return nil }
        var total: UInt64 = 0
        for field in text.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
            guard let value = UInt64(field) else { return nil }
            total += value
        }
        return total
    }

    /// `count(of:in:)` from the lines as read (indexes them once: for one vector).
    public static func count(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32? = nil,
                             in lines: [ProcInterruptsLine]) -> UInt64? {
        count(of: object, address: address, uioIRQ: uioIRQ, in: ProcInterruptsTable(lines))
    }

    /// The name vfio-pci gives the vector's handler (drivers/vfio/pci/vfio_pci_intrs.c:
    /// "vfio-msi%s[%d](%s)", "vfio-intx(%s)").
    static func handlerName(of object: InterruptObject, address: PCIAddress) -> String {
        switch object.kind {
        case .msix: "vfio-msix[\(object.messageID)](\(address))"
        case .msi: "vfio-msi[\(object.messageID)](\(address))"
        case .intx: "vfio-intx(\(address))"
        }
    }

    /// `count(of:)` when it is the device's own, nil on an INTx line shared with other
    /// handlers (`sharedLineNote` says why): what a figure shown as the device's uses.
    public static func ownCount(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32? = nil,
                                in table: ProcInterruptsTable) -> UInt64? {
        if object.kind == .intx, sharedLineNote(address: address, uioIRQ: uioIRQ, in: table) != nil { return nil }
        return count(of: object, address: address, uioIRQ: uioIRQ, in: table)
    }

    /// `ownCount(of:in:)` from the lines as read (indexes them once: for one vector).
    public static func ownCount(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32? = nil,
                                in lines: [ProcInterruptsLine]) -> UInt64? {
        ownCount(of: object, address: address, uioIRQ: uioIRQ, in: ProcInterruptsTable(lines))
    }

    /// Why the kernel's count of the device's INTx line is not the device's own, or nil: the
    /// line (VFIO's `vfio-intx(ADDRESS)` handler's, or a UIO device's IRQ) has other
    /// handlers on it, another card's driver or another irqbridge, and /proc/interrupts
    /// counts the line, not the handler.
    public static func sharedLineNote(address: PCIAddress, uioIRQ: UInt32?, in table: ProcInterruptsTable) -> String? {
        let line = uioIRQ.flatMap { table.line(irq: $0) } ?? table.line(handler: "vfio-intx(\(address))")
        guard let line, line.handlers.count > 1 else { return nil }
        return "IRQ \(line.irq) is shared (\(line.handlers.joined(separator: ", "))): the kernel counts every device's interrupts on it"
    }

    public static func sharedLineNote(address: PCIAddress, uioIRQ: UInt32?, in lines: [ProcInterruptsLine]) -> String? {
        sharedLineNote(address: address, uioIRQ: uioIRQ, in: ProcInterruptsTable(lines))
    }

    /// For a VFIO INTx vector, a note when its ISR ran far more often than the kernel took
    /// interrupts on the line, else nil. VFIO masks the line at each interrupt, and when
    /// the ISR's unmask finds the device still asserting it, signals the eventfd again
    /// without a new interrupt. A busy device that raises a new cause before the unmask
    /// does that now and then; ten such calls for every interrupt the kernel took (less
    /// `raised`, interrupts raised through VFIO's loopback, which the kernel never sees)
    /// mean the acknowledge claims without quieting the device. The loop's storm rules need
    /// not catch that: every call is claimed, at the rate the unmask round trip allows (the
    /// daemon contains such a line: `UnquietedLineCheck`).
    public static func unquietedLineNote(calls: UInt64, kernel: UInt64?, raised: UInt64 = 0) -> String? {
        guard let kernel else { return nil }
        let unexplained = calls &- min(calls, kernel &+ raised)
        // Saturating: a kernel count near UInt64.max must not trap.
        // Twenty: a `wait --count 1` on such a device ends after one interrupt the kernel took
        // and the thirty-odd re-signals of it that arrive before the wait reads its counters.
        guard unexplained >= 20, unexplained / 10 >= max(kernel, 1) else { return nil }
        return "the ISR ran \(unexplained) time(s) more than the kernel took interrupts on the line: the device still asserted it "
            + "at each unmask, so the acknowledge probably does not quiet it (clear its interrupt cause)"
    }
}
