// This process's own figures as Prometheus' client libraries export them (process_*):
// CPU time, memory, descriptors, threads and start time, from /proc/self/stat,
// /proc/stat's btime and the descriptor limit.
#if canImport(Glibc)
import Glibc
#endif

public struct ProcessStatistics: Sendable, Equatable {
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double
    public var residentBytes: UInt64
    public var virtualBytes: UInt64
    public var openDescriptors: Int
    /// The soft RLIMIT_NOFILE (nil: unlimited).
    public var maximumDescriptors: UInt64?
    public var threads: Int
    /// When the process started, in seconds since the Unix epoch.
    public var startTimeSeconds: Double

    /// Reads the calling process's figures.
    public static func current() throws(SystemError) -> ProcessStatistics {
        var statistics = try parse(stat: FileIO.readText("/proc/self/stat"), procStat: FileIO.readText("/proc/stat"),
                                   ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: UInt64(sysconf(Int32(_SC_PAGESIZE))))
        statistics.openDescriptors = try FileIO.openDescriptorCount()
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max { statistics.maximumDescriptors = UInt64(limit.rlim_cur) }
        return statistics
    }

    /// The figures in `stat` (/proc/self/stat) and `procStat` (/proc/stat, for the boot time);
    /// descriptors are left at 0 and nil.
    static func parse(stat: String, procStat: String, ticksPerSecond: Double, pageSize: UInt64) throws(SystemError) -> ProcessStatistics {
        // The command name (field 2) is in parentheses and may hold spaces: fields 3... follow the last ')'.
        guard let close = stat.lastIndex(of: ")") else { throw SystemError("/proc/self/stat: no ')' after the command name", code: EINVAL) }
        let fields = stat[stat.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        // Field N (1-based, as proc(5) numbers them) is fields[N - 3].
        func field(_ number: Int) throws(SystemError) -> UInt64 {
            guard number - 3 < fields.count, let value = UInt64(fields[number - 3]) else {
                throw SystemError("/proc/self/stat: field \(number) is missing or not a number", code: EINVAL)
            }
            return value
        }
        guard let btimeLine = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let bootTime = Double(btimeLine.dropFirst("btime ".count)) else {
            throw SystemError("/proc/stat: no btime line", code: EINVAL)
        }
        return ProcessStatistics(cpuSeconds: Double(try field(14) + field(15)) / ticksPerSecond,
                                 residentBytes: try field(24) * pageSize, virtualBytes: try field(23),
                                 openDescriptors: 0, maximumDescriptors: nil, threads: Int(try field(20)),
                                 startTimeSeconds: bootTime + Double(try field(22)) / ticksPerSecond)
    }
}
