// The kernel's own count for a connected vector, from /proc/interrupts, so a lost
// interrupt shows as a difference between its count and ours.
public import InterruptBridge
public import InterruptBridgeCore

public enum KernelInterruptCounts {
    /// The count /proc/interrupts keeps for `object`'s vector: VFIO names each
    /// handler "vfio-msix[3](0000:00:07.0)", "vfio-msi[0](...)", "vfio-intx(...)";
    /// a UIO device's line is its IRQ number (`uioIRQ`). Nil: not in the table
    /// (a simulated device, or a kernel that names it otherwise).
    public static func count(of object: InterruptObject, address: PCIAddress, uioIRQ: UInt32? = nil,
                             in lines: [ProcInterruptsLine]) -> UInt64? {
        if let uioIRQ { return ProcInterruptsLine.total(in: lines, irq: uioIRQ) }
        return switch object.kind {
        case .msix: ProcInterruptsLine.total(in: lines, matching: "vfio-msix[\(object.messageID)]", address: address.description)
        case .msi: ProcInterruptsLine.total(in: lines, matching: "vfio-msi[\(object.messageID)]", address: address.description)
        case .intx: ProcInterruptsLine.total(in: lines, matching: "vfio-intx", address: address.description)
        }
    }
}
