import Foundation
import InterruptBridgeDiscovery
import Testing

/// `irqbridge list`'s platform header: what the files say, and a warning per missing piece.
@Suite("IOMMU and interrupt-remapping state")
struct IOMMUStateTests {
    static let remappedInterrupts = """
                   CPU0       CPU1
         24:          0          0  IR-PCI-MSIX-0000:00:07.0    0-edge      vfio-msix[0](0000:00:07.0)
        """
    static let plainInterrupts = """
                   CPU0       CPU1
         24:          0          0  PCI-MSI-0000:00:03.0    0-edge      vfio-msi[0](0000:00:03.0)
        """

    @Test func aSafeMachineHasNoWarnings() {
        let state = IOMMUState.parse(units: ["dmar0"], groupCount: 12, procInterrupts: Self.remappedInterrupts, allowUnsafeInterrupts: false,
                                     noIOMMUMode: false, commandLine: "BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on iommu=pt vfio-pci.ids=8086:10d3 quiet")
        #expect(state.interruptRemapping == true)
        #expect(state.commandLine == ["intel_iommu=on", "iommu=pt", "vfio-pci.ids=8086:10d3"])
        #expect(state.problems.isEmpty)
        #expect(state.summary.hasPrefix("IOMMU: dmar0, 12 group(s); interrupt remapping on; allow_unsafe_interrupts N; no-IOMMU mode off"))
    }

    @Test func eachMissingPieceIsOneWarning() {
        let state = IOMMUState.parse(units: [], groupCount: 0, procInterrupts: Self.plainInterrupts, allowUnsafeInterrupts: true,
                                     noIOMMUMode: true, commandLine: "root=/dev/sda1")
        #expect(state.interruptRemapping == false)
        #expect(state.problems.count == 4)
        #expect(state.problems[0].contains("intel_iommu=on"))
        #expect(state.problems[1].contains("not remapped"))
        #expect(state.problems[2].contains("allow_unsafe_interrupts=1"))
        #expect(state.problems[3].contains("no-IOMMU mode"))
        #expect(state.summary.contains("kernel command line: no IOMMU or vfio options"))
    }

    /// The rig's guest with every device idle (as captured there): no device MSI is
    /// allocated, the IO-APIC's lines are remapped, and the IOMMU's own DMAR-MSI is not.
    @Test func remappedIOAPICLinesSayOnWhenNoDeviceMSIIsAllocated() {
        let idle = """
                       CPU0       CPU1
              0:        105          0  IR-IO-APIC   2-edge      timer
              9:          0          0  IR-IO-APIC   9-fasteoi   acpi
             24:          0          0  DMAR-MSI   0-edge      dmar0
            NMI:          0          0   Non-maskable interrupts
            """
        let state = IOMMUState.parse(units: ["dmar0"], groupCount: 7, procInterrupts: idle, allowUnsafeInterrupts: false,
                                     noIOMMUMode: nil, commandLine: "intel_iommu=on")
        #expect(state.interruptRemapping == true)
        #expect(state.problems.isEmpty)
        // Without remapping the same machine shows plain chips; the DMAR-MSI line alone says nothing.
        let plain = IOMMUState.parse(units: ["dmar0"], groupCount: 7, procInterrupts: idle.replacingOccurrences(of: "IR-IO-APIC", with: "IO-APIC"),
                                     allowUnsafeInterrupts: false, noIOMMUMode: nil, commandLine: "intel_iommu=on")
        #expect(plain.interruptRemapping == false)
        let onlyTheIOMMU = IOMMUState.parse(units: ["dmar0"], groupCount: 7, procInterrupts: "24:  0  0  DMAR-MSI   0-edge      dmar0",
                                            allowUnsafeInterrupts: nil, noIOMMUMode: nil, commandLine: "")
        #expect(onlyTheIOMMU.interruptRemapping == nil)
    }

    @Test func unknownWhenNothingSays() {
        let state = IOMMUState.parse(units: ["dmar0"], groupCount: 3, procInterrupts: "", allowUnsafeInterrupts: nil, noIOMMUMode: nil, commandLine: "")
        #expect(state.interruptRemapping == nil)
        #expect(state.problems.isEmpty)
        #expect(state.summary.contains("interrupt remapping unknown; allow_unsafe_interrupts unknown"))
    }
}
