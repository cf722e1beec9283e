import Foundation
import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Testing

/// On the machine the tests run on: libpci and libudev must agree, and the hot-plug
/// stream must deliver a kernel uevent. Skipped where there is no PCI bus in sysfs.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: "/sys/bus/pci/devices")))
struct LiveDiscoveryTests {
    static let isRoot = getuid() == 0

    @Test func udevAndLibpciSeeTheSameFunctionsAndDrivers() throws {
        let udev = try UDev.pciFunctions()
        let libpci = try PCIAccess.scan(.live)
        #expect(!udev.isEmpty)
        #expect(udev.map(\.address) == libpci.map(\.address))
        #expect(udev.map(\.driver) == libpci.map(\.driver))
    }

    @Test(.enabled(if: isRoot, "full config space needs root"))
    func liveCatalogHasSizedBARsAndFactsFromThisMachine() throws {
        let catalog = try PCIDiscovery(logger: Logger(label: "test.live")).catalog()
        #expect(!catalog.devices.isEmpty)
        let online = try #require(ProcessorAffinity(linuxCPUList: SystemFacts.readText(SystemFacts.onlineCPUsPath)))
        #expect(catalog.facts.onlineProcessors == online)
        // Live BARs carry sizes (from sysfs), unlike dumps.
        let bars = catalog.devices.flatMap(\.info.bars)
        #expect(bars.allSatisfy { $0.size > 0 })
        // Every function with an enabled-capable interrupt got one; under uio_pci_generic,
        // which delivers INTx only, its line.
        for device in catalog.devices where device.info.msix != nil || device.info.msi != nil {
            if device.info.driver == "uio_pci_generic" {
                #expect(device.resources.interruptKind == .intx, "\(device.info.address)")
            } else {
                #expect(device.resources.interruptKind?.isMessageSignaled == true, "\(device.info.address)")
            }
        }
        // An IRQ not yet routed is the firmware's Interrupt Line value on a function not enabled.
        for device in catalog.devices {
            let enable = try? String(contentsOfFile: "/sys/bus/pci/devices/\(device.info.address)/enable", encoding: .utf8)
            if device.info.irqLine == nil || enable == nil {
                #expect(device.info.isIRQRouted == nil, "\(device.info.address)")
            } else if device.info.isIRQRouted == false {
                #expect(enable?.hasPrefix("0") == true, "\(device.info.address)")
            }
        }
    }

    static let hasUserSpaceDriver = ((try? UDev.pciFunctions()) ?? []).contains {
        $0.driver == "vfio-pci" || ($0.driver ?? "").hasPrefix("uio")
    }

    /// Runs where a function is bound to vfio-pci or a UIO driver (the QEMU rig: scripts/rig/run.sh --bind).
    @Test(.enabled(if: hasUserSpaceDriver, "no function is bound to vfio-pci or a UIO driver"))
    func userSpaceDriversGetTheirDeviceNodes() throws {
        let functions = try UDev.pciFunctions()
        let groups = Dictionary(uniqueKeysWithValues: try PCIAccess.scan(.live).map { ($0.address, $0.iommuGroup) })
        for function in functions {
            let nodes = try UDev.deviceNodes(for: function.address)
            if function.driver == "vfio-pci" {
                let group = try #require(groups[function.address] ?? nil, "\(function.address) is bound to vfio-pci without an IOMMU group")
                #expect(nodes == DeviceNodes(vfioGroup: "/dev/vfio/\(group)"))
                #expect(FileManager.default.fileExists(atPath: "/dev/vfio/\(group)"))
            } else if (function.driver ?? "").hasPrefix("uio") {
                let node = try #require(nodes.uio, "\(function.address) is bound to \(function.driver ?? "") without a /dev/uioN")
                #expect(node.hasPrefix("/dev/uio") && FileManager.default.fileExists(atPath: node))
                #expect(nodes.vfioGroup == nil)
            }
        }
    }

    @Test func functionsWithoutVFIOOrUIODriverHaveNoNodes() throws {
        for function in try UDev.pciFunctions() where function.driver != "vfio-pci" && !(function.driver ?? "").hasPrefix("uio") {
            #expect(try UDev.deviceNodes(for: function.address) == DeviceNodes())
        }
    }

    /// Writing "change" to a function's uevent file makes the kernel emit a synthetic
    /// uevent (what `udevadm trigger --action=change` does); nothing about the device changes.
    @Test(.enabled(if: isRoot, "writing a uevent file needs root"), .timeLimit(.minutes(1)))
    func hotplugStreamDeliversAKernelUevent() async throws {
        let function = try #require(try UDev.pciFunctions().last)
        let events = try PCIDiscovery.hotplugEvents()
        let received = Task { () -> PCIHotplugEvent? in
            for await event in events where event.address == function.address { return event }
            return nil
        }
        // Keep triggering until the stream has seen one (the socket may bind after the first write).
        let trigger = Task {
            while !Task.isCancelled {
                try "change".write(toFile: function.syspath + "/uevent", atomically: false, encoding: .utf8)
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { trigger.cancel() }
        let event = await received.value
        #expect(event?.action == .change)
        #expect(event?.driver == function.driver)
    }

    @Test func droppingTheStreamStopsItsThread() async throws {
        try await requireNoMonitorThreads()
        for _ in 0..<50 {
            var events: AsyncStream<PCIHotplugEvent>? = try PCIDiscovery.hotplugEvents()
            _ = events
            events = nil
        }
        try await waitForMonitorThreads(atMost: 0)
        #expect(UDevMonitor.runningThreads == 0)
    }

    @Test func cancellingTheConsumerStopsTheThread() async throws {
        try await requireNoMonitorThreads()
        let events = try PCIDiscovery.hotplugEvents()
        let consumer = Task { for await _ in events {} }
        #expect(UDevMonitor.runningThreads == 1)
        consumer.cancel()
        await consumer.value
        try await waitForMonitorThreads(atMost: 0)
        #expect(UDevMonitor.runningThreads == 0)
    }

    /// Waits until the monitor threads of earlier tests have wound down (each ends
    /// shortly after its stream) and requires that none runs, so the counts a test
    /// checks are its own threads'. The suite is serialized and no other suite opens
    /// streams. The bound is generous: a loaded 2-core machine can take seconds to
    /// schedule 50 exiting threads.
    private func requireNoMonitorThreads() async throws {
        try await waitForMonitorThreads(atMost: 0)
        try #require(UDevMonitor.runningThreads == 0, "monitor threads of earlier tests did not stop within 30 s")
    }

    /// Polls until at most `count` monitor threads run, for up to 30 seconds.
    private func waitForMonitorThreads(atMost count: Int) async throws {
        for _ in 0..<1500 where UDevMonitor.runningThreads > count {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
