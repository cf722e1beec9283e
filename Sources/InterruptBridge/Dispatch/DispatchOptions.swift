public import InterruptBridgeCore
public import InterruptBridgeSystem
import Logging

/// How the dispatch threads run.
public struct DispatchOptions: Sendable, Hashable {
    /// Where the dispatch thread may run.
    public enum Pinning: Sendable, Hashable {
        /// Wherever the scheduler puts it.
        case none
        /// On the union of the connected interrupts' affinities (re-pinned as
        /// interrupts connect; an affinity naming no online processor is ignored).
        case interruptAffinity
        /// On exactly these processors.
        case processors(ProcessorAffinity)
    }

    public var pinning: Pinning
    /// SCHED_FIFO priority (1...99) for the dispatch threads; nil keeps SCHED_OTHER.
    /// Creating the dispatcher fails with `DispatchError.realtimeRefused` when the
    /// kernel refuses (no CAP_SYS_NICE / RLIMIT_RTPRIO).
    public var realtimePriority: Int32?
    /// Spin on the descriptors (epoll_wait with timeout 0) instead of sleeping:
    /// lowest latency, one processor at 100%. For benchmarks.
    public var busyPoll: Bool
    /// After a batch the loop may poll for the next interrupt (`epoll_wait` with
    /// timeout 0, yielding the processor between polls) for up to this long before
    /// it sleeps. The window adapts: it opens only while interrupts keep arriving
    /// within this limit of each other, shrinks when they stop, and closes (with a
    /// growing hold-off) when a poll finds another thread waiting for the processor,
    /// or finds that the thread raising the interrupts runs on the loop's own
    /// processor, so a loaded or quiet machine sees a loop that sleeps. Interrupts a few
    /// microseconds apart then cost no wake-up each. nil or zero: always sleep.
    /// Ignored when `busyPoll` is set. Default 10 us.
    public var pollWindowLimit: Duration?
    /// The widest `pollWindowLimit` accepted.
    public static let maximumPollWindowLimit = Duration.milliseconds(10)
    /// Most descriptors (interrupt vectors plus auxiliary fds) one loop serves
    /// (1...`maximumCapacity`; the slot table is allocated once at this size, a
    /// cache line each). Default 4096: a function's full MSI-X table (2048) with room
    /// to spare for other devices and the loop's own descriptors; a loop serving more
    /// (the daemon's, a scale test's) sets its own.
    public var capacity: Int
    /// The largest `capacity` accepted (MSI-X allows 2048 vectors per function).
    public static let maximumCapacity = 65_536
    /// Name of the dispatch thread (at most 15 characters are kept).
    public var threadName: String
    /// Latched shared vectors are re-run until a pass is unclaimed; this bounds
    /// the passes per readiness so a routine that always claims cannot livelock the loop.
    public var maximumLatchedPasses: Int
    /// When a vector counts as storming and is contained (a device's
    /// `InterruptPolicy.storm` overrides it for that device). Default: `StormPolicy.default`.
    public var storm: StormPolicy
    /// An ISR still running after this long is reported (a log line and a
    /// `DispatcherEvent.isrStuck` event) by a watchdog thread; nil: no watchdog.
    /// A blocking ISR stalls only its own loop: device-level ISRs share the main
    /// loop, passive-level ISRs have a loop of their own. Default 100 ms.
    public var stuckISRThreshold: Duration?
    /// Record, per interrupt object, each ISR call's duration and the latency from
    /// `InterruptObject.markStimulus()` to the ISR (`InterruptObject.timings`): two
    /// clock reads and a few relaxed stores per ISR call, into buckets allocated at
    /// connect (about 30 KB per object). Off by default: the interrupt path then only
    /// tests that the object has no recorders.
    public var recordsTimings: Bool
    /// Log each fault the dispatcher also publishes as a `DispatcherEvent` (a storm
    /// contained or re-armed, a stuck ISR, a removal, a device's error report) at its
    /// level. An owner that logs the events itself (the daemon) turns this off, and the
    /// dispatcher then logs them at debug: one line per fault, not two. Default on.
    public var logsFaults: Bool

    public init(pinning: Pinning = .none, realtimePriority: Int32? = nil, busyPoll: Bool = false,
                capacity: Int = 4096, threadName: String = "irqbridge-isr", maximumLatchedPasses: Int = 16,
                storm: StormPolicy = .default, stuckISRThreshold: Duration? = .milliseconds(100),
                recordsTimings: Bool = false, pollWindowLimit: Duration? = .microseconds(10), logsFaults: Bool = true) {
        self.recordsTimings = recordsTimings
        self.logsFaults = logsFaults
        self.pollWindowLimit = pollWindowLimit
        self.pinning = pinning
        self.realtimePriority = realtimePriority
        self.busyPoll = busyPoll
        self.capacity = capacity
        self.threadName = threadName
        self.maximumLatchedPasses = maximumLatchedPasses
        self.storm = storm
        self.stuckISRThreshold = stuckISRThreshold
    }
}

extension DispatchOptions {
    /// A fault's log level: its own, or debug when the owner logs the dispatcher's events
    /// itself (`logsFaults` off).
    func faultLevel(_ level: Logger.Level) -> Logger.Level { logsFaults ? level : .debug }
}

/// Why a dispatcher could not start.
public enum DispatchError: Error, Sendable, CustomStringConvertible {
    /// The kernel refused SCHED_FIFO at this priority.
    case realtimeRefused(priority: Int32, SystemError)
    /// The kernel refused to pin the thread to these processors.
    case pinningRefused(ProcessorAffinity, SystemError)
    /// Options out of range (capacity, priority).
    case invalidOptions(String)
    /// A system call failed while starting (epoll, eventfd, pthread_create).
    case system(SystemError)

    public var description: String {
        switch self {
        case let .realtimeRefused(priority, error):
            "SCHED_FIFO priority \(priority) refused (\(error)); run as root or grant CAP_SYS_NICE / RLIMIT_RTPRIO"
        case let .pinningRefused(affinity, error): "cannot pin the dispatch thread to processors \(affinity): \(error)"
        case let .invalidOptions(reason): "invalid dispatch options: \(reason)"
        case let .system(error): error.description
        }
    }
}
