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
/// rig, the harness that raises the next interrupt). A poll that yields and is
/// kept off the processor for longer than `contendedYield` found it contended:
/// polling then only delays those threads and is delayed by them, since a
/// runnable thread is not woken (and so not preferred) when its interrupt
/// arrives. The window then closes and stays closed for a hold-off that
/// doubles with each contended poll (`holdOff` up to `maximumHoldOff`) and
/// starts again from `holdOff` after a yield that came straight back.
///
/// Pure bookkeeping in the counter's ticks (`CycleCounter`): the loop reads the
/// counter once per batch and around each yield, and nothing here allocates.
struct PollWindow {
    struct Configuration {
        /// The widest window (and the gap below which sleeping counts as a miss).
        var limit: UInt64
        /// A yield that kept the loop off the processor longer than this found it contended.
        var contendedYield: UInt64
        /// The first hold-off after a contended poll.
        var holdOff: UInt64
        /// The longest hold-off.
        var maximumHoldOff: UInt64

        /// The configuration for a limit, converted to ticks: contended beyond
        /// 50 us (a time slice is at least 0.7 ms, a same-processor writer's
        /// turn a few microseconds), hold-offs from 10 ms to 1 s.
        static func limit(_ limit: Duration) -> Configuration {
            Configuration(limit: CycleCounter.ticks(limit), contendedYield: CycleCounter.ticks(.microseconds(50)),
                          holdOff: CycleCounter.ticks(.milliseconds(10)), maximumHoldOff: CycleCounter.ticks(.seconds(1)))
        }
    }

    let configuration: Configuration
    /// How long to poll after a batch (0: sleep at once).
    private(set) var width: UInt64 = 0
    /// Until when the window stays closed after a contended poll.
    private(set) var closedUntil: UInt64 = 0
    /// The next hold-off.
    private(set) var nextHoldOff: UInt64

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

    /// The loop yielded between two empty polls and got the processor back after
    /// `took` ticks, at `now`. True when that found the processor contended: the
    /// window is then closed (the loop should sleep).
    @inline(__always)
    mutating func yielded(took: UInt64, now: UInt64) -> Bool {
        guard took > configuration.contendedYield else {
            nextHoldOff = configuration.holdOff
            return false
        }
        width = 0
        closedUntil = now &+ nextHoldOff
        nextHoldOff = min(configuration.maximumHoldOff, nextHoldOff &* 2)
        return true
    }
}
