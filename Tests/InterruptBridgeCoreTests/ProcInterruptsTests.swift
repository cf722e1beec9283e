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

    /// A shared line lists every handler after the chip, separated by ", " (kernel/irq/proc.c).
    @Test func handlersOfASharedLineAreEachNamed() {
        let lines = ProcInterruptsLine.parse("""
                       CPU0       CPU1
             21:        392          0  IR-IO-APIC  21-fasteoi   vfio-intx(0000:00:0d.0), uhci_hcd:usb1
             23:       2000          5  IR-IO-APIC  23-fasteoi   uio_pci_generic, uio_pci_generic
             25:         10         12  IR-IO-APIC  10-fasteoi   vfio-intx(0000:00:03.0)
              2:          0          0    XT-PIC  cascade
             26:          0          0  IR-IO-APIC  16-fasteoi   vfio-intx(0000:00:1c.0), PCIe PME
             27:          0          0  IR-IO-APIC  17-fasteoi   PCIe PME, vfio-intx(0000:00:1d.0)
             28:          0          0  IR-IO-APIC  18-fasteoi
             29:          7          0  IR-PCI-MSIX-0000:00:04.0    0-edge      vfio-msix[0](0000:00:04.0)
            """)
        #expect(lines[0].handlers == ["vfio-intx(0000:00:0d.0)", "uhci_hcd:usb1"])
        #expect(lines[1].handlers == ["uio_pci_generic", "uio_pci_generic"])
        #expect(lines[2].handlers == ["vfio-intx(0000:00:03.0)"])
        #expect(lines[3].handlers == ["cascade"])
        #expect(lines[4].handlers == ["vfio-intx(0000:00:1c.0)", "PCIe PME"], "a name with a space is one handler")
        #expect(lines[5].handlers == ["PCIe PME", "vfio-intx(0000:00:1d.0)"])
        #expect(lines[6].handlers == [], "no handler on the line")
        #expect(lines[7].handlers == ["vfio-msix[0](0000:00:04.0)"])
    }

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
