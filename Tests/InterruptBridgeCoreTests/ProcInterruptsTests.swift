import InterruptBridgeCore
import Testing

@Suite("/proc/interrupts parsing")
struct ProcInterruptsTests {
    // As the rig's guest prints it (2 CPUs, interrupt remapping on).
    let sample = """
                   CPU0       CPU1
          0:         43          0   IO-APIC   2-edge      timer
         11:       2000          5   IO-APIC  11-fasteoi   uio_pci_generic
         24:          0       2001  IR-PCI-MSI 49152-edge      vfio-msi[0](0000:00:03.0)
         25:         10         12  IR-IO-APIC  10-fasteoi   vfio-intx(0000:00:03.0)
         26:          7          0  IR-PCI-MSIX-0000:00:04.0    0-edge      vfio-msix[0](0000:00:04.0)
         27:          0          9  IR-PCI-MSIX-0000:00:04.0    1-edge      vfio-msix[1](0000:00:04.0)
        NMI:          0          0   Non-maskable interrupts
        ERR:          0
        MIS:          0
        """

    @Test func parsesPerCPUCountsAndDescriptions() {
        let lines = ProcInterruptsLine.parse(sample)
        #expect(lines.first?.irq == "0")
        #expect(lines.first?.perCPU == [43, 0])
        #expect(lines.first?.description == "IO-APIC 2-edge timer")
        #expect(lines.contains { $0.irq == "ERR" && $0.total == 0 })
    }

    @Test func totalsMatchHandlerAndDevice() {
        let lines = ProcInterruptsLine.parse(sample)
        #expect(ProcInterruptsLine.total(in: lines, matching: "vfio-msi[", address: "0000:00:03.0") == 2001)
        #expect(ProcInterruptsLine.total(in: lines, matching: "vfio-intx", address: "0000:00:03.0") == 22)
        #expect(ProcInterruptsLine.total(in: lines, matching: "vfio-msix[", address: "0000:00:04.0") == 16)
        #expect(ProcInterruptsLine.total(in: lines, matching: "vfio-msix[1]", address: "0000:00:04.0") == 9)
        #expect(ProcInterruptsLine.total(in: lines, matching: "vfio-msi[", address: "0000:00:05.0") == nil)
        #expect(ProcInterruptsLine.total(in: lines, irq: 11) == 2005)
    }

    @Test func emptyOrGarbageGivesNoLines() {
        #expect(ProcInterruptsLine.parse("").isEmpty)
        #expect(ProcInterruptsLine.parse("CPU0\nnot a line\n  :\n").isEmpty)
    }
}
