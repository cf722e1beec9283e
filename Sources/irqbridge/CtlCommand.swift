// `irqbridge ctl ...`: the control API's client, one subcommand per call. Without
// --json each prints a short human form; with --json the API's JSON as it came.
// Exit status: 0 done, 1 the daemon failed or could not be reached, 2 a bad request;
// `ctl wait`: 0 arrived, 1 timed out, 2 anything else. What can be checked here (numbers,
// the driver's name) is checked before the daemon is called.
#if !INTERRUPTBRIDGE_WITHOUT_DAEMON  // see Package.swift
import ArgumentParser
import Foundation
import InterruptBridgeDaemon
import InterruptBridgeSystem
import InterruptBridgeTooling

struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Call the running daemon's control API (the UNIX socket).",
        subcommands: [Devices.self, Show.self, Bind.self, Unbind.self, Connect.self, Disconnect.self, Stats.self, Reset.self,
                      Trigger.self, Wait.self, Rearm.self, SaveConfig.self, Reload.self, Health.self, Events.self, Metrics.self]
    )

    /// --socket and --json before the subcommand's name (`ctl --socket PATH devices`).
    @OptionGroup var leading: CtlOptions

    /// No subcommand: the help, as for a bare `ctl`; but options with no call after them are
    /// a mistake (an empty variable where the subcommand was), not a success.
    func run() throws {
        if leading.socket != nil || leading.json {
            throw CommandFailure.badInput("ctl: no subcommand after its options (e.g. ctl --socket PATH devices; ctl --help lists them)")
        }
        throw CleanExit.helpRequest(self)
    }
}

/// A ctl subcommand, whose --socket and --json go before its name or after it.
protocol CtlSubcommand: ParsableCommand {
    var own: CtlOptions { get }
    var ctl: CtlCommand { get }
}

extension CtlSubcommand {
    /// The options given after the subcommand's name, else before it.
    var options: CtlOptions { own.after(ctl.leading) }
}

/// --socket and --json, shared by every ctl subcommand.
struct CtlOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's control socket (default: IRQBRIDGE_SOCKET, else /run/irqbridge/control.sock).", valueName: "PATH"))
    var socket: String?

    @Flag(help: "Print the API's JSON.")
    var json = false

    /// These options, with what `leading` (given before the subcommand's name) adds.
    func after(_ leading: CtlOptions) -> CtlOptions {
        var merged = self
        if merged.socket == nil { merged.socket = leading.socket }
        merged.json = json || leading.json
        return merged
    }

    var socketPath: String { socket ?? ProcessInfo.processInfo.environment["IRQBRIDGE_SOCKET"] ?? DaemonSettings().socketPath }

    var client: ControlClient { ControlClient(socketPath: socketPath) }

    /// Sends the call; a 4xx answer is bad input (2), anything else not 2xx a failure (1).
    /// A socket path that cannot name a socket is bad input too, as the daemon finds it.
    func call(_ method: String, _ path: String, body: [String: any Sendable]? = nil, timeout: Duration = .seconds(60)) throws -> ControlClient.Reply {
        let named = socket != nil ? "--socket" : ProcessInfo.processInfo.environment["IRQBRIDGE_SOCKET"] != nil ? "IRQBRIDGE_SOCKET" : "the socket path"
        guard !socketPath.isEmpty else { throw CommandFailure.badInput("\(named) is empty") }
        guard socketPath.utf8.count < 108 else {
            throw CommandFailure.badInput("\(named) is \(socketPath.utf8.count) bytes; a Unix socket path has at most 107")
        }
        // connect(2) answers ECONNREFUSED for a directory or a regular file, as for a stale socket.
        if let kind = FileIO.kind(of: socketPath), kind != .socket {
            throw CommandFailure.badInput("\(named): \(socketPath) is \(kind), not a socket: give the daemon's control socket (its setting 'socket')")
        }
        let reply: ControlClient.Reply
        do { reply = try client.request(method, path, json: body, timeout: timeout) } catch { throw CommandFailure.failed("\(error)") }
        switch reply.status {
        case 200..<300: return reply
        case 400..<500: throw CommandFailure.badInput(reply.errorMessage)
        default: throw CommandFailure.failed(reply.errorMessage)
        }
    }

    /// Prints the JSON (with --json) or `human` of the decoded object.
    func show(_ reply: ControlClient.Reply, human: (Any) -> String) {
        if json {
            print(reply.text, terminator: reply.text.hasSuffix("\n") ? "" : "\n")
        } else if let object = try? JSONSerialization.jsonObject(with: Data(reply.body)) {
            print(human(object))
        } else {
            print(reply.text)
        }
    }
}

/// A device id in a path: an address or a simulated device's name, percent-encoded.
/// An empty id names no device (bad input), not the device list.
func devicePath(_ id: String, _ suffix: String = "") throws(CommandFailure) -> String {
    guard !id.isEmpty else { throw .badInput("the device id is empty: give an address (0000:00:03.0) or a simulated device's name") }
    return "/v1/devices/" + (id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.:"))) ?? id) + suffix
}

private func describeDevice(_ object: Any) -> String {
    guard let device = object as? [String: Any] else { return "\(object)" }
    let id = device["id"] as? String ?? "?"
    let state = device["state"] as? String ?? "?"
    var line = "\(id)  \(state)"
    if let kind = device["interruptKind"] as? String { line += "  \(kind) x\(device["vectors"] as? Int ?? 0)" }
    if let count = device["interrupts"] as? Int, state == "connected" { line += "  \(count) interrupt(s), \(device["unclaimed"] as? Int ?? 0) unclaimed" }
    if let driver = device["driver"] as? String { line += "  driver \(driver)" }
    if let reason = device["reason"] as? String { line += "  (\(reason))" }
    return line
}

extension CtlCommand {
    struct Devices: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "devices", abstract: "List the daemon's devices and their state (GET /v1/devices); interrupt counts since each connected.")
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws {
            let reply = try options.call("GET", "/v1/devices")
            options.show(reply) { object in
                let devices = object as? [Any] ?? []
                return devices.isEmpty ? "no devices" : devices.map(describeDevice).joined(separator: "\n")
            }
        }
    }

    struct Show: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One device, with its `list --json` object (GET /v1/devices/ID); its interrupt counts are since it connected (stats: since the last reset).")
        @Argument(help: "A PCI address or a simulated device's name.") var id: String
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws { options.show(try options.call("GET", devicePath(id)), human: describeDevice) }
    }

    struct Bind: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "bind", abstract: "Bind a device to vfio-pci or uio_pci_generic (POST /v1/devices/ID/bind).")
        @Argument(help: "A PCI address.") var id: String
        @Option(help: "vfio-pci (default) or uio_pci_generic.") var driver: String?
        @Option(help: "The driver the device may be taken from.") var from: String?
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func validate() throws {
            if let driver, !["vfio-pci", "uio_pci_generic"].contains(driver) {
                throw CommandFailure.badInput("--driver must be vfio-pci or uio_pci_generic, not \(driver)")
            }
        }
        func run() throws {
            var body: [String: any Sendable] = [:]
            if let driver { body["driver"] = driver }
            if let from { body["from"] = from }
            options.show(try options.call("POST", devicePath(id, "/bind"), body: body), human: describeDevice)
        }
    }

    struct Unbind: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "unbind", abstract: "Disconnect a device and give it back to its driver (POST /v1/devices/ID/unbind).")
        @Argument var id: String
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws { options.show(try options.call("POST", devicePath(id, "/unbind")), human: describeDevice) }
    }

    struct Connect: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "connect", abstract: "Connect a bound device's interrupts (POST /v1/devices/ID/connect).")
        @Argument var id: String
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws { options.show(try options.call("POST", devicePath(id, "/connect")), human: describeDevice) }
    }

    struct Disconnect: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "disconnect", abstract: "Disconnect a device's interrupts (POST /v1/devices/ID/disconnect).")
        @Argument var id: String
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws { options.show(try options.call("POST", devicePath(id, "/disconnect")), human: describeDevice) }
    }

    struct Stats: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "stats", abstract: "Per-vector statistics since the last reset (GET /v1/devices/ID/statistics).")
        @Argument var id: String
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws {
            options.show(try options.call("GET", devicePath(id, "/statistics"))) { object in
                guard let stats = object as? [String: Any], let vectors = stats["vectors"] as? [[String: Any]] else { return "\(object)" }
                let head = "\(stats["id"] as? String ?? id)  \(stats["state"] as? String ?? "")  over \(String(format: "%.1f", stats["seconds"] as? Double ?? 0)) s"
                return ([head] + vectors.map { vector in
                    "  message \(vector["message"] as? Int ?? 0) (\(vector["kind"] as? String ?? ""), DIRQL \(vector["dirql"] as? Int ?? 0)): "
                        + "\(vector["interrupts"] as? Int ?? 0) interrupt(s), \(vector["unclaimed"] as? Int ?? 0) unclaimed, "
                        + "kernel \((vector["kernel"] as? Int).map(String.init) ?? "-"), \(vector["storms"] as? Int ?? 0) storm(s)"
                        + ((vector["contained"] as? Bool) == true ? ", CONTAINED" : "")
                }).joined(separator: "\n")
            }
        }
    }

    struct Reset: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "reset", abstract: "Start a device's (or every device's) statistics afresh.")
        @Argument(help: "A device (default: all).") var id: String?
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws {
            let reply = try options.call("POST", id.map { try devicePath($0, "/counters/reset") } ?? "/v1/counters/reset")
            options.show(reply) { object in "counters reset: " + ((object as? [[String: Any]])?.compactMap { $0["id"] as? String }.joined(separator: ", ") ?? "") }
        }
    }

    struct Trigger: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "trigger", abstract: "Raise interrupts through the profile's stimulus or VFIO's loopback (POST .../trigger).")
        @Argument var id: String
        @Option(parsing: .unconditional, help: "The vector (default: every vector in turn).") var vector: Int?
        @Option(parsing: .unconditional, help: "How many.") var count = 1
        @Option(parsing: .unconditional, help: "Per second (default: each after the previous one was served).") var rate: Double?
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func validate() throws {
            if let vector, vector < 0 { throw CommandFailure.badInput("--vector must be 0 or more, not \(vector)") }
            guard (1...1_000_000).contains(count) else { throw CommandFailure.badInput("--count must be 1...1000000, not \(count)") }
            if let rate, !Raising.rates.contains(rate) {
                throw CommandFailure.badInput("--rate must be 0.001 to 1000000 per second, not \(rate)")
            }
            if let rate, Double(count) / rate > DeviceRegistry.longestPacedTrigger {
                throw CommandFailure.badInput("--count \(count) at --rate \(rate) takes \(Int((Double(count) / rate).rounded(.up))) s; "
                                              + "the daemon's trigger lasts at most \(Int(DeviceRegistry.longestPacedTrigger)) s")
            }
        }
        func run() throws {
            var body: [String: any Sendable] = ["count": count]
            if let vector { body["vector"] = vector }
            if let rate { body["rate"] = rate }
            // Paced: the answer comes count / rate seconds after the start; unpaced, each raise
            // waits at most a second for its ISR. Either way with a margin for the call itself.
            let seconds = Int64((rate.map { Double(count) / $0 } ?? DeviceRegistry.longestPacedTrigger).rounded(.up))
            options.show(try options.call("POST", devicePath(id, "/trigger"), body: body, timeout: .seconds(seconds + 30))) { object in
                let outcome = object as? [String: Any] ?? [:]
                let stimulus = outcome["stimulus"] as? String ?? "?"
                // The loopback stimulus's name already says it does not come from the device.
                let notFromDevice = (outcome["fromDevice"] as? Bool) == false && !stimulus.contains("from the device")
                return "raised \(outcome["raised"] as? Int ?? 0) interrupt(s) on \(id) through \(stimulus)"
                    + (notFromDevice ? " (not from the device itself)" : "")
            }
        }
    }

    struct Wait: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for N interrupts; exit 0 when they arrived, 1 on timeout, 2 if the device disconnects or the daemon stops (POST .../wait).")
        @Argument var id: String
        @Option(parsing: .unconditional, help: "The vector (default: any).") var vector: Int?
        @Option(parsing: .unconditional, help: "How many interrupts.") var count = 1
        @Option(parsing: .unconditional, help: "Seconds (at most 3600).") var timeout: Double = 10
        @Flag(name: .customLong("since-reset"),
              help: "Count the interrupts since the device's counters were last reset (ctl reset), not from now: reset, act, then wait, without a race.")
        var sinceReset = false
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func validate() throws {
            if let vector, vector < 0 { throw CommandFailure.badInput("--vector must be 0 or more, not \(vector)") }
            guard count >= 1 else { throw CommandFailure.badInput("--count must be 1 or more, not \(count)") }
            guard timeout >= 0, timeout <= 3600 else { throw CommandFailure.badInput("--timeout must be 0...3600 seconds, not \(timeout)") }
        }
        func run() throws { try CommandFailure.whileWaiting(waitForInterrupts) }
        private func waitForInterrupts() throws {
            var body: [String: any Sendable] = ["count": count, "timeout": timeout]
            if let vector { body["vector"] = vector }
            if sinceReset { body["since"] = "reset" }
            let reply = try options.call("POST", devicePath(id, "/wait"), body: body, timeout: .seconds(Int64(timeout) + 30))
            options.show(reply) { object in
                let outcome = object as? [String: Any] ?? [:]
                return "\(outcome["arrived"] as? Int ?? 0) of \(count) interrupt(s) arrived on \(id) in \(String(format: "%.3f", outcome["seconds"] as? Double ?? 0)) s"
            }
            let satisfied = ((try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any])?["satisfied"] as? Bool ?? false
            if !satisfied { throw ExitCode(1) }
        }
    }

    struct Rearm: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "rearm", abstract: "Watch a device's storm-contained vectors again (POST .../rearm).")
        @Argument var id: String
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws { options.show(try options.call("POST", devicePath(id, "/rearm")), human: describeDevice) }
    }

    struct SaveConfig: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "save-config", abstract: "Print (or write, --path) the running configuration.")
        @Option(help: "Write it here (atomically) as well: the daemon's configuration file or a file in its state directory (a relative path is taken from the current directory).")
        var path: String?
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws {
            // The daemon's working directory is not ours: send the path this one means.
            let reply = try options.call("POST", "/v1/config/save", body: path.map { ["path": FileIO.absolute($0)] } ?? [:])
            options.show(reply) { object in (object as? [String: Any])?["configuration"] as? String ?? "\(object)" }
        }
    }

    struct Reload: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "reload", abstract: "Reload the configuration file, as SIGHUP does (POST /v1/reload).")
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws {
            options.show(try options.call("POST", "/v1/reload")) { object in (object as? [String: Any])?["message"] as? String ?? "\(object)" }
        }
    }

    struct Health: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "health", abstract: "Whether the daemon is ready, and its heartbeat (GET /v1/health).")
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func run() throws {
            options.show(try options.call("GET", "/v1/health")) { object in
                let health = object as? [String: Any] ?? [:]
                return "\((health["ready"] as? Bool) == true ? "ready" : "starting"): \(health["connected"] as? Int ?? 0) connected, "
                    + "\(health["failed"] as? Int ?? 0) failed, \(health["devices"] as? Int ?? 0) known; heartbeats \(health["heartbeats"] as? Int ?? 0)"
            }
        }
    }

    struct Events: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "events", abstract: "Follow the event stream (GET /v1/events, also /events): one JSON object per line.")
        @Option(parsing: .unconditional, help: "Stop after this many events.") var count: Int?
        @Option(parsing: .unconditional, help: "Stop after this many seconds.") var timeout: Double?
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func validate() throws {
            if let count, count < 1 { throw CommandFailure.badInput("--count must be 1 or more, not \(count)") }
            if let timeout, !(timeout > 0 && timeout <= 31_536_000) {
                throw CommandFailure.badInput("--timeout must be above 0 and at most 31536000 seconds, not \(timeout)")
            }
        }
        func run() throws {
            var follower = EventFollower(limit: count, deadline: timeout.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) })
            let outcome = Result { () throws(ControlClientError) in
                try options.client.exchange("GET", "/v1/events", timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }) { status, _, chunk in
                    follower.take(status: status, chunk)
                }
            }
            if case .failure(let error) = outcome {
                // The timeout elapsing with no event is how --timeout ends a quiet stream.
                if case .unreachable(let message) = error, message.contains("within the timeout") { return }
                throw CommandFailure.failed("\(error)")
            }
            if let failure = follower.failure { throw CommandFailure.failed(failure) }
        }
    }

    struct Metrics: CtlSubcommand {
        static let configuration = CommandConfiguration(commandName: "metrics", abstract: "The Prometheus metrics, from the socket (GET /metrics).")
        @OptionGroup var own: CtlOptions
        @ParentCommand var ctl: CtlCommand
        func validate() throws {
            if options.json { throw CommandFailure.badInput("--json: the metrics are Prometheus text, which has no JSON form") }
        }
        func run() throws { print(try options.call("GET", "/metrics").text, terminator: "") }
    }
}

/// Prints the event stream's lines as they arrive, until a count or a deadline.
struct EventFollower {
    let limit: Int?
    let deadline: ContinuousClock.Instant?
    var seen = 0
    var pending: [UInt8] = []
    var failure: String?

    init(limit: Int?, deadline: ContinuousClock.Instant?) {
        self.limit = limit
        self.deadline = deadline
    }

    /// False: stop reading.
    mutating func take(status: Int, _ chunk: [UInt8]) -> Bool {
        guard status == 200 else {
            failure = String(decoding: chunk, as: UTF8.self)
            return false
        }
        pending += chunk
        while let newline = pending.firstIndex(of: 0x0a) {
            print(String(decoding: pending[..<newline], as: UTF8.self))
            fflush(nil)
            pending.removeFirst(newline + 1)
            seen += 1
            if let limit, seen >= limit { return false }
        }
        if let deadline, ContinuousClock.now >= deadline { return false }
        return true
    }
}
#endif
