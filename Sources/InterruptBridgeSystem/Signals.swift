// What a command does with signals: records the ones that end it instead of dying of
// them (its loop sees one, cleans up, then ends as the signal asked), ignores one until
// its own handler is in place, or gives one back its default action. The handler only
// stores an atomic, the one thing a signal handler may do.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The first of the recorded signals to arrive (0: none yet).
private let stopSignal = Atomic<Int32>(0)
/// SIGHUPs counted until a daemon's reload handler took over.
private let hangupCount = Atomic<Int>(0)

public enum Signals {
    /// Records `signals` instead of dying of them; `received` says which came first.
    public static func recordInsteadOfDying(_ signals: [Int32]) {
        for number in signals {
            signal(number) { received in
                _ = stopSignal.compareExchange(expected: 0, desired: received, ordering: .relaxed)
            }
        }
    }

    /// Records what interrupts a command a shell or a harness runs, instead of dying of it:
    /// SIGINT and SIGTERM, the `also` signals, and SIGHUP unless it is ignored (nohup).
    public static func recordInterruptions(also extra: [Int32] = []) {
        recordInsteadOfDying([SIGINT, SIGTERM] + extra)
        recordHangupUnlessIgnored()
    }

    /// Records SIGHUP as `recordInsteadOfDying` does (a closed terminal or a dropped ssh
    /// session then ends the command as SIGTERM would, cleaned up), unless it is ignored:
    /// `nohup` ignores it so that the command outlives the session, and that must hold.
    public static func recordHangupUnlessIgnored() {
        var current = sigaction()
        guard sigaction(SIGHUP, nil, &current) == 0 else { return }
        // SIG_IGN is the handler value 1.
        if unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 1 { return }
        recordInsteadOfDying([SIGHUP])
    }

    /// The recorded signal that arrived, or nil.
    public static var received: Int32? {
        let number = stopSignal.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    /// Counts SIGHUP instead of dying of it, until a daemon's reload handler replaces this
    /// one: a reload asked for while the daemon starts is then done once it has started
    /// (`takeHangups`), not lost as an ignored signal would be.
    public static func countHangups() {
        signal(SIGHUP) { _ in hangupCount.add(1, ordering: .relaxed) }
    }

    /// Whether a SIGHUP was counted since the last call (`countHangups`).
    public static func takeHangups() -> Bool {
        hangupCount.exchange(0, ordering: .relaxed) > 0
    }

    /// Gives `number` its default action back: a background job of a script starts with
    /// SIGINT ignored (the shell's rule for non-interactive jobs), which would make
    /// `kill -INT` do nothing to a command that runs until interrupted.
    public static func restoreDefault(_ number: Int32) {
        signal(number, SIG_DFL)
    }

    /// After cleaning up: dies of the recorded signal that arrived, with its default
    /// action, so the shell sees 128+N (130 for SIGINT, 141 for SIGPIPE, 143 for SIGTERM)
    /// as for any program it interrupted. Returns when none arrived.
    public static func endAsReceived() {
        guard let number = received else { return }
        fflush(nil)  // dying of the signal flushes nothing: what was printed must not be lost
        signal(number, SIG_DFL)
        // To the process, not this thread (raise): a command may run on a thread that blocks
        // signals (a libdispatch worker under async main), where it would stay pending.
        kill(getpid(), number)
        for _ in 0..<200 { usleep(5_000) }
        _exit(128 + number)  // every thread blocks it: the status the shell would have shown
    }
}
