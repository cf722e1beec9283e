import Foundation

/// What the figures were measured on, for the JSON report.
public struct MachineInfo: Sendable, Codable, Equatable {
    public var hostname: String
    public var kernel: String
    public var cpuModel: String
    public var onlineCPUs: Int
    public var date: String
    /// /proc/loadavg's 1-minute figure when the run started: on a shared machine,
    /// how much else was competing for the CPUs (both sides saw the same load).
    public var loadAverage: Double?

    public static func current() -> MachineInfo {
        let info = ProcessInfo.processInfo
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? info.operatingSystemVersionString
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").first.flatMap { Double($0) }
        return MachineInfo(hostname: info.hostName, kernel: kernel, cpuModel: model,
                           onlineCPUs: info.activeProcessorCount,
                           date: ISO8601DateFormatter().string(from: Date()), loadAverage: load)
    }
}
