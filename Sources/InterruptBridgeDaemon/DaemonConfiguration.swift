// Loading what the daemon runs from: the file (its device table and settings),
// then the settings' hierarchy (flags over IRQBRIDGE_* over the file).

public enum DaemonConfiguration {
    /// The configuration file named by `path`, or IRQBRIDGE_CONFIG, or none (an
    /// empty table: the daemon starts with no devices and takes them by API calls).
    public static func load(path: String?, arguments: [String: String],
                            environment: [String: String]) throws(DaemonConfigurationError) -> (settings: DaemonSettings, table: DeviceTable, path: String?) {
        let chosen = path ?? environment["IRQBRIDGE_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let table = try chosen.map { path throws(DaemonConfigurationError) in try DeviceTableLoader.load(contentsOf: path) } ?? DeviceTable()
        return (try settings(for: table, arguments: arguments, environment: environment), table, chosen)
    }

    /// The settings `table`'s file, `environment` and `arguments` make, with every device's
    /// `storm:` checked over the daemon-wide policy they give (its keys may clash only once
    /// combined with the settings').
    public static func settings(for table: DeviceTable, arguments: [String: String],
                                environment: [String: String]) throws(DaemonConfigurationError) -> DaemonSettings {
        let settings = try DaemonSettings.load(arguments: arguments, environment: environment, file: table.settings, locations: table.settingLocations)
        try table.checkStorms(daemonWide: settings.storm)
        return settings
    }
}
