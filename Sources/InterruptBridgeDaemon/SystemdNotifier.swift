// systemd's notify protocol (sd_notify(3)): datagrams of KEY=VALUE lines to the
// socket NOTIFY_SOCKET names. READY=1 once every configured device is connected
// or reported failed; RELOADING=1 with MONOTONIC_USEC around a reload; STOPPING=1;
// WATCHDOG=1 only while the dispatch loop answers heartbeats (WATCHDOG_USEC).
import InterruptBridgeSystem
public import Logging
#if canImport(Glibc)
import Glibc
#endif

public struct SystemdNotifier: Sendable {
    /// Where notifications go (nil: not started by systemd; every call is a no-op).
    public let socketPath: String?
    /// The watchdog interval systemd expects pings within (nil: no watchdog).
    public let watchdogInterval: Duration?
    let logger: Logger

    /// From the environment systemd sets: NOTIFY_SOCKET, WATCHDOG_USEC (and
    /// WATCHDOG_PID, which must be this process when set).
    public init(environment: [String: String], logger: Logger) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path.flatMap { $0.hasPrefix("/") || $0.hasPrefix("@") ? $0 : nil }
        var interval: Duration?
        if let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 {
            if let pid = environment["WATCHDOG_PID"].flatMap({ Int32($0) }), pid != getpid() {
                interval = nil
            } else {
                interval = .microseconds(microseconds)
            }
        }
        watchdogInterval = interval
        self.logger = logger
    }

    /// Sends the lines as one datagram. Failures are logged, never thrown: the
    /// daemon runs on without a service manager. Never blocks a thread for long (the
    /// callers are async tasks): a service manager whose socket queue is full gets a
    /// second to take a state change, none for a watchdog ping (the next one follows).
    public func notify(_ lines: [String]) {
        guard let socketPath else { return }
        do {
            try UnixDatagram.send(Array(lines.joined(separator: "\n").utf8), to: socketPath,
                                  patience: lines == ["WATCHDOG=1"] ? .zero : .seconds(1))
        } catch {
            logger.warning("sd_notify to \(socketPath) failed: \(error)", metadata: ["message": "\(lines.joined(separator: " "))"])
        }
    }

    public func ready(status: String) { notify(["READY=1", "STATUS=\(status)"]) }

    /// Before a reload: RELOADING=1 with the monotonic clock's microseconds
    /// (what Type=notify-reload needs).
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        notify(["RELOADING=1", "MONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)", "STATUS=reloading"])
    }

    public func stopping() { notify(["STOPPING=1", "STATUS=stopping: disconnecting and giving devices back"]) }
    public func watchdog() { notify(["WATCHDOG=1"]) }
    public func status(_ text: String) { notify(["STATUS=\(text)"]) }
}
