import InterruptBridgeSystem

/// How long the dispatch loop keeps polling after a batch before it sleeps, and
/// how that adapts: the loop's answer to a wake-up costing more than the gap
/// between interrupts.
///
/// Sleeping in `epoll_wait` costs a wake-up per interrupt: microseconds of
/// scheduler work, tens of them when the processor has gone idle. When the next
/// interrupt comes within microseconds, polling for it instead (`epoll_wait`
/// with timeout 0, yielding the processor between polls) takes it without one.
/// The window adapts as KVM's halt polling does (virt/kvm/kvm_main.c,
/// `grow_halt_poll_ns` / `shrink_halt_poll_ns`):
/// - it starts closed (0: the loop sleeps at once);
/// - a sleep that ended within `limit` of the previous batch means polling would
///   have caught it: the window opens (at a quarter of the limit) or doubles, up
///   to `limit`;
/// - a sleep that lasted longer than `limit` means interrupts are sparse: the
///   window halves, and closes below a quarter of the limit.
///
/// Unlike a vCPU, the loop shares its processor with other threads (on a test
/// rig, the harness that raises the next interrupt). A yield that keeps the
/// loop off the processor for longer than `contendedYield` found it wanted by
/// another thread, and an interrupt arriving meanwhile waits for that thread's
/// time slice: a runnable thread is not woken (and so not preferred) when its
/// descriptor becomes ready, a sleeping one is. Such a yield ends the poll (the
/// loop sleeps). Once in a while is the scheduler's doing (1 yield in 1,200
/// to 6,000 beside idle-class threads on a 2-vCPU VM); when it happens to more
/// than one yield in `contendedShare`, the processor is contended and polling
/// only delays everyone: the window closes and stays closed for a hold-off
/// that doubles with each closing (`holdOff` up to `maximumHoldOff`) and
/// starts again from `holdOff` once yields come straight back again.
///
/// Whether a yield ran another thread at all (`getrusage`'s involuntary
/// switches) is no test: beside an idle-class thread nearly every yield runs it
/// for a moment, and the loop gets the processor straight back.
///
/// Pure bookkeeping in the counter's ticks (`CycleCounter`): the loop reads the
/// counter after each batch while the window is open (once per 8 while it is
/// closed) and around each yield, and nothing here allocates.
struct PollWindow {
    struct Configuration {
        /// The widest window (and the gap below which sleeping counts as a miss).
        var limit: UInt64
        /// The first hold-off when contention closes the window.
        var holdOff: UInt64
        /// The longest hold-off.
        var maximumHoldOff: UInt64
        /// A yield that kept the loop off the processor longer than this ran another thread for a while.
        var contendedYield: UInt64
        /// Long yields more often than one in this many close the window.
        var contendedShare: UInt32 = 100

        /// The configuration for a limit, converted to ticks: a yield is long beyond
        /// 50 us (one that finds nothing else to run takes under 2 us; a time slice
        /// is at least 0.7 ms), hold-offs from 10 ms to 1 s.
        static func limit(_ limit: Duration) -> Configuration {
            Configuration(limit: CycleCounter.ticks(limit), holdOff: CycleCounter.ticks(.milliseconds(10)),
                          maximumHoldOff: CycleCounter.ticks(.seconds(1)), contendedYield: CycleCounter.ticks(.microseconds(50)))
        }
    }

    let configuration: Configuration
    /// How long to poll after a batch (0: sleep at once).
    private(set) var width: UInt64 = 0
    /// Until when the window stays closed after contention closed it.
    private(set) var closedUntil: UInt64 = 0
    /// The next hold-off.
    private(set) var nextHoldOff: UInt64
    /// Recent long yields: `contendedShare` for each, less one for each short one;
    /// two less than `contendedShare` yields apart close the window.
    private(set) var contention: UInt32 = 0

    init(_ configuration: Configuration) {
        self.configuration = configuration
        nextHoldOff = configuration.holdOff
    }

    /// The narrowest open window.
    var openingWidth: UInt64 { max(1, configuration.limit / 4) }

    /// The loop slept and woke `gap` ticks after the previous batch began, at `now`.
    @inline(__always)
    mutating func slept(gap: UInt64, now: UInt64) {
        if gap <= configuration.limit {
            guard width < configuration.limit, now >= closedUntil else { return }
            width = width == 0 ? openingWidth : min(configuration.limit, width &* 2)
        } else if width != 0 {
            width /= 2
            if width < openingWidth { width = 0 }
        }
    }

    /// What a yield found.
    enum YieldOutcome: Equatable {
        /// It came straight back: poll on.
        case uncontended
        /// Another thread had the processor for a while: sleep now.
        case preempted
        /// That keeps happening: sleep, and the window is closed for a hold-off.
        case closed
    }

    /// The loop yielded between two empty polls and got the processor back after
    /// `took` ticks, at `now`.
    @inline(__always)
    mutating func yielded(took: UInt64, now: UInt64) -> YieldOutcome {
        guard took > configuration.contendedYield else {
            if contention != 0 {
                contention -= 1
                if contention == 0 { nextHoldOff = configuration.holdOff }
            }
            return .uncontended
        }
        contention = min(contention &+ configuration.contendedShare, 2 &* configuration.contendedShare)
        guard contention > configuration.contendedShare else { return .preempted }
        width = 0
        closedUntil = now &+ nextHoldOff
        nextHoldOff = min(configuration.maximumHoldOff, nextHoldOff &* 2)
        return .closed
    }
}
