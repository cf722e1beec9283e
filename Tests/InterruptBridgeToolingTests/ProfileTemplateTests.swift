// `irqbridge profile new`'s starting profile: it loads and fits the card as written, and
// its commented steps, once uncommented, load and fit too.
import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

@Suite struct ProfileTemplateTests {
    static let assignment = ResourceTranslator(facts: .init(onlineProcessors: ProcessorAffinity(rawValue: 1)))

    static func template(_ device: PCIDeviceInfo, name: String? = nil, policy: InterruptPolicy = .default, sizesKnown: Bool = true) -> String {
        ProfileTemplate.yaml(for: device, name: name, barSizesKnown: sizesKnown,
                             served: assignment.interruptAssignment(for: device, policy: policy))
    }

    /// The template with its commented register stimulus and acknowledge taken in, and the
    /// loopback left out: what an engineer has after filling in the offsets.
    static func uncommented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            if line.hasPrefix("  loopback:") { return nil }
            if line.hasPrefix("  # ") && !line.hasPrefix("  # For") { return "  " + line.dropFirst(4) }
            if line.hasPrefix("# acknowledge:") || line.hasPrefix("#   ") || line.hasPrefix("# quiesce:") { return String(line.dropFirst(2)) }
            return String(line)
        }.joined(separator: "\n")
    }

    @Test(arguments: [("edu", PCIDeviceInfo.edu), ("e1000e", .e1000e), ("ivshmem", .ivshmem), ("nvme", .nvme)])
    func itLoadsAndFitsTheCardAsWritten(_ label: String, _ device: PCIDeviceInfo) throws {
        let text = Self.template(device)
        let profile = try ProfileLoader.load(text, file: "\(label).yaml")
        let ids = ["edu": "1234-11e8", "e1000e": "8086-10d3", "ivshmem": "1af4-1110", "nvme": "1b36-0010"]
        #expect(profile.name == "card-" + ids[label]!)
        #expect(profile.match.matches(device))
        #expect(profile.stimulus?.comesFromDevice == false)
        #expect(profile.acknowledge == nil)
        try profile.validate(against: device)
    }

    @Test(arguments: [("edu", PCIDeviceInfo.edu), ("e1000e", .e1000e), ("ivshmem", .ivshmem), ("nvme", .nvme)])
    func itsCommentedStepsLoadAndFitOnceTakenIn(_ label: String, _ device: PCIDeviceInfo) throws {
        let profile = try ProfileLoader.load(Self.uncommented(Self.template(device)), file: "\(label).yaml")
        #expect(profile.stimulus?.comesFromDevice == true)
        #expect(profile.acknowledge != nil && profile.quiesce != nil)
        #expect(profile.canServe(.intx))
        try profile.validate(against: device)
    }

    /// As written, a card served by messages is served (the ISR claims each); one served on
    /// its line is refused until `acknowledge` is filled in, and the file says so.
    @Test func asWrittenItServesMessagesAndALineOnceAcknowledgeIsFilledIn() throws {
        for device in [PCIDeviceInfo.edu, .e1000e, .ivshmem] {
            let profile = try ProfileLoader.load(Self.template(device), file: "card.yaml")
            #expect(DeviceSession.connectRefusal(device, profile: profile, lineBased: false, underUIO: false) == nil, "\(device.address)")
        }
        var line = PCIDeviceInfo.fake(0x10ec, 0x8139, bars: [PCIBar(index: 1, address: 0xfeb0_0000, size: 0x100, space: .memory)])
        line.interruptPin = .a
        line.irqLine = 11
        let text = Self.template(line)
        #expect(text.contains("its INTx line is served once `acknowledge`"))
        let asWritten = try ProfileLoader.load(text, file: "card.yaml")
        #expect(DeviceSession.connectRefusal(line, profile: asWritten, lineBased: false, underUIO: false)?.contains("no acknowledge program") == true)
        let filledIn = try ProfileLoader.load(Self.uncommented(text), file: "card.yaml")
        try filledIn.validate(against: line)
        #expect(DeviceSession.connectRefusal(line, profile: filledIn, lineBased: false, underUIO: false) == nil)
    }

    /// Only its header was readable (no root, an `lspci -x` dump): its messages are unknown,
    /// so the file names no interrupt kinds to raise.
    @Test func unreadableCapabilitiesNameNoKinds() throws {
        var device = PCIDeviceInfo.fake(0x8086, 0x1520, bars: [PCIBar(index: 0, address: 0xfeb0_0000, size: 0x4000, space: .memory)])
        device.capabilitiesUnreadable = true
        let text = Self.template(device)
        #expect(!text.contains("# interrupts:"))
        #expect(text.contains("MSI and MSI-X unknown"))
        try ProfileLoader.load(text, file: "vf.yaml").validate(against: device)
    }

    @Test func itListsTheBARsAndInterruptsAndSaysWhatALineNeeds() {
        var e1000e = PCIDeviceInfo.e1000e
        e1000e.irqLine = 11
        let text = Self.template(e1000e, policy: InterruptPolicy(msiSupported: false))
        #expect(text.contains("# BAR 0: memory, 32-bit, 128 KiB: offsets 0x0 to 0x1ffff\n"))
        #expect(text.contains("# BAR 2: I/O ports, reached 8, 16 or 32 bits at a time, each access a system call, 32 bytes: offsets 0x0 to 0x1f\n"))
        #expect(text.contains("# Interrupts: INTx pin INTA; MSI, up to 1 message; MSI-X, 5 vectors\n"))
        #expect(text.contains("# Served as: its INTx line, unless a policy says otherwise\n"))
        #expect(text.contains("needs an `acknowledge`") || text.contains("only with an `acknowledge`"))
        #expect(text.contains("  # interrupts: [intx, msi, msix]"))
        #expect(Self.template(.ivshmem).contains("# Interrupts: MSI-X, 4 vectors\n"))
    }

    /// A UART-like card with only I/O ports (QEMU's pci-serial: 8 bytes at BAR 0, INTx): the
    /// steps name its I/O BAR, and the file with them filled in fits it.
    @Test func anIOOnlyCardsStepsNameItsIOBar() throws {
        var serial = PCIDeviceInfo.fake(0x1b36, 0x0002, classCode: 0x070002, bars: [PCIBar(index: 0, address: 0xc0c0, size: 8, space: .io)])
        serial.interruptPin = .a
        serial.irqLine = 21
        let text = Self.template(serial)
        #expect(text.contains("# BAR 0: I/O ports, reached 8, 16 or 32 bits at a time, each access a system call, 8 bytes: offsets 0x0 to 0x7\n"))
        // Byte-wide registers, as an I/O-port card's are as a rule (a UART's are).
        #expect(text.contains("#   - read: {bar: 0, offset: 0x0, width: 8}"))
        #expect(!text.contains("width: 32"))
        let filledIn = try ProfileLoader.load(Self.uncommented(text), file: "serial.yaml")
        try filledIn.validate(against: serial)
        #expect(DeviceSession.connectRefusal(serial, profile: filledIn, lineBased: false, underUIO: true) == nil)
    }

    @Test func aDumpHasNoBARSizes() throws {
        let text = Self.template(.edu, sizesKnown: false)
        #expect(text.contains("# BAR 0: memory, 32-bit, size unknown (a dump holds no sizes)\n"))
        try ProfileLoader.load(text, file: "edu.yaml").validate(against: .edu, checkingBARSizes: false)
    }

    @Test func aNameOrDescriptionWithQuotesAndColonsStaysOneString() throws {
        var device = PCIDeviceInfo.edu
        device.vendorName = "ACME: \"Labs\" #1"
        device.deviceName = "Card\nTwo\u{85}\u{9b}\u{FFFE}"
        let profile = try ProfileLoader.load(Self.template(device, name: "my: \"card\" #2"), file: "card.yaml")
        #expect(profile.name == "my: \"card\" #2")
        #expect(profile.summary == "ACME: \"Labs\" #1 Card Two   ")
    }

    @Test func aCardWithoutBARsGetsAPlaceholderToFillIn() {
        var device = PCIDeviceInfo.fake(0x1b36, 0x0005, bars: [])
        device.msi = MSICapability(offset: 0x40, messagesCapable: 1)
        let text = Self.template(device)
        #expect(text.contains("bar: N,"))
        #expect((try? ProfileLoader.load(text, file: "bare.yaml")) != nil)
    }
}
