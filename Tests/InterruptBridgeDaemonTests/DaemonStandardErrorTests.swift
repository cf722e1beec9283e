import Foundation
import InterruptBridgeSystem
import Testing

/// The daemon's log goes to standard error (journald's stream under systemd). A write there
/// that fails (a full disk, a journal stream that went away) loses the line, never the daemon:
/// Foundation's FileHandle.write stopped the process (SIGILL, status 132) at the first log line
/// it could not write, here the one SIGTERM's clean stop begins with.
@Suite(.enabled(if: BuiltCLI.irqbridge != nil && BuiltCLI.timeout != nil, "irqbridge or timeout(1) is missing"),
       .timeLimit(.minutes(1)))
struct DaemonStandardErrorTests {
    @Test func aDaemonWhoseStandardErrorRefusesWritesRunsAndStopsCleanly() async throws {
        let irqbridge = try #require(BuiltCLI.irqbridge), timeout = try #require(BuiltCLI.timeout)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-stderr-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "simulated:\n  sim0: {interrupts: msix, vectors: 2, rate: 200}\n"
            .write(toFile: directory + "/daemon.yaml", atomically: true, encoding: .utf8)
        let command = [timeout, "--preserve-status", "2", irqbridge, "daemon", "--config", directory + "/daemon.yaml",
                       "--socket", directory + "/control.sock", "--metrics", "off", "--set", "state-directory=" + directory]
        let script = "exec " + command.map { "'\($0)'" }.joined(separator: " ") + " 2> /dev/full"
        let result = try await offTheCooperativePool { try ChildProcess.run("/bin/sh", ["-c", script]) }
        // timeout(1) sent SIGTERM after 2 s; the daemon stopped as asked: status 0.
        #expect(result.status == 0, "status \(result.status)")
    }
}
