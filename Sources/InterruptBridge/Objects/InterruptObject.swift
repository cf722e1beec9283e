public import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization

/// One connected interrupt service routine on one vector (backs `KINTERRUPT`).
///
/// Created by the connect calls of `InterruptDispatcher`, never directly. Its
/// routine is called by the dispatch loop holding `spinLock` (or, for a
/// passive-level object, a per-object mutex on the passive dispatch thread,
/// where the routine may block). `synchronize(_:)` and `acquire()` exclude the
/// routine from any thread, as `KeSynchronizeExecution` and
/// `KeAcquireInterruptSpinLock` do.
public final class InterruptObject: Sendable, CustomStringConvertible {
    // What the ISR path reads first, declared first so that it shares the object's
    // first cache lines: with thousands of vectors connected, the one that fires is
    // usually out of cache, and every line it spans is a miss.
    /// Why the loop may not call the routine, as bits (0: it may): `Gate.closing`
    /// once a disconnect was asked for, `Gate.inactive` while reported inactive. One
    /// load per interrupt, where testing the lifecycle and the inactive flag was two
    /// loads through two objects.
    //
    // The hot fields (gate to counters) span 48 bytes: an object starts on a 16-byte
    // boundary, so they share one cache line in one object of four and two in the rest.
    let gate = Atomic<UInt8>(0)
    /// The level the ISR runs at and `synchronize` raises to: for line- and
    /// message-based connects the maximum of the set's IRQLs and the caller's value.
    public let synchronizeIrql: InterruptLevel
    /// Whether `timingRecorders` is set (a flag beside the gate, where testing the
    /// reference itself took a field of the hot lines).
    private let recordsTimings: Bool
    /// The message number (0 for a line-based interrupt).
    public let messageID: UInt32
    /// `spinLock`, unretained (the strong reference `spinLock` keeps it alive):
    /// binding the optional class reference retained and released it on every
    /// acquire and release.
    private let spinLockReference: Unmanaged<InterruptSpinLock>?
    /// The routine as the loop calls it, in a box the object holds one unmanaged
    /// reference to. A `Routine` payload bound by a switch is a copy (a retain and
    /// release of its context per interrupt), and so is a closure read from a
    /// `var` or through a pointer; the box's `let` closure, reached through the
    /// unretained reference, is called in place: one more load than a `let`
    /// closure of the object, no retain or release (checked in the -O assembly).
    /// Line-based routines are wrapped once, at connect, to ignore the message number.
    /// The objects of one message-based connect share one box (every message runs
    /// the same routine): with thousands of vectors connected, the box of the one
    /// that fires is then in cache, where a box per object was one more miss.
    ///
    /// Swapped for a routine that captures nothing once the loop has detached the
    /// object (`markDisconnected`): the routine's context (a driver's device
    /// extension that holds this object, say) is released then, not kept alive by
    /// a cycle through the object. nonisolated(unsafe) and unchecked exclusivity:
    /// read only by the loop serving the object, on its thread, and written by that
    /// loop between batches once it no longer calls it (or by the connecting thread
    /// for an object no loop ever attached).
    @exclusivity(unchecked) nonisolated(unsafe) private var routineBox: Unmanaged<RoutineBox>
    let counters = Counters()
    /// `timingRecorders`, unretained (the strong reference keeps it alive): the
    /// timed path uses it without a retain.
    private let timingReference: Unmanaged<TimingRecorders>?

    /// The device whose interrupt this is.
    public let device: InterruptDevice
    /// The translated vector (Linux IRQ for INTx, bridge-assigned for messages).
    public let vector: UInt32
    /// How the device delivers this interrupt.
    public let kind: InterruptKind
    /// The DIRQL of the interrupt (PASSIVE_LEVEL for a passive-level ISR).
    public let irql: InterruptLevel
    public let mode: InterruptMode
    public let shareVector: Bool
    /// Processors the interrupt may be delivered to (within `group`).
    public let affinity: ProcessorAffinity
    /// The processor group (0 unless connected with `useGroup`).
    public let group: UInt16
    public let floatingSave: Bool
    /// The caller's ServiceContext, passed back unchanged.
    public let serviceContext: OpaqueContext
    /// The interrupt spin lock (the caller's, or one allocated for the set).
    /// nil for a passive-level object, which is serialised by a mutex instead.
    public let spinLock: InterruptSpinLock?

    /// The dispatcher the object is connected through.
    public let dispatcher: InterruptDispatcher

    let passiveMutex: BlockingMutex?
    /// Shared by the objects one connect call made together (a message-based connect's
    /// messages); nil for an object connected alone.
    let connectSet: ConnectSet?
    let lifecycle = Atomic<UInt8>(Lifecycle.connecting.rawValue)
    /// The ISR-duration and stimulus-to-ISR recorders, when the dispatcher records
    /// timings (`DispatchOptions.recordsTimings`); nil otherwise.
    let timingRecorders: TimingRecorders?

    enum Routine: Sendable {
        case service(InterruptServiceRoutine)
        case message(MessageServiceRoutine)
    }

    enum Lifecycle: UInt8 {
        case connecting, connected, disconnecting, disconnected
    }

    /// The bits of `gate`.
    enum Gate {
        static let closing: UInt8 = 1
        static let inactive: UInt8 = 2
    }

    /// Counts the dispatch loop keeps (relaxed atomics, no locks). One writer,
    /// the object's dispatch thread (an object is served by one loop), so an
    /// increment is a relaxed load and store, not a locked read-modify-write;
    /// readers on other threads still see whole values.
    ///
    /// Stored inline in the object (a noncopyable struct of atomics, not an object of
    /// its own): with thousands of vectors connected, the ISR path of a cold vector
    /// misses on one line fewer.
    struct Counters: ~Copyable, Sendable {
        let signals = Atomic<UInt64>(0)
        let serviceCalls = Atomic<UInt64>(0)
        let claimed = Atomic<UInt64>(0)
        /// Storm containments of the object's vector (written off the interrupt path).
        let storms = Atomic<UInt64>(0)
        /// Calls that returned false, counted apart rather than derived: a reader on
        /// another thread that subtracted `claimed` from `serviceCalls` could read the
        /// two on either side of a pass and see more claims than calls (a wrap to
        /// 2^64 - 1). Off the hot line: a vector's only ISR rarely declines; on a
        /// shared latched line every ISR declines once per interrupt (the closing pass).
        let unclaimed = Atomic<UInt64>(0)
        /// Whether the vector is contained right now.
        let contained = Atomic<Bool>(false)

        @inline(__always)
        func countSignals(_ count: UInt64) { Self.increment(signals, by: count) }

        @inline(__always)
        func countService(claimed wasClaimed: Bool) {
            Self.increment(serviceCalls, by: 1)
            // Released after the call count: a reader that acquires `claimed` first sees
            // at least as many calls (a plain store on x86, as the relaxed one was).
            if wasClaimed { claimed.store(claimed.load(ordering: .relaxed) &+ 1, ordering: .releasing) } else { Self.increment(unclaimed, by: 1) }
        }

        @inline(__always)
        private static func increment(_ counter: borrowing Atomic<UInt64>, by amount: UInt64) {
            counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
        }
    }

    init(device: InterruptDevice, dispatcher: InterruptDispatcher, vector: UInt32, messageID: UInt32, kind: InterruptKind,
         irql: InterruptLevel, synchronizeIrql: InterruptLevel, mode: InterruptMode, shareVector: Bool,
         affinity: ProcessorAffinity, group: UInt16, floatingSave: Bool, serviceContext: OpaqueContext,
         spinLock: InterruptSpinLock?, passiveLock: BlockingMutex? = nil, connectSet: ConnectSet? = nil, routine: RoutineBox) {
        self.device = device
        self.dispatcher = dispatcher
        self.vector = vector
        self.messageID = messageID
        self.kind = kind
        self.irql = irql
        self.synchronizeIrql = synchronizeIrql
        self.mode = mode
        self.shareVector = shareVector
        self.affinity = affinity
        self.group = group
        self.floatingSave = floatingSave
        self.serviceContext = serviceContext
        self.spinLock = spinLock
        self.passiveMutex = spinLock == nil ? (passiveLock ?? BlockingMutex()) : nil
        self.connectSet = connectSet
        self.spinLockReference = spinLock.map { Unmanaged.passUnretained($0) }
        timingRecorders = dispatcher.options.recordsTimings ? TimingRecorders() : nil
        timingReference = timingRecorders.map { Unmanaged.passUnretained($0) }
        recordsTimings = timingRecorders != nil
        routineBox = .passRetained(routine)
    }

    deinit { routineBox.release() }

    /// True for a passive-level ISR (Irql = SynchronizeIrql = PASSIVE_LEVEL, no spin lock).
    public var isPassiveLevel: Bool { spinLock == nil }

    /// What the objects connected together have in common: their connect set, or for
    /// passive-level objects the interrupt lock one set shares (each other one has its own).
    var connectSetIdentity: ObjectIdentifier? {
        if let connectSet { return ObjectIdentifier(connectSet) }
        return passiveMutex.map(ObjectIdentifier.init)
    }

    /// True from connect until a disconnect was requested.
    public var isConnected: Bool {
        let state = lifecycle.load(ordering: .acquiring)
        return state == Lifecycle.connecting.rawValue || state == Lifecycle.connected.rawValue
    }

    /// Runs `body` holding the interrupt lock at `synchronizeIrql`, so it cannot
    /// overlap the ISR, and returns its result unchanged (KeSynchronizeExecution).
    /// Must not be called from this object's own ISR (the lock is not recursive).
    @inline(__always)
    public func synchronize<Result: ~Copyable, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let previous = acquire()
        defer { release(previous) }
        return try body()
    }

    /// Takes the interrupt lock and raises to `synchronizeIrql`; returns the
    /// previous level for `release(_:)` (KeAcquireInterruptSpinLock).
    @inline(__always)
    public func acquire() -> InterruptLevel {
        if let spinLockReference {
            spinLockReference._withUnsafeGuaranteedRef { $0.lock() }
        } else if let passiveMutex {
            passiveMutex.lock()
            // Counted: the holder stays at PASSIVE_LEVEL, so only this tells the dispatcher
            // that a disconnect here must not wait for the passive loop (which may be waiting
            // for this lock). One thread-local add, on the passive path only.
            CurrentLevel.countPassiveLock(1)
        }
        return CurrentLevel.raise(to: synchronizeIrql)
    }

    /// Releases the interrupt lock and returns to `previous` (KeReleaseInterruptSpinLock).
    @inline(__always)
    public func release(_ previous: InterruptLevel) {
        CurrentLevel.value = previous
        if let spinLockReference {
            spinLockReference._withUnsafeGuaranteedRef { $0.unlock() }
        } else if let passiveMutex {
            CurrentLevel.countPassiveLock(-1)
            passiveMutex.unlock()
        }
    }

    /// Disconnects the object: `dispatcher.disconnect(self)` (see there for the
    /// guarantees, and for the deferred disconnect from inside an ISR).
    public func disconnect() { dispatcher.disconnect(self) }

    /// How often the dispatch loop called this ISR.
    public var serviceCallCount: UInt64 { counters.serviceCalls.load(ordering: .relaxed) }
    /// How often this ISR returned true. Read before `serviceCallCount`, it is never
    /// the larger of the two.
    public var claimedCount: UInt64 { counters.claimed.load(ordering: .acquiring) }
    /// Device signals drained from the vector's descriptor while this object was
    /// on it (several coalesced signals lead to one ISR pass).
    public var deliveredSignalCount: UInt64 { counters.signals.load(ordering: .relaxed) }
    /// How often this ISR returned false (not its device's interrupt). Its own count:
    /// read beside the other two, it can differ from their difference by a pass in flight.
    public var unclaimedCount: UInt64 { counters.unclaimed.load(ordering: .relaxed) }
    /// How many times the vector was contained as storming (see `StormPolicy`).
    public var stormCount: UInt64 { counters.storms.load(ordering: .relaxed) }
    /// Whether the vector is contained now (not watched until re-armed).
    public var isContained: Bool { counters.contained.load(ordering: .acquiring) }
    /// Whether the routine may be called: true from connect until the driver reports
    /// it inactive (`InterruptDispatcher.deactivate(_:)`), and again once reported active.
    public var isActive: Bool { gate.load(ordering: .acquiring) & Gate.inactive == 0 }

    /// What the dispatch loop measured of this ISR so far: each call's duration, and
    /// the time from each `markStimulus()` to the ISR call that followed it. Empty
    /// (`isRecorded` false) unless the dispatcher was created with
    /// `DispatchOptions.recordsTimings`. A snapshot: subtract an earlier one for an interval.
    public var timings: InterruptTimings { timingRecorders?.snapshot ?? InterruptTimings() }

    /// Notes that the caller is about to make the device raise this interrupt: the
    /// next ISR call records the time since then as its stimulus-to-ISR latency.
    /// Call it just before the raise (a register write, a loopback trigger); one
    /// relaxed store of the monotonic clock, from any thread. Does nothing unless
    /// the dispatcher records timings.
    @inline(__always)
    public func markStimulus() {
        timingReference?._withUnsafeGuaranteedRef { $0.stimulusMark.store(MonotonicClock.nanoseconds(), ordering: .relaxed) }
    }

    public var description: String {
        "InterruptObject(\(device.info.address) \(kind) message \(messageID) vector 0x\(String(vector, radix: 16)) irql \(irql)/\(synchronizeIrql) \(mode))"
    }

    /// Calls the routine once, holding the lock. The dispatch loop's only entry
    /// into driver code. Does not allocate.
    @inline(__always)
    func service() -> Bool {
        // Recording timings is out of line: with it off, the path is the untimed one
        // plus a test of `recordsTimings` (inlined, the timed branch made the
        // untimed one 33 instructions longer per interrupt: callgrind.sh).
        if recordsTimings, let timingReference { return serviceTimed(timingReference) }
        let previous = acquire()
        let claimed = routineBox._withUnsafeGuaranteedRef { $0.routine(self, messageID) }
        // Counted under the lock: code holding it (KeSynchronizeExecution) never sees the count move.
        counters.countService(claimed: claimed)
        release(previous)
        return claimed
    }

    /// `service()` recording timings: two clock reads (vDSO) and relaxed stores to the
    /// object's preallocated buckets; a pending stimulus mark is read and cleared.
    @inline(never)
    private func serviceTimed(_ recorders: Unmanaged<TimingRecorders>) -> Bool {
        let previous = acquire()
        let claimed = recorders._withUnsafeGuaranteedRef { recorders in
            let start = MonotonicClock.nanoseconds()
            recorders.recordStimulus(at: start)
            let claimed = routineBox._withUnsafeGuaranteedRef { $0.routine(self, messageID) }
            recorders.isrDuration.record(nanoseconds: MonotonicClock.nanoseconds() &- start)
            return claimed
        }
        counters.countService(claimed: claimed)
        release(previous)
        return claimed
    }

    /// The loop connected it (unless a disconnect was asked for meanwhile).
    func markConnected() {
        _ = lifecycle.compareExchange(expected: Lifecycle.connecting.rawValue, desired: Lifecycle.connected.rawValue,
                                      ordering: .acquiringAndReleasing)
    }

    /// The loop detached it, or never attached it: it is never called again, so
    /// its routine (and what the routine captured) is released.
    func markDisconnected() {
        lifecycle.store(Lifecycle.disconnected.rawValue, ordering: .releasing)
        gate.bitwiseOr(Gate.closing, ordering: .releasing)
        guard !routineBox._withUnsafeGuaranteedRef({ $0.isReleased }) else { return }
        let routine = routineBox
        routineBox = .passRetained(RoutineBox.released)
        routine.release()
    }

    /// Stops further ISR calls at once; true for the caller that did it (it then
    /// asks the loop to detach the object), false when already disconnecting.
    func beginDisconnect() -> Bool {
        for state in [Lifecycle.connecting, .connected] {
            if lifecycle.compareExchange(expected: state.rawValue, desired: Lifecycle.disconnecting.rawValue,
                                         ordering: .acquiringAndReleasing).exchanged {
                gate.bitwiseOr(Gate.closing, ordering: .releasing)
                return true
            }
        }
        return false
    }

    /// A disconnect was asked for and the loop has not detached the object yet.
    var isDetachPending: Bool { lifecycle.load(ordering: .acquiring) == Lifecycle.disconnecting.rawValue }

    /// Whether the loop may still call the routine: not yet asked to disconnect,
    /// not reported inactive. One load of the object's own gate, no barrier on x86.
    @inline(__always)
    var isServiceable: Bool { gate.load(ordering: .acquiring) == 0 }

    /// Reports the object inactive (the loop stops calling it) or active again.
    /// Written by the loop thread between batches.
    func setInactive(_ inactive: Bool) {
        if inactive {
            gate.bitwiseOr(Gate.inactive, ordering: .releasing)
        } else {
            gate.bitwiseAnd(~Gate.inactive, ordering: .releasing)
        }
    }
}

/// The routine an `InterruptObject` calls (see `routineBox`): one per connect
/// call, shared by the objects it created, each holding one reference.
final class RoutineBox: Sendable {
    let routine: MessageServiceRoutine
    let isReleased: Bool

    private init(_ routine: @escaping MessageServiceRoutine, isReleased: Bool) {
        self.routine = routine
        self.isReleased = isReleased
    }

    /// The box for a connect's routine (a line-based one wrapped to ignore the message number).
    convenience init(_ routine: InterruptObject.Routine) {
        switch routine {
        case let .service(routine): self.init({ interrupt, _ in routine(interrupt) }, isReleased: false)
        case let .message(routine): self.init(routine, isReleased: false)
        }
    }

    /// What a disconnected object holds: claims nothing, captures nothing.
    static let released = RoutineBox({ _, _ in false }, isReleased: true)
}

/// The identity the objects of one connect call share (`InterruptObject.connectSet`).
final class ConnectSet: Sendable {}
