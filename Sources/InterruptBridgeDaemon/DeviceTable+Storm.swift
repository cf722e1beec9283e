// A device's storm rules: the daemon-wide policy (settings, IRQBRIDGE_STORM_*, flags,
// over the library's defaults) with the keys its own `storm:` gives replaced. Resolved
// where the rules are used, so the keys a device leaves out follow the daemon-wide
// policy the daemon runs with; checked whole against the daemon-wide policy a
// configuration loads with, since the keys may clash only once combined.
public import InterruptBridgeCore
public import InterruptBridgeTooling

extension DeviceEntry {
    /// The rules this entry's devices are judged by: `daemonWide`, with the keys its
    /// `storm:` gives replaced.
    public func stormPolicy(over daemonWide: StormPolicy) -> StormPolicy {
        storm?.applied(to: daemonWide) ?? daemonWide
    }
}

extension DeviceTable {
    /// Refuses a device whose `storm:` keys, over `daemonWide`, make rules that cannot
    /// work: the error names the entry's `storm:` (file and line), the keys that clash and
    /// whose each is (the device's own, or settings.storm's).
    public func checkStorms(daemonWide: StormPolicy) throws(DaemonConfigurationError) {
        for entry in devices {
            let policy = entry.stormPolicy(over: daemonWide)
            guard let own = entry.storm, let (keys, reason) = StormOverrides.conflict(in: policy) else { continue }
            let given = Set(own.givenKeys)
            let named = keys.map { key in
                "\(key) \(StormOverrides.fileValue(of: key, in: policy)) (\(given.contains(key) ? "its own" : "settings.storm's"))"
            }
            let error = DaemonConfigurationError.conflictingStorm(device: entry.selector.description, keys: named, reason: reason)
            throw stormLocations[entry.selector].map { .located($0, error) } ?? error
        }
    }
}
