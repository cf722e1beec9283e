import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore

/// The text forms of `irqbridge list`: a table, and one function in full.
enum ListOutput {
    /// One line per function.
    static func table(_ devices: [DiscoveredDevice]) -> String {
        let header = ["ADDRESS", "IDS", "DRIVER", "IRQ", "MSI", "MSI-X", "ASSIGNED", "BARS", "NAME"]
        let rows = devices.map { device -> [String] in
            let info = device.info
            return [
                info.address.description,
                hex(UInt64(info.vendorID), width: 4) + ":" + hex(UInt64(info.deviceID), width: 4),
                info.driver ?? "-",
                irqColumn(info),
                info.capabilitiesUnreadable ? "?" : info.msi.map { "\($0.messagesCapable)" + ($0.enabled ? "+" : "") } ?? "-",
                info.capabilitiesUnreadable ? "?" : info.msix.map { "\($0.tableSize)" + ($0.enabled ? "+" : "") } ?? "-",
                device.isAssignmentKnown ? assigned(device.resources) : "?",
                info.bars.isEmpty ? "-" : info.bars.map { "\($0.index):\(size($0.size))" }.joined(separator: ","),
                name(info),
            ]
        }
        let marks = Set(devices.map { irqMark($0.info) })
        let legend = [IRQMark.firmware, .msi].filter(marks.contains).map { "\($0.rawValue) \($0.meaning)\n" }.joined()
        return columns([header] + rows) + legend
    }

    /// What an IRQ in the table is not: the line Linux routed the pin to.
    enum IRQMark: String {
        case none = ""
        /// Still firmware's value (or 0): Linux routes the pin when the function is first enabled.
        case firmware = "*"
        /// The first MSI's IRQ, reported while MSI is enabled.
        case msi = "^"

        var meaning: String {
            switch self {
            case .none: ""
            case .firmware: "IRQ not routed yet: firmware's value, until the function is first enabled (e.g. opened through VFIO)"
            case .msi: "IRQ of the first MSI, reported while MSI is enabled: the INTx line is not known then"
            }
        }
    }

    static func irqMark(_ info: PCIDeviceInfo) -> IRQMark {
        guard let line = info.irqLine else { return .none }
        if info.irqLineIsMSI { return .msi }
        return info.isIRQRouted == false || (line == 0 && info.interruptPin != nil) ? .firmware : .none
    }

    static func irqColumn(_ info: PCIDeviceInfo) -> String {
        info.irqLine.map { String($0) + irqMark(info).rawValue } ?? "-"
    }

    /// Everything about one function, including every raw and translated descriptor.
    static func detail(_ device: DiscoveredDevice, facts: ResourceTranslator.SystemFacts, fromDump: Bool) -> String {
        let info = device.info
        var lines: [String] = []
        lines.append("\(info.address)  \(name(info))")
        lines.append("  ids         \(hex(UInt64(info.vendorID), width: 4)):\(hex(UInt64(info.deviceID), width: 4))"
                     + (info.subsystemVendorID.map { "  subsystem \(hex(UInt64($0), width: 4)):\(hex(UInt64(info.subsystemID ?? 0), width: 4))" } ?? "")
                     + "  class \(hex(UInt64(info.classCode), width: 6))  rev \(hex(UInt64(info.revision), width: 2))")
        lines.append("  driver      \(info.driver ?? "none")  iommu group \(info.iommuGroup.map(String.init) ?? "none")"
                     + (info.deviceNodes.vfioGroup.map { "  \($0)" } ?? "") + (info.deviceNodes.uio.map { "  \($0)" } ?? ""))
        lines.append("  INTx        " + (info.interruptPin.map { "pin \($0), " } ?? "no pin, ")
                     + (info.irqLine.map { "IRQ \($0)" } ?? "no IRQ")
                     + (info.irqLineIsMSI ? " (the MSI's: Linux reports the first MSI's IRQ while MSI is enabled; the line is not known then)" : "")
                     + (info.isIRQRouted == false
                        ? " (firmware's value: Linux routes the pin when the function is first enabled, e.g. opened through VFIO)" : "")
                     + (info.interruptPin != nil && info.irqLine == 0 && !info.irqLineIsMSI
                        ? " (not routed yet, as on a hot-added function no driver has enabled: opening it through vfio-pci routes the pin, and its line appears here)" : ""))
        for bar in info.bars {
            lines.append("  BAR \(bar.index)       \(bar.space == .io ? "I/O" : "memory") at 0x\(hex(bar.address, width: 1))"
                         + (bar.space == .memory ? (bar.is64Bit ? " 64-bit" : " 32-bit") + (bar.prefetchable ? " prefetchable" : "") : "")
                         + " [size=\(size(bar.size))]")
        }
        lines.append("  caps        " + (info.capabilitiesUnreadable ? "unreadable: \(unreadableReason(fromDump: fromDump))"
                     : info.capabilities.isEmpty ? "none"
                     : info.capabilities.map { "0x\(hex(UInt64($0.id), width: 2))@0x\(hex(UInt64($0.offset), width: 2))" }.joined(separator: " ")))
        if !info.extendedCapabilities.isEmpty {
            lines.append("  ext caps    " + info.extendedCapabilities.map {
                "0x\(hex(UInt64($0.id), width: 4))v\($0.version)@0x\(hex(UInt64($0.offset), width: 3))"
            }.joined(separator: " "))
        }
        if let msi = info.msi {
            lines.append("  MSI         at 0x\(hex(UInt64(msi.offset), width: 2)): \(msi.enabled ? "enabled" : "disabled"), \(msi.messagesEnabled)/\(msi.messagesCapable) messages, "
                         + "\(msi.is64BitAddress ? "64" : "32")-bit address, \(msi.perVectorMasking ? "" : "no ")per-vector masking, "
                         + "address 0x\(hex(msi.messageAddress, width: 16)) data 0x\(hex(UInt64(msi.messageData), width: 4))")
        }
        if let msix = info.msix {
            lines.append("  MSI-X       at 0x\(hex(UInt64(msix.offset), width: 2)): \(msix.enabled ? "enabled" : "disabled"), \(msix.tableSize) entries\(msix.functionMasked ? ", masked" : ""), "
                         + "table BAR \(msix.tableBAR)+0x\(hex(UInt64(msix.tableOffset), width: 1)), PBA BAR \(msix.pbaBAR)+0x\(hex(UInt64(msix.pbaOffset), width: 1))")
        }
        let policy = device.policy
        lines.append("  policy      MSISupported=\(policy.msiSupported) MessageNumberLimit=\(policy.messageNumberLimit.map(String.init) ?? "none") "
                     + "PreferMSIX=\(policy.preferMSIX) DevicePriority=\(policy.devicePriority.rawValue)"
                     + (policy.affinityOverride.map { " AssignmentSetOverride=\($0)" } ?? "")
                     + (device.info.driver == "uio_pci_generic" && info.interruptPin != nil ? " (uio_pci_generic: INTx only)" : ""))
        lines.append("  assigned    " + (device.isAssignmentKnown ? assigned(device.resources) + unassignedReason(device) : "not known: MSI and MSI-X are in the unreadable capabilities")
                     + "  (online processors \(facts.onlineProcessors))")
        for (title, list, kind) in [("raw", device.resources.raw, DescriptorJSON.List.raw), ("translated", device.resources.translated, .translated)] {
            lines.append("  \(title) resources (\(list.count)\(device.isAssignmentKnown ? "" : ", BARs only: interrupts not known")):")
            for (index, descriptor) in list.enumerated() {
                lines.append("    [\(index)] " + describe(descriptor, list: kind))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why a function's capabilities could not be read, for `caps` and the listing's warning.
    static func unreadableReason(fromDump: Bool) -> String {
        fromDump ? "the dump has only the 64-byte header (`lspci -xxx` or `lspci -xxxx` dumps capabilities)"
            : "the kernel shows only the 64-byte header of config space to a reader without root"
    }

    static func describe(_ descriptor: ResourceDescriptor, list: DescriptorJSON.List) -> String {
        let head = "\(WDKNames.type(descriptor.type)) \(WDKNames.share(descriptor.shareDisposition)) Flags=0x\(hex(UInt64(descriptor.flags), width: 4))"
        switch descriptor.payload {
        case let .memory(start, length):
            return head + " u.Memory.Start=0x\(hex(start, width: 1)) Length=0x\(hex(length, width: 1))"
        case let .port(start, length):
            return head + " u.Port.Start=0x\(hex(start, width: 1)) Length=0x\(hex(UInt64(length), width: 1))"
        case let .interrupt(line):
            return head + " u.Interrupt.Level=\(line.level) Vector=\(line.vector) Affinity=\(line.affinity)"
        case let .messageInterrupt(message):
            switch list {
            case .raw:
                return head + " u.MessageInterrupt.Raw.MessageCount=\(message.raw.messageCount) Vector=\(message.raw.vector) Affinity=\(message.raw.affinity)"
            case .translated:
                let translated = message.translated
                return head + " u.MessageInterrupt.Translated.Level=\(translated.level) Vector=0x\(hex(UInt64(translated.vector), width: 8)) Affinity=\(translated.affinity)"
            }
        }
    }

    /// Why a function with a pin got no interrupt descriptor (empty when it got one, or has no pin).
    static func unassignedReason(_ device: DiscoveredDevice) -> String {
        let info = device.info
        guard device.resources.interruptKind == nil, info.interruptPin != nil else { return "" }
        if info.irqLineIsMSI {
            return " (its line is not known while the kernel's driver has MSI on, and the policy allows no messages: "
                + "bound to vfio-pci, whose open turns MSI off, it shows)"
        }
        if (info.irqLine ?? 0) == 0 { return " (its pin is not routed yet: see INTx)" }
        return ""
    }

    /// "MSI-X x3 DIRQL 8", "INTx 11 DIRQL 5", or "-".
    static func assigned(_ resources: ResourceAssignment) -> String {
        guard let kind = resources.interruptKind else { return "-" }
        let interrupts = resources.translatedInterrupts
        var level: UInt16 = 0
        var messages = 0
        var line: UInt32 = 0
        for descriptor in interrupts {
            switch descriptor.payload {
            case .interrupt(let interrupt): (level, line) = (interrupt.level, interrupt.vector)
            case .messageInterrupt(let message): (level, messages) = (message.translated.level, messages + Int(message.raw.messageCount))
            default: break
            }
        }
        return kind == .intx ? "INTx \(line) DIRQL \(level)" : "\(kind) x\(messages) DIRQL \(level)"
    }

    static func name(_ info: PCIDeviceInfo) -> String {
        [info.vendorName, info.deviceName ?? info.className].compactMap { $0 }.joined(separator: " ")
    }

    /// Sizes as lspci prints them: 512K, 1M, 32 (bytes), "?" when unknown.
    static func size(_ bytes: UInt64) -> String {
        guard bytes > 0 else { return "?" }
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] where bytes >= UInt64(1) << UInt64(shift) && bytes % (UInt64(1) << UInt64(shift)) == 0 {
            return "\(bytes >> UInt64(shift))\(unit)"
        }
        return "\(bytes)"
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    static func columns(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
