// The daemon as swift-service-lifecycle services: the devices (start-up replay,
// faults, hot-plug, reloads, the drain at shutdown), the control API on its UNIX
// socket (and optionally loopback TCP), the metrics endpoint, systemd's watchdog,
// and the closing of event streams. `irqbridge daemon` runs exactly these; an
// executable with ISRs of its own runs them beside its own services.
public import InterruptBridge
import InterruptBridgeCore
public import InterruptBridgeDiscovery
import InterruptBridgeSystem
import Hummingbird
public import Logging
public import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// Everything a running daemon is made of.
public final class DaemonServices: Sendable {
    public let settings: DaemonSettings
    public let dispatcher: InterruptDispatcher
    public let registry: DeviceRegistry
    public let events: EventBroadcaster
    public let metrics: MetricsExporter
    public let notifier: SystemdNotifier
    /// The exclusive lock on the state directory, held while these services exist: the
    /// binding records there are one daemon's, so a second daemon that read them as an
    /// earlier run's would take the first one's devices (and give them back at its exit).
    let stateLock: OwnedDescriptor
    /// The log-level the last start or reload applied (a reload sets the shared level
    /// only when it changes it).
    let appliedLogLevel: LockedValue<Logger.Level>
    /// The devices the shutdown drain could not give back (empty until it ran).
    let devicesNotRestored = LockedValue<[String]>([])
    let configurationPath: String?
    let launchArguments: [String: String]
    let environment: [String: String]
    let logger: Logger

    /// Builds the services from loaded settings and table (see `DaemonConfiguration.load`).
    /// Takes the state directory's `daemon.lock` (held while these services exist: one
    /// daemon per state directory), checks that each TCP address can be listened on, and
    /// starts the dispatch thread; nothing is bound until the services run. Throws
    /// `DaemonStartError` (`.stateDirectory`, `.listen`, `.dispatcher`).
    public init(settings: DaemonSettings, table: DeviceTable, configurationPath: String?, arguments: [String: String],
                environment: [String: String], logger: Logger, binder: DeviceBinder? = nil,
                discovery: PCIDiscovery? = nil) throws(DaemonStartError) {
        // Absolute: a reload, or a save to it, must find the same file whatever the directory.
        let configurationPath = configurationPath.map { FileIO.absolute($0) }
        self.settings = settings
        self.configurationPath = configurationPath
        self.launchArguments = arguments
        self.environment = environment
        self.logger = logger
        stateLock = try Self.lockStateDirectory(of: settings)
        appliedLogLevel = LockedValue(settings.logLevel)
        // Before any device is bound: an address the server could not listen on fails the
        // start here, in the setting's terms, not after every configured card was taken.
        if let metrics = settings.metricsAddress, metrics == settings.apiAddress {
            throw .listen("settings 'metrics' and 'api' are the same address, \(metrics): give each its own")
        }
        for (key, address) in [("metrics", settings.metricsAddress), ("api", settings.apiAddress)] {
            guard let address else { continue }
            do { try TCPListenCheck.check(host: address.host, port: address.port) } catch {
                throw .listen("setting '\(key)': cannot listen on \(address): \(error)")
            }
        }
        var options = DispatchOptions(storm: settings.storm)
        if let cpu = settings.dispatchCPU { options.pinning = .processors(ProcessorAffinity(rawValue: 1 << UInt64(cpu))) }
        options.realtimePriority = settings.realtimePriority
        options.capacity = settings.dispatchCapacity
        options.recordsTimings = settings.recordsTimings
        options.pollWindowLimit = .microseconds(settings.pollWindowMicroseconds)
        options.threadName = "irqbridge-dispatch"
        options.logsFaults = false  // the registry logs each as its event (DeviceRegistry.publish)
        do { dispatcher = try InterruptDispatcher(logger: logger, options: options) } catch {
            throw .dispatcher("\(error)")
        }
        events = EventBroadcaster()
        registry = DeviceRegistry(settings: settings, table: table, dispatcher: dispatcher, events: events,
                                  binder: binder ?? DeviceBinder(records: BindingRecordStore(directory: settings.bindingRecordsDirectory, owner: "daemon"), logger: logger),
                                  discovery: discovery ?? PCIDiscovery(logger: logger), logger: logger, configurationPath: configurationPath)
        metrics = MetricsExporter(devices: registry)
        notifier = SystemdNotifier(environment: environment, logger: logger)
    }

    /// The services in start order (graceful shutdown runs in reverse: the devices
    /// are disconnected and given back while event watchers still see it happen, then
    /// event streams close, the control API stops accepting calls, metrics stop, and
    /// the watchdog stops last).
    public func services() throws(DaemonStartError) -> [any Service] {
        if let clash = settings.socketClash { throw .socket(clash) }
        try prepareSocket(settings.socketPath)
        let api = ControlAPI(registry: registry, metrics: metrics, events: events, reload: { [self] in await reload() })
        let socketPath = settings.socketPath
        let serviceLogger = logger
        var list: [any Service] = [WatchdogService(dispatcher: dispatcher, notifier: notifier)]
        if let address = settings.metricsAddress {
            let router = Router()
            let metrics = self.metrics
            router.getAndHead("/metrics") { _, _ in
                ControlResponses.text(await metrics.scrape(), contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
            list.append(Application(router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: "irqbridge-metrics"),
                                    logger: logger))
        }
        list.append(Application(router: api.router(), configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "irqbridge"),
                                onServerRunning: { _ in
                                    chmod(socketPath, 0o600)
                                    serviceLogger.info("control API listening", metadata: ["socket": "\(socketPath)"])
                                }, logger: logger))
        if let address = settings.apiAddress {
            list.append(Application(router: api.router(), configuration: .init(address: .hostname(address.host, port: address.port), serverName: "irqbridge"),
                                    logger: logger))
        }
        list.append(EventStreamCloser(daemon: self))
        // Last, so the first to stop: its drain publishes the `disconnected` and
        // `unbound` events before the streams close.
        list.append(DeviceService(daemon: self))
        return list
    }

    /// Runs the services until SIGTERM or SIGINT (then drains, within the shutdown timeout).
    /// Throws `DaemonShutdownError` when a device could not be given back to its driver,
    /// so the exit status says the rig is not as the daemon found it.
    public func run() async throws {
        let group = ServiceGroup(configuration: groupConfiguration(try services()))
        try await group.run()
        try checkShutdown()
    }

    /// After the services stopped (for a caller that runs `groupConfiguration` in its own
    /// group): throws `DaemonShutdownError` when the drain left a device on vfio-pci or
    /// uio_pci_generic that it should have given back.
    public func checkShutdown() throws(DaemonShutdownError) {
        let left = devicesNotRestored.withLock { $0 }
        guard left.isEmpty else { throw DaemonShutdownError(devices: left) }
    }

    /// A ServiceGroup configuration for these services and any of the caller's.
    public func groupConfiguration(_ services: [any Service]) -> ServiceGroupConfiguration {
        var configuration = ServiceGroupConfiguration(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.shutdownTimeout
        configuration.maximumCancellationDuration = .seconds(2)
        return configuration
    }

    /// Reloads the configuration file (SIGHUP, POST /v1/reload): a bad file is
    /// rejected whole and the running state kept. `failed`: the devices an applied
    /// reload acted on and left failed.
    public func reload() async -> (applied: Bool, message: String, failed: [String]) {
        notifier.reloading()
        // READY=1 ends the reload either way; STATUS says which way (systemctl status shows it).
        var outcome = "reload rejected, the running configuration is kept"
        defer { notifier.ready(status: outcome) }
        do throws(DaemonConfigurationError) {
            let table = try configurationPath.map { path throws(DaemonConfigurationError) in try DeviceTableLoader.load(contentsOf: path, forReload: true) } ?? DeviceTable()
            // Every device's `storm:` checked over the daemon-wide policy this reload applies.
            let settings = try DaemonConfiguration.settings(for: table, arguments: launchArguments, environment: environment)
            let (message, failed) = await registry.reload(table, settings: settings)
            // Loggers made with init(label:environment:) follow a changed level at once.
            let changed = appliedLogLevel.withLock { applied in
                defer { applied = settings.logLevel }
                return applied != settings.logLevel
            }
            if changed { JournalLogHandler.sharedLevel = settings.logLevel }
            outcome = "reloaded"
            return (true, message, failed)
        } catch {
            let message = "reload rejected, the running configuration is kept: \(error)"
            await registry.rejectReload(message)
            return (false, message, [])
        }
    }

    /// Creates the state directory (0700) when missing and takes its `daemon.lock`; a
    /// lock another process holds is an error naming it (the pid it wrote).
    static func lockStateDirectory(of settings: DaemonSettings) throws(DaemonStartError) -> OwnedDescriptor {
        let directory = settings.stateDirectory, path = settings.lockFilePath
        if let failure = makePrivateDirectory(directory) { throw .stateDirectory(failure) }
        let lock: OwnedDescriptor?
        do { lock = try FileIO.lockExclusively(path, note: "\(getpid())") } catch { throw .stateDirectory("\(error)") }
        guard let lock else {
            let holder = (try? FileIO.readText(path)).flatMap { Int32($0) }.map { "pid \($0)" } ?? "another process"
            throw .stateDirectory("another irqbridge daemon (\(holder)) uses \(directory); its binding records and devices are its own")
        }
        return lock
    }

    /// Creates `directory` (and its parents) with mode 0700 when it is missing; an
    /// existing one is left as it is. Returns why it could not, or nil.
    static func makePrivateDirectory(_ directory: String) -> String? {
        guard !FileIO.exists(directory) else { return nil }
        do { try FileIO.makeDirectories(directory) } catch { return "cannot create \(directory): \(error)" }
        chmod(directory, 0o700)
        return nil
    }

    /// Creates the socket's directory (0700) and removes a stale socket file; a
    /// socket another daemon still answers on is an error.
    func prepareSocket(_ path: String) throws(DaemonStartError) {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty, let failure = Self.makePrivateDirectory(directory) { throw .socket(failure) }
        guard FileIO.exists(path) else { return }
        do {
            let connection = try UnixStream.connect(path, timeout: .seconds(5))
            connection.close()
            throw DaemonStartError.socket("another daemon answers on \(path)")
        } catch let error as DaemonStartError {
            throw error
        } catch let error as SystemError where error.name == "EAGAIN" {
            // Someone listens there and does not accept: not a stale file to remove.
            throw DaemonStartError.socket("another process listens on \(path) and did not accept a connection within 5 s")
        } catch {
            unlink(path)
        }
    }
}

/// Why the daemon cannot start (not a configuration problem: those are `DaemonConfigurationError`).
public enum DaemonStartError: Error, Sendable, CustomStringConvertible {
    case dispatcher(String)
    case socket(String)
    /// The state directory cannot be created, or another daemon holds it.
    case stateDirectory(String)
    /// A TCP address (metrics, api) this machine cannot listen on now.
    case listen(String)

    public var description: String {
        switch self {
        case .dispatcher(let message): "cannot start the dispatch thread: \(message)"
        case .socket(let message): "control socket: \(message)"
        case .stateDirectory(let message): "state directory: \(message)"
        case .listen(let message): message
        }
    }
}

/// The shutdown drain could not give these devices back to the drivers they had.
public struct DaemonShutdownError: Error, Sendable, CustomStringConvertible {
    public var devices: [String]

    public var description: String {
        "stopped, but \(devices.joined(separator: ", ")) could not be given back to \(devices.count == 1 ? "its driver" : "their drivers")"
            + " (\(devices.count == 1 ? "its binding record is" : "their binding records are") kept: run irqbridge unbind \(devices.first ?? "ADDRESS") to retry)"
    }
}

/// The devices: start-up, then faults, hot-plug, milestones and SIGHUP until a
/// graceful shutdown, then the drain.
struct DeviceService: Service {
    let daemon: DaemonServices

    func run() async throws {
        let registry = daemon.registry
        let dispatcher = daemon.dispatcher
        // Watched before start-up: its events (bound, connected, failed, ready, a storm while
        // connecting) are counted in irqbridge_events_total and handled like any later one.
        let events = dispatcher.events()
        let watched = daemon.events.watch(internal: true).stream
        // Hot-plug too: a card that appears while start-up binds the others waits in the
        // monitor's buffer instead of being missed until a reload. Start-up's own binds and
        // unbinds arrive there as well and are ignored, as a reload's are: about two per device,
        // so the buffer holds a start-up of thousands (SR-IOV virtual functions) with room to spare.
        let hotplug = try? PCIDiscovery.hotplugEvents(bufferingNewest: 16_384)
        // Trapped before start-up too: a SIGHUP while the cards are being bound (the file
        // edited meanwhile) waits in the sequence and reloads once start-up is done, where
        // it used to be ignored and the daemon ran a configuration its file no longer said.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let counts = await registry.start()
        await waitForSocket(daemon.settings.socketPath)
        daemon.notifier.ready(status: "\(counts.connected) device(s) connected, \(counts.failed) failed or absent")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await event in events { await registry.handle(event) } }
            if let hotplug {
                group.addTask {
                    for await event in hotplug {
                        await registry.handle(event)
                        // A card bound before the kernel finished adding it: again, up to 5 times, 200 ms apart.
                        var attempts = 0
                        while attempts < 5, await registry.arrivedUnbound(event) {
                            attempts += 1
                            try? await Task.sleep(for: .milliseconds(200))
                            await registry.handle(event)
                        }
                    }
                }
            } else {
                daemon.logger.warning("no udev hot-plug events (libudev monitor unavailable): devices that appear are not bound until a reload")
            }
            let metrics = daemon.metrics
            group.addTask { for await event in watched { await metrics.record(event) } }
            group.addTask {
                var tick = 0
                while !Task.isCancelled {
                    // Heartbeats also when no watchdog asks: GET /v1/health shows the loop turning.
                    dispatcher.requestHeartbeat()
                    try? await Task.sleep(for: .milliseconds(250))
                    await registry.checkMilestones()
                    tick += 1
                    // Once a second: it reads /proc/interrupts.
                    if tick % 4 == 0 { await registry.checkUnquietedLines() }
                }
            }
            let daemon = self.daemon
            group.addTask {
                // One that came before the sequence took SIGHUP over (`irqbridge daemon` counts them).
                if Signals.takeHangups() { _ = await daemon.reload() }
                for await _ in hangups { _ = await daemon.reload() }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        daemon.notifier.stopping()
        let outcome = await registry.drain()
        daemon.devicesNotRestored.withLock { $0 = outcome.notRestored }
        daemon.logger.info("stopped", metadata: ["disconnected": "\(outcome.disconnected)", "restored": "\(outcome.restored)",
                                                 "not-restored": "\(outcome.notRestored.count)"])
        await registry.shutDownDispatcher()
    }

    private func waitForSocket(_ path: String) async {
        for _ in 0..<500 where !FileIO.exists(path) { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

/// systemd's watchdog: WATCHDOG=1 only when the dispatch loops answered the last
/// heartbeat request, so a wedged loop (an ISR that never returns) trips it.
struct WatchdogService: Service {
    let dispatcher: InterruptDispatcher
    let notifier: SystemdNotifier

    func run() async throws {
        guard let interval = notifier.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        let period = interval / 4
        let dispatcher = self.dispatcher, notifier = self.notifier
        // Shut down last (after the devices were given back), so it pings through the drain.
        await cancelWhenGracefulShutdown {
            var requested = dispatcher.heartbeatsAnswered
            dispatcher.requestHeartbeat()
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                let answered = dispatcher.heartbeatsAnswered
                if answered > requested {
                    notifier.watchdog()
                    requested = answered
                    dispatcher.requestHeartbeat()
                }
            }
        }
    }
}

/// Stops right after the devices' drain: ends every `GET /v1/events` stream and
/// every pending wait, so the control API can finish its requests and stop.
struct EventStreamCloser: Service {
    let daemon: DaemonServices

    func run() async throws {
        try? await gracefulShutdown()
        daemon.registry.stopRequested.store(true, ordering: .releasing)
        daemon.events.publish(DaemonEvent(kind: .stopping, message: "stopping: the control API closes"))
        daemon.events.finish()
    }
}
