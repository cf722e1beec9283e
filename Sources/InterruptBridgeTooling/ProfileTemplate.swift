// A starting profile for a card no profile knows, from what discovery read of it: its
// ids to match, its BARs and interrupts as comments, VFIO's loopback as the stimulus
// until the card's own registers are filled in, and the acknowledge to write.
public import InterruptBridgeCore

public enum ProfileTemplate {
    /// The YAML of a profile for `device` that loads as it is (raised through VFIO's
    /// loopback, acknowledging nothing) and says, in comments, what to fill in for the
    /// card to raise its own interrupts and for its INTx line to be served.
    ///
    /// - Parameters:
    ///   - name: the profile's name; `card-VVVV-DDDD` by default.
    ///   - barSizesKnown: false for a device read from an `lspci -x` dump (no sizes).
    ///   - served: how the policy serves the device (`ResourceTranslator.interruptAssignment`).
    public static func yaml(for device: PCIDeviceInfo, name: String? = nil, barSizesKnown: Bool = true,
                            served: (kind: InterruptKind, count: Int)?) -> String {
        let ids = "\(hex(device.vendorID)):\(hex(device.deviceID))"
        // Names from pci.ids or a dump: one line, whatever they hold.
        let title = String([device.vendorName, device.deviceName].compactMap { $0 }.joined(separator: " ").map { Self.isControl($0) ? " " : $0 })
        var lines: [String] = []
        lines.append("# A profile for \(device.address) (\(ids)\(title.isEmpty ? "" : ", " + title)), written by `irqbridge profile new`.")
        lines.append("# As it is, VFIO's loopback trigger raises its interrupts (they do not come from the card) and its")
        if served?.kind == .intx {
            lines.append("# ISR touches nothing, which serves messages only: its INTx line is served once `acknowledge`")
            lines.append("# quiets the card. Fill in `acknowledge` and `raise` from the card's documentation.")
        } else {
            lines.append("# ISR claims each one without touching the card. Fill in `raise` and `acknowledge` from the card's")
            lines.append("# documentation (its INTx line, if served, needs `acknowledge`).")
        }
        lines.append("# Then: irqbridge profile check FILE --device \(device.address)")
        lines.append("#")
        lines.append(contentsOf: barLines(device, sizesKnown: barSizesKnown).map { "# " + $0 })
        lines.append(contentsOf: interruptLines(device, served: served).map { "# " + $0 })
        lines.append("name: \(name.map(quoted) ?? "card-\(hex(device.vendorID))-\(hex(device.deviceID))")")
        lines.append("description: \(quoted(title.isEmpty ? "PCI function \(ids)" : title))")
        lines.append("match: {vendor: 0x\(hex(device.vendorID)), device: 0x\(hex(device.deviceID))}")
        if let vendor = device.subsystemVendorID, let subsystem = device.subsystemID, vendor != 0 || subsystem != 0 {
            lines.append("# For this board only, add to match: subsystem_vendor: 0x\(hex(vendor)), subsystem: 0x\(hex(subsystem))")
        }
        let suggested = suggestedBAR(device, sizesKnown: barSizesKnown)
        let bar = suggested.map(String.init) ?? "N"
        // An I/O-port card (no memory BAR) has byte-wide registers as a rule (an NE2000's are).
        let width = device.bars.first { $0.index == suggested }?.space == .io ? 8 : 32
        let kinds = offeredKinds(device)
        // Code, then its comment at one column, so the commented steps line up.
        func line(_ code: String, _ comment: String? = nil) {
            guard let comment else { lines.append(code); return }
            lines.append(code + String(repeating: " ", count: max(1, 50 - code.count)) + "# " + comment)
        }
        line("stimulus:")
        line("  loopback: true", "VFIO's loopback trigger")
        line("  # For the card to raise them itself, replace `loopback: true` with its registers:")
        if !kinds.isEmpty { line("  # interrupts: [\(kinds.joined(separator: ", "))]", "the kinds it raises") }
        line("  # setup:", "once, after connecting: enable the source")
        line("  #   - write: {bar: \(bar), offset: 0x0, width: \(width)}")
        line("  #     value: 0x1")
        line("  # raise:", "per interrupt; `vector`: its message number")
        line("  #   - write: {bar: \(bar), offset: 0x0, width: \(width)}", "set an interrupt cause")
        line("  #     value: 1 << vector")
        line("# acknowledge:", device.interruptPin == nil ? "what the ISR does (messages need none)" : "what the ISR does: its INTx line needs one")
        line("#   - read: {bar: \(bar), offset: 0x0, width: \(width)}", "interrupt status")
        line("#     into: status")
        line("#   - if_zero: status")
        line("#     return: unclaimed", "nothing pending: another card's (a shared line)")
        line("#   - write: {bar: \(bar), offset: 0x0, width: \(width)}", "clear the causes it read")
        line("#     value: status")
        line("#   - return: claimed")
        line("# quiesce:", "before connecting: clear what was left pending")
        line("#   - read: {bar: \(bar), offset: 0x0, width: \(width)}")
        line("#     into: status")
        line("#   - write: {bar: \(bar), offset: 0x0, width: \(width)}")
        line("#     value: status")
        return lines.joined(separator: "\n") + "\n"
    }

    static func barLines(_ device: PCIDeviceInfo, sizesKnown: Bool) -> [String] {
        let bars = device.bars.filter { $0.size > 0 || !sizesKnown }
        guard !bars.isEmpty else { return ["BARs: none, so a profile can raise and acknowledge nothing through registers"] }
        return bars.map { bar in
            let width = bar.is64Bit ? "64-bit" : "32-bit"
            switch bar.space {
            case .io:
                let what = "BAR \(bar.index): I/O ports, reached 8, 16 or 32 bits at a time, each access a system call"
                guard sizesKnown else { return what + ", size unknown (a dump holds no sizes)" }
                return what + ", \(bar.size) bytes: offsets 0x0 to 0x\(String(bar.size - 1, radix: 16))"
            case .memory:
                let what = "BAR \(bar.index): memory, \(width)\(bar.prefetchable ? ", prefetchable" : "")"
                guard sizesKnown else { return what + ", size unknown (a dump holds no sizes)" }
                return what + ", \(ByteSize.text(bar.size)): offsets 0x0 to 0x\(String(bar.size - 1, radix: 16))"
            }
        }
    }

    static func interruptLines(_ device: PCIDeviceInfo, served: (kind: InterruptKind, count: Int)?) -> [String] {
        var lines: [String] = []
        var has: [String] = []
        if let pin = device.interruptPin { has.append("INTx pin \(pin)") }
        if device.capabilitiesUnreadable {
            has.append("MSI and MSI-X unknown (only its config header was readable)")
        } else {
            if let msi = device.msi { has.append("MSI, up to \(msi.messagesCapable) message\(msi.messagesCapable == 1 ? "" : "s")") }
            if let msix = device.msix { has.append("MSI-X, \(msix.tableSize) vector\(msix.tableSize == 1 ? "" : "s")") }
        }
        lines.append("Interrupts: " + (has.isEmpty ? "none" : has.joined(separator: "; ")))
        if let served {
            let kind = served.kind == .intx ? "its INTx line" : "\(served.kind) x\(served.count)"
            lines.append("Served as: \(kind), unless a policy says otherwise")
            if served.kind == .intx {
                lines.append("Its line is served only with an `acknowledge` that quiets the card: fill in the one below first.")
            }
        }
        return lines
    }

    /// The kinds of interrupt the device offers, as a stimulus's `interrupts` names them
    /// (none when its capabilities were unreadable: its messages are not known).
    static func offeredKinds(_ device: PCIDeviceInfo) -> [String] {
        device.capabilitiesUnreadable ? [] : DeviceProfile.kinds(on: device).map(\.rawValue)
    }

    /// The BAR the commented steps name: the first memory BAR, else the first I/O one.
    static func suggestedBAR(_ device: PCIDeviceInfo, sizesKnown: Bool) -> Int? {
        let implemented = device.bars.filter { $0.size > 0 || !sizesKnown }
        return (implemented.first { $0.space == .memory } ?? implemented.first)?.index
    }

    static func hex(_ value: UInt16) -> String { InterruptBridgeCore.hex(UInt64(value), width: 4) }

    /// Whether YAML cannot carry the character in a line (a comment or a quoted scalar):
    /// anything outside YAML's printable set, and line breaks.
    static func isControl(_ character: Character) -> Bool {
        character.isNewline || character.unicodeScalars.contains { scalar in
            let value = scalar.value
            let printable = (0x20...0x7e).contains(value) || value == 0x85 || (0xa0...0xd7ff).contains(value)
                || (0xe000...0xfffd).contains(value) || value >= 0x1_0000
            return !printable
        }
    }

    /// A YAML double-quoted scalar (a vendor's name may hold `:` or `#`).
    static func quoted(_ text: String) -> String {
        var quoted = "\""
        for character in text {
            if character == "\\" || character == "\"" { quoted.append("\\") }
            quoted.append(isControl(character) ? " " : character)
        }
        return quoted + "\""
    }
}
