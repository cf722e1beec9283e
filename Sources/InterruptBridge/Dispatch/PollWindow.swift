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
/// A shorter yield can still have handed the processor to whoever raises the
/// interrupts: a yield that took longer than `handOverYield` (one that runs
/// nothing else comes back within 1 us 97% of the time beside idle-class
/// spinners on a 2-vCPU VM, within 2 us 99.7%) and was followed at once by a
/// catch means the raiser ran on this processor while the loop stood aside. It
/// then waits for the loop's next yield before it can raise again, where a
/// sleeping loop would have been woken by the raise and run at once: polling
/// only slows both (105,000 against 151,000 interrupts/s with the bench's writer
/// on the loop's processor). Such catches of a single interrupt count toward
/// contention as long yields do. A hand-over that caught several let the raiser
/// raise them in one go, which a sleeping loop, woken by the first, would not
/// (603,000 against 278,000 interrupts/s over 64 vectors there): it counts as a
/// short yield, as does one that caught nothing.
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
        /// A yield longer than this, followed at once by a catch, handed the
        /// processor to the raiser of that interrupt.
        var handOverYield: UInt64

        /// The configuration for a limit, converted to ticks: a yield is long beyond
        /// 50 us (one that finds nothing else to run takes under 2 us; a time slice
        /// is at least 0.7 ms) and a hand-over beyond 4 us, hold-offs from 10 ms to 1 s.
        static func limit(_ limit: Duration) -> Configuration {
            Configuration(limit: CycleCounter.ticks(limit), holdOff: CycleCounter.ticks(.milliseconds(10)),
                          maximumHoldOff: CycleCounter.ticks(.seconds(1)), contendedYield: CycleCounter.ticks(.microseconds(50)),
                          handOverYield: CycleCounter.ticks(.microseconds(4)))
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
        /// It took a little while: poll on, and tell the window what the next poll
        /// found (`polledAfterHandOver`).
        case handedOver
        /// Another thread had the processor for a while: sleep now.
        case preempted
        /// That keeps happening: sleep, and the window is closed for a hold-off.
        case closed
    }

    /// The loop yielded between two empty polls and got the processor back after
    /// `took` ticks, at `now`.
    @inline(__always)
    mutating func yielded(took: UInt64, now: UInt64) -> YieldOutcome {
        if took <= configuration.handOverYield {
            uncontended()
            return .uncontended
        }
        guard took > configuration.contendedYield else { return .handedOver }
        return contended(now: now) ? .closed : .preempted
    }

    /// The poll after a `.handedOver` yield found `caught` ready descriptors, at
    /// `now`. True when that closed the window: the raiser shares the loop's
    /// processor and raises one interrupt per turn, and the loop should sleep.
    @inline(__always)
    mutating func polledAfterHandOver(caught: Int, now: UInt64) -> Bool {
        guard caught == 1 else {
            uncontended()
            return false
        }
        return contended(now: now)
    }

    @inline(__always)
    private mutating func uncontended() {
        guard contention != 0 else { return }
        contention -= 1
        if contention == 0 { nextHoldOff = configuration.holdOff }
    }

    /// Counts one sign of contention; true when that closed the window.
    @inline(__always)
    private mutating func contended(now: UInt64) -> Bool {
        contention = min(contention &+ configuration.contendedShare, 2 &* configuration.contendedShare)
        guard contention > configuration.contendedShare else { return false }
        width = 0
        closedUntil = now &+ nextHoldOff
        nextHoldOff = min(configuration.maximumHoldOff, nextHoldOff &* 2)
        return true
    }
}
