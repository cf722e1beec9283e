public import Logging

extension Logger {
    /// A logger that discards everything (tests that do not look at logs).
    public static func silent(_ label: String = "test") -> Logger {
        Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// A logger whose messages (`"LEVEL: message"`) land in `messages`.
    public static func capturing(into messages: Recorder<String>, label: String = "test") -> Logger {
        Logger(label: label, factory: { _ in CapturingLogHandler(messages: messages) })
    }
}

/// A log handler that keeps messages, for tests that check what was logged.
public struct CapturingLogHandler: LogHandler {
    public let messages: Recorder<String>
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(messages: Recorder<String>) { self.messages = messages }

    public func log(event: LogEvent) {
        messages.append("\(event.level): \(event.message)")
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
