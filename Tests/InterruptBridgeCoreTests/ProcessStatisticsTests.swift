@testable import InterruptBridgeSystem
import Testing

/// The daemon's process_* metrics, from /proc/self/stat and /proc/stat.
@Suite("Process statistics")
struct ProcessStatisticsTests {
    @Test func fieldsAfterACommandNameWithSpacesAndParentheses() throws {
        // pid (comm) state ppid ... utime(14)=150 stime(15)=50 ... num_threads(20)=12 ... starttime(22)=1000 vsize(23) rss(24)
        let stat = "4242 (irq (bridge) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 12 0 1000 734003200 11000 18446744073709551615\n"
        let procStat = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1764950400\nprocesses 7\n"
        let statistics = try ProcessStatistics.parse(stat: stat, procStat: procStat, ticksPerSecond: 100, pageSize: 4096)
        #expect(statistics.cpuSeconds == 2.0)
        #expect(statistics.threads == 12)
        #expect(statistics.virtualBytes == 734_003_200)
        #expect(statistics.residentBytes == 11_000 * 4096)
        #expect(statistics.startTimeSeconds == 1_764_950_410)
    }

    @Test func aTruncatedLineIsAnError() {
        #expect(throws: SystemError.self) {
            try ProcessStatistics.parse(stat: "4242 (x) S 1 2", procStat: "btime 1\n", ticksPerSecond: 100, pageSize: 4096)
        }
        #expect(throws: SystemError.self) {
            try ProcessStatistics.parse(stat: "4242 x S 1 2", procStat: "btime 1\n", ticksPerSecond: 100, pageSize: 4096)
        }
    }

    @Test func thisProcess() throws {
        let statistics = try ProcessStatistics.current()
        #expect(statistics.residentBytes > 0 && statistics.threads >= 1 && statistics.openDescriptors >= 3)
        #expect(statistics.startTimeSeconds > 1_600_000_000)
    }
}
