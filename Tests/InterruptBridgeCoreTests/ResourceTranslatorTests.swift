import InterruptBridgeCore
import Testing

@Suite struct ResourceTranslatorTests {
    let translator = ResourceTranslator(facts: .init(onlineProcessors: .first(2)))
    let address = PCIAddress(bus: 0, device: 3, function: 0)

    @Test func msixPreferredAndOneDescriptorPerMessage() {
        let device = PCIDeviceInfo(address: address, vendorID: 0x1af4, deviceID: 0x1041, interruptPin: .a, irqLine: 11,
                                   msi: MSICapability(offset: 0x50, messagesCapable: 4),
                                   msix: MSIXCapability(offset: 0x98, tableSize: 3, tableBAR: 0, tableOffset: 0x8000, pbaBAR: 0, pbaOffset: 0x48000))
        let resources = translator.resources(for: device)
        #expect(resources.interruptKind == .msix)
        #expect(resources.translatedInterrupts.count == 3)
        for (index, descriptor) in resources.translatedInterrupts.enumerated() {
            #expect(descriptor.flags == InterruptFlags.latched | InterruptFlags.message)
            guard case .messageInterrupt(let message) = descriptor.payload else { Issue.record("not a message"); continue }
            #expect(message.raw.messageCount == 1)
            #expect(message.translated.vector == ResourceTranslator.messageVector(address, message: index))
            #expect(message.translated.level == 8)
            #expect(message.translated.affinity == .first(2))
        }
    }

    @Test func msiIsOneDescriptorWithMessageCountRoundedToPowerOfTwo() {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2, msi: MSICapability(offset: 0x50, messagesCapable: 8))
        let resources = translator.resources(for: device, policy: .init(messageNumberLimit: 6))
        #expect(resources.interruptKind == .msi)
        #expect(resources.translatedInterrupts.count == 1)
        guard case .messageInterrupt(let message)? = resources.translatedInterrupts.first?.payload else { Issue.record("no message"); return }
        #expect(message.raw.messageCount == 4)
    }

    /// AssignmentSetOverride is taken on the online processors: the part of it that is
    /// online, or, when none of it is, the affinity it would have had without it.
    @Test(arguments: [(UInt64(0x6), UInt64(0x2)), (0x100, 0x3), (0x1, 0x1)])
    func anAffinityOverrideKeepsToOnlineProcessors(override: UInt64, expected: UInt64) {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2, interruptPin: .a, irqLine: 10,
                                   msi: MSICapability(offset: 0x50, messagesCapable: 1))
        for msi in [true, false] {
            let resources = translator.resources(for: device, policy: .init(msiSupported: msi, affinityOverride: ProcessorAffinity(rawValue: override)))
            let affinities = resources.translatedInterrupts.map { descriptor -> UInt64 in
                switch descriptor.payload {
                case .interrupt(let line): line.affinity.rawValue
                case .messageInterrupt(let message): message.translated.affinity.rawValue
                default: 0
                }
            }
            #expect(affinities == [expected], "MSI \(msi)")
        }
    }

    /// Unreadable capabilities (no root, an `lspci -x` dump) may hide MSI or MSI-X: no
    /// interrupt is assigned from them, except the line a policy without messages gets.
    @Test func unreadableCapabilitiesAssignNothingUnlessThePolicyAllowsOnlyTheLine() {
        var device = PCIDeviceInfo(address: address, vendorID: 0x1234, deviceID: 0x11e8,
                                   bars: [PCIBar(index: 0, address: 0xfe80_0000, size: 0x10_0000, space: .memory)], interruptPin: .a, irqLine: 10)
        device.capabilitiesUnreadable = true
        let unknown = translator.resources(for: device)
        #expect(unknown.interruptKind == nil)
        #expect(unknown.raw.count == 1 && unknown.translatedInterrupts.isEmpty, "the BAR only")
        #expect(translator.resources(for: device, policy: .init(msiSupported: false)).interruptKind == .intx)
        device.capabilitiesUnreadable = false
        #expect(translator.resources(for: device).interruptKind == .intx)
    }

    /// While MSI is on, Linux reports the MSI's IRQ where the line's would be: no line is
    /// assigned from it (the line is not known then).
    @Test func anIRQThatIsTheMSIsIsNotTakenForTheLine() {
        var device = PCIDeviceInfo(address: address, vendorID: 0x8086, deviceID: 0x2922, interruptPin: .a, irqLine: 31,
                                   msi: MSICapability(offset: 0x80, messagesCapable: 1, enabled: true))
        device.irqLineIsMSI = true
        #expect(translator.resources(for: device, policy: .init(msiSupported: false)).interruptKind == nil)
        #expect(translator.resources(for: device).interruptKind == .msi)
        device.irqLineIsMSI = false
        #expect(translator.resources(for: device, policy: .init(msiSupported: false)).interruptKind == .intx)
    }

    @Test func msiDisallowedFallsBackToSharedLevelSensitiveLine() {
        let device = PCIDeviceInfo(address: address, vendorID: 0x1234, deviceID: 0x11e8, interruptPin: .a, irqLine: 10,
                                   msi: MSICapability(offset: 0x40, messagesCapable: 1))
        let resources = translator.resources(for: device, policy: .init(msiSupported: false, devicePriority: .high))
        #expect(resources.interruptKind == .intx)
        let line = resources.translatedInterrupts[0]
        #expect(line.shareDisposition == .shared)
        #expect(line.flags == InterruptFlags.levelSensitive)
        #expect(line.payload == .interrupt(.init(level: 7, vector: 10, affinity: .first(2))))
        #expect(resources.raw.last?.payload == .interrupt(.init(level: 10, vector: 10, affinity: .first(2))))
    }

    @Test func unroutedPinGivesNoInterrupt() {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2, interruptPin: .a, irqLine: 255)
        #expect(translator.resources(for: device).interruptKind == nil)
        #expect(translator.resources(for: device).translatedInterrupts.isEmpty)
    }

    @Test func barsBecomeMemoryAndPortDescriptors() {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2, bars: [
            PCIBar(index: 0, address: 0xfe00_0000, size: 0x10_0000, space: .memory),
            PCIBar(index: 2, address: 0xc000, size: 0x40, space: .io),
            PCIBar(index: 4, address: 0x80_0000_0000, size: 0x2_0000_0000, space: .memory, is64Bit: true, prefetchable: true),
        ])
        let list = translator.resources(for: device).translated
        #expect(list.map(\.type) == [.memory, .port, .memoryLarge])
        #expect(list[2].flags & MemoryFlags.prefetchable != 0)
        #expect(list[1].payload == .port(start: 0xc000, length: 0x40))
    }

    /// Linux IRQ numbers are unsigned ints and go past 65535 on large machines; the raw
    /// list's u.Interrupt.Level is a USHORT. The line still translates (no trap), its
    /// Vector carrying the whole IRQ in both lists, the raw Level saturated.
    @Test func aLineBeyondAUSHORTTranslatesWithItsVectorWhole() {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2, interruptPin: .a, irqLine: 70_000)
        let resources = translator.resources(for: device)
        #expect(resources.interruptKind == .intx)
        #expect(resources.raw.last?.payload == .interrupt(.init(level: 0xffff, vector: 70_000, affinity: .first(2))))
        #expect(resources.translated.last?.payload == .interrupt(.init(level: 5, vector: 70_000, affinity: .first(2))))
    }

    /// MSI-X has at most 2048 table entries (an 11-bit Table Size); a function claiming more
    /// (a hand-built or simulated one) gets 2048 descriptors, each translated vector naming
    /// one message: message 2048 would otherwise share message 0's vector.
    @Test func msixBeyondTheSpecificationsTableSizeGetsDistinctVectors() {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2,
                                   msix: MSIXCapability(offset: 0x60, tableSize: 4096, tableBAR: 0, tableOffset: 0, pbaBAR: 0, pbaOffset: 0x10000))
        let resources = translator.resources(for: device)
        let vectors = resources.translatedInterrupts.compactMap { descriptor -> UInt32? in
            guard case .messageInterrupt(let message) = descriptor.payload else { return nil }
            return message.translated.vector
        }
        #expect(vectors.count == 2048)
        #expect(Set(vectors).count == vectors.count, "each translated vector names one message")
    }

    /// A memory window beyond 4 GiB that is not a multiple of 4 GiB is stated exactly: the
    /// coarsest CM_RESOURCE_MEMORY_LARGE_* granularity that divides it (Length64 counts 4 GiB
    /// units, Length48 64 KiB, Length40 256 bytes), so the length decodes back whole.
    @Test(arguments: [(UInt64(0x2_0000_0000), UInt16(0x0800)), (UInt64(0x1_8000_0000), UInt16(0x0400)),
                      (UInt64(0x1_0000_0100), UInt16(0x0200))])
    func aLargeWindowIsEncodedAtAGranularityThatKeepsItsLength(size: UInt64, flag: UInt16) {
        let device = PCIDeviceInfo(address: address, vendorID: 1, deviceID: 2, bars: [
            PCIBar(index: 0, address: 0x80_0000_0000, size: size, space: .memory, is64Bit: true, prefetchable: true),
        ])
        let window = translator.resources(for: device).translated[0]
        #expect(window.type == .memoryLarge)
        #expect(window.flags & (MemoryFlags.large40 | MemoryFlags.large48 | MemoryFlags.large64) == flag)
        #expect(window.payload == .memory(start: 0x80_0000_0000, length: size))
    }
}
