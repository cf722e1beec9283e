// One device as the registry holds it: what is configured for it, what the
// daemon did with it, and what is connected. Owned by the registry actor.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTooling
import InterruptBridgeSystem
import Synchronization

/// Where a managed device is in its life.
enum ManagedState: String, Sendable {
    /// In the table, not bound yet (or given back at shutdown).
    case configured
    /// Given back to its driver through the control API (or, at start-up, because the
    /// file no longer names it): out of the running configuration until `bind`, or a
    /// reload of a file that names it.
    case unbound
    /// On vfio-pci / uio_pci_generic, interrupts not connected.
    case bound
    case connected
    /// A step failed (the reason says which); the daemon goes on with the others.
    case failed
    /// Unbound by someone else: not taken back until `bind`.
    case released
    /// Gone (hot-unplug, surprise removal, or the kernel asked for it back).
    case removed
    /// Configured by address but not on the bus.
    case absent
}

/// The counters of one vector at the last reset.
struct VectorBaseline: Sendable {
    var claimed: UInt64 = 0
    var unclaimed: UInt64 = 0
    var signals: UInt64 = 0
    var storms: UInt64 = 0
    var kernel: UInt64?
    var timings = InterruptTimings()
}

final class ManagedDevice {
    let id: String
    let address: PCIAddress?
    /// The configuration it is managed under (nil: neither configured nor bound through the API).
    var entry: DeviceEntry?
    var simulated: SimulatedEntry?
    var state: ManagedState = .configured
    var reason: String?
    /// `unbound` or `released` when it was pulled in that state: held back by the operator,
    /// it returns to that state when it is plugged in again, not to the configuration.
    var heldBackWhenRemoved: (state: ManagedState, reason: String?)?
    /// When it was last found unbound outside the daemon (`released`).
    var releasedAt: ContinuousClock.Instant?
    /// Whether the daemon bound it (and so gives it back).
    var boundByDaemon = false
    var previousDriver: String?
    var session: DeviceSession?
    /// What is connected. A connection that ends (a disconnect, a removal, a reconnect
    /// by a reload) leaves its counters in `retired`, after its ISRs stopped; a new one
    /// keeps the retired vectors of its kinds only (another kind's series are dropped, as
    /// the device no longer has them). Its kind's vectors are all kept, those it has fewer
    /// of too: summed into the device's one series they keep it from falling, which the
    /// export would take for a counter reset and count again.
    var connected: ConnectedInterrupts? {
        willSet { if let ending = connected { retire(ending.objects) } }
        didSet {
            guard let now = connected else { return }
            connections &+= 1
            let kinds = Set(now.objects.map { $0.kind.description })
            retired = retired.filter { kinds.contains($0.key.kind) }
        }
    }
    /// The counters of the connections that ended, per interrupt kind and message: the
    /// metrics' series go on from them, so nothing counted before a reconnect is lost.
    private(set) var retired: [RetiredVector: RetiredCounters] = [:]
    /// Connections made so far: the kernel's counts start afresh with each (its line or
    /// vectors go with the connection), and the metrics' kernel series tell them apart by it.
    private(set) var connections: UInt64 = 0
    var uioIRQ: UInt32?
    var baselines: [VectorBaseline] = []
    var baselineTime = ContinuousClock.now
    /// A simulated device's raised count at the last reset.
    var generatedBaseline: UInt64 = 0
    var lastMilestone: UInt64 = 0
    /// The unquieted-line rule's last sample of its INTx line (reset at connect).
    var quietCheck = UnquietedLineCheck()
    /// Triggers in flight, and the flag that stops them before a disconnect.
    let triggers = TriggerGate()

    init(id: String, address: PCIAddress?) {
        self.id = id
        self.address = address
    }

    var objects: [InterruptObject] { connected?.objects ?? [] }

    /// Every ISR call since connect.
    var totalInterrupts: UInt64 { objects.reduce(0) { $0 &+ $1.serviceCallCount } }

    private func retire(_ objects: [InterruptObject]) {
        for object in objects {
            let key = RetiredVector(object)
            var counters = retired[key] ?? RetiredCounters()
            counters.interrupts &+= object.serviceCallCount
            counters.unclaimed &+= object.unclaimedCount
            counters.signals &+= object.deliveredSignalCount
            counters.storms &+= object.stormCount
            counters.timings = counters.timings.adding(object.timings)
            retired[key] = counters
        }
    }
}

/// One vector's place in the metrics: its interrupt kind and message number.
struct RetiredVector: Hashable, Sendable {
    var kind: String
    var message: UInt32

    init(kind: String, message: UInt32) {
        self.kind = kind
        self.message = message
    }

    init(_ object: InterruptObject) { self.init(kind: object.kind.description, message: object.messageID) }
}

/// What the ended connections of one vector counted.
struct RetiredCounters: Sendable {
    var interrupts: UInt64 = 0
    var unclaimed: UInt64 = 0
    var signals: UInt64 = 0
    var storms: UInt64 = 0
    var timings = InterruptTimings()
}

/// Lets a disconnect stop the triggers that raise a device's interrupts, and wait
/// for them: a stimulus must never touch a closed backend (its descriptor number
/// may already belong to something else).
final class TriggerGate: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    private let entered = Atomic<UInt64>(0)

    var isStopped: Bool { stopped.load(ordering: .acquiring) }
    /// Whether a trigger runs now.
    var isBusy: Bool { inFlight.load(ordering: .acquiring) > 0 }
    /// Triggers entered so far (a change says one ran since the last look).
    var entries: UInt64 { entered.load(ordering: .acquiring) }

    /// The most triggers that may raise one device's interrupts at once. Each raises on a
    /// thread of its own for up to an hour: a harness that loops on trigger without waiting
    /// for the answers must not cost the daemon a thread per request.
    static let mostAtOnce = 16

    enum Entry: Equatable {
        /// The caller raises, then calls `leave()`.
        case entered
        /// Stopped: the device is being disconnected.
        case stopped
        /// `mostAtOnce` triggers run already.
        case full
    }

    /// Whether the caller may raise (only `.entered` needs a `leave()`). A slot is taken by
    /// compare-exchange, so a refused caller never holds one, even for an instant.
    func enter() -> Entry {
        var running = inFlight.load(ordering: .acquiring)
        while true {
            guard running < Self.mostAtOnce else { return .full }
            let (exchanged, original) = inFlight.compareExchange(expected: running, desired: running + 1, ordering: .acquiringAndReleasing)
            if exchanged { break }
            running = original
        }
        // After taking the slot: stopAndDrain stores `stopped`, then waits for the slots to empty.
        if isStopped {
            leave()
            return .stopped
        }
        entered.add(1, ordering: .acquiringAndReleasing)
        return .entered
    }

    func leave() { inFlight.subtract(1, ordering: .acquiringAndReleasing) }

    /// Stops new and running triggers and waits (up to two seconds) until none runs.
    func stopAndDrain() {
        stopped.store(true, ordering: .releasing)
        let deadline = ContinuousClock.now + .seconds(2)
        while inFlight.load(ordering: .acquiring) > 0, ContinuousClock.now < deadline { PThread.sleep(for: .milliseconds(1)) }
    }

    func reopen() { stopped.store(false, ordering: .releasing) }
}
