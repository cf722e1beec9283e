// The rig daemon embedded in an executable with an ISR of its own: the daemon's
// services (devices from the configuration, control API, metrics, notify/watchdog)
// run in one ServiceGroup beside the executable's own service, and the executable
// connects its own interrupt on the daemon's dispatcher (so systemd's watchdog
// covers it too). Here the "card" is simulated; with hardware it would be a
// `DeviceSession.open(address, ...)` of a device bound to vfio-pci.
//
//   swift run irqbridge-embedded-example --config packaging/daemon.example.yaml --set socket=/tmp/embedded.sock \
//       --set state-directory=/tmp/embedded-state
import Foundation
import InterruptBridge
import InterruptBridgeDaemon
import Logging
import ServiceLifecycle
import Synchronization

/// The executable's own work: an ISR on a device the daemon does not manage,
/// and a service that reports what it counted.
struct MyCardService: Service {
    let dispatcher: InterruptDispatcher
    let logger: Logger

    func run() async throws {
        let backend = SimulatedBackend(msixVectors: 2)
        let device = InterruptDevice(backend: backend)
        let claimed = Atomic<UInt64>(0)
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
            // The ISR: claim, count; no allocation, no locks, no logging.
            claimed.add(1, ordering: .relaxed)
            return true
        })
        defer { if case .messages(let table) = connection { dispatcher.disconnect(table) } }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                backend.raise(message: 0)
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        logger.info("my card's ISR claimed \(claimed.load(ordering: .relaxed)) interrupt(s)")
    }
}

@main
struct EmbeddedDaemon {
    static func main() async throws {
        var path: String?
        var arguments: [String: String] = [:]
        var words = CommandLine.arguments.dropFirst().makeIterator()
        while let word = words.next() {
            switch word {
            case "--config": path = words.next()
            case "--set":
                if let pair = words.next(), let equals = pair.firstIndex(of: "=") {
                    arguments[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
                }
            default:
                FileHandle.standardError.write(Data("usage: irqbridge-embedded-example [--config FILE] [--set KEY=VALUE]...\n".utf8))
                exit(2)
            }
        }
        let environment = ProcessInfo.processInfo.environment
        let loaded = try DaemonConfiguration.load(path: path, arguments: arguments, environment: environment)
        let level = loaded.settings.logLevel
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level, environment: environment) }
        let logger = Logger(label: "embedded")
        let daemon = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: loaded.path,
                                        arguments: arguments, environment: environment, logger: logger)
        // The daemon's services first, the executable's after: graceful shutdown runs in
        // reverse, so the card's ISR is disconnected before the daemon drains its devices.
        let services = try daemon.services() + [MyCardService(dispatcher: daemon.dispatcher, logger: logger)]
        try await ServiceGroup(configuration: daemon.groupConfiguration(services)).run()
        // Throws when the drain could not give a device back (its record is kept for irqbridge unbind).
        try daemon.checkShutdown()
    }
}
