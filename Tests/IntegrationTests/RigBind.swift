// The test kit's bind from inside a test (`Rig.bind`): it takes a rig device from any driver,
// but not a bridge the guest runs on.
import Foundation
import InterruptBridgeCore
import InterruptBridgeTestKit
import Testing

extension RigIntegrationTests {
    @Suite("Rig.bind from a test", .rig)
    struct RigBindTests {
        /// A user's test that named the host bridge (00:00.0 on q35) by mistake: refused with
        /// the reason, and the bridge is left on the driver it had (none), not taken to vfio-pci.
        @Test func aBridgeIsRefusedAndLeftAlone() throws {
            let bridge = try #require(PCIAddress("0000:00:00.0"))
            let before = Self.driver(of: bridge)
            #expect {
                try Rig.bind(bridge, to: .vfioPCI)
            } throws: { error in
                error is RigError && "\(error)".contains("is a host bridge") && "\(error)".contains("Rig.bind does not bind bridges")
            }
            #expect(Self.driver(of: bridge) == before)
        }

        static func driver(of address: PCIAddress) -> String? {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/bus/pci/devices/\(address)/driver"))
                .map { ($0 as NSString).lastPathComponent }
        }
    }
}
