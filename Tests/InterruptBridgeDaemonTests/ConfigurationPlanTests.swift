import Foundation
import InterruptBridgeCore
import InterruptBridgeDaemon
import InterruptBridgeDiscovery
import InterruptBridgeTestKit
import Testing

/// `irqbridge daemon --check`'s plan: what start-up would do with each configured device,
/// over the rig's lspci dump and a fake PCI core (nothing is bound).
@Suite("Daemon: the configuration plan")
struct ConfigurationPlanTests {
    static func bus() throws -> [PCIDeviceInfo] {
        try PCIDiscovery(source: .dump(path: DaemonHarness.fixture("rig-q35.lspci")), logger: .silent("discovery")).devices()
    }

    static func kernel() -> FakeBindingKernel {
        FakeBindingKernel(devices: [
            "0000:00:00.0": .init(group: 0, classCode: 0x060000),
            "0000:00:03.0": .init(group: 3),
            "0000:00:05.0": .init(group: 5),
            "0000:00:06.0": .init(group: 6),
            "0000:00:07.0": .init(driver: "e1000e", defaultDriver: "e1000e", group: 7),
            "0000:00:08.0": .init(driver: "nvme", defaultDriver: "nvme", group: 8),
            "0000:00:1f.3": .init(driver: "vfio-pci", group: 9),
            "0000:00:1f.2": .init(group: 10),
        ], registered: ["vfio-pci", "e1000e", "nvme"])
    }

    static func plan(_ configuration: String, kernel: FakeBindingKernel = kernel(), malformed: [DiscoveryError] = []) throws -> ConfigurationPlan {
        let table = try DeviceTableLoader.load(configuration, file: "plan.yaml")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-plan-\(UUID().uuidString.prefix(8))").path
        let binder = DeviceBinder(kernel: kernel, records: BindingRecordStore(directory: directory, owner: "daemon"), logger: .silent("binder"))
        return ConfigurationPlan(table: table, bus: try bus(), malformed: malformed, binder: binder, daemonWideStorm: .default)
    }

    static func outcome(_ plan: ConfigurationPlan, _ address: String) -> ConfigurationPlan.Outcome? {
        plan.items.first { $0.address == PCIAddress(address)! }?.outcome
    }

    /// A card whose IOMMU group holds another device on a kernel driver cannot be opened
    /// under vfio-pci: the plan (and start-up, through the same check) fails it before it
    /// leaves its driver, naming the member. It had been bound, failed "not viable", and
    /// left on vfio-pci until SIGTERM (found on a rig's SMBus controller beside its LPC bridge).
    @Test func aGroupSharedWithADeviceOnAKernelDriverFailsBeforeTheBind() throws {
        let kernel = FakeBindingKernel(devices: [
            "0000:00:08.0": .init(driver: "nvme", defaultDriver: "nvme", group: 8),
            "0000:00:07.0": .init(driver: "e1000e", defaultDriver: "e1000e", group: 8),
        ], registered: ["vfio-pci", "e1000e", "nvme"])
        let plan = try Self.plan("devices:\n  \"0000:00:08.0\": {from: nvme}\n", kernel: kernel)
        guard case .fail(let reason) = Self.outcome(plan, "0000:00:08.0") else { Issue.record("\(plan.lines)"); return }
        #expect(reason.contains("IOMMU group 8 also holds 0000:00:07.0 on e1000e"), "\(reason)")
        #expect(kernel.log.isEmpty, "nothing was bound: \(kernel.log)")

        // Configured too, the other member is still in the way: each device opens the group
        // for itself, and the kernel lets one open it at a time.
        let both = try Self.plan("devices:\n  \"0000:00:08.0\": {from: nvme}\n  \"0000:00:07.0\": {from: e1000e}\n", kernel: kernel)
        guard case .fail = Self.outcome(both, "0000:00:08.0") else { Issue.record("\(both.lines)"); return }
        // Unbound, it is not.
        let free = FakeBindingKernel(devices: [
            "0000:00:08.0": .init(driver: "nvme", defaultDriver: "nvme", group: 8),
            "0000:00:07.0": .init(group: 8),
        ], registered: ["vfio-pci", "e1000e", "nvme"])
        let alone = try Self.plan("devices:\n  \"0000:00:08.0\": {from: nvme}\n", kernel: free)
        #expect(Self.outcome(alone, "0000:00:08.0") == .connect("bind to vfio-pci from nvme, connect message-based, profile nvme"))
        // Under uio_pci_generic the group does not matter.
        let uio = try Self.plan("devices:\n  \"0000:00:08.0\": {from: nvme, driver: uio_pci_generic}\n", kernel: kernel)
        guard case .fail(let other) = Self.outcome(uio, "0000:00:08.0") else { Issue.record("\(uio.lines)"); return }
        #expect(!other.contains("IOMMU group"), "\(other)")
    }

    @Test func eachConfiguredDeviceIsTakenFailedOrAbsentAsStartUpWouldDoIt() throws {
        let plan = try Self.plan("""
            devices:
              "0000:00:03.0": {profile: edu}
              "1af4:1110": {}
              "8086:10d3": {driver: vfio-pci}
              "0000:00:08.0": {from: nvme}
              "0000:00:00.0": {}
              "0000:00:1e.0": {}
              "0000:00:1f.3": {connect: line-based}
            """)
        #expect(Self.outcome(plan, "0000:00:03.0") == .connect("bind to vfio-pci, connect message-based, profile edu"))
        // ivshmem-doorbell and ivshmem-plain share their ids: the plain one has no interrupt.
        #expect(Self.outcome(plan, "0000:00:05.0") == .connect("bind to vfio-pci, connect message-based, profile ivshmem-doorbell"))
        guard case .fail(let plain) = Self.outcome(plan, "0000:00:06.0") else { Issue.record("\(plan.lines)"); return }
        #expect(plain.contains("has no interrupts"), "\(plain)")
        guard case .fail(let nic) = Self.outcome(plan, "0000:00:07.0") else { Issue.record("\(plan.lines)"); return }
        #expect(nic.contains("in use by e1000e") && nic.contains("from: e1000e"), "\(nic)")
        #expect(Self.outcome(plan, "0000:00:08.0") == .connect("bind to vfio-pci from nvme, connect message-based, profile nvme"))
        // A host bridge has no interrupts, which start-up finds before it would refuse a bridge.
        guard case .fail(let bridge) = Self.outcome(plan, "0000:00:00.0") else { Issue.record("\(plan.lines)"); return }
        #expect(bridge.contains("has no interrupts"), "\(bridge)")
        #expect(Self.outcome(plan, "0000:00:1e.0") == .absent)
        // On vfio-pci already, a line with no profile to acknowledge it: refused as the daemon would.
        guard case .fail(let line) = Self.outcome(plan, "0000:00:1f.3") else { Issue.record("\(plan.lines)"); return }
        #expect(line.contains("no acknowledge program"), "\(line)")
        #expect(plan.failures == 4)
        #expect(plan.items.map(\.address.description) == ["0000:00:00.0", "0000:00:03.0", "0000:00:05.0", "0000:00:06.0",
                                                           "0000:00:07.0", "0000:00:08.0", "0000:00:1e.0", "0000:00:1f.3"])
        #expect(plan.notes.isEmpty, "\(plan.notes)")
        #expect(plan.lines.contains("0000:00:1e.0 (by address): absent, bound when it appears"))
        #expect(plan.lines.contains("0000:00:05.0 (1af4:1110, by 1af4:1110): bind to vfio-pci, connect message-based, profile ivshmem-doorbell"))
    }

    @Test func anIdsEntryAnAddressEntryOverridesAndOneThatSelectsNothingAreNoted() throws {
        let plan = try Self.plan("""
            devices:
              "0000:00:07.0": {from: e1000e}
              "8086:10d3": {from: e1000e, connect: line-based}
              "abcd:0001": {}
            """)
        #expect(plan.items.count == 1)
        #expect(Self.outcome(plan, "0000:00:07.0") == .connect("bind to vfio-pci from e1000e, connect message-based, profile e1000e"))
        #expect(plan.notes == [
            "0000:00:07.0 is 8086:10d3 too, but its address entry is the one used: none of the 8086:10d3 entry's settings apply to it",
            "abcd:0001 selects no device on the bus now (one that appears is bound then)",
        ])
    }

    @Test func aProfileForAnotherDeviceIsRefusedBeforeTheCardIsTaken() throws {
        let plan = try Self.plan("devices:\n  \"0000:00:08.0\": {from: nvme, profile: edu}\n")
        guard case .fail(let reason) = Self.outcome(plan, "0000:00:08.0") else { Issue.record("\(plan.lines)"); return }
        #expect(reason.contains("profile 'edu' is for 1234:11e8"), "\(reason)")
    }

    /// `MSISupported: false` leaves the line (as the translator assigns it): a card with
    /// MSI and a pin but no acknowledge program is refused, as `connect: line-based` is,
    /// instead of being connected with a blind claim that storms.
    @Test func messagesTurnedOffServeTheLineAndNeedAnAcknowledge() throws {
        let plan = try Self.plan("""
            default: {MSISupported: true}
            devices:
              "0000:00:1f.2": {MSISupported: false}
              "0000:00:03.0": {MSISupported: false, profile: edu}
            """)
        guard case .fail(let ahci) = Self.outcome(plan, "0000:00:1f.2") else { Issue.record("\(plan.lines)"); return }
        #expect(ahci.contains("would be served on its INTx line") && ahci.contains("no acknowledge program"), "\(ahci)")
        #expect(Self.outcome(plan, "0000:00:03.0") == .connect("bind to vfio-pci, connect its INTx line, profile edu"))
        let defaulted = try Self.plan("default: {MSISupported: false}\ndevices:\n  \"0000:00:1f.2\": {}\n")
        guard case .fail = Self.outcome(defaulted, "0000:00:1f.2") else { Issue.record("\(defaulted.lines)"); return }
        let messages = try Self.plan("devices:\n  \"0000:00:1f.2\": {}\n")
        #expect(Self.outcome(messages, "0000:00:1f.2") == .connect("bind to vfio-pci, connect message-based, no profile"))
    }

    /// Two problems: the one start-up meets first is the one reported (the profile, checked
    /// before the card leaves its driver, then the driver it is on).
    @Test func theFirstProblemStartUpMeetsIsTheOneReported() throws {
        let plan = try Self.plan("devices:\n  \"0000:00:07.0\": {profile: edu}\n")
        guard case .fail(let reason) = Self.outcome(plan, "0000:00:07.0") else { Issue.record("\(plan.lines)"); return }
        #expect(reason.contains("profile 'edu' is for 1234:11e8"), "\(reason)")
    }

    /// A configured function whose config space does not decode is failed with the reason,
    /// as start-up reports it, not absent.
    @Test func aConfiguredFunctionThatDoesNotDecodeFails() throws {
        let broken = PCIAddress("0000:00:1e.0")!
        let plan = try Self.plan("devices:\n  \"0000:00:1e.0\": {}\n",
                                 malformed: [.malformedDevice(broken, .capabilityLoop(offset: 0x40, from: 0x50))])
        guard case .fail(let reason) = Self.outcome(plan, "0000:00:1e.0") else { Issue.record("\(plan.lines)"); return }
        #expect(reason.hasPrefix("0000:00:1e.0: "), "\(reason)")
    }

    @Test func nothingIsBoundOrWritten() throws {
        let kernel = Self.kernel()
        _ = try Self.plan("devices:\n  \"0000:00:03.0\": {}\n  \"0000:00:08.0\": {from: nvme}\n", kernel: kernel)
        #expect(kernel.log.isEmpty, "\(kernel.log)")
        #expect(kernel.driver(of: "0000:00:08.0") == "nvme")
    }
}
