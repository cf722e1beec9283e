// What a machine needs before a device can be given to vfio-pci safely: an IOMMU
// (on in firmware and on the kernel command line), IOMMU groups, interrupt
// remapping, and whether VFIO was told to do without them.
import InterruptBridgeSystem

/// The platform's IOMMU and interrupt-remapping state, as `irqbridge list` shows it.
public struct IOMMUState: Sendable, Equatable, Codable {
    /// IOMMU units the kernel registered (/sys/class/iommu: "dmar0", "ivhd0").
    public var units: [String]
    /// IOMMU groups (/sys/kernel/iommu_groups); 0 when no IOMMU is in use.
    public var groupCount: Int
    /// Whether interrupts go through interrupt remapping, from the chips named in
    /// /proc/interrupts: a device MSI on a plain "PCI-MSI" chip says no; otherwise an
    /// "IR-PCI-MSI" or "IR-IO-APIC" chip says yes (the IO-APIC's lines show it even when
    /// no device MSI is allocated), a plain "IO-APIC" no. The IOMMU's own fault interrupt
    /// ("DMAR-MSI") is never remapped and says nothing. nil when nothing showed either way.
    public var interruptRemapping: Bool?
    /// vfio_iommu_type1's allow_unsafe_interrupts (nil: module not loaded).
    public var allowUnsafeInterrupts: Bool?
    /// vfio's enable_unsafe_noiommu_mode (nil: module not loaded).
    public var noIOMMUMode: Bool?
    /// The IOMMU-related words of the kernel command line (intel_iommu=, amd_iommu=,
    /// iommu=, vfio-pci.ids=, vfio_iommu_type1.*, vfio.*).
    public var commandLine: [String]

    public init(units: [String], groupCount: Int, interruptRemapping: Bool?, allowUnsafeInterrupts: Bool?, noIOMMUMode: Bool?,
                commandLine: [String]) {
        self.units = units
        self.groupCount = groupCount
        self.interruptRemapping = interruptRemapping
        self.allowUnsafeInterrupts = allowUnsafeInterrupts
        self.noIOMMUMode = noIOMMUMode
        self.commandLine = commandLine
    }

    /// Reads the live system (each missing file is "unknown", never an error).
    public static func read(root: String = "") -> IOMMUState {
        func text(_ path: String) -> String? { try? FileIO.readText(root + path) }
        func flag(_ path: String) -> Bool? {
            text(path).map { $0.trimmingPrefix(while: \.isWhitespace).first == "Y" || $0.hasPrefix("1") }
        }
        return parse(units: (try? FileIO.listDirectory(root + "/sys/class/iommu")) ?? [],
                     groupCount: ((try? FileIO.listDirectory(root + "/sys/kernel/iommu_groups")) ?? []).count,
                     procInterrupts: text("/proc/interrupts") ?? "",
                     allowUnsafeInterrupts: flag("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"),
                     noIOMMUMode: flag("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"),
                     commandLine: text("/proc/cmdline") ?? "")
    }

    /// Builds the state from what the files said.
    public static func parse(units: [String], groupCount: Int, procInterrupts: String, allowUnsafeInterrupts: Bool?,
                             noIOMMUMode: Bool?, commandLine: String) -> IOMMUState {
        let lines = procInterrupts.split(separator: "\n")
        let plainMSI = lines.contains { $0.contains("PCI-MSI") && !$0.contains("IR-PCI-MSI") }
        let remapped = lines.contains { $0.contains("IR-PCI-MSI") || $0.contains("IR-IO-APIC") }
        let plainIOAPIC = lines.contains { $0.contains("IO-APIC") && !$0.contains("IR-IO-APIC") }
        let remapping: Bool? = plainMSI ? false : remapped ? true : plainIOAPIC ? false : nil
        let prefixes = ["intel_iommu=", "amd_iommu=", "iommu=", "iommu.", "vfio-pci.", "vfio_pci.", "vfio_iommu_type1.", "vfio.", "intremap="]
        let words = commandLine.split(whereSeparator: \.isWhitespace).map(String.init).filter { word in prefixes.contains { word.hasPrefix($0) } }
        return IOMMUState(units: units.sorted(), groupCount: groupCount, interruptRemapping: remapping,
                          allowUnsafeInterrupts: allowUnsafeInterrupts, noIOMMUMode: noIOMMUMode, commandLine: words)
    }

    /// What is missing before binding to vfio-pci is safe, one sentence each (empty: nothing).
    public var problems: [String] {
        var problems: [String] = []
        if units.isEmpty || groupCount == 0 {
            problems.append("no IOMMU in use: enable VT-d / AMD-Vi in the firmware and boot with intel_iommu=on (or amd_iommu=on) iommu=pt")
        }
        if interruptRemapping == false {
            problems.append("MSIs are not remapped: a device could forge interrupts to other devices' vectors (VFIO refuses it unless allow_unsafe_interrupts)")
        }
        if allowUnsafeInterrupts == true {
            problems.append("vfio_iommu_type1.allow_unsafe_interrupts=1: VFIO accepts a platform without interrupt remapping")
        }
        if noIOMMUMode == true {
            problems.append("VFIO no-IOMMU mode is on: devices can DMA anywhere in memory; it taints the kernel and is for trusted devices only")
        }
        return problems
    }

    /// Two or three lines for the top of `irqbridge list`.
    public var summary: String {
        func state(_ value: Bool?, _ on: String, _ off: String) -> String { value.map { $0 ? on : off } ?? "unknown" }
        var lines = ["IOMMU: " + (units.isEmpty ? "none" : units.joined(separator: ", ")) + ", \(groupCount) group(s); "
                     + "interrupt remapping \(state(interruptRemapping, "on", "off")); "
                     + "allow_unsafe_interrupts \(state(allowUnsafeInterrupts, "Y", "N")); no-IOMMU mode \(state(noIOMMUMode, "on", "off"))"]
        lines.append("kernel command line: " + (commandLine.isEmpty ? "no IOMMU or vfio options" : commandLine.joined(separator: " ")))
        lines += problems.map { "warning: " + $0 }
        return lines.joined(separator: "\n")
    }
}
