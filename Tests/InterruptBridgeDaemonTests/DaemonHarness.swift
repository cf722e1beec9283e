import Dispatch
import Foundation
import InterruptBridgeDaemon
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
    init(_ configuration: String, environment: [String: String] = [:]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-daemon-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/daemon.yaml"
        try configuration.write(toFile: path, atomically: true, encoding: .utf8)
        let arguments = ["socket": directory + "/run/control.sock", "metrics": "off", "state-directory": directory + "/state"]
        let loaded = try DaemonConfiguration.load(path: path, arguments: arguments, environment: environment)
        services = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: path, arguments: arguments,
                                      environment: environment, logger: .silent("daemon"))
        group = ServiceGroup(configuration: services.groupConfiguration(try services.services()))
        let group = self.group
        task = Task { try await group.run() }
        client = ControlClient(socketPath: arguments["socket"]!)
        for _ in 0..<500 {
            if (try? await call("GET", "/v1/health"))?.json["ready"] as? Bool == true { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError("the daemon did not become ready")
    }

    var configurationPath: String { directory + "/daemon.yaml" }

    /// One control call, made off the cooperative pool (the client blocks).
    func call(_ method: String, _ path: String, _ body: [String: any Sendable]? = nil) async throws -> ControlClient.Reply {
        let client = self.client
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try client.request(method, path, json: body, timeout: .seconds(30)) })
            }
        }
    }

    /// Graceful shutdown (as SIGTERM), then the group's end.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        try? FileManager.default.removeItem(atPath: directory)
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
