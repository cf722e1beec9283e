// Hot-plug in the rig through the test kit's client (`Rig.hotplug`): a test asks the host to
// remove or add a device behind a PCIe root port (`scripts/rig/run.sh --devices ...,edu@port`)
// at the moment it chooses.
import Foundation
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeTestKit
import Testing

extension RigIntegrationTests {
    /// The rig's hot-plug from inside a test (needs `--devices ...,edu@port`; skipped without).
    @Suite("Hot-plug requests from a test", .enabled(if: Rig.hotplugDevices["edu0"] != nil, "the run has no edu@port (run.sh --devices ...,edu@port)"))
    struct RigHotplugTests {
        @Test func aDeviceIsRemovedAndAddedBackWhenTheTestAsks() throws {
            let edu = try #require(Rig.hotplugDevices["edu0"])
            #expect(Rig.isPresent(edu))
            let removal = try Rig.hotplug(.remove, "edu0")
            // Answered after DEVICE_DELETED: the guest has already dropped it.
            #expect(!Rig.isPresent(edu))
            let addition = try Rig.hotplug(.add, "edu0")
            let appeared = Rig.waitUntil(edu, present: true)
            #expect(appeared != nil)
            let vendor = try String(contentsOfFile: "/sys/bus/pci/devices/\(edu)/vendor", encoding: .utf8)
            #expect(vendor == "0x1234\n")
            print("hot-plug: device_del answered in \(removal) ms, device_add in \(addition) ms, in sysfs after \(appeared ?? -1) ms more")
        }

        /// With MSI disallowed, what the resource lists offer the device: INTx while its line is routed.
        static func lineBasedKind(_ address: PCIAddress) throws -> InterruptKind? {
            let policies = InterruptPolicyTable(fallback: InterruptPolicy(msiSupported: false))
            return try PCIDiscovery(policies: policies, logger: Rig.logger).catalog().device(at: address)?.resources.interruptKind
        }

        /// Found with this rig: a device added while the system runs has sysfs `irq` 0 (and
        /// Interrupt Line 0) until a driver first enables it (vfio-pci does on open; then it reads
        /// 20), so discovery sees no routed line, offers no INTx, and a line-based connect fails
        /// with STATUS_NOT_FOUND; a second process, after that first open, connects INTx fine.
        /// The device present at boot got its line from the firmware. Known issue until discovery
        /// stops depending on the line for a device that has a pin (issue 10: a device that comes
        /// back can be opened and connected again); this test then fails to say it is fixed.
        @Test func aReAddedDeviceOffersINTxBeforeItsFirstOpen() throws {
            let edu = try #require(Rig.hotplugDevices["edu0"])
            // (At boot it is offered INTx: its line came from the firmware. Another test may
            // have re-added it already, so that is not checked here.)
            try Rig.hotplug(.remove, "edu0")
            try Rig.hotplug(.add, "edu0")
            #expect(Rig.waitUntil(edu, present: true) != nil)
            let kind = try Self.lineBasedKind(edu)
            withKnownIssue("a hot-added device's line is 0 until first enabled: no INTx offered") {
                #expect(kind == .intx)
            }
        }

        @Test func anUnknownNameIsRefusedWithTheHostsAnswer() {
            #expect {
                try Rig.hotplug(.remove, "edu9")
            } throws: { error in
                "\(error)".hasPrefix("error no hot-pluggable device 'edu9'")
            }
        }
    }
}
