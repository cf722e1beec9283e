// swift-log to standard error in a form journald keeps well: one line per event,
// `key=value` metadata after the message, and under journald (JOURNAL_STREAM set)
// a `<N>` syslog priority prefix instead of a timestamp (journald stamps lines itself).
import Foundation
public import Logging
import InterruptBridgeSystem
import Synchronization

public struct JournalLogHandler: LogHandler {
    /// The level of every handler made without one (`init(label:environment:)`): the
    /// daemon's `log-level`, which `irqbridge daemon` sets at start (an embedder sets it
    /// too) and `DaemonServices.reload` sets when a reload changes it, so a reload changes
    /// what loggers made long before it write. Process-wide: one daemon per process.
    public static var sharedLevel: Logger.Level {
        get { Logger.Level.allCases[Int(shared.load(ordering: .relaxed))] }
        set { shared.store(UInt8(Logger.Level.allCases.firstIndex(of: newValue)!), ordering: .relaxed) }
    }
    private static let shared = Atomic<UInt8>(UInt8(Logger.Level.allCases.firstIndex(of: .info)!))

    /// This handler's own level, when it was given one (or a logger set one).
    private var ownLevel: Logger.Level?
    public var logLevel: Logger.Level {
        get { ownLevel ?? Self.sharedLevel }
        set { ownLevel = newValue }
    }
    public var metadata: Logger.Metadata = [:]
    let label: String
    let underJournald: Bool

    /// A handler at `level` for good.
    public init(label: String, level: Logger.Level, environment: [String: String]) {
        self.label = label
        self.ownLevel = level
        self.underJournald = environment["JOURNAL_STREAM"] != nil
    }

    /// A handler that follows `sharedLevel`.
    public init(label: String, environment: [String: String]) {
        self.label = label
        self.ownLevel = nil
        self.underJournald = environment["JOURNAL_STREAM"] != nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let line = Self.format(level: event.level, message: "\(event.message)", metadata: fields, label: label,
                               priorityPrefix: underJournald, time: underJournald ? nil : Date())
        StandardError.write(line)
    }

    /// `<6>message key=value ...` (journald) or `2026-12-03T09:00:00Z info message key=value ...`.
    static func format(level: Logger.Level, message: String, metadata: Logger.Metadata, label: String, priorityPrefix: Bool, time: Date?) -> String {
        let flat = message.replacingOccurrences(of: "\n", with: " ")
        var line = priorityPrefix ? "<\(priority(level))>" : ""
        if let time { line += ISO8601DateFormatter().string(from: time) + " " + level.rawValue + " " }
        line += flat
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(quoted("\(value)"))"
        }
        return line + "\n"
    }

    /// syslog priorities journald reads from the prefix.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A value quoted only when it has spaces, quotes or '='.
    static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
