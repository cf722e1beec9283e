import Foundation
import InterruptBridge
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
        // Every function with an enabled-capable interrupt got one.
        for device in catalog.devices where device.info.msix != nil || device.info.msi != nil {
            #expect(device.resources.interruptKind?.isMessageSignaled == true, "\(device.info.address)")
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
        // The suite is serialized, so no other stream of this suite is running.
        let before = UDevMonitor.runningThreads
        for _ in 0..<50 {
            var events: AsyncStream<PCIHotplugEvent>? = try PCIDiscovery.hotplugEvents()
            _ = events
            events = nil
        }
        for _ in 0..<250 where UDevMonitor.runningThreads > before {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(UDevMonitor.runningThreads == before)
    }

    @Test func cancellingTheConsumerStopsTheThread() async throws {
        let before = UDevMonitor.runningThreads
        let events = try PCIDiscovery.hotplugEvents()
        let consumer = Task { for await _ in events {} }
        #expect(UDevMonitor.runningThreads == before + 1)
        consumer.cancel()
        await consumer.value
        for _ in 0..<250 where UDevMonitor.runningThreads > before {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(UDevMonitor.runningThreads == before)
    }
}
