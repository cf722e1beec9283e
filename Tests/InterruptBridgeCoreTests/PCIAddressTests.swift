import InterruptBridgeCore
import Testing

@Suite struct PCIAddressTests {
    @Test(arguments: ["0000:00:03.0", "00:03.0", "0001:ff:1f.7"])
    func parsesValidAddresses(_ text: String) throws {
        let address = try #require(PCIAddress(text))
        #expect(PCIAddress(address.description) == address)
    }

    @Test(arguments: ["", "0000:00:20.0", "00:03.8", "zz:00.0", "0000:00:03", "0000:000:03.0", "00:03.0.1", "1:2:3:4.0"])
    func rejectsMalformedAddresses(_ text: String) {
        #expect(PCIAddress(text) == nil)
    }

    @Test func formatsLikeSysfs() {
        #expect(PCIAddress(bus: 0, device: 3, function: 0).description == "0000:00:03.0")
        #expect(PCIAddress(bus: 0, device: 3, function: 1).devfn == 0x19)
    }
}
