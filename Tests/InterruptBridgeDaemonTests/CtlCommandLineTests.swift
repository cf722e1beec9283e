import Foundation
import InterruptBridgeSystem
import Testing

/// `irqbridge ctl`, run as a process without a daemon: what can be checked locally is bad
/// input (one line, status 2) before any call, and `ctl wait` keeps status 1 for "timed out"
/// only, so a daemon it cannot reach is 2.
@Suite(.enabled(if: BuiltCLI.irqbridge != nil, "irqbridge is not built next to the tests"), .timeLimit(.minutes(1)))
struct CtlCommandLineTests {
    /// `irqbridge ctl ARGUMENTS` against a socket nobody listens on.
    static func run(_ arguments: [String]) async throws -> ChildProcess.Result {
        try await runIrqbridge(["ctl"] + arguments + ["--socket", "/nonexistent/irqbridge-\(getpid()).sock"])
    }

    /// `irqbridge ARGUMENTS`, under a 20 s timeout where timeout(1) exists, waited for off
    /// the cooperative pool.
    static func runIrqbridge(_ arguments: [String]) async throws -> ChildProcess.Result {
        let irqbridge = try #require(BuiltCLI.irqbridge)
        let timeout = BuiltCLI.timeout
        return try await offTheCooperativePool {
            if let timeout { return try ChildProcess.run(timeout, ["20", irqbridge] + arguments) }
            return try ChildProcess.run(irqbridge, arguments)
        }
    }

    @Test(arguments: [
        (["wait", "0000:00:03.0", "--timeout", "1e20"], "irqbridge: --timeout must be 0...3600 seconds"),
        (["wait", "0000:00:03.0", "--timeout", "nan"], "irqbridge: --timeout must be 0...3600 seconds"),
        (["wait", "0000:00:03.0", "--count", "0"], "irqbridge: --count must be 1 or more, not 0"),
        (["wait", "0000:00:03.0", "--vector", "-1"], "irqbridge: --vector must be 0 or more, not -1"),
        (["show", ""], "irqbridge: the device id is empty"),
        (["bind", ""], "irqbridge: the device id is empty"),
        (["events", "--timeout", "1e300"], "irqbridge: --timeout must be above 0"),
        (["events", "--count", "0"], "irqbridge: --count must be 1 or more, not 0"),
        (["trigger", "sim0", "--rate", "nan"], "irqbridge: --rate must be 0.001 to 1000000 per second, not nan"),
        (["trigger", "sim0", "--rate", "0.0001"], "irqbridge: --rate must be 0.001 to 1000000 per second"),
        (["trigger", "sim0", "--count", "0"], "irqbridge: --count must be 1...1000000, not 0"),
        (["trigger", "sim0", "--count", "7201", "--rate", "2"], "irqbridge: --count 7201 at --rate 2.0 takes 3601 s; the daemon's trigger lasts at most 3600 s"),
        (["bind", "0000:00:03.0", "--driver", "foo"], "irqbridge: --driver must be vfio-pci or uio_pci_generic, not foo"),
        (["metrics", "--json"], "irqbridge: --json: the metrics are Prometheus text, which has no JSON form"),
    ])
    func badInputIsCheckedBeforeTheDaemonIsCalled(arguments: [String], prefix: String) async throws {
        let result = try await Self.run(arguments)
        #expect(result.status == 2, "status \(result.status): \(result.standardError)")
        #expect(result.standardOutput.isEmpty)
        #expect(result.standardError.hasPrefix(prefix), "\(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
    }

    /// A socket path that cannot name a socket, and a configuration that is not a regular
    /// file (never waited on, as a FIFO would be, or read without end, as /dev/zero would
    /// be): bad input, one line, status 2.
    @Test(arguments: [
        (["ctl", "devices", "--socket", ""], "irqbridge: --socket is empty"),
        (["ctl", "devices", "--socket", String(repeating: "x", count: 200)], "irqbridge: --socket is 200 bytes"),
        (["daemon", "--check", "--config", "/dev/zero"], "irqbridge: cannot read the configuration /dev/zero: /dev/zero is a character device"),
        // The socket replaces a stale socket file only: never a directory, never a file such as /etc/passwd.
        (["daemon", "--check", "--socket", "/tmp"], "irqbridge: setting 'socket': /tmp is a directory, not a socket to replace"),
        (["daemon", "--check", "--socket", "/etc/passwd"], "irqbridge: setting 'socket': /etc/passwd is a file, not a socket to replace"),
        // --check said "valid" and the start then failed (status 1) at the lock file inside it.
        (["daemon", "--check", "--set", "state-directory=/etc/passwd"],
         "irqbridge: setting 'state-directory': /etc/passwd is a regular file, not a directory: name a directory"),
        (["daemon", "--set", "state-directory=/etc/passwd", "--socket", "/nonexistent/irqbridge.sock", "--metrics", "off"],
         "irqbridge: setting 'state-directory': /etc/passwd is a regular file, not a directory"),
        // The socket would replace the lock file it sits beside (a stale socket file there, say).
        (["daemon", "--check", "--set", "state-directory=/tmp", "--socket", "/tmp/daemon.lock"],
         "irqbridge: setting 'socket': /tmp/daemon.lock is the state directory's own (lock file)"),
        (["daemon", "--check", "--set", "state-directory=/tmp/", "--socket", "/tmp//./bindings"],
         "irqbridge: setting 'socket': /tmp//./bindings is the state directory's own (binding records)"),
        // connect(2) refuses both as it refuses a stale socket: named, not "Connection refused".
        (["ctl", "devices", "--socket", "/tmp"], "irqbridge: --socket: /tmp is a directory, not a socket: give the daemon's control socket"),
        (["ctl", "health", "--socket", "/etc/passwd"], "irqbridge: --socket: /etc/passwd is a regular file, not a socket"),
    ])
    func unusablePathsAreBadInput(arguments: [String], prefix: String) async throws {
        let result = try await Self.runIrqbridge(arguments)
        #expect(result.status == 2, "status \(result.status): \(result.standardError)")
        #expect(result.standardError.hasPrefix(prefix), "\(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1)
    }

    /// A socket file nobody listens on (a daemon killed with SIGKILL leaves one): the hint
    /// the user acts on, as for no socket at all; "errno 111" hid it.
    @Test func aStaleSocketAsksWhetherTheDaemonRuns() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-stale-\(getpid()).sock").path
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let result = try await Self.runIrqbridge(["ctl", "devices", "--socket", path])
        #expect(result.status == 1, "status \(result.status): \(result.standardError)")
        #expect(result.standardError.hasPrefix("irqbridge: cannot reach the daemon at \(path): is irqbridge daemon running? "), "\(result.standardError)")
        #expect(result.standardError.hasSuffix("(ECONNREFUSED)\n") && result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
    }

    /// --socket and --json go before the subcommand's name as well as after it; after wins.
    @Test func theSharedOptionsGoBeforeTheSubcommandToo() async throws {
        let before = try await Self.runIrqbridge(["ctl", "--socket", "/nonexistent/before.sock", "devices"])
        #expect(before.status == 1 && before.standardError.contains("/nonexistent/before.sock"), "\(before.status): \(before.standardError)")
        let both = try await Self.runIrqbridge(["ctl", "--socket", "/nonexistent/before.sock", "health", "--socket", "/nonexistent/after.sock"])
        #expect(both.status == 1 && both.standardError.contains("/nonexistent/after.sock"), "\(both.status): \(both.standardError)")
        let empty = try await Self.runIrqbridge(["ctl", "--socket", "", "devices"])
        #expect(empty.status == 2 && empty.standardError == "irqbridge: --socket is empty\n", "\(empty.status): \(empty.standardError)")
        let alone = try await Self.runIrqbridge(["ctl", "--socket", "/nonexistent/before.sock"])
        #expect(alone.status == 2 && alone.standardError.hasPrefix("irqbridge: ctl: no subcommand after its options"), "\(alone.standardError)")
        let json = try await Self.runIrqbridge(["ctl", "--json", "metrics", "--socket", "/nonexistent/m.sock"])
        #expect(json.status == 2 && json.standardError.hasPrefix("irqbridge: --json: the metrics are Prometheus text"), "\(json.standardError)")
    }

    /// `daemon --check` says when a profile sits where the shipped unit cannot read it.
    @Test func checkNotesAProfileTheUnitCannotSee() async throws {
        let directory = "/tmp/irqbridge-check-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let profile = try await Self.runIrqbridge(["profile", "show", "edu"])
        try profile.standardOutput.write(toFile: directory + "/edu.yaml", atomically: true, encoding: .utf8)
        try "devices:\n  \"1234:11e8\": {driver: vfio-pci, profile: \(directory)/edu.yaml}\n"
            .write(toFile: directory + "/daemon.yaml", atomically: true, encoding: .utf8)
        let check = try await Self.runIrqbridge(["daemon", "--check", "--config", directory + "/daemon.yaml"])
        #expect(check.status == 0, "\(check.standardError)")
        #expect(check.standardOutput.contains("note: profile \(directory)/edu.yaml is under /tmp, which the shipped systemd unit cannot read "
                                               + "(PrivateTmp=yes gives the service a /tmp of its own)"), "\(check.standardOutput)")
    }

    @Test func waitWithoutADaemonIsAFailureNotATimeout() async throws {
        let wait = try await Self.run(["wait", "0000:00:03.0", "--timeout", "1"])
        #expect(wait.status == 2, "status \(wait.status): \(wait.standardError)")
        #expect(wait.standardError.hasPrefix("irqbridge: ") && wait.standardError.filter { $0 == "\n" }.count == 1)
        // Any other call that cannot reach the daemon is a failure while running: 1.
        let devices = try await Self.run(["devices"])
        #expect(devices.status == 1, "status \(devices.status): \(devices.standardError)")
    }
}

/// The irqbridge binary built beside this test bundle, and timeout(1) to run it under.
enum BuiltCLI {
    static let irqbridge: String? = {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let path = directory.appendingPathComponent("irqbridge").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()
    static let timeout = ["/usr/bin/timeout", "/bin/timeout"].first { FileManager.default.isExecutableFile(atPath: $0) }
}
