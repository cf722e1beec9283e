import ArgumentParser
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeSystem

/// `irqbridge unbind BDF`: gives the device back to the driver it had before `bind`.
struct UnbindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unbind",
        abstract: "Give a device bound by `irqbridge bind` back to its original driver (root).",
        discussion: """
            Only vfio-pci and uio_pci_generic are released; a device bound to any other driver is left alone: \
            when irqbridge holds nothing of it (it never bound it, or gave it back already), that is a no-op \
            (status 0, "changed": false), as for a device on no driver.
            """
    )

    @OptionGroup var target: DeviceArgument
    @OptionGroup var output: JSONFlag
    @OptionGroup var logging: DeviceLoggingOptions

    func run() throws {
        let binder = DeviceBinder(logger: logging.makeLogger("irqbridge.unbind"))
        let name = target.address.description
        let before = SysfsPCI().driver(of: name)
        let driver: String?
        do throws(BindingError) {
            driver = try binder.unbind(target.address)
        } catch .notManaged(_, let current) where binder.records.load(name) == nil {
            // Nothing of irqbridge's to give back: it never bound the device, or gave it back
            // already (a script's EXIT trap after its own unbind). A no-op, status 0, as on no
            // driver; it was status 2 only for a card whose original driver is a kernel one.
            report(before: current, after: current, nothing: "on \(current), which irqbridge did not take it from")
            return
        } catch {
            throw error.commandFailure
        }
        report(before: before, after: driver, nothing: "on no driver before and after")
    }

    private func report(before: String?, after: String?, nothing: String) {
        if output.json {
            print(JSONLine.object(["device": target.address.description, "previousDriver": before, "driver": after,
                                   "changed": before != after]))
        } else if before == after {
            print("\(target.address): \(nothing); nothing to give back")
        } else {
            print("\(target.address): \(after.map { "given back to \($0)" } ?? "released (no driver)")")
        }
    }
}
