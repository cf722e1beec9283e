import Foundation
import Testing

/// The shipped unit, `packaging/systemd/irqbridge.service`: Type=notify-reload where systemd
/// knows it (253 on), Type=notify on Debian 12's 252, which ignores the later assignment it
/// cannot parse and keeps the earlier one. The order of the two lines is what makes that work.
@Suite("The systemd unit")
struct SystemdUnitTests {
    static let path = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/") + "/packaging/systemd/irqbridge.service"

    static func values(of key: String, in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            line.hasPrefix(key + "=") ? String(line.dropFirst(key.count + 1)) : nil
        }
    }

    @Test func notifyReloadFallsBackToNotifyAndReloadIsTheControlCall() throws {
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
        #expect(Self.values(of: "Type", in: text) == ["notify", "notify-reload"],
                "systemd 252 keeps the last Type it can parse: notify first, notify-reload last")
        // Under notify-reload systemd sends ReloadSignal and runs ExecReload too: the signal
        // does nothing, and the reload is the control call, which returns once it is applied.
        #expect(Self.values(of: "ReloadSignal", in: text) == ["SIGCONT"])
        #expect(Self.values(of: "ExecReload", in: text) == ["/usr/local/bin/irqbridge ctl reload"])
        #expect(Self.values(of: "ExecStart", in: text).first?.hasPrefix("/usr/local/bin/irqbridge daemon") == true)
        #expect(Self.values(of: "NotifyAccess", in: text) == ["main"])
        #expect(Self.values(of: "WatchdogSec", in: text).count == 1)
        #expect(Self.values(of: "RestartPreventExitStatus", in: text) == ["2"])
    }

    /// What this machine's systemd makes of it: no error (warnings for what it does not know).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func systemdAnalyzeVerifiesIt() throws {
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
            .replacingOccurrences(of: "=/usr/local/bin/irqbridge", with: "=/bin/true")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-unit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let unit = directory.appendingPathComponent("irqbridge.service")
        try text.write(to: unit, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        process.arguments = ["verify", unit.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
    }
}
