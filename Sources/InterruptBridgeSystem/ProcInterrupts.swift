// /proc/interrupts: the kernel's own per-IRQ counts, to check the bridge's ISR counts against.
public import InterruptBridgeCore

public enum ProcInterrupts {
    public static func read(path: String = "/proc/interrupts") throws(SystemError) -> [ProcInterruptsLine] {
        ProcInterruptsLine.parse(try FileIO.readText(path))
    }

    /// The table read and indexed once, for looking up many vectors' counts.
    public static func readTable(path: String = "/proc/interrupts") throws(SystemError) -> ProcInterruptsTable {
        ProcInterruptsTable(try read(path: path))
    }
}
