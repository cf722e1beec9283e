import ArgumentParser
import Foundation
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import Logging

/// `irqbridge list [BDF] [--json] [--watch] [--policy FILE] [--dump FILE]`
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List PCI functions with their interrupt capabilities and CM resource descriptors.",
        discussion: """
            Without an address, the platform's IOMMU state first (IOMMU units and groups, \
            interrupt remapping, VFIO's allow_unsafe_interrupts and no-IOMMU mode, the kernel \
            command line's IOMMU and vfio options, and a warning for each thing missing), then \
            one line per function. With an address, that function in full: \
            BARs, capabilities, the policy applied and the raw and translated CM resource lists \
            IRP_MN_START_DEVICE would carry. --json prints an array with one object per function. \
            Bad input (a malformed or unknown address, an unreadable or broken file) is one line \
            on standard error and exit status 2.
            """)

    @Argument(help: ArgumentHelp("Show one function in full.", valueName: "0000:00:03.0"))
    var address: String?

    @Flag(help: "Print JSON (an array, one object per function) instead of a table.")
    var json = false

    @Flag(help: "After listing, print one line per PCI hot-plug event (add, remove, bind, unbind, change) until interrupted.")
    var watch = false

    @OptionGroup var discoveryOptions: DiscoveryOptions

    func validate() throws {
        if let address, PCIAddress(address) == nil {
            throw CommandFailure.badInput("malformed PCI address \"\(address)\" (expected DDDD:BB:DD.F or BB:DD.F, hexadecimal)")
        }
        if watch, discoveryOptions.dumpFile != nil {
            throw CommandFailure.badInput("--watch needs the live system, not --dump")
        }
    }

    func run() async throws {
        // Open the event stream before listing, so nothing between the two is missed.
        let events = watch ? try hotplugEvents() : nil
        try list()
        if let events {
            fflush(nil)
            try await follow(events)
        }
    }

    private func hotplugEvents() throws -> AsyncStream<PCIHotplugEvent> {
        do {
            return try PCIDiscovery.hotplugEvents()
        } catch {
            throw CommandFailure.failed("cannot watch for hot-plug events: \(error)")
        }
    }

    /// Prints each event as it arrives: a line of text, or a JSON object per line with --json.
    private func follow(_ events: AsyncStream<PCIHotplugEvent>) async throws {
        let wanted = address.flatMap { PCIAddress($0) }
        for await event in events where wanted == nil || event.address == wanted {
            print(json ? try ListOutput.json(event) : "\(event)")
            fflush(nil)  // a pipe reader sees each event as it happens
        }
    }

    private func list() throws {
        let logger = Logger(label: "irqbridge.list")
        let catalog: DeviceCatalog
        do {
            catalog = try discoveryOptions.discovery(logger: logger).catalog()
        } catch let error as DiscoveryError {
            // A broken dump file is bad input; a failure on the live system is not.
            if let dump = discoveryOptions.dumpFile {
                if case .access = error { throw CommandFailure.badInput("--dump: \(error)") }
                if case .malformedDevice(_, .truncated(available: PCIConfigSpace.headerSize, _, _)) = error {
                    throw CommandFailure.badInput("--dump: \(dump): \(error) (`lspci -x` shows 64 bytes per function; "
                                                  + "capabilities need `lspci -xxx` or `lspci -xxxx`)")
                }
                throw CommandFailure.badInput("--dump: \(dump): \(error)")
            }
            if case .malformedDevice(_, .truncated(available: PCIConfigSpace.headerSize, _, _)) = error {
                throw CommandFailure.failed("\(error) (without root the kernel shows only 64 bytes of config space)")
            }
            throw CommandFailure.failed("\(error)")
        }
        var devices = catalog.devices
        if let address, let wanted = PCIAddress(address) {
            guard let device = catalog.device(at: wanted) else {
                throw CommandFailure.badInput("no PCI function \(wanted) in \(discoveryOptions.dumpFile.map { "dump \($0)" } ?? "this system")")
            }
            devices = [device]
        }
        if json {
            print(try ListOutput.json(devices))
        } else if address != nil, let device = devices.first {
            print(ListOutput.detail(device, facts: catalog.facts), terminator: "")
        } else {
            // What binding to vfio-pci depends on, before the devices (live system only).
            if discoveryOptions.dumpFile == nil { print(IOMMUState.read().summary + "\n") }
            print(ListOutput.table(devices), terminator: "")
        }
    }
}
