// `irqbridge daemon`: the rig daemon (InterruptBridgeDaemon's services) in the foreground.
#if !INTERRUPTBRIDGE_WITHOUT_DAEMON  // see Package.swift
import ArgumentParser
import Foundation
import InterruptBridgeCore
import InterruptBridgeDaemon
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the rig daemon: bind and connect the configured devices, serve the control API and metrics.",
        discussion: """
            Reads the configuration file (--config, else IRQBRIDGE_CONFIG; YAML or JSON: settings, \
            INF-style defaults, devices by address or vendor:device, simulated devices), binds each \
            configured device and connects its interrupts, then serves the control API (HTTP/JSON on \
            a UNIX socket, mode 0600; `irqbridge ctl` is its client), Prometheus metrics, and systemd's \
            notify protocol (READY=1, WATCHDOG=1, RELOADING=1). SIGHUP reloads the file and applies \
            only its difference; SIGTERM or SIGINT disconnect everything, give devices back to the \
            drivers they had, and exit 0 (1 when a device could not be given back). Settings: flags, then IRQBRIDGE_* variables, then the file's \
            `settings:` (keys: \(DaemonSettings.keys.joined(separator: ", "))). A bad configuration \
            is one line and exit status 2.
            """
    )

    @Option(help: ArgumentHelp("The configuration file (YAML or JSON).", valueName: "FILE"), completion: .file(extensions: ["yaml", "yml", "json"]))
    var config: String?

    @Option(help: ArgumentHelp("The control socket (setting 'socket').", valueName: "PATH"))
    var socket: String?

    @Option(help: ArgumentHelp("Prometheus metrics address HOST:PORT, or off (setting 'metrics').", valueName: "ADDRESS"))
    var metrics: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (setting 'log-level').", valueName: "LEVEL"))
    var logLevel: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any setting, as KEY=VALUE (repeatable), e.g. --set dispatch.cpu=1.", valueName: "KEY=VALUE"))
    var settings: [String] = []

    @Flag(help: ArgumentHelp("Check the configuration and exit (0: valid; 2: the problem, on one line).",
                             discussion: "A valid file is followed by a line for each configured device on the bus: what start-up would do with it, why it would be reported failed, or that it is absent. Nothing is bound or opened."))
    var check = false

    func run() async throws {
        // SIGHUP reloads once the daemon runs; until its handler is in place it must not end the
        // process, as its default action would, and is counted: that reload comes after start-up.
        Signals.countHangups()
        var arguments: [String: String] = [:]
        for pair in settings {
            guard let (key, value) = KeyValueAssignment.split(pair) else {
                throw CommandFailure.badInput("--set takes KEY=VALUE, not '\(pair)'")
            }
            arguments[key] = value
        }
        if let socket { arguments["socket"] = socket }
        if let metrics { arguments["metrics"] = metrics }
        if let logLevel { arguments["log-level"] = logLevel }
        let environment = ProcessInfo.processInfo.environment
        let loaded: (settings: DaemonSettings, table: DeviceTable, path: String?)
        do { loaded = try DaemonConfiguration.load(path: config, arguments: arguments, environment: environment) } catch {
            throw CommandFailure.badInput("\(error)")
        }
        for note in DaemonSettings.unknownEnvironment(environment) { StandardError.write("irqbridge: warning: \(note)\n") }
        // The control socket replaces a stale socket file, never a directory or a regular file.
        if let kind = FileIO.kind(of: loaded.settings.socketPath), kind != .socket {
            throw CommandFailure.badInput("setting 'socket': \(loaded.settings.socketPath) is \(kind == .directory ? "a directory" : "a file"), not a socket to replace")
        }
        // The state directory is created when missing; anything else there would pass --check
        // and then fail the start at its lock ("open .../daemon.lock: Not a directory").
        if let kind = FileIO.kind(of: loaded.settings.stateDirectory), kind != .directory {
            throw CommandFailure.badInput("setting 'state-directory': \(loaded.settings.stateDirectory) is \(kind), not a directory: "
                                          + "name a directory (a missing one is created)")
        }
        // The socket replaces what is at its path (DaemonServices refuses it too, for a
        // program of its own; here it is bad input, status 2, and `--check` says so).
        if let clash = loaded.settings.socketClash { throw CommandFailure.badInput(clash) }
        if check {
            // No file at all is a valid daemon (one steered through the API), but a misspelt
            // IRQBRIDGE_CONFIG would otherwise read as a file that names nothing.
            if loaded.path == nil {
                print("no configuration file (--config or IRQBRIDGE_CONFIG): the daemon would start with default settings and no devices")
            }
            print("configuration valid: \(loaded.table.devices.count) device entr\(loaded.table.devices.count == 1 ? "y" : "ies"), "
                  + "\(loaded.table.simulated.count) simulated device(s)")
            if !loaded.table.devices.isEmpty { printPlan(loaded.table, settings: loaded.settings) }
            for note in Self.hiddenUnderTheUnit(loaded.table.devices.compactMap(\.profile)) { print("note: \(note)") }
            return
        }
        // Every logger follows the daemon's log-level, which a reload may change.
        JournalLogHandler.sharedLevel = loaded.settings.logLevel
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, environment: environment) }
        let logger = Logger(label: "irqbridge.daemon")
        umask(0o077)
        let daemon: DaemonServices
        do {
            daemon = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: loaded.path,
                                        arguments: arguments, environment: environment, logger: logger)
        } catch {
            throw CommandFailure.failed("\(error)")
        }
        do {
            try await daemon.run()
        } catch let error as DaemonStartError {
            throw CommandFailure.failed("\(error)")
        } catch let error as DaemonShutdownError {
            throw CommandFailure.failed("\(error)")
        }
    }

    /// Profile files the shipped systemd unit cannot see: ProtectHome=yes hides /home, /root
    /// and /run/user, PrivateTmp=yes gives the service a /tmp and /var/tmp of its own. A
    /// bring-up's profile left there passes a --check by hand and fails under systemd.
    static func hiddenUnderTheUnit(_ profiles: [String]) -> [String] {
        let hidden = [("/home/", "ProtectHome=yes hides it"), ("/root/", "ProtectHome=yes hides it"), ("/run/user/", "ProtectHome=yes hides it"),
                      ("/tmp/", "PrivateTmp=yes gives the service a /tmp of its own"),
                      ("/var/tmp/", "PrivateTmp=yes gives the service a /var/tmp of its own")]
        var notes: [String] = []
        for path in Set(profiles).sorted() where path.hasPrefix("/") {
            guard let (prefix, why) = hidden.first(where: { path.hasPrefix($0.0) }) else { continue }
            notes.append("profile \(path) is under \(prefix.dropLast()), which the shipped systemd unit cannot read (\(why)): "
                         + "under systemd, put it in /etc/irqbridge")
        }
        return notes
    }

    /// What start-up would do with each configured device on the bus as it is now (the
    /// file is valid either way: a device that would fail is reported failed, the rest run).
    private func printPlan(_ table: DeviceTable, settings: DaemonSettings) {
        // Without root the kernel shows 64 bytes of each function: no MSI, no MSI-X, so no verdict.
        guard geteuid() == 0 else {
            print("note: run as root to see what start-up would do with each configured device "
                  + "(without root only the first 64 bytes of a function's config space are readable)")
            return
        }
        let logger = Logger(label: "irqbridge.check") { _ in SwiftLogNoOpLogHandler() }
        let found: (catalog: DeviceCatalog, malformed: [DiscoveryError])
        do { found = try PCIDiscovery(logger: logger).decodedCatalog() } catch {
            print("note: what start-up would do is not known: reading the PCI bus failed: \(error)")
            return
        }
        let records = BindingRecordStore(directory: settings.bindingRecordsDirectory, owner: "daemon")
        let plan = ConfigurationPlan(table: table, bus: found.catalog.devices.map(\.info), malformed: found.malformed,
                                     binder: DeviceBinder(records: records, logger: logger), daemonWideStorm: settings.storm)
        for line in plan.lines { print(line) }
    }
}
#endif
