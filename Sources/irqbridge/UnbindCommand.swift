import ArgumentParser
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeSystem

/// `irqbridge unbind BDF`: gives the device back to the driver it had before `bind`.
struct UnbindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unbind",
        abstract: "Give a device bound by `irqbridge bind` back to its original driver (root).",
        discussion: "Only vfio-pci and uio_pci_generic are released; a device bound to any other driver is left alone."
    )

    @OptionGroup var target: DeviceArgument
    @OptionGroup var output: JSONFlag
    @OptionGroup var logging: DeviceLoggingOptions

    func run() throws {
        let binder = DeviceBinder(logger: logging.makeLogger("irqbridge.unbind"))
        do {
            let before = SysfsPCI().driver(of: target.address.description)
            let driver = try binder.unbind(target.address)
            if output.json {
                print(JSONLine.object(["device": target.address.description, "previousDriver": before, "driver": driver,
                                       "changed": before != driver]))
                return
            }
            if before == nil, driver == nil {
                print("\(target.address): on no driver before and after; nothing to give back")
            } else {
                print("\(target.address): \(driver.map { "given back to \($0)" } ?? "released (no driver)")")
            }
        } catch {
            throw error.commandFailure
        }
    }
}
