import Glibc
import InterruptBridgeSystem
import Testing

/// `trigger`, `wait` and `watch` end cleaned up on SIGHUP (a closed terminal, a dropped ssh
/// session), but one started under `nohup`, which ignores SIGHUP, must outlive the session.
/// Each case runs in a process of its own: a SIGHUP handler is process-wide.
@Suite("SIGHUP unless ignored")
struct HangupSignalTests {
    @Test func aHangupIgnoredAsUnderNohupStaysIgnored() async {
        await #expect(processExitsWith: .success) {
            signal(SIGHUP, SIG_IGN)
            Signals.recordHangupUnlessIgnored()
            kill(getpid(), SIGHUP)
            usleep(50_000)
            exit(Signals.received == nil ? 0 : 1)
        }
    }

    @Test func aHangupWithItsDefaultActionIsRecordedNotDiedOf() async {
        await #expect(processExitsWith: .success) {
            signal(SIGHUP, SIG_DFL)
            Signals.recordHangupUnlessIgnored()
            kill(getpid(), SIGHUP)  // would end the process, status 129, had it not been recorded
            for _ in 0..<200 where Signals.received == nil { usleep(5_000) }
            exit(Signals.received == SIGHUP ? 0 : 1)
        }
    }
}
