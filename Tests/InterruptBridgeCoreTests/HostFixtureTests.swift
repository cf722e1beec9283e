import InterruptBridgeCore
import Testing

/// This machine's functions (captured with `lspci -xxxx -D`): a host bridge and five
/// virtio 1.0 functions, each with MSI-X enabled. Expected values from Fixtures/host-virtio-lspci-vvv.txt.
@Suite struct HostFixtureTests {
    static let dump = "host-virtio.lspci"

    @Test func scansEveryFunction() throws {
        let devices = try Fixture.devices(Self.dump)
        #expect(devices.map(\.address.description) == ["0000:00:00.0", "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0", "0000:00:05.0"])
    }

    @Test(arguments: [("00:01.0", 0x1045, 5, 0x40_0000_0000), ("00:02.0", 0x1042, 2, 0x40_0008_0000), ("00:03.0", 0x1041, 3, 0x40_0010_0000),
                      ("00:04.0", 0x1053, 4, 0x40_0018_0000), ("00:05.0", 0x1044, 2, 0x40_0020_0000)] as [(String, UInt16, Int, UInt64)])
    func virtioFunctionsHaveEnabledMSIXAndOne64BitBAR(address: String, deviceID: UInt16, vectors: Int, bar: UInt64) throws {
        let device = try Fixture.device(Self.dump, address)
        #expect(device.vendorID == 0x1af4 && device.deviceID == deviceID && device.revision == 1)
        #expect(device.subsystemVendorID == 0x1af4 && device.subsystemID == deviceID)
        #expect(device.interruptPin == nil && device.irqLine == nil && device.msi == nil)
        #expect(device.bars == [PCIBar(index: 0, address: bar, size: 0, space: .memory, is64Bit: true)])
        // Five vendor-specific (virtio) capabilities, then MSI-X.
        #expect(device.capabilities == [0x40, 0x50, 0x60, 0x70, 0x84].map { PCICapabilityHeader(id: 0x09, offset: $0) }
                + [PCICapabilityHeader(id: 0x11, offset: 0x98)])
        #expect(device.msix == MSIXCapability(offset: 0x98, tableSize: vectors, enabled: true, functionMasked: false,
                                              tableBAR: 0, tableOffset: 0x8000, pbaBAR: 0, pbaOffset: 0x48000))
        let resources = ResourceTranslator(facts: .init(onlineProcessors: .first(2))).resources(for: device)
        #expect(resources.interruptKind == .msix)
        #expect(resources.translatedInterrupts.count == vectors)
        #expect(resources.raw.allSatisfy { $0.shareDisposition == .deviceExclusive && $0.flags == InterruptFlags.latched | InterruptFlags.message })
    }

    @Test func hostBridgeHasNothingToAssign() throws {
        let host = try Fixture.device(Self.dump, "00:00.0")
        #expect(host.vendorID == 0x8086 && host.deviceID == 0x0d57 && host.classCode == 0x060000)
        #expect(host.subsystemVendorID == nil && host.subsystemID == nil)
        #expect(host.bars.isEmpty && host.capabilities.isEmpty && host.interruptPin == nil)
    }
}
