import ArgumentParser
import InterruptBridge
import InterruptBridgeCore
import Logging

/// `irqbridge list [BDF] [--json] [--policy FILE] [--dump FILE]`
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List PCI functions with their interrupt capabilities and CM resource descriptors.",
        discussion: """
            Without an address, one line per function. With an address, that function in full:
            BARs, capabilities, the policy applied and the raw and translated CM resource lists
            IRP_MN_START_DEVICE would carry. --json prints an array with one object per function.
            """)

    @Argument(help: ArgumentHelp("Show one function in full.", valueName: "0000:00:03.0"))
    var address: String?

    @Flag(help: "Print JSON (an array, one object per function) instead of a table.")
    var json = false

    @OptionGroup var discoveryOptions: DiscoveryOptions

    func validate() throws {
        do {
            if let address, PCIAddress(address) == nil {
                throw CommandFailure.badInput("malformed PCI address \"\(address)\" (expected DDDD:BB:DD.F or BB:DD.F, hexadecimal)")
            }
        } catch let failure as CommandFailure {
            throw failure.report("list")
        }
    }

    func run() throws {
        do {
            try list()
        } catch let failure as CommandFailure {
            throw failure.report("list")
        }
    }

    private func list() throws {
        let logger = Logger(label: "irqbridge.list")
        let catalog: DeviceCatalog
        do {
            catalog = try discoveryOptions.discovery(logger: logger).catalog()
        } catch let error as DiscoveryError {
            // A broken dump file is bad input; a failure on the live system is not.
            guard discoveryOptions.dumpFile == nil else { throw CommandFailure.badInput("\(error)") }
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
            print(ListOutput.table(devices), terminator: "")
        }
    }
}
