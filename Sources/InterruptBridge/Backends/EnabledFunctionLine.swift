import InterruptBridgeCore
import InterruptBridgeSystem

extension PCIDeviceInfo {
    /// The function as it is once a driver (vfio-pci's open, uio_pci_generic's probe) has
    /// enabled it: enabling routes its INTx line, so the IRQ sysfs shows now is the line,
    /// where a read from before showed something else. A function hot-added while the
    /// system runs had IRQ 0 until then (found with the rig's hot-plug); one no driver had
    /// enabled yet showed firmware's value (11 in the rig, where the enable moves it to
    /// GSI 23: found with two cards sharing a line, whose vectors differed until then);
    /// one read while MSI was on showed MSI's (vfio-pci's open turns MSI off again).
    /// A function without an interrupt pin, or a line sysfs does not show, is kept as read.
    func withEnabledLine(from sysfs: SysfsPCI) -> PCIDeviceInfo {
        guard interruptPin != nil, let line = sysfs.irq(of: address.description), line != 0,
              line != irqLine || isIRQRouted != true || irqLineIsMSI else { return self }
        var device = self
        device.irqLine = line
        device.isIRQRouted = true
        device.irqLineIsMSI = false
        return device
    }
}
