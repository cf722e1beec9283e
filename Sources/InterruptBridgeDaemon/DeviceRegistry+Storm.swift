// A connected device's storm rules replaced in place at a reload: its own `storm:` or the
// daemon-wide policy under it changed. The connection, its counts and any wait on it stay.
import InterruptBridge
import InterruptBridgeCore

extension DeviceRegistry {
    /// Judges a connected device's vectors by `rules` from now on when they are not the
    /// `running` ones it was connected or last reloaded under (their windows start afresh,
    /// so a device whose rules did not change is left alone). Returns whether it replaced them.
    @discardableResult
    func replaceStormRules(of device: ManagedDevice, running: StormPolicy, with rules: StormPolicy) -> Bool {
        guard device.state == .connected, rules != running else { return false }
        // The loader checked the rules; a refusal here would be a bug, said in the log.
        do throws(DispatchError) { try dispatcher.setStormPolicy(rules, for: device.objects) } catch {
            logger.error("\(device.id): the new storm rules were not applied: \(error)")
        }
        return true
    }
}
