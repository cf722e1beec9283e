// /proc/interrupts: the kernel's own per-IRQ counts, to check the bridge's ISR counts against.
public import InterruptBridgeCore

public enum ProcInterrupts {
    public static func read(path: String = "/proc/interrupts") throws(SystemError) -> [ProcInterruptsLine] {
        ProcInterruptsLine.parse(try FileIO.readText(path))
    }
}
