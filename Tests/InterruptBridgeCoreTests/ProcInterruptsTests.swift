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

    /// A card with thousands of vectors has as many lines: the table looks each handler up by
    /// its exact name ("vfio-msix[3](...)" is not "vfio-msix[30](...)"), and an IRQ by number.
    @Test func theTableFindsEachHandlerAndIRQByName() {
        var text = "                   CPU0       CPU1\n"
        for message in 0..<2048 {
            text += "  \(100 + message):  \(message)  1  IR-PCI-MSIX-0000:00:19.0  \(message)-edge  vfio-msix[\(message)](0000:00:19.0)\n"
        }
        text += "  21:  392  0  IR-IO-APIC  21-fasteoi   vfio-intx(0000:00:0d.0), uhci_hcd:usb1\n"
        let table = ProcInterruptsTable(ProcInterruptsLine.parse(text))
        #expect(table.lines.count == 2049)
        #expect(table.total(handler: "vfio-msix[3](0000:00:19.0)") == 4)
        #expect(table.total(handler: "vfio-msix[30](0000:00:19.0)") == 31)
        #expect(table.total(handler: "vfio-msix[2047](0000:00:19.0)") == 2048)
        #expect(table.total(handler: "vfio-msix[2048](0000:00:19.0)") == nil)
        #expect(table.total(handler: "vfio-msix[3](0000:00:18.0)") == nil, "another device's vector")
        #expect(table.line(handler: "uhci_hcd:usb1")?.irq == "21", "a shared line's every handler")
        #expect(table.line(handler: "vfio-intx(0000:00:0d.0)")?.handlers.count == 2)
        #expect(table.line(irq: 21)?.total == 392)
        #expect(table.line(irq: 22) == nil)

        let shared = ProcInterruptsTable(ProcInterruptsLine.parse(sample + "\n 40:  1  2  IR-IO-APIC  5-fasteoi   uio_pci_generic\n"))
        #expect(shared.total(handler: "uio_pci_generic") == 2008, "a handler on two lines counts both")
        #expect(shared.total(handler: "vfio-msi[0](0000:00:03.0)") == 2001)
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
