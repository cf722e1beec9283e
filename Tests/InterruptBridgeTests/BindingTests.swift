import Foundation
import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

typealias FakeKernel = FakeBindingKernel

@Suite("Binding devices to user-space drivers")
final class BindingTests {
    let edu = PCIAddress("0000:00:03.0")!
    let nic = PCIAddress("0000:00:04.0")!
    let directory: String
    let records: BindingRecordStore

    init() {
        var template = Array("/tmp/irqbridge-binding-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        records = BindingRecordStore(directory: directory + "/records")
    }

    deinit { _ = system("rm -rf '\(directory)'") }

    func binder(_ kernel: FakeKernel) -> DeviceBinder {
        DeviceBinder(kernel: kernel, records: records, logger: Logger(label: "test"))
    }

    @Test func bindsAnUnboundDeviceAndLeavesItUnboundOnUnbind() throws {
        let kernel = FakeKernel(devices: ["0000:00:03.0": .init(group: 3)], registered: ["vfio-pci"])
        let outcome = try binder(kernel).bind(edu, to: .vfioPCI)
        #expect(outcome == .init(previousDriver: nil, changed: true, warnings: []))
        #expect(kernel.driver(of: "0000:00:03.0") == "vfio-pci")
        #expect(try binder(kernel).unbind(edu) == nil)
        #expect(kernel.device("0000:00:03.0")?.driver == nil)
        #expect(kernel.device("0000:00:03.0")?.override == nil)
    }

    /// A host, ISA/LPC or PCI-to-PCI bridge is refused without --force, with nothing written;
    /// an "other" bridge (0x0680, how some cards present) and any other class are not.
    @Test(arguments: [(UInt32(0x06_00_00), "host bridge"), (0x06_01_00, "ISA bridge"), (0x06_04_00, "PCI-to-PCI bridge"), (0x06_04_01, "PCI-to-PCI bridge")])
    func refusesABridgeTheSystemRunsOn(classCode: UInt32, kind: String) throws {
        let kernel = FakeKernel(devices: ["0000:00:03.0": .init(group: 3, classCode: classCode)], registered: ["vfio-pci", "uio_pci_generic"])
        #expect(throws: BindingError.bridge(address: "0000:00:03.0", kind: kind, classCode: classCode)) {
            try binder(kernel).bind(edu, to: .vfioPCI)
        }
        #expect(kernel.log.isEmpty)
        if DeviceBinder.nonType0Header(classCode) == nil {
            #expect(try binder(kernel).bind(edu, to: .vfioPCI, force: true).changed)
        } else {
            #expect(try binder(kernel).bind(edu, to: .uioPCIGeneric, force: true).changed)
        }
        let other = FakeKernel(devices: ["0000:00:03.0": .init(group: 3, classCode: 0x06_80_00)], registered: ["vfio-pci"])
        #expect(try binder(other).bind(edu, to: .vfioPCI).changed)
    }

    /// vfio-pci's probe refuses any function whose header is not type 0 (seen in the rig: a
    /// QEMU pci-bridge bound with --force failed with "probe ... failed with error -22" and
    /// nothing else in the kernel log, while irqbridge pointed there for the reason). Even
    /// with --force it is refused before anything changes, so a root port's pcieport is
    /// never taken away for a bind that cannot succeed; uio_pci_generic still takes one.
    @Test(arguments: [(UInt32(0x06_04_00), "PCI-to-PCI bridge"), (0x06_09_40, "PCI-to-PCI bridge"), (0x06_07_00, "CardBus bridge")])
    func vfioPCIIsNeverAskedToProbeABridge(classCode: UInt32, kind: String) throws {
        let kernel = FakeKernel(devices: ["0000:00:10.0": .init(driver: "pcieport", defaultDriver: "pcieport", group: 5, classCode: classCode)],
                                registered: ["vfio-pci", "uio_pci_generic", "pcieport"])
        let port = PCIAddress("0000:00:10.0")!
        #expect(throws: BindingError.notVFIOCapable(address: "0000:00:10.0", kind: kind, classCode: classCode)) {
            try binder(kernel).bind(port, to: .vfioPCI, force: true)
        }
        #expect(kernel.log.isEmpty, "nothing unbound, no override written")
        #expect(kernel.driver(of: "0000:00:10.0") == "pcieport")
        #expect(records.load("0000:00:10.0") == nil)
        #expect(BindingError.notVFIOCapable(address: "0000:00:10.0", kind: kind, classCode: classCode).description
                    .contains("vfio-pci takes only functions with a type 0 config header"))
        #expect(try binder(kernel).bind(port, to: .uioPCIGeneric, force: true).changed)
    }

    @Test func refusesADeviceInUseByADriverTheUserDidNotName() {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")], registered: ["vfio-pci", "e1000e"])
        #expect(throws: BindingError.inUse(address: "0000:00:04.0", driver: "e1000e", target: "vfio-pci")) {
            try binder(kernel).bind(nic, to: .vfioPCI)
        }
        #expect(throws: BindingError.notBoundTo(address: "0000:00:04.0", expected: "igb", actual: "e1000e")) {
            try binder(kernel).bind(nic, to: .vfioPCI, from: "igb")
        }
        #expect(kernel.log.isEmpty, "a refused bind writes nothing")
        #expect(kernel.driver(of: "0000:00:04.0") == "e1000e")
    }

    /// `from` gives leave to take a device from that driver, not a demand that it be there:
    /// a device on no driver is taken (a daemon entry's `from: e1000e` whose module is not
    /// loaded was refused as "bound to no driver, not e1000e").
    @Test func fromAllowsADeviceOnNoDriver() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(defaultDriver: "e1000e")], registered: ["vfio-pci"])
        #expect(binder(kernel).refusal(nic, to: .vfioPCI, from: "e1000e") == nil)
        let outcome = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        #expect(outcome.changed && outcome.previousDriver == nil)
        #expect(kernel.driver(of: "0000:00:04.0") == "vfio-pci")
    }

    /// The hint names the driver as a shell reads it back: a driver's name may hold a space.
    @Test func theInUseHintPastesAsOneArgument() {
        #expect(BindingError.inUse(address: "0000:00:0e.0", driver: "e1000e", target: "vfio-pci").description.contains("pass --from e1000e ("))
        #expect(BindingError.inUse(address: "0000:00:0e.0", driver: "i6300ESB timer", target: "vfio-pci").description
                    .contains("pass --from 'i6300ESB timer' ("))
        #expect(BindingError.inUse(address: "0000:00:0e.0", driver: "it's", target: "vfio-pci").description.contains(#"--from 'it'\''s' ("#))
        #expect(BindingError.bridge(address: "0000:00:1f.0", kind: "ISA bridge", classCode: 0x06_01_00).description
                    .hasPrefix("0000:00:1f.0 is an ISA bridge (class 0x060100)"))
        #expect(BindingError.bridge(address: "0000:00:00.0", kind: "host bridge", classCode: 0x06_00_00).description
                    .hasPrefix("0000:00:00.0 is a host bridge"))
    }

    /// A store with an owner marks its records, so a daemon can tell its own from the CLI's.
    @Test func recordsSayWhoBoundTheDevice() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("records-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let record = BindingRecordStore.Record(originalDriver: "e1000", originalOverride: nil, boundTo: "vfio-pci")
        try BindingRecordStore(directory: directory, owner: "daemon").save(record, for: "0000:00:0c.0")
        try BindingRecordStore(directory: directory).save(record, for: "0000:00:0d.0")
        let store = BindingRecordStore(directory: directory)
        #expect(store.load("0000:00:0c.0")?.owner == "daemon")
        #expect(store.load("0000:00:0d.0")?.owner == "cli", "the CLI's store is the default")
        #expect(store.load("0000:00:0c.0")?.originalDriver == "e1000")
    }

    /// A give-back that did not reach the original driver (its module gone, say) keeps the
    /// record, so `unbind` can try again later rather than forget where the device belongs.
    @Test func aFailedGiveBackKeepsTheRecordForAnotherTry() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")], registered: ["vfio-pci", "e1000e"])
        _ = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        kernel.state.withLock { _ = $0.registered.remove("e1000e") }
        #expect(throws: BindingError.bindFailed(address: "0000:00:04.0", driver: "e1000e", actual: nil)) {
            try binder(kernel).unbind(nic)
        }
        #expect(records.load("0000:00:04.0")?.originalDriver == "e1000e", "the record stays")
        kernel.state.withLock { _ = $0.registered.insert("e1000e") }
        #expect(try binder(kernel).unbind(nic) == "e1000e")
        #expect(records.load("0000:00:04.0") == nil)
    }

    @Test func takesANamedDriversDeviceAndGivesItBack() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")], registered: ["vfio-pci", "e1000e"])
        let outcome = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        #expect(outcome.previousDriver == "e1000e")
        #expect(kernel.driver(of: "0000:00:04.0") == "vfio-pci")
        #expect(records.load("0000:00:04.0")?.originalDriver == "e1000e")
        #expect(try binder(kernel).unbind(nic) == "e1000e")
        #expect(kernel.driver(of: "0000:00:04.0") == "e1000e")
        #expect(kernel.device("0000:00:04.0")?.override == nil)
        #expect(records.load("0000:00:04.0") == nil)
    }

    @Test func switchesBetweenUserSpaceDriversAndStillGivesBackTheOriginal() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")],
                                registered: ["vfio-pci", "uio_pci_generic", "e1000e"])
        _ = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        let outcome = try binder(kernel).bind(nic, to: .uioPCIGeneric)
        #expect(outcome.previousDriver == "vfio-pci")
        #expect(kernel.driver(of: "0000:00:04.0") == "uio_pci_generic")
        #expect(records.load("0000:00:04.0")?.originalDriver == "e1000e")
        #expect(try binder(kernel).unbind(nic) == "e1000e")
    }

    @Test func aUserSpaceDriverIrqbridgeDidNotBindIsStillRefused() {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "uio_pci_generic")], registered: ["vfio-pci", "uio_pci_generic"])
        #expect(throws: BindingError.inUse(address: "0000:00:04.0", driver: "uio_pci_generic", target: "vfio-pci")) {
            try binder(kernel).bind(nic, to: .vfioPCI)
        }
    }

    @Test func forceTakesTheDeviceFromAnyDriver() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")], registered: ["uio_pci_generic", "e1000e"])
        _ = try binder(kernel).bind(nic, to: .uioPCIGeneric, force: true)
        #expect(kernel.driver(of: "0000:00:04.0") == "uio_pci_generic")
    }

    @Test func neverUnbindsOtherGroupMembersButWarnsAboutThem() throws {
        let kernel = FakeKernel(devices: [
            "0000:00:03.0": .init(group: 5),
            "0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e", group: 5),
        ], registered: ["vfio-pci", "e1000e"])
        let outcome = try binder(kernel).bind(edu, to: .vfioPCI)
        #expect(kernel.driver(of: "0000:00:04.0") == "e1000e")
        #expect(!kernel.log.contains { $0.contains("0000:00:04.0") }, "the other member is never written to")
        #expect(outcome.warnings.count == 1)
        #expect(outcome.warnings.first?.contains("0000:00:04.0 (bound to e1000e)") == true)
    }

    /// Members on a driver that leaves DMA to VFIO keep the group viable: a root port on
    /// pcieport (the usual partner in a group), pci-stub, and vfio-pci's variant drivers.
    @Test func membersOnPortStubAndVFIOVariantDriversAreNotInTheWay() throws {
        let kernel = FakeKernel(devices: [
            "0000:00:03.0": .init(group: 5),
            "0000:00:1c.0": .init(driver: "pcieport", group: 5),
            "0000:00:1c.1": .init(driver: "pci-stub", group: 5),
            "0000:00:04.0": .init(driver: "mlx5_vfio_pci", group: 5),
            "0000:00:04.1": .init(group: 5),
        ], registered: ["vfio-pci"])
        let outcome = try binder(kernel).bind(edu, to: .vfioPCI)
        #expect(outcome.warnings.isEmpty, "\(outcome.warnings)")
        #expect(binder(kernel).groupMembersBlockingVFIO(edu).members.isEmpty)
    }

    @Test func loadsTheModuleWhenTheDriverIsMissing() throws {
        let kernel = FakeKernel(devices: ["0000:00:03.0": .init()], registered: [], loadable: ["uio_pci_generic"])
        _ = try binder(kernel).bind(edu, to: .uioPCIGeneric)
        #expect(kernel.log.first == "modprobe uio_pci_generic")
        #expect(kernel.driver(of: "0000:00:03.0") == "uio_pci_generic")
    }

    @Test func reportsAMissingModuleAndChangesNothing() {
        let kernel = FakeKernel(devices: ["0000:00:03.0": .init()], registered: [])
        #expect(throws: BindingError.self) { try binder(kernel).bind(edu, to: .vfioPCI) }
        #expect(kernel.log.isEmpty)
    }

    @Test func givesTheDeviceBackWhenTheKernelDoesNotBindIt() {
        // vfio-pci is registered but the probe leaves the device unbound (e.g. no IOMMU).
        final class Refusing: BindingKernel {
            let inner: FakeKernel
            init(_ inner: FakeKernel) { self.inner = inner }
            func deviceExists(_ a: String) -> Bool { inner.deviceExists(a) }
            func driver(of a: String) -> String? { inner.driver(of: a) }
            func driverRegistered(_ d: String) -> Bool { inner.driverRegistered(d) }
            func iommuGroup(of a: String) -> Int? { nil }
            func groupMembers(_ g: Int) throws(SystemError) -> [(address: String, driver: String?)] { [] }
            func driverOverride(of a: String) -> String? { inner.driverOverride(of: a) }
            func setDriverOverride(_ a: String, _ d: String?) throws(SystemError) { try inner.setDriverOverride(a, d) }
            func unbind(_ a: String, from d: String) throws(SystemError) { try inner.unbind(a, from: d) }
            func probe(_ a: String) throws(SystemError) {
                if inner.driverOverride(of: a) == nil { try inner.probe(a) }
            }
            func bind(_ a: String, to d: String) throws(SystemError) { try inner.bind(a, to: d) }
            func loadModule(_ n: String) throws(SystemError) {}
        }
        let fake = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")], registered: ["vfio-pci", "e1000e"])
        let binder = DeviceBinder(kernel: Refusing(fake), records: records, logger: Logger(label: "test"))
        #expect(throws: BindingError.bindFailed(address: "0000:00:04.0", driver: "vfio-pci", actual: nil)) {
            try binder.bind(nic, to: .vfioPCI, from: "e1000e")
        }
        // The probe's reason is only in the kernel log: the message says where to look.
        #expect(BindingError.bindFailed(address: "0000:00:04.0", driver: "vfio-pci", actual: nil).description
                == "0000:00:04.0 did not bind to vfio-pci (now: no driver): its probe refused the device; the kernel log (dmesg) says why")
        #expect(fake.driver(of: "0000:00:04.0") == "e1000e", "given back to its driver")
        #expect(fake.device("0000:00:04.0")?.override == nil)
        #expect(records.load("0000:00:04.0") == nil, "back where it was: nothing to remember")
    }

    /// Its driver's module reloaded, the device went back to it by itself: `unbind` finds it
    /// on the driver it had and drops the record, which would otherwise stay for good.
    @Test func aDeviceBackOnItsOwnDriverIsGivenBackByForgettingTheRecord() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")], registered: ["vfio-pci", "e1000e"])
        _ = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        kernel.state.withLock { $0.devices["0000:00:04.0"]?.driver = "e1000e" }
        #expect(try binder(kernel).unbind(nic) == "e1000e")
        #expect(records.load("0000:00:04.0") == nil)
        // On a kernel driver it did not have, the device is still not irqbridge's to move.
        _ = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        kernel.state.withLock { $0.devices["0000:00:04.0"]?.driver = "igb" }
        #expect(throws: BindingError.notManaged(address: "0000:00:04.0", driver: "igb")) { try binder(kernel).unbind(nic) }
        #expect(records.load("0000:00:04.0")?.originalDriver == "e1000e")
    }

    /// A daemon entry says `from: e1000e` for good: after the device fell off vfio-pci (someone
    /// unbound it) or moved to uio_pci_generic, binding it with that `from` still holds, and
    /// the record keeps the original driver and override, not the state it was left in.
    @Test func fromNamingTheRecordedOriginalDriverHoldsWhileTheDeviceIsOffIt() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e", defaultDriver: "e1000e")],
                                registered: ["vfio-pci", "uio_pci_generic", "e1000e"])
        _ = try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e")
        try kernel.unbind("0000:00:04.0", from: "vfio-pci")  // unbound outside irqbridge: on no driver, override still vfio-pci
        #expect(try binder(kernel).bind(nic, to: .vfioPCI, from: "e1000e").changed)
        #expect(records.load("0000:00:04.0")?.originalDriver == "e1000e" && records.load("0000:00:04.0")?.originalOverride == nil)
        #expect(try binder(kernel).bind(nic, to: .uioPCIGeneric, from: "e1000e").changed)
        #expect(kernel.driver(of: "0000:00:04.0") == "uio_pci_generic")
        #expect(try binder(kernel).unbind(nic) == "e1000e")
        #expect(kernel.device("0000:00:04.0")?.override == nil)
        // Without such a record, `from` must still name the driver the device has.
        #expect(throws: BindingError.notBoundTo(address: "0000:00:04.0", expected: "igb", actual: "e1000e")) {
            try binder(kernel).bind(nic, to: .vfioPCI, from: "igb")
        }
    }

    /// A device on no driver that irqbridge never bound is left alone: no probe hands it to
    /// the driver the user took it from, and nothing is written. One whose driver_override
    /// still holds it for vfio-pci (a binding record lost) is given back to the kernel.
    @Test func unbindLeavesADeviceOnNoDriverThatIrqbridgeNeverBoundAlone() throws {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(defaultDriver: "e1000e")], registered: ["vfio-pci", "e1000e"])
        #expect(try binder(kernel).unbind(nic) == nil)
        #expect(kernel.driver(of: "0000:00:04.0") == nil)
        #expect(kernel.log.isEmpty)
        try kernel.setDriverOverride("0000:00:04.0", "vfio-pci")
        #expect(try binder(kernel).unbind(nic) == "e1000e")
        #expect(kernel.device("0000:00:04.0")?.override == nil)
    }

    @Test func refusesToUnbindADriverItDoesNotManage() {
        let kernel = FakeKernel(devices: ["0000:00:04.0": .init(driver: "e1000e")], registered: ["e1000e"])
        #expect(throws: BindingError.notManaged(address: "0000:00:04.0", driver: "e1000e")) { try binder(kernel).unbind(nic) }
        #expect(kernel.log.isEmpty)
    }

    @Test func unknownDeviceIsAClearError() {
        let kernel = FakeKernel(devices: [:], registered: ["vfio-pci"])
        #expect(throws: BindingError.noSuchDevice("0000:00:03.0")) { try binder(kernel).bind(edu, to: .vfioPCI) }
    }
}
