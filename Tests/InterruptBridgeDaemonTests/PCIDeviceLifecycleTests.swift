import Foundation
import InterruptBridgeCore
@testable import InterruptBridgeDaemon
import InterruptBridgeTestKit
import InterruptBridgeDiscovery
import InterruptBridgeTooling
import Testing

/// The daemon's PCI paths (bind, unbind, absent devices, reloads, the shutdown's give-back)
/// over a fake PCI core and the rig's lspci dump: no root, no VFIO.
@Suite("Daemon: PCI devices through bind, unbind, reload and shutdown")
struct PCIDeviceLifecycleTests {
    static let nic = "0000:00:07.0"

    /// The rig's NIC on e1000e, its host bridge, and vfio-pci registered.
    static func kernel() -> FakeBindingKernel {
        FakeBindingKernel(devices: [
            nic: .init(driver: "e1000e", defaultDriver: "e1000e", group: 7),
            "0000:00:00.0": .init(group: 0, classCode: 0x060000),
        ], registered: ["vfio-pci", "e1000e"])
    }

    @Test func aDeviceGivenBackThroughTheAPIIsUnboundAndNotConfigured() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        let bound = try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"])
        #expect(bound.status == 200, "\(bound.json)")
        #expect(bound.json["state"] as? String == "bound")
        #expect(bound.json["configured"] as? Bool == true)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci")

        let unbound = try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind")
        #expect(unbound.status == 200, "\(unbound.json)")
        // Out of the running configuration, and its state says so (not "configured").
        #expect(unbound.json["state"] as? String == "unbound")
        #expect(unbound.json["configured"] as? Bool == false)
        #expect(kernel.driver(of: Self.nic) == "e1000e")
        try await daemon.stop()
    }

    /// Start-up does not take a card VFIO could not open: another member of its IOMMU group
    /// is on a kernel driver the configuration does not name. It stays on its own driver,
    /// failed with the reason (it had been bound, failed "group not viable", and kept).
    @Test func aCardWhoseGroupIsNotViableStaysOnItsDriver() async throws {
        let kernel = FakeBindingKernel(devices: [
            Self.nic: .init(driver: "e1000e", defaultDriver: "e1000e", group: 7),
            "0000:00:08.0": .init(driver: "nvme", defaultDriver: "nvme", group: 7),
        ], registered: ["vfio-pci", "e1000e", "nvme"])
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        let status = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(status["state"] as? String == "failed", "\(status)")
        let reason = status["reason"] as? String ?? ""
        #expect(reason.contains("IOMMU group 7 also holds 0000:00:08.0 on nvme") && reason.contains("left on e1000e"), "\(reason)")
        #expect(kernel.driver(of: Self.nic) == "e1000e")
        try await daemon.stop()
    }

    /// Moved by the API from vfio-pci to uio_pci_generic, the card still reports the driver
    /// it goes back to, its own (it had said vfio-pci, the one it just left).
    @Test func previousDriverIsTheOneTheCardGoesBackTo() async throws {
        let kernel = Self.kernel()
        kernel.state.withLock { _ = $0.registered.insert("uio_pci_generic") }
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        let first = try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"])
        #expect(first.json["previousDriver"] as? String == "e1000e", "\(first.json)")
        let moved = try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["driver": "uio_pci_generic"])
        #expect(moved.status == 200, "\(moved.json)")
        #expect(kernel.driver(of: Self.nic) == "uio_pci_generic")
        #expect(moved.json["previousDriver"] as? String == "e1000e", "\(moved.json)")
        try await daemon.stop()
        #expect(kernel.driver(of: Self.nic) == "e1000e")
    }

    @Test func aBridgeIsRefusedWithoutTheCommandLinesForce() async throws {
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: Self.kernel())
        let refused = try await daemon.call("POST", "/v1/devices/0000:00:00.0/bind")
        #expect(refused.status == 409)
        let message = refused.json["error"] as? String ?? ""
        #expect(message.contains("host bridge") && message.contains("the daemon does not bind bridges"), "\(message)")
        #expect(!message.contains("--force"), "\(message)")
        #expect(try await daemon.call("GET", "/v1/devices").array.isEmpty, "a refused bind left an entry")
        try await daemon.stop()
    }

    @Test func aConfiguredDeviceNotOnTheBusStaysAbsentAndIsReportedOnce() async throws {
        let configuration = "devices:\n  \"0000:00:1e.0\": {driver: vfio-pci}\n"
        let daemon = try await DaemonHarness(configuration, kernel: Self.kernel())
        #expect(try await daemon.call("GET", "/v1/devices/0000:00:1e.0").json["state"] as? String == "absent")
        let (id, stream) = daemon.services.events.watch(internal: true)
        defer { daemon.services.events.unwatch(id) }

        let bind = try await daemon.call("POST", "/v1/devices/0000:00:1e.0/bind")
        #expect(bind.status == 404, "\(bind.json)")
        #expect(try await daemon.call("GET", "/v1/devices/0000:00:1e.0").json["state"] as? String == "absent")
        // Refused calls leave it absent (not removed, not failed): it is bound when it appears.
        for call in ["unbind", "connect"] {
            let refused = try await daemon.call("POST", "/v1/devices/0000:00:1e.0/\(call)")
            #expect(refused.status == 409 && (refused.json["error"] as? String ?? "").contains("not on the bus"), "\(call): \(refused.json)")
            #expect(try await daemon.call("GET", "/v1/devices/0000:00:1e.0").json["state"] as? String == "absent", "after \(call)")
        }

        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.json["message"] as? String == "reloaded: 0 added, 0 changed, 0 removed")
        // A second card not on the bus, added by a reload: reported as absent, which is not a
        // failure an alert should page for; the first is not reported again.
        try "devices:\n  \"0000:00:1e.0\": {driver: vfio-pci}\n  \"0000:00:1d.0\": {driver: vfio-pci}\n"
            .write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let added = try await daemon.call("POST", "/v1/reload").json
        #expect(added["message"] as? String == "reloaded: 1 added, 0 changed, 0 removed, 1 absent (0000:00:1d.0)", "\(added)")
        _ = daemon.services.events.publish(DaemonEvent(kind: .milestone, message: "end of test"))
        var failed = 0, absent: [String] = []
        for await event in stream {
            if event.kind == .failed { failed += 1 }
            if event.kind == .absent { absent.append(event.device ?? "") }
            if event.message == "end of test" { break }
        }
        #expect(failed == 0, "the absent device was reported failed \(failed) times")
        #expect(absent == ["0000:00:1d.0"], "absent reported for the added card only, once: \(absent)")
        try await daemon.stop()
    }

    @Test func aReloadRetriesAFailedDeviceWithoutCallingItAdded() async throws {
        // Bound by the fake kernel, but the connect opens the function through the live
        // system, where it is not on vfio-pci (or not there at all): the device is `failed`.
        let configuration = "devices:\n  \"\(Self.nic)\": {from: e1000e}\n"
        let daemon = try await DaemonHarness(configuration, kernel: Self.kernel())
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "failed")
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.json["message"] as? String == "reloaded: 0 added, 0 changed, 0 removed, 1 retried, 1 failed (\(Self.nic))")
        #expect(reloaded.json["applied"] as? Bool == true && reloaded.json["failed"] as? [String] == [Self.nic], "\(reloaded.json)")
        try await daemon.stop()
    }

    @Test func aChangedEntryOfAFailedDeviceIsAChangeNotAlsoARetry() async throws {
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: Self.kernel())
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "failed")
        try "devices:\n  \"\(Self.nic)\": {from: e1000e, on-exit: keep}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.json["message"] as? String == "reloaded: 0 added, 1 changed, 0 removed, 1 failed (\(Self.nic))")
        try await daemon.stop()
    }

    /// The entry names the same profile file before and after; only the file was edited. The
    /// reload takes that for a change (the card is reconnected with the edited profile), not for
    /// the same entry, which left a connected card on the profile it was connected with.
    @Test func aReloadAfterTheProfileFileAloneWasEditedIsAChange() async throws {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-card-\(UUID().uuidString.prefix(8)).yaml").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let card = "name: card\nmatch: {vendor: 0x8086, device: 0x10d3}\nstimulus: {loopback: true}\nacknowledge:\n  - return: claimed\n"
        try card.write(toFile: profile, atomically: true, encoding: .utf8)
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e, profile: \(profile)}\n", kernel: Self.kernel())
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "failed")
        try card.replacingOccurrences(of: "return: claimed", with: "return: unclaimed").write(toFile: profile, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.json["message"] as? String == "reloaded: 0 added, 1 changed, 0 removed, 1 failed (\(Self.nic))", "\(reloaded.json)")
        // Unedited since: the same entry, retried.
        let again = try await daemon.call("POST", "/v1/reload")
        #expect(again.json["message"] as? String == "reloaded: 0 added, 0 changed, 0 removed, 1 retried, 1 failed (\(Self.nic))", "\(again.json)")
        try await daemon.stop()
    }

    @Test func aFailedUnbindLeavesTheDeviceFailedAndTheDrainTriesAgain() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        kernel.unregister("e1000e")
        let unbind = try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind")
        #expect(unbind.status == 500, "\(unbind.json)")
        let status = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(status["state"] as? String == "failed" && (status["reason"] as? String ?? "").hasPrefix("giving it back failed"), "\(status)")
        await #expect(throws: DaemonShutdownError.self) { try await daemon.stop() }
    }

    /// Taken behind the daemon's back by another kernel driver (no udev event seen): ctl
    /// unbind refuses, and says `released`, not `failed`; nothing is left to give back.
    /// Back on the driver it had, it is given back: only the record was left.
    @Test func anUnbindOfADeviceAlreadyOnAKernelDriverIsAConflictNotAFailure() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        kernel.state.withLock { $0.devices[Self.nic]?.driver = "igb" }
        let unbind = try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind")
        #expect(unbind.status == 409, "\(unbind.json)")
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "released")

        kernel.state.withLock { $0.devices[Self.nic]?.driver = "e1000e" }
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        kernel.state.withLock { $0.devices[Self.nic]?.driver = "e1000e" }
        let back = try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind")
        #expect(back.status == 200 && back.json["state"] as? String == "unbound", "\(back.json)")
        try await daemon.stop()
    }

    /// A reload applies the file's difference: a card a harness bound through the API (not in
    /// the file) stays bound across a reload for an unrelated change.
    @Test func aCardBoundThroughTheAPISurvivesAReload() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        try "settings: {milestone: 200}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.json["message"] as? String == "reloaded: 0 added, 0 changed, 0 removed", "\(reloaded.json)")
        #expect(reloaded.json["failed"] as? [String] == [], "\(reloaded.json)")
        #expect(kernel.driver(of: Self.nic) == "vfio-pci", "still bound")
        let status = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(status["configured"] as? Bool == true, "\(status)")
        try await daemon.stop()
        #expect(kernel.driver(of: Self.nic) == "e1000e", "given back at shutdown")
    }

    /// A card the file names and a harness unbound through the API stays unbound across a
    /// reload that leaves its entry as it was, and is bound again once the entry changes.
    @Test func aCardUnboundThroughTheAPIStaysUnboundUntilItsEntryChanges() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci")
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind").status == 200)
        #expect(kernel.driver(of: Self.nic) == "e1000e")
        try "settings: {milestone: 200}\ndevices:\n  \"\(Self.nic)\": {from: e1000e}\n".write(
            toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        _ = try await daemon.call("POST", "/v1/reload")
        #expect(kernel.driver(of: Self.nic) == "e1000e", "the unbind stands")
        try "devices:\n  \"\(Self.nic)\": {from: e1000e, on-exit: keep}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        _ = try await daemon.call("POST", "/v1/reload")
        #expect(kernel.driver(of: Self.nic) == "vfio-pci", "a changed entry is the file's word again")
        try await daemon.stop()
    }

    /// A change to what is read later (on-exit at exit, per-message-metrics at scrape, from at
    /// the next bind) does not reconnect a card; anything else does.
    @Test func onlyConnectionSettingsReconnectACard() throws {
        let old = DeviceEntry(selector: .address(PCIAddress(Self.nic)!))
        var later = old
        later.onExit = .keep
        later.perMessageMetrics = true
        later.from = "e1000e"
        later.storm = StormOverrides()
        later.storm?.rateLimit = 5000
        #expect(DeviceRegistry.takesEffectWithoutReconnecting(from: old, to: later))
        var connection = later
        connection.connect = .lineBased
        #expect(!DeviceRegistry.takesEffectWithoutReconnecting(from: old, to: connection))
        var driver = old
        driver.driver = .uioPCIGeneric
        #expect(!DeviceRegistry.takesEffectWithoutReconnecting(from: old, to: driver))
    }

    /// The same for a card a vendor:device entry selects.
    @Test func aCardAnIdsEntrySelectsStaysUnboundAcrossAReload() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"8086:10d3\": {from: e1000e}\n", kernel: kernel)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci")
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind").status == 200)
        _ = try await daemon.call("POST", "/v1/reload")
        #expect(kernel.driver(of: Self.nic) == "e1000e", "the unbind stands while the entry is unchanged")
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind").status == 200)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci", "bound again through the API")
        try await daemon.stop()
    }

    /// A card the file names, rebound through the API on another driver, keeps that driver
    /// across a reload that leaves the file's entry as it was.
    @Test func aDriverChosenThroughTheAPIStandsAcrossAReload() async throws {
        let kernel = FakeBindingKernel(devices: [Self.nic: .init(driver: "e1000e", defaultDriver: "e1000e", group: 7)],
                                       registered: ["vfio-pci", "uio_pci_generic", "e1000e"])
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind").status == 200)
        let bound = try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["driver": "uio_pci_generic", "from": "e1000e"])
        #expect(bound.status == 200, "\(bound.json)")
        #expect(kernel.driver(of: Self.nic) == "uio_pci_generic")
        _ = try await daemon.call("POST", "/v1/reload")
        #expect(kernel.driver(of: Self.nic) == "uio_pci_generic", "the API's driver stands")
        try await daemon.stop()
    }

    /// A card re-plugged onto no driver whose entry refuses it outright (its line under
    /// uio_pci_generic, no acknowledge program) is not handled again: the retries meant for a
    /// card bound before the kernel finished adding it only repeated the same `failed` event.
    @Test func aCardItsEntryRefusesIsNotRetriedWhenItAppears() async throws {
        // The rig's AHCI controller: an INTx pin, MSI, and no built-in profile.
        let sata = "0000:00:1f.2"
        let kernel = FakeBindingKernel(devices: [sata: .init(group: 9)], registered: ["vfio-pci", "uio_pci_generic"])
        let daemon = try await DaemonHarness("devices:\n  \"\(sata)\": {driver: uio_pci_generic}\n", kernel: kernel)
        let appeared = PCIHotplugEvent(action: .add, address: PCIAddress(sata)!)
        await daemon.services.registry.handle(appeared)
        let status = try await daemon.call("GET", "/v1/devices/\(sata)").json
        #expect(status["state"] as? String == "failed", "\(status["state"] ?? "-")")
        #expect((status["reason"] as? String ?? "").contains("no acknowledge program"), "\(status["reason"] ?? "-")")
        #expect(kernel.driver(of: sata) == nil)
        #expect(await daemon.services.registry.arrivedUnbound(appeared) == false)
        try await daemon.stop()
    }

    @Test func aDeviceDroppedFromTheFileThatCannotBeGivenBackIsKeptForTheDrain() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        kernel.unregister("e1000e")
        try "settings: {milestone: 100}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        #expect(try await daemon.call("POST", "/v1/reload").json["message"] as? String == "reloaded: 0 added, 0 changed, 1 removed, 1 failed (\(Self.nic))")
        let status = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(status["state"] as? String == "failed" && status["configured"] as? Bool == false, "\(status)")
        await #expect {
            try await daemon.stop()
        } throws: { error in
            (error as? DaemonShutdownError)?.devices == [Self.nic]
        }
    }

    /// Its own driver took the device back while the daemon held it (the module reloaded,
    /// no event seen): shutdown drops the binding record, says so, and is not a failure.
    @Test func aDeviceBackOnItsOwnDriverLeavesNoRecordAtShutdown() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        let records = BindingRecordStore(directory: daemon.directory + "/state/bindings")
        #expect(records.load(Self.nic)?.originalDriver == "e1000e")
        kernel.state.withLock { $0.devices[Self.nic]?.driver = "e1000e" }
        try await daemon.stop()
        #expect(records.load(Self.nic) == nil)
    }

    /// The same for a device the file no longer names: retired as `released`, not "given back".
    @Test func aDeviceDroppedFromTheFileBackOnItsOwnDriverIsReleased() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        kernel.state.withLock { $0.devices[Self.nic]?.driver = "e1000e" }
        let (id, stream) = daemon.services.events.watch(internal: true)
        defer { daemon.services.events.unwatch(id) }
        try "settings: {milestone: 100}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        #expect(try await daemon.call("POST", "/v1/reload").json["message"] as? String == "reloaded: 0 added, 0 changed, 1 removed")
        _ = daemon.services.events.publish(DaemonEvent(kind: .milestone, message: "end of test"))
        var retired: [(DaemonEvent.Kind, String)] = []
        for await event in stream {
            if event.message == "end of test" { break }
            if event.device == Self.nic { retired.append((event.kind, event.message)) }
        }
        #expect(retired.contains { $0.0 == .released && $0.1.hasSuffix("it is on e1000e already") }, "\(retired)")
        #expect(!retired.contains { $0.0 == .unbound }, "\(retired)")
        #expect(BindingRecordStore(directory: daemon.directory + "/state/bindings").load(Self.nic) == nil)
        try await daemon.stop()
    }

    /// Pulled: the kernel's remove event may reach the registry before the dispatcher's own
    /// removal does (each comes through its own queue). Either way a watcher sees `removed`
    /// once, then `hotplug-removed`.
    @Test func aRemoveEventBeforeTheDispatchersIsStillARemovedEvent() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"\(Self.nic)\": {from: e1000e}\n", kernel: kernel)
        let (id, stream) = daemon.services.events.watch(internal: true)
        defer { daemon.services.events.unwatch(id) }
        await daemon.services.registry.handle(PCIHotplugEvent(action: .remove, address: PCIAddress(Self.nic)!))
        await daemon.services.registry.handle(PCIHotplugEvent(action: .remove, address: PCIAddress(Self.nic)!))
        _ = daemon.services.events.publish(DaemonEvent(kind: .milestone, message: "end of test"))
        var kinds: [DaemonEvent.Kind] = []
        for await event in stream {
            if event.message == "end of test" { break }
            if event.device == Self.nic { kinds.append(event.kind) }
        }
        #expect(kinds == [.removed, .hotplugRemoved, .hotplugRemoved], "\(kinds)")
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "removed")
        try await daemon.stop()
    }

    /// Given back through the API (`unbound`) or unbound by someone else (`released`), a card
    /// its entry names is the operator's until a bind call: pulled and plugged in again it
    /// returns to that state, not to the configuration (the add event re-bound it).
    @Test(arguments: ["unbound", "released"])
    func aCardHeldBackWhenPulledIsNotTakenWhenItComesBack(heldBack: String) async throws {
        let kernel = Self.kernel()
        // By vendor and device: an entry that still selects the card after it was given back.
        let daemon = try await DaemonHarness("devices:\n  \"8086:10d3\": {driver: vfio-pci}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci")
        if heldBack == "unbound" {
            #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/unbind").status == 200)
        } else {
            // Released long before the pull (a release just before it is the pull's own unbind).
            await daemon.services.registry.setPullUnbindWindow(.zero)
            try kernel.unbind(Self.nic, from: "vfio-pci")
            await daemon.services.registry.handle(PCIHotplugEvent(action: .unbind, address: PCIAddress(Self.nic)!))
        }
        let before = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(before["state"] as? String == heldBack)
        let driverBefore = kernel.driver(of: Self.nic)
        await daemon.services.registry.handle(PCIHotplugEvent(action: .remove, address: PCIAddress(Self.nic)!))
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "removed")
        await daemon.services.registry.handle(PCIHotplugEvent(action: .add, address: PCIAddress(Self.nic)!))
        let after = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(after["state"] as? String == heldBack, "\(after)")
        #expect(after["reason"] as? String == before["reason"] as? String)
        #expect(kernel.driver(of: Self.nic) == driverBefore, "the card was taken again")
        // A bind call makes it the daemon's again.
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci")
        try await daemon.stop()
    }

    /// A pull unbinds the card's driver before it removes the device, and the unbind can come
    /// first: a card released just before its removal was not held back by anyone, and is
    /// taken again when it comes back (a UIO card under test stayed `released` after re-plug).
    @Test func aCardReleasedByItsOwnPullIsTakenAgainWhenItComesBack() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("devices:\n  \"8086:10d3\": {driver: vfio-pci}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        try kernel.unbind(Self.nic, from: "vfio-pci")
        await daemon.services.registry.handle(PCIHotplugEvent(action: .unbind, address: PCIAddress(Self.nic)!))
        await daemon.services.registry.handle(PCIHotplugEvent(action: .remove, address: PCIAddress(Self.nic)!))
        await daemon.services.registry.handle(PCIHotplugEvent(action: .add, address: PCIAddress(Self.nic)!))
        #expect(kernel.driver(of: Self.nic) == "vfio-pci", "the card its entry selects was not taken again")
        try await daemon.stop()
    }

    /// Unbound from vfio-pci by someone else, the device is `released`, on no driver, with
    /// the daemon's driver_override and record still on it: shutdown gives it back to its
    /// driver like the others (a probe found it left on no driver, override and record kept).
    @Test func aReleasedDeviceIsGivenBackAtShutdown() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        try kernel.unbind(Self.nic, from: "vfio-pci")
        await daemon.services.registry.handle(PCIHotplugEvent(action: .unbind, address: PCIAddress(Self.nic)!))
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "released")
        // A connect is refused and leaves it released: marked failed, the next reload took it
        // for a failure to retry and bound the card again.
        let connect = try await daemon.call("POST", "/v1/devices/\(Self.nic)/connect")
        #expect(connect.status == 409 && (connect.json["error"] as? String ?? "").contains("bind it first"), "\(connect.json)")
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "released")
        #expect(try await daemon.call("POST", "/v1/reload").status == 200)
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "released")
        #expect(kernel.driver(of: Self.nic) == nil, "the reload took the released card back")
        try await daemon.stop()
        #expect(kernel.driver(of: Self.nic) == "e1000e" && kernel.device(Self.nic)?.override == nil)
        #expect(BindingRecordStore(directory: daemon.directory + "/state/bindings").load(Self.nic) == nil)
    }

    /// Unbound from vfio-pci by hand and left on no driver, the card is the user's: once it
    /// has settled there the daemon's driver_override comes off, so its own driver's probe
    /// (or a bind by hand) can take it, and shutdown finds it there and only drops the record.
    @Test func aReleasedDeviceIsFreeForItsOwnDriver() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        #expect(kernel.device(Self.nic)?.override == "vfio-pci")
        try kernel.unbind(Self.nic, from: "vfio-pci")
        await daemon.services.registry.handle(PCIHotplugEvent(action: .unbind, address: PCIAddress(Self.nic)!))
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "released")
        // Not at once: an unbind followed by a probe is a reset through the override.
        #expect(kernel.device(Self.nic)?.override == "vfio-pci")
        var cleared = false
        for _ in 0..<100 where !cleared {
            try await Task.sleep(for: .milliseconds(50))
            cleared = kernel.device(Self.nic)?.override == nil
        }
        #expect(cleared, "the daemon's override was left on the released card")
        try kernel.probe(Self.nic)
        #expect(kernel.driver(of: Self.nic) == "e1000e")
        // Bound again through the API, it is the daemon's once more, its original driver kept.
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        #expect(kernel.driver(of: Self.nic) == "vfio-pci")
        try await daemon.stop()
        #expect(kernel.driver(of: Self.nic) == "e1000e" && kernel.device(Self.nic)?.override == nil)
        #expect(BindingRecordStore(directory: daemon.directory + "/state/bindings").load(Self.nic) == nil)
    }

    /// Released onto another user-space driver someone chose (a harness moving the card to
    /// uio_pci_generic), the device is theirs: shutdown leaves it there.
    @Test func aDeviceReleasedOntoAnotherDriverIsLeftThereAtShutdown() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        try kernel.unbind(Self.nic, from: "vfio-pci")
        kernel.state.withLock { _ = $0.registered.insert("uio_pci_generic") }
        try kernel.bind(Self.nic, to: "uio_pci_generic")
        await daemon.services.registry.handle(PCIHotplugEvent(action: .unbind, address: PCIAddress(Self.nic)!))
        #expect(try await daemon.call("GET", "/v1/devices/\(Self.nic)").json["state"] as? String == "released")
        try await daemon.stop()
        #expect(kernel.driver(of: Self.nic) == "uio_pci_generic")
    }

    /// A refused bind of a device the daemon does not manage (a bridge, a typo, one in use)
    /// leaves no entry and reports no device `failed`: nothing the daemon manages failed.
    @Test func aRefusedBindOfAnUnknownDeviceIsNotReportedFailed() async throws {
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: Self.kernel())
        let (id, stream) = daemon.services.events.watch(internal: true)
        defer { daemon.services.events.unwatch(id) }
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind").status == 409, "in use by e1000e, no from")
        _ = daemon.services.events.publish(DaemonEvent(kind: .milestone, message: "end of test"))
        var failed = 0
        for await event in stream {
            if event.message == "end of test" { break }
            if event.kind == .failed { failed += 1 }
        }
        #expect(failed == 0)
        try await daemon.stop()
    }

    @Test func aDevicePulledWithoutAnEventIsNotAFailedGiveBack() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        kernel.remove(Self.nic)
        try await daemon.stop()
        // Gone with the card: a record left would stay for good (re-adopted as absent at each start).
        #expect(BindingRecordStore(directory: daemon.directory + "/state/bindings").load(Self.nic) == nil)
    }

    /// Pulled with its removal event, the card's binding record goes at shutdown too.
    @Test func aPulledCardLeavesNoBindingRecordAtShutdown() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        #expect(BindingRecordStore(directory: daemon.directory + "/state/bindings").load(Self.nic) != nil)
        kernel.remove(Self.nic)
        await daemon.services.registry.handle(PCIHotplugEvent(action: .remove, address: PCIAddress(Self.nic)!))
        try await daemon.stop()
        #expect(BindingRecordStore(directory: daemon.directory + "/state/bindings").load(Self.nic) == nil)
    }

    /// A card whose config space does not decode (a capability list that loops) is left out
    /// of the daemon's view of the bus; it used to make every configured card look absent.
    @Test func aMalformedNeighbourDoesNotHideTheConfiguredCards() async throws {
        let rig = try String(contentsOfFile: DaemonHarness.fixture("rig-q35.lspci"), encoding: .utf8)
        let broken = try String(contentsOfFile: DaemonHarness.fixture("malformed-capability-loop.lspci"), encoding: .utf8)
        // The rig's dump with its 00:03.0 replaced by the looping one.
        let blocks = rig.components(separatedBy: "\n\n").filter { !$0.hasPrefix("00:03.0") && !$0.isEmpty }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-mixed-\(UUID().uuidString.prefix(8)).lspci").path
        try (broken.trimmingCharacters(in: .newlines) + "\n\n" + blocks.joined(separator: "\n\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = "devices:\n  \"\(Self.nic)\": {from: e1000e}\n  \"0000:00:03.0\": {}\n"
        let daemon = try await DaemonHarness(configuration, kernel: Self.kernel(), dump: path)
        let status = try await daemon.call("GET", "/v1/devices/\(Self.nic)").json
        #expect(status["state"] as? String != "absent", "\(status)")
        #expect(status["previousDriver"] as? String == "e1000e", "it was bound: \(status)")
        // The broken card itself is there, and failed with the reason, not "not on the bus".
        let edu = try await daemon.call("GET", "/v1/devices/0000:00:03.0").json
        #expect(edu["state"] as? String == "failed" && (edu["reason"] as? String ?? "").contains("capability list loops"), "\(edu)")
        try await daemon.stop()
    }

    @Test func aDeviceThatCannotBeGivenBackFailsTheShutdown() async throws {
        let kernel = Self.kernel()
        let daemon = try await DaemonHarness("settings: {milestone: 100}\n", kernel: kernel)
        #expect(try await daemon.call("POST", "/v1/devices/\(Self.nic)/bind", ["from": "e1000e"]).status == 200)
        kernel.unregister("e1000e")
        await #expect {
            try await daemon.stop()
        } throws: { error in
            (error as? DaemonShutdownError)?.devices == [Self.nic]
                && "\(error)".contains("run irqbridge unbind \(Self.nic) to retry")
        }
        #expect(kernel.driver(of: Self.nic) == nil)
    }
}
