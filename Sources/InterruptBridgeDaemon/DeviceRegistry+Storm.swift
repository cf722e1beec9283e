// A connected device's storm rules replaced in place at a reload: its own `storm:` or the
// daemon-wide policy under it changed. The connection, its counts and any wait on it stay.
import InterruptBridge
import InterruptBridgeCore

extension DeviceRegistry {
    /// Judges a connected device's vectors by `rules` from now on when they are not the
    /// `running` ones it was connected or last reloaded under (their windows start afresh,
    /// so a device whose rules did not change is left alone). Returns whether it replaced them.
    /// A vector contained now keeps its re-arm (its back-off's end), except one the new rules
    /// would not hold: under rules that are off, or held for good (`rearm-after-ms: never`)
    /// where the new rules give a back-off, it is watched again at once (a storm still going is
    /// contained again, by the new rules).
    @discardableResult
    func replaceStormRules(of device: ManagedDevice, running: StormPolicy, with rules: StormPolicy) -> Bool {
        guard device.state == .connected, rules != running else { return false }
        // The loader checked the rules; a refusal here would be a bug, said in the log.
        do throws(DispatchError) { try dispatcher.setStormPolicy(rules, for: device.objects) } catch {
            logger.error("\(device.id): the new storm rules were not applied: \(error)")
            return true
        }
        // The dispatcher keeps a contained vector's re-arm as its containment set it: none
        // under `never`, which would hold it past rules that say otherwise.
        if !rules.isEnabled || (running.initialBackoff == nil && rules.initialBackoff != nil) {
            dispatcher.rearm(device.objects)
        }
        return true
    }
}
