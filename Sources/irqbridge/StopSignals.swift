// The signals that end a command holding a device (wait, watch): the handler only
// records which arrived; the command's loop sees it, cleans up (its trigger socket,
// the interrupts, the device) and then ends as the signal asked.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The first of the installed signals to arrive (0: none yet).
private let stopSignal = Atomic<Int32>(0)

enum StopSignals {
    /// Records `signals` instead of dying of them.
    static func install(_ signals: [Int32]) {
        for number in signals {
            signal(number) { received in
                // A signal handler may only store an atomic.
                _ = stopSignal.compareExchange(expected: 0, desired: received, ordering: .relaxed)
            }
        }
    }

    /// The signal that arrived, or nil.
    static var received: Int32? {
        let number = stopSignal.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    /// After cleaning up: dies of the signal that arrived, with its default action, so the
    /// shell sees 128+N (130 for SIGINT, 141 for SIGPIPE, 143 for SIGTERM) as for any
    /// program it interrupted. Returns when none arrived.
    static func endAsReceived() {
        guard let number = received else { return }
        signal(number, SIG_DFL)
        // To the process, not this thread (raise): a command may run on a thread that blocks
        // signals (a libdispatch worker under async main), where it would stay pending.
        kill(getpid(), number)
        for _ in 0..<200 { usleep(5_000) }
        _exit(128 + number)  // every thread blocks it: the status the shell would have shown
    }
}
