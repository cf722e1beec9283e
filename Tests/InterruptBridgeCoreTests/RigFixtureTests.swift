import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// The QEMU rig's functions (q35 + edu, ivshmem, e1000e, nvme), dumped with `lspci -xxxx`
/// inside the guest. Expected values are taken from the guest's `lspci -vvv`
/// (Fixtures/rig-q35-lspci-vvv.txt), not from this code's output.
@Suite struct RigFixtureTests {
    static let dump = "rig-q35.lspci"
    let translator = ResourceTranslator(facts: .init(onlineProcessors: .first(4), irqAffinity: [11: ProcessorAffinity(rawValue: 0x2)]))

    @Test func scansEveryFunctionInAddressOrder() throws {
        let devices = try Fixture.devices(Self.dump)
        #expect(devices.map(\.address.description) == [
            "0000:00:00.0", "0000:00:03.0", "0000:00:05.0", "0000:00:06.0", "0000:00:07.0",
            "0000:00:08.0", "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3",
        ])
    }

    /// A scan for one function reads just that one, and reads it as the whole scan does.
    @Test(arguments: ["0000:00:00.0", "0000:00:07.0", "0000:00:1f.3", "0000:00:09.0", "0001:00:03.0"])
    func aScanForOneFunctionAgreesWithTheWholeScan(address: String) throws {
        let wanted = try #require(PCIAddress(address))
        let whole = try PCIAccess.scan(.dump(path: Fixture.path(Self.dump)))
        let one = try PCIAccess.scan(.dump(path: Fixture.path(Self.dump)), only: wanted)
        #expect(one == whole.filter { $0.address == wanted })
    }

    @Test func eduHasINTxPinAAndOne64BitMSIMessage() throws {
        let edu = try Fixture.device(Self.dump, "00:03.0")
        #expect(edu.vendorID == 0x1234 && edu.deviceID == 0x11e8)
        #expect(edu.subsystemVendorID == 0x1af4 && edu.subsystemID == 0x1100)
        #expect(edu.classCode == 0x00ff00 && edu.revision == 0x10)
        #expect(edu.interruptPin == .a)
        #expect(edu.irqLine == 11)
        #expect(edu.bars == [PCIBar(index: 0, address: 0xfe80_0000, size: 0, space: .memory)])
        #expect(edu.capabilities == [PCICapabilityHeader(id: 0x05, offset: 0x40)])
        #expect(edu.msi == MSICapability(offset: 0x40, messagesCapable: 1, messagesEnabled: 1, enabled: false,
                                         is64BitAddress: true, perVectorMasking: false, messageAddress: 0, messageData: 0))
        #expect(edu.msix == nil)
        #expect(edu.driver == nil && edu.iommuGroup == nil && edu.deviceNodes == DeviceNodes())
    }

    @Test func eduGetsOneMSIBlockByDefault() throws {
        let edu = try Fixture.device(Self.dump, "00:03.0")
        let resources = translator.resources(for: edu)
        #expect(resources.interruptKind == .msi)
        // Dumps carry no BAR sizes, so no memory descriptor: only the interrupt.
        #expect(resources.raw.count == 1 && resources.translated.count == 1)
        let raw = try #require(resources.raw.first)
        #expect(raw.type == .interrupt)
        #expect(raw.shareDisposition == .deviceExclusive)
        #expect(raw.flags == InterruptFlags.latched | InterruptFlags.message)
        guard case .messageInterrupt(let message) = raw.payload else { Issue.record("not a message interrupt"); return }
        #expect(message.raw == .init(group: 0, messageCount: 1, vector: 0, affinity: .first(4)))
        #expect(message.translated == .init(level: 8, group: 0, vector: 0x1000_0000 | 0x18 << 11, affinity: .first(4)))
    }

    @Test func eduWithMSIDisallowedGetsSharedLevelSensitiveLine11() throws {
        let edu = try Fixture.device(Self.dump, "00:03.0")
        let resources = translator.resources(for: edu, policy: .init(msiSupported: false))
        #expect(resources.interruptKind == .intx)
        let raw = try #require(resources.raw.first)
        let translated = try #require(resources.translated.first)
        for descriptor in [raw, translated] {
            #expect(descriptor.type == .interrupt)
            #expect(descriptor.shareDisposition == .shared)
            #expect(descriptor.flags == InterruptFlags.levelSensitive)
        }
        // Affinity comes from /proc/irq/11/smp_affinity (the facts), Level from the rules.
        #expect(raw.payload == .interrupt(.init(level: 11, group: 0, vector: 11, affinity: ProcessorAffinity(rawValue: 0x2))))
        #expect(translated.payload == .interrupt(.init(level: 5, group: 0, vector: 11, affinity: ProcessorAffinity(rawValue: 0x2))))
    }

    @Test func ivshmemDoorbellHasFourMSIXVectorsInBAR1() throws {
        let ivshmem = try Fixture.device(Self.dump, "00:05.0")
        #expect(ivshmem.vendorID == 0x1af4 && ivshmem.deviceID == 0x1110 && ivshmem.classCode == 0x050000)
        #expect(ivshmem.interruptPin == nil && ivshmem.irqLine == nil)
        #expect(ivshmem.bars == [
            PCIBar(index: 0, address: 0xfe98_8000, size: 0, space: .memory),
            PCIBar(index: 1, address: 0xfe98_9000, size: 0, space: .memory),
            PCIBar(index: 2, address: 0xfea0_0000, size: 0, space: .memory, is64Bit: true, prefetchable: true),
        ])
        #expect(ivshmem.msi == nil)
        #expect(ivshmem.msix == MSIXCapability(offset: 0x40, tableSize: 4, enabled: false, functionMasked: false,
                                               tableBAR: 1, tableOffset: 0, pbaBAR: 1, pbaOffset: 0x800))
        let resources = translator.resources(for: ivshmem)
        #expect(resources.interruptKind == .msix)
        #expect(resources.translated.count == 4)
        for (message, descriptor) in resources.translated.enumerated() {
            guard case .messageInterrupt(let interrupt) = descriptor.payload else { Issue.record("not a message"); continue }
            #expect(interrupt.raw.messageCount == 1 && interrupt.raw.vector == UInt32(message))
            #expect(interrupt.translated.vector == ResourceTranslator.messageVector(ivshmem.address, message: message))
        }
    }

    @Test func ivshmemPlainHasNoInterrupts() throws {
        let plain = try Fixture.device(Self.dump, "00:06.0")
        #expect(plain.extendedCapabilities.isEmpty)  // conventional PCI: only 256 bytes
        #expect(plain.capabilities.isEmpty && plain.msi == nil && plain.msix == nil && plain.interruptPin == nil)
        #expect(plain.bars.map(\.index) == [0, 2])
        let resources = translator.resources(for: plain)
        #expect(resources.interruptKind == nil && resources.raw.isEmpty && resources.translated.isEmpty)
    }

    @Test func e1000eHasPMMSIExpressAndFiveMSIXVectors() throws {
        let e1000e = try Fixture.device(Self.dump, "00:07.0")
        #expect(e1000e.vendorID == 0x8086 && e1000e.deviceID == 0x10d3)
        #expect(e1000e.subsystemVendorID == 0x8086 && e1000e.subsystemID == 0x0000)
        #expect(e1000e.interruptPin == .a && e1000e.irqLine == 11)
        #expect(e1000e.bars == [
            PCIBar(index: 0, address: 0xfe94_0000, size: 0, space: .memory),
            PCIBar(index: 1, address: 0xfe96_0000, size: 0, space: .memory),
            PCIBar(index: 2, address: 0xc040, size: 0, space: .io),
            PCIBar(index: 3, address: 0xfe98_0000, size: 0, space: .memory),
        ])
        #expect(e1000e.capabilities == [
            PCICapabilityHeader(id: 0x01, offset: 0xc8), PCICapabilityHeader(id: 0x05, offset: 0xd0),
            PCICapabilityHeader(id: 0x10, offset: 0xe0), PCICapabilityHeader(id: 0x11, offset: 0xa0),
        ])
        // lspci: [100 v2] Advanced Error Reporting, [140 v1] Device Serial Number.
        #expect(e1000e.extendedCapabilities == [PCIExtendedCapabilityHeader(id: 0x0001, version: 2, offset: 0x100),
                                                PCIExtendedCapabilityHeader(id: 0x0003, version: 1, offset: 0x140)])
        #expect(e1000e.msi == MSICapability(offset: 0xd0, messagesCapable: 1, messagesEnabled: 1, enabled: false, is64BitAddress: true))
        #expect(e1000e.msix == MSIXCapability(offset: 0xa0, tableSize: 5, tableBAR: 3, tableOffset: 0, pbaBAR: 3, pbaOffset: 0x2000))
        // MSI-X before MSI by default; MSI when the policy prefers it.
        #expect(translator.resources(for: e1000e).interruptKind == .msix)
        #expect(translator.resources(for: e1000e).translatedInterrupts.count == 5)
        let msi = translator.resources(for: e1000e, policy: .init(preferMSIX: false))
        #expect(msi.interruptKind == .msi && msi.translatedInterrupts.count == 1)
    }

    @Test func nvmeHas65MSIXVectorsAndHonoursMessageNumberLimit() throws {
        let nvme = try Fixture.device(Self.dump, "00:08.0")
        #expect(nvme.vendorID == 0x1b36 && nvme.deviceID == 0x0010 && nvme.classCode == 0x010802 && nvme.revision == 2)
        #expect(nvme.interruptPin == .a && nvme.irqLine == 10)
        #expect(nvme.bars == [PCIBar(index: 0, address: 0xfe98_4000, size: 0, space: .memory, is64Bit: true)])
        #expect(nvme.capabilities.map(\.offset) == [0x40, 0x80, 0x60])
        #expect(nvme.msi == nil)
        #expect(nvme.extendedCapabilities.isEmpty)  // 4096 bytes dumped, but no extended capability
        #expect(nvme.msix == MSIXCapability(offset: 0x40, tableSize: 65, tableBAR: 0, tableOffset: 0x2000, pbaBAR: 0, pbaOffset: 0x3000))
        #expect(translator.resources(for: nvme).translatedInterrupts.count == 65)
        let limited = translator.resources(for: nvme, policy: .init(messageNumberLimit: 4, devicePriority: .high))
        #expect(limited.translatedInterrupts.count == 4)
        guard case .messageInterrupt(let last)? = limited.translatedInterrupts.last?.payload else { Issue.record("no message"); return }
        #expect(last.translated.level == 10)
        #expect(last.translated.vector == ResourceTranslator.messageVector(nvme.address, message: 3))
    }

    @Test func q35ChipsetFunctions() throws {
        let host = try Fixture.device(Self.dump, "00:00.0")
        #expect(host.vendorID == 0x8086 && host.deviceID == 0x29c0 && host.classCode == 0x060000)
        #expect(host.capabilities.isEmpty && host.interruptPin == nil && host.irqLine == nil && host.bars.isEmpty)

        let lpc = try Fixture.device(Self.dump, "00:1f.0")
        #expect(lpc.deviceID == 0x2918 && lpc.classCode == 0x060100 && lpc.interruptPin == nil)

        let sata = try Fixture.device(Self.dump, "00:1f.2")
        #expect(sata.deviceID == 0x2922 && sata.classCode == 0x010601)
        #expect(sata.interruptPin == .a && sata.irqLine == 10)
        #expect(sata.bars == [PCIBar(index: 4, address: 0xc060, size: 0, space: .io),
                              PCIBar(index: 5, address: 0xfe98_b000, size: 0, space: .memory)])
        #expect(sata.capabilities == [PCICapabilityHeader(id: 0x05, offset: 0x80), PCICapabilityHeader(id: 0x12, offset: 0xa8)])
        #expect(sata.msi?.messagesCapable == 1 && sata.msi?.is64BitAddress == true)

        let smbus = try Fixture.device(Self.dump, "00:1f.3")
        #expect(smbus.deviceID == 0x2930 && smbus.classCode == 0x0c0500)
        #expect(smbus.interruptPin == .a && smbus.irqLine == 10 && smbus.msi == nil && smbus.msix == nil)
        #expect(smbus.bars == [PCIBar(index: 4, address: 0x700, size: 0, space: .io)])
        // A line-only function gets INTx even under the default (message-first) policy.
        let resources = translator.resources(for: smbus)
        #expect(resources.interruptKind == .intx)
        #expect(resources.translated == [ResourceDescriptor(type: .interrupt, shareDisposition: .shared, flags: InterruptFlags.levelSensitive,
                                                            payload: .interrupt(.init(level: 5, vector: 10, affinity: .first(4))))])
    }

    @Test func namesComeFromThePCIIDsDatabase() throws {
        let e1000e = try Fixture.device(Self.dump, "00:07.0")
        #expect(e1000e.vendorName == "Intel Corporation")
        #expect(e1000e.deviceName == "82574L Gigabit Network Connection")
        #expect(e1000e.className == "Ethernet controller")
    }
}
