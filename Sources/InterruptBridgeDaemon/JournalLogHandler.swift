// swift-log to standard error in a form journald keeps well: one line per event,
// `key=value` metadata after the message, and under journald (JOURNAL_STREAM set)
// a `<N>` syslog priority prefix instead of a timestamp (journald stamps lines itself).
import Foundation
public import Logging

public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let underJournald: Bool

    public init(label: String, level: Logger.Level, environment: [String: String]) {
        self.label = label
        self.logLevel = level
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
        FileHandle.standardError.write(Data(line.utf8))
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
