// The daemon's scalar settings: from flags, then IRQBRIDGE_* environment
// variables, then the configuration file's `settings:` section, then defaults
// (swift-configuration's provider hierarchy, in that order).
public import Configuration
import Foundation
import InterruptBridge
import InterruptBridgeSystem
public import InterruptBridgeCore
import InterruptBridgeTooling
public import Logging

/// Where a server listens: a loopback or any TCP address, or nothing.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// "127.0.0.1:9464", "[::1]:9464", "localhost:9464".
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        // A numeric host must be an address (300.0.0.1 is none); a name is resolved when listening.
        if host.contains(":") {
            guard Self.isIPv6(host) else { return nil }
        } else if host.allSatisfy({ $0.isNumber || $0 == "." }) {
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4, octets.allSatisfy({ !$0.isEmpty && $0.count <= 3 && (Int($0).map { $0 <= 255 } ?? false) }) else { return nil }
        }
        self.init(host: host, port: port)
    }

    /// Whether two servers could not both listen here: the same port (not 0, which the
    /// kernel picks afresh for each) on the same host, localhost being 127.0.0.1, or on a
    /// wildcard (0.0.0.0, ::) that takes every address of its family. Best effort: a name
    /// that resolves to the other's address is found only when the second listen fails.
    public func clashes(with other: ListenAddress) -> Bool {
        guard port != 0, port == other.port else { return false }
        func canonical(_ host: String) -> String { host.lowercased() == "localhost" ? "127.0.0.1" : host.lowercased() }
        let (mine, theirs) = (canonical(host), canonical(other.host))
        let wildcards: Set = ["0.0.0.0", "::"]
        return mine == theirs || wildcards.contains(mine) || wildcards.contains(theirs)
    }

    /// localhost, ::1, or a numeric 127.x.y.z (a name that merely begins "127." is none).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || (host.hasPrefix("127.") && host.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") })
    }

    /// An IPv6 address's shape: groups of up to 4 hex digits, at most one "::", 8 groups
    /// without it (fewer with it).
    private static func isIPv6(_ text: String) -> Bool {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        let groups = halves.flatMap { $0.isEmpty ? [] : $0.split(separator: ":", omittingEmptySubsequences: false) }
        guard groups.allSatisfy({ (1...4).contains($0.count) && $0.allSatisfy(\.isHexDigit) }) else { return false }
        return halves.count == 2 ? groups.count <= 7 : groups.count == 8
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The daemon's scalar settings (the device table is separate: `DeviceTable`).
public struct DaemonSettings: Sendable, Hashable {
    /// The control API's UNIX socket (mode 0600).
    public var socketPath = "/run/irqbridge/control.sock"
    /// Prometheus metrics on TCP (nil: off; they are on the socket at /metrics too).
    public var metricsAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9464)
    /// The control API on TCP as well (nil, the default: the socket only). Loopback
    /// addresses only: TCP has no peer credentials, and the caller is told apart by its
    /// socket's owner in /proc/net/tcp (`LoopbackPeer`), which only this host's sockets have.
    public var apiAddress: ListenAddress?
    public var logLevel: Logger.Level = .info
    /// Where binding records live (survive the daemon, not a reboot).
    public var stateDirectory = "/run/irqbridge"
    /// The state directory's lock file: one daemon per directory.
    public var lockFilePath: String { stateDirectory + "/daemon.lock" }
    /// Where the daemon keeps the binding records of the devices it bound.
    public var bindingRecordsDirectory: String { stateDirectory + "/bindings" }

    /// Why `socketPath` cannot be the control socket (nil: it can): it names the state
    /// directory's lock file or binding records, which the socket would replace (a second
    /// daemon then failed with ENXIO, not "in use"). Compared as absolute, standardised
    /// paths: "DIR//daemon.lock", "DIR/./daemon.lock" or a relative form name the same file.
    public var socketClash: String? {
        let standardised = { (path: String) in (FileIO.absolute(path) as NSString).standardizingPath }
        let socket = standardised(socketPath)
        for (own, what) in [(lockFilePath, "lock file"), (bindingRecordsDirectory, "binding records")] where standardised(own) == socket {
            return "setting 'socket': \(socketPath) is the state directory's own (\(what)): name another path"
        }
        return nil
    }
    /// Pin the dispatch thread to this CPU (nil: not pinned).
    public var dispatchCPU: Int?
    /// SCHED_FIFO priority of the dispatch thread (nil: normal scheduling).
    public var realtimePriority: Int32?
    /// How many descriptors the dispatch loop can watch (every vector is one, every
    /// device's event sources a few more): 16,384 by default, 65,536 at most.
    public var dispatchCapacity = 16_384
    /// Time every ISR call and every triggered interrupt's way to its ISR (the
    /// statistics' and metrics' histograms). Costs the interrupt path two clock reads.
    public var recordsTimings = true
    /// The dispatch loop's poll window limit in microseconds (`DispatchOptions.pollWindowLimit`:
    /// after a batch it polls this long at most before sleeping, while interrupts come
    /// that close together and nothing else wants the processor); 0: always sleep.
    /// The runtime's default, 10.
    public var pollWindowMicroseconds = (DispatchOptions().pollWindowLimit ?? .zero).wholeMicroseconds
    /// The daemon-wide storm rules: every device's, but for the keys its own `storm:` gives.
    public var storm = StormPolicy.default
    /// How long SIGTERM may take to disconnect and give devices back.
    public var shutdownTimeout: Duration = .seconds(10)
    /// An event every this many interrupts of a device (0: no milestone events).
    public var milestone: UInt64 = 10_000

    public init() {}

    /// The online processors the calling thread may run on (nil: unknown): what
    /// `dispatch.cpu` may name.
    public static func usableProcessors() -> [Int]? {
        let online = try? SystemFacts.onlineProcessors()
        let allowed = (try? PThread.affinity(PThread.current)).map { ProcessorAffinity(rawValue: $0) }
        guard let mask = online.map({ allowed.map($0.intersection) ?? $0 }) ?? allowed else { return nil }
        return mask.processors
    }

    /// Every key, as written in the file's `settings:` section, in `--set`, and
    /// (upper-cased, `-` and `.` as `_`, prefixed `IRQBRIDGE_`) in the environment.
    public static let keys = ["socket", "metrics", "api", "log-level", "state-directory", "dispatch.cpu", "dispatch.fifo", "dispatch.capacity", "dispatch.timings",
                              "dispatch.poll-window-us",
                              "storm.enabled", "storm.rate-limit", "storm.rate-window-ms", "storm.unclaimed-limit",
                              "storm.unclaimed-window", "storm.rearm-after-ms", "storm.rearm-max-ms", "shutdown-timeout", "milestone"]

    /// Reads the settings through `reader`; a value that does not parse is an error
    /// naming the key (never silently the default).
    public init(reader: ConfigReader) throws(DaemonConfigurationError) {
        func text(_ key: String) -> String? { reader.string(forKey: ConfigKey(key.split(separator: ".").map(String.init))) }
        func bad(_ key: String, _ value: String, _ expected: String) -> DaemonConfigurationError {
            .badSetting(key: key, value: value, expected: expected)
        }
        func number<T: FixedWidthInteger>(_ key: String, _ range: ClosedRange<T>, _ what: String) throws(DaemonConfigurationError) -> T? {
            guard let value = text(key) else { return nil }
            guard let parsed = T(value), range.contains(parsed) else { throw bad(key, value, what) }
            return parsed
        }
        if let value = text("socket") {
            guard value.hasPrefix("/"), value.utf8.count < 108 else { throw bad("socket", value, "an absolute path shorter than 108 bytes") }
            socketPath = value
        }
        if let value = text("metrics") {
            if value == "off" { metricsAddress = nil } else {
                guard let address = ListenAddress(value) else { throw bad("metrics", value, "HOST:PORT or off") }
                metricsAddress = address
            }
        }
        if let value = text("api") {
            if value == "off" { apiAddress = nil } else {
                guard let address = ListenAddress(value), address.isLoopback else {
                    throw bad("api", value, "a loopback HOST:PORT (127.0.0.1:PORT, [::1]:PORT) or off: callers are told apart only on this host")
                }
                apiAddress = address
            }
        }
        if let value = text("log-level") {
            guard let level = Logger.Level(rawValue: value) else {
                throw bad("log-level", value, Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
            }
            logLevel = level
        }
        if let value = text("state-directory") {
            guard value.hasPrefix("/") else { throw bad("state-directory", value, "an absolute path") }
            stateDirectory = value
        }
        dispatchCPU = try number("dispatch.cpu", 0...63, "a CPU number (0...63)")
        // One this process may not run on (offline, or outside its cpuset or systemd's
        // CPUAffinity=) would pass here and stop the start at the pinning: said now, in the
        // setting's terms, as --check says it too.
        if let cpu = dispatchCPU, let usable = Self.usableProcessors(), !usable.contains(cpu) {
            throw bad("dispatch.cpu", "\(cpu)", "a CPU this process may run on (\(usable.map(String.init).joined(separator: ", ")))")
        }
        realtimePriority = try number("dispatch.fifo", 1...99, "a SCHED_FIFO priority (1...99)")
        if let value = text("dispatch.timings") {
            guard let enabled = Bool(value) else { throw bad("dispatch.timings", value, "true or false") }
            recordsTimings = enabled
        }
        let widestWindow = DispatchOptions.maximumPollWindowLimit.wholeMicroseconds
        if let window: Int = try number("dispatch.poll-window-us", 0...widestWindow, "microseconds (0...\(widestWindow); 0: always sleep)") {
            pollWindowMicroseconds = window
        }
        if let capacity: Int = try number("dispatch.capacity", 64...65_536, "a descriptor count (64...65536)") { dispatchCapacity = capacity }
        // The library's defaults under what the file, the environment and the flags give.
        var given = StormOverrides()
        for key in StormOverrides.keys {
            guard let value = text("storm." + key) else { continue }
            do throws(StormOverrides.BadValue) { try given.set(key, to: value) } catch { throw bad("storm." + key, value, error.expected) }
        }
        storm = given.applied(to: .default)
        if let (keys, reason) = StormOverrides.conflict(in: storm) { throw .conflictingSettings(keys: keys.map { "storm." + $0 }, reason: reason) }
        if let metrics = metricsAddress, let api = apiAddress, metrics.clashes(with: api) {
            throw .conflictingSettings(keys: ["metrics", "api"], reason: "they are the same address, \(metrics): give each its own")
        }
        if let seconds: Int = try number("shutdown-timeout", 1...3600, "seconds (1...3600)") { shutdownTimeout = .seconds(seconds) }
        if let every: UInt64 = try number("milestone", 0...UInt64.max, "a whole number (0: off)") { milestone = every }
    }

    /// The hierarchy: `arguments` (flags, highest), IRQBRIDGE_* variables of
    /// `environment`, the file's settings, then the defaults above. A value that does not
    /// work is an error naming where it came from: its variable, or its place in the file
    /// (`locations`, "daemon.yaml:4:21" by key, as `DeviceTable.settingLocations` keeps them).
    public static func load(arguments: [String: String], environment: [String: String],
                            file: [String: String], locations: [String: String] = [:]) throws(DaemonConfigurationError) -> DaemonSettings {
        for (key, _) in arguments where !keys.contains(key) { throw .unknownSetting(key: key, source: "the command line") }
        func values(_ pairs: [String: String]) -> [AbsoluteConfigKey: ConfigValue] {
            Dictionary(uniqueKeysWithValues: pairs.map { (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), ConfigValue(.string($0.value), isSecret: false)) })
        }
        let environmentProvider = KeyMappingProvider(upstream: EnvironmentVariablesProvider(environmentVariables: environment)) { key in
            key.prepending(["irqbridge"])
        }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "arguments", values: values(arguments)),
            environmentProvider,
            InMemoryProvider(name: "file", values: values(file)),
        ])
        do {
            return try DaemonSettings(reader: reader)
        } catch {
            throw located(error, arguments: arguments, environment: environment, locations: locations)
        }
    }

    /// `error` with where the values it names came from: each key's IRQBRIDGE_* variable, or
    /// its place in the file. A flag's value is the caller's own, not named; an error whose
    /// values all came from flags (or defaults) is returned as it is.
    static func located(_ error: DaemonConfigurationError, arguments: [String: String], environment: [String: String],
                        locations: [String: String]) -> DaemonConfigurationError {
        let keys: [String] = switch error {
        case let .badSetting(key, _, _): [key]
        case let .conflictingSettings(keys, _): keys
        default: []
        }
        let places = keys.compactMap { key -> String? in
            if arguments[key] != nil { return nil }
            let variable = environmentName(key)
            if environment[variable] != nil { return variable }
            return locations[key]
        }
        return places.isEmpty ? error : .located(places.joined(separator: ", "), error)
    }

    /// IRQBRIDGE_* variables of `environment` that are no setting, each with a one-line note.
    /// Not an error: a harness may export variables of its own with the prefix, and the
    /// daemon inherits them; the note shows a misspelt setting for what it is.
    public static func unknownEnvironment(_ environment: [String: String]) -> [String] {
        let known = Set(keys.map(environmentName))
        return environment.keys.sorted().filter { $0.hasPrefix("IRQBRIDGE_") && !known.contains($0) && !isIgnoredEnvironment($0) }.map { name in
            "\(name) in the environment is not a setting, ignored (settings: \(keys.map(environmentName).joined(separator: ", ")))"
        }
    }

    /// IRQBRIDGE_LOG_LEVEL for "log-level", IRQBRIDGE_DISPATCH_CPU for "dispatch.cpu".
    public static func environmentName(_ key: String) -> String {
        "IRQBRIDGE_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    /// Variables with the prefix that are not settings (the configuration file's path).
    static let ignoredEnvironment: Set<String> = ["IRQBRIDGE_CONFIG"]

    /// Not a setting: the configuration file's path, or the QEMU rig's own variables
    /// (IRQBRIDGE_RIG, IRQBRIDGE_RIG_DEVICES, IRQBRIDGE_RIG_HOTPLUG, IRQBRIDGE_RIG_DIR...),
    /// which every command in the rig's guest inherits.
    static func isIgnoredEnvironment(_ name: String) -> Bool {
        ignoredEnvironment.contains(name) || name == "IRQBRIDGE_RIG" || name.hasPrefix("IRQBRIDGE_RIG_")
    }

    /// What a reload from these settings to `new` cannot apply, named as the file names it
    /// (empty: everything applies at once). The listeners, the dispatch thread and the
    /// state directory (its lock, the binding records of the devices bound now) are the
    /// running daemon's until it restarts; the storm rules apply to the connected devices
    /// in place.
    public func changesNeedingRestart(to new: DaemonSettings) -> [String] {
        Self.restartOnly.filter { _, fields in fields.contains { $0.differs(self, new) } }.map(\.name)
    }

    /// These settings with the ones a reload cannot apply (those `changesNeedingRestart`
    /// names) taken from `pending`, the file as last loaded: what a restart would run. A
    /// file saved after a reload that named one keeps the edit waiting for the restart,
    /// where the running value would have undone it.
    public func withRestartOnlySettings(of pending: DaemonSettings) -> DaemonSettings {
        var settings = self
        for (_, fields) in Self.restartOnly { for field in fields { field.take(&settings, pending) } }
        return settings
    }

    /// The settings a reload cannot apply, by the name the file gives them, in the order a
    /// reload names them; the one list both questions above read.
    private static var restartOnly: [(name: String, fields: [RestartOnlyField])] {
        [("socket", [RestartOnlyField(\.socketPath)]), ("metrics", [RestartOnlyField(\.metricsAddress)]),
         ("api", [RestartOnlyField(\.apiAddress)]), ("state-directory", [RestartOnlyField(\.stateDirectory)]),
         // The service group's graceful-shutdown limit is fixed when the group is made.
         ("shutdown-timeout", [RestartOnlyField(\.shutdownTimeout)]),
         ("dispatch", [RestartOnlyField(\.dispatchCPU), RestartOnlyField(\.realtimePriority), RestartOnlyField(\.dispatchCapacity),
                       RestartOnlyField(\.recordsTimings), RestartOnlyField(\.pollWindowMicroseconds)])]
    }

    /// One stored setting: whether two settings differ in it, and copying it from one to another.
    private struct RestartOnlyField {
        let differs: (DaemonSettings, DaemonSettings) -> Bool
        let take: (inout DaemonSettings, DaemonSettings) -> Void

        init<Value: Equatable>(_ path: WritableKeyPath<DaemonSettings, Value>) {
            differs = { $0[keyPath: path] != $1[keyPath: path] }
            take = { $0[keyPath: path] = $1[keyPath: path] }
        }
    }

    /// The settings in the file's own spelling (for `save-config`).
    public var fileValues: [String: String] {
        var values: [String: String] = ["socket": socketPath, "metrics": metricsAddress?.description ?? "off", "api": apiAddress?.description ?? "off",
                                        "log-level": logLevel.rawValue, "state-directory": stateDirectory,
                                        "shutdown-timeout": "\(shutdownTimeout.components.seconds)", "milestone": "\(milestone)"]
        for key in StormOverrides.keys { values["storm." + key] = StormOverrides.fileValue(of: key, in: storm) }
        if let dispatchCPU { values["dispatch.cpu"] = "\(dispatchCPU)" }
        if let realtimePriority { values["dispatch.fifo"] = "\(realtimePriority)" }
        values["dispatch.capacity"] = "\(dispatchCapacity)"
        values["dispatch.timings"] = "\(recordsTimings)"
        values["dispatch.poll-window-us"] = "\(pollWindowMicroseconds)"
        return values
    }
}
