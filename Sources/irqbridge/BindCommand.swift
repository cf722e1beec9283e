import ArgumentParser
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeTooling

/// `irqbridge bind BDF --driver vfio-pci|uio_pci_generic [--from DRIVER | --force]`.
struct BindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bind",
        abstract: "Bind a PCI device to vfio-pci or uio_pci_generic (root).",
        discussion: """
            The device's current driver is remembered under /run/irqbridge/bindings and given \
            the device back by `irqbridge unbind`. A device in use by a driver is taken only when \
            that driver is named with --from (or with --force); one that irqbridge itself bound \
            moves between vfio-pci and uio_pci_generic without --from (a wait or watch holding it \
            then ends, as on removal). Host, ISA and PCI-to-PCI bridges are refused without \
            --force; vfio-pci takes no PCI-to-PCI or CardBus bridge even then (its probe refuses \
            any function without a type 0 header). Binding again to the driver the device has is a no-op. Other devices, including other \
            members of the device's IOMMU group, are never unbound; if they keep the group from \
            being usable, they are named in a warning.
            """
    )

    @OptionGroup var target: DeviceArgument

    @OptionGroup var driverOption: DriverOption

    @Option(name: .customLong("from"), help: "The driver the device may be taken from (a device on no driver needs none).")
    var currentDriver: String?

    @Flag(help: "Take the device from whatever driver has it; also bind a host, ISA or PCI-to-PCI bridge, which is refused otherwise.")
    var force = false

    @OptionGroup var output: JSONFlag

    @OptionGroup var logging: DeviceLoggingOptions

    func run() throws {
        let binder = DeviceBinder(logger: logging.makeLogger("irqbridge.bind"))
        do {
            let outcome = try binder.bind(target.address, to: driverOption.value, from: currentDriver, force: force)
            var warnings = outcome.warnings
            // Its BARs are reachable, its interrupts are not: said, not refused.
            if driverOption.value == .uioPCIGeneric, let info = try? PCIDiscovery(logger: logging.makeLogger("irqbridge.bind")).device(at: target.address),
               info.msi != nil || info.msix != nil, let noLine = DeviceSession.noLine(info, underUIO: true) {
                warnings.append(noLine)
            }
            if output.json {
                print(JSONLine.object(["device": target.address.description, "driver": driverOption.value.rawValue,
                                       "previousDriver": outcome.previousDriver, "changed": outcome.changed, "warnings": warnings]))
                return
            }
            for warning in warnings { print("warning: \(warning)") }
            if outcome.changed {
                print("\(target.address): bound to \(driverOption.value) (was \(outcome.previousDriver ?? "unbound"))")
            } else {
                print("\(target.address): already bound to \(driverOption.value)")
            }
        } catch {
            throw error.commandFailure
        }
    }
}
