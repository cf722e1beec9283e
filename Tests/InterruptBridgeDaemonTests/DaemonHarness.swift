import Dispatch
import Foundation
import InterruptBridgeDaemon
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Logging
import ServiceLifecycle

/// A daemon on simulated devices in a temporary directory, its services running
/// in a ServiceGroup until `stop()`.
final class DaemonHarness: Sendable {
    let directory: String
    let services: DaemonServices
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let client: ControlClient

    /// `configuration` is the file's text (its settings get this test's socket and state directory).
    /// `kernel` and `dump`: PCI devices as a fake PCI core binds them and as an
    /// `lspci -xxxx` dump under InterruptBridgeCoreTests/Fixtures describes them.
    init(_ configuration: String, environment: [String: String] = [:], kernel: FakeBindingKernel? = nil,
         dump: String = "rig-q35.lspci") async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-daemon-\(UUID().uuidString.prefix(8))").path
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/daemon.yaml"
        try configuration.write(toFile: path, atomically: true, encoding: .utf8)
        let arguments = ["socket": directory + "/run/control.sock", "metrics": "off", "state-directory": directory + "/state"]
        let loaded = try DaemonConfiguration.load(path: path, arguments: arguments, environment: environment)
        let binder = kernel.map { kernel in
            DeviceBinder(kernel: kernel, records: BindingRecordStore(directory: directory + "/state/bindings", owner: "daemon"), logger: .silent("binder"))
        }
        let discovery = kernel.map { _ in
            PCIDiscovery(source: .dump(path: dump.hasPrefix("/") ? dump : Self.fixture(dump)), facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)),
                         logger: .silent("discovery"))
        }
        services = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: path, arguments: arguments,
                                      environment: environment, logger: .silent("daemon"), binder: binder, discovery: discovery)
        group = ServiceGroup(configuration: services.groupConfiguration(try services.services()))
        let group = self.group
        task = Task { try await group.run() }
        client = ControlClient(socketPath: arguments["socket"]!)
        // One bound for the whole wait: a daemon that accepts and never answers fails the test
        // in 30 s (each try 2 s), where 500 tries of a 30 s call were hours of silence.
        let deadline = ContinuousClock.now + .seconds(30)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let health = try await call("GET", "/v1/health", timeout: .seconds(2))
                if health.json["ready"] as? Bool == true { return }
                last = "\(health.status) \(health.text)"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError("the daemon did not become ready in 30 s: \(last)")
    }

    var configurationPath: String { directory + "/daemon.yaml" }

    static func fixture(_ name: String) -> String {
        "/" + #filePath.split(separator: "/").dropLast(2).joined(separator: "/") + "/InterruptBridgeCoreTests/Fixtures/" + name
    }

    /// One control call, made off the cooperative pool (the client blocks).
    func call(_ method: String, _ path: String, _ body: [String: any Sendable]? = nil,
              timeout: Duration = .seconds(30)) async throws -> ControlClient.Reply {
        let client = self.client
        return try await offTheCooperativePool { try client.request(method, path, json: body, timeout: timeout) }
    }

    /// One control call with `body` sent as written (JSON no encoder would write).
    func rawCall(_ method: String, _ path: String, body: String) async throws -> ControlClient.Reply {
        let client = self.client
        return try await offTheCooperativePool { try client.request(method, path, payload: Array(body.utf8), timeout: .seconds(30)) }
    }

    /// One request with no body, and the whole answer as sent (status line, headers and
    /// body), for what `ControlClient.Reply` does not keep, such as a header.
    func rawAnswer(_ method: String, _ path: String) async throws -> String {
        let socketPath = client.socketPath
        return try await offTheCooperativePool { () throws -> String in
            let connection = try UnixStream.connect(socketPath, timeout: .seconds(10))
            defer { connection.close() }
            UnixStream.setReceiveTimeout(connection.rawValue, .seconds(30))
            try UnixStream.write(connection.rawValue, Array("\(method) \(path) HTTP/1.1\r\nHost: irqbridge\r\nConnection: close\r\n\r\n".utf8))
            var answer: [UInt8] = []
            while case let bytes = try UnixStream.read(connection.rawValue), !bytes.isEmpty { answer += bytes }
            return String(decoding: answer, as: UTF8.self)
        }
    }

    /// `GET /v1/events` (or `path`) read as lines off the cooperative pool, until `enough` says
    /// so, the stream ends or `timeout` passes.
    func eventLines(path: String = "/v1/events", timeout: Duration,
                    until enough: @escaping @Sendable ([String]) -> Bool = { _ in false }) async throws -> [String] {
        let client = self.client
        return try await offTheCooperativePool { () throws -> [String] in
            var pending: [UInt8] = []
            var lines: [String] = []
            try client.exchange("GET", path, timeout: timeout) { _, _, chunk in
                pending += chunk
                while let newline = pending.firstIndex(of: 0x0a) {
                    lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeFirst(newline + 1)
                }
                return !enough(lines)
            }
            return lines
        }
    }

    /// Graceful shutdown (as SIGTERM), then the group's end; throws what the daemon's
    /// exit would report (`DaemonShutdownError`).
    /// The directory stays until the harness goes, so a test can read what the shutdown left
    /// in the state directory (binding records) after `stop()`.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        try services.checkShutdown()
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// Runs blocking work (a control call, a child process) on a thread of its own: on two
/// cores, two tests blocking the cooperative pool's threads starve every daemon the other
/// suites run meanwhile (their watchdog pings, their control API); and libdispatch's global
/// queue runs only as many blocked jobs as there are processors, adding one thread a second,
/// so calls parked there waited tens of seconds behind each other.
func offTheCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        do {
            PThread.detach(try PThread.spawn(name: "test-blocking") { continuation.resume(with: Result { try work() }) })
        } catch {
            continuation.resume(throwing: error)
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ControlClient.Reply {
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    var array: [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? [] }
}
