import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeSystem
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
            Without root the kernel shows 64 bytes of each function: MSI and MSI-X are then ?, and \
            ASSIGNED too where the policy allows messages (JSON: capabilitiesReadable false, resources \
            null), with one warning. A function \
            whose config space does not decode is left out and named on standard error after the \
            rest, with exit status 1 (2 for --dump). Bad input (a malformed or unknown address, an \
            unreadable or broken file) is one line on standard error and exit status 2.
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
            throw CommandFailure.notAPCIAddress(address)
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
            // "Until interrupted": a script's background job starts with SIGINT ignored (the
            // shell's rule for non-interactive jobs), which would make `kill -INT` do nothing.
            // Nothing needs cleaning up, so SIGINT ends it as it ends any program (status 130).
            Signals.restoreDefault(SIGINT)
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
        let discovery = try discoveryOptions.discovery(logger: Logger(label: "irqbridge.list"))
        if let address, let wanted = PCIAddress(address) {
            // Only that function is read, so a malformed neighbour does not hide it.
            let catalog: DeviceCatalog
            do { catalog = try discovery.catalog(at: wanted) } catch { throw failure(error) }
            guard let device = catalog.devices.first else {
                throw CommandFailure.badInput("no PCI function \(wanted) in \(discoveryOptions.dumpFile.map { "dump \($0)" } ?? "this system")")
            }
            print(json ? try ListOutput.json([device]) : ListOutput.detail(device, facts: catalog.facts, fromDump: discoveryOptions.dumpFile != nil), terminator: json ? "\n" : "")
            return
        }
        let found: (catalog: DeviceCatalog, malformed: [DiscoveryError])
        do { found = try discovery.decodedCatalog() } catch { throw failure(error) }
        if json {
            print(try ListOutput.json(found.catalog.devices))
        } else {
            // What binding to vfio-pci depends on, before the devices (live system only).
            if discoveryOptions.dumpFile == nil { print(IOMMUState.read().summary + "\n") }
            print(ListOutput.table(found.catalog.devices), terminator: "")
        }
        let unreadable = found.catalog.devices.filter(\.info.capabilitiesUnreadable)
        if !unreadable.isEmpty {
            fflush(nil)
            // ASSIGNED (resources) is unknown only where the policy allows messages.
            let unknown = unreadable.filter { !$0.isAssignmentKnown }.count
            let which = unknown == unreadable.count ? "each" : "\(unknown)"
            let shown = json ? "capabilitiesReadable false" + (unknown > 0 ? ", resources null for \(which)" : "")
                : "MSI and MSI-X shown as ?" + (unknown > 0 ? ", ASSIGNED too for \(which)" : "")
            StandardError.write("irqbridge: warning: \(unreadable.count) function\(unreadable.count == 1 ? "" : "s") with unreadable "
                                + "capabilities: \(shown): \(ListOutput.unreadableReason(fromDump: discoveryOptions.dumpFile != nil))\n")
        }
        // One broken card does not hide the rest of the bus: the rest is listed, then the
        // broken ones are named, and the status says the listing is not whole.
        if !found.malformed.isEmpty {
            fflush(nil)
            let failure = failure(found.malformed, leftOut: true)
            // --watch goes on following events: said, not ended.
            guard watch else { throw failure }
            StandardError.write("irqbridge: warning: \(failure)\n")
        }
    }

    /// A discovery failure as the CLI reports it: a broken dump file is bad input (2); a
    /// failure on the live system is not (1).
    private func failure(_ errors: [DiscoveryError], leftOut: Bool = false) -> CommandFailure {
        let message = errors.map { "\($0)" }.joined(separator: "; ") + (leftOut ? " (left out of the list)" : "")
        guard let dump = discoveryOptions.dumpFile else { return .failed(message) }
        if errors.count == 1, case .access = errors[0] { return .badInput("--dump: \(message)") }
        return .badInput("--dump: \(dump): \(message)")
    }

    private func failure(_ error: DiscoveryError) -> CommandFailure { failure([error]) }
}
