import InterruptBridgeCore
import InterruptBridgeSystem

/// The ISR chain of one vector (several objects when shared) and how a
/// readiness of the vector is served: every ISR once for a level-sensitive
/// line until one claims, latched lines pass after pass until a pass is
/// unclaimed. Owned by the loop's connection table; changed only between
/// batches, on the loop thread.
final class InterruptLine {
    let vector: UInt32
    let mode: InterruptMode
    /// Passive-level ISRs (served by the passive loop; they may block).
    let isPassive: Bool
    /// The highest DIRQL of the chain: the loop serves ready lines highest first.
    @exclusivity(unchecked) private(set) var irql: InterruptLevel = .passive {
        didSet {
            guard irql != oldValue else { return }
            census.move(sources.count, from: oldValue, to: irql)
            publish()
        }
    }
    /// The connection table's count of sources per level, which this line keeps for its own.
    private let census: LevelCensus
    /// The chain in connect order. The line owns one reference per object (taken by
    /// `append`, given back by `remove`); the interrupt path walks it unretained,
    /// where reading an array of references retained the buffer and each element.
    @exclusivity(unchecked) private var chain: UnsafeMutableBufferPointer<Unmanaged<InterruptObject>>
    @exclusivity(unchecked) private(set) var count = 0
    /// The chain's only object when it has exactly one (nil otherwise), kept in the
    /// line itself: the one-ISR path tests and reads it here, one load, and a cold
    /// vector's pass does not also miss on the chain's buffer.
    @exclusivity(unchecked) private var sole: Unmanaged<InterruptObject>? {
        didSet { publish() }
    }
    /// The watched sources that run this line (unretained): each keeps a copy of
    /// `sole` and `irql` in its pass record, so a pass of a cold vector reads its
    /// object (and a batch with mixed levels its level) from the record it already
    /// has in cache and does not also miss on the line. The connection table adds
    /// a source once it is watched and drops it when it stops watching it.
    @exclusivity(unchecked) private var sources: [Unmanaged<VectorSource>] = []

    init(vector: UInt32, mode: InterruptMode, isPassive: Bool, census: LevelCensus) {
        self.vector = vector
        self.mode = mode
        self.isPassive = isPassive
        self.census = census
        chain = .allocate(capacity: 1)
    }

    deinit {
        for index in 0..<count { chain[index].release() }
        chain.deallocate()
    }

    /// The objects in connect order.
    var objects: [InterruptObject] { (0..<count).map { chain[$0].takeUnretainedValue() } }

    func contains(_ object: InterruptObject) -> Bool { objects.contains { $0 === object } }

    /// Keeps the source's copies of `sole` and `irql` current from now on (command path: may allocate).
    func add(_ source: VectorSource) {
        sources.append(.passUnretained(source))
        census.add(1, at: irql)
        source.mirror(sole: sole, level: irql)
    }

    /// Stops keeping the source's copies current (the source is no longer watched).
    func drop(_ source: VectorSource) {
        let before = sources.count
        sources.removeAll { $0.toOpaque() == Unmanaged.passUnretained(source).toOpaque() }
        census.remove(before - sources.count, at: irql)
        source.mirror(sole: nil, level: .passive)
    }

    private func publish() {
        for source in sources { source._withUnsafeGuaranteedRef { $0.mirror(sole: sole, level: irql) } }
    }

    /// Appends an object to the chain (command path: may allocate).
    func append(_ object: InterruptObject) {
        if count == chain.count {
            let grown = UnsafeMutableBufferPointer<Unmanaged<InterruptObject>>.allocate(capacity: chain.count * 2)
            for index in 0..<count { grown.initializeElement(at: index, to: chain[index]) }
            chain.deallocate()
            chain = grown
        }
        chain.initializeElement(at: count, to: Unmanaged.passRetained(object))
        count += 1
        sole = count == 1 ? chain[0] : nil
        irql = max(irql, object.irql)
    }

    /// Removes an object from the chain; false if it was not on it.
    @discardableResult
    func remove(_ object: InterruptObject) -> Bool {
        guard let position = (0..<count).first(where: { chain[$0].takeUnretainedValue() === object }) else { return false }
        let removed = chain[position]
        for index in position..<(count - 1) { chain[index] = chain[index + 1] }
        count -= 1
        sole = count == 1 ? chain[0] : nil
        removed.release()
        irql = objects.map(\.irql).max() ?? .passive
        return true
    }

    /// Counts `signals` on the line's only object and calls its ISR if it is
    /// serviceable; whether it claimed the interrupt (a vector nobody shares, the
    /// common case: one serviceable test, one call). A latched pass that one ISR
    /// claimed needs no second pass (no other ISR's edge can have been lost
    /// meanwhile), so both modes are one call.
    @inline(__always)
    static func serviceSole(_ sole: Unmanaged<InterruptObject>, signals: UInt64) -> Bool {
        sole._withUnsafeGuaranteedRef { object in
            guard object.isServiceable else { return false }
            object.counters.countSignals(signals)
            return object.service()
        }
    }

    /// Counts `signals` on every serviceable object, then calls the ISRs as the
    /// mode says: every ISR once for a level-sensitive line until one claims,
    /// latched lines pass after pass until a pass is unclaimed. Returns whether any
    /// ISR claimed the interrupt. Does not allocate, log or take a lock other than
    /// the objects' own. For a shared vector (several objects, or none): out of
    /// line, so the common one-object case stays small enough for the loop to inline.
    @inline(never)
    func serviceChain(signals: UInt64, maximumLatchedPasses: Int) -> Bool {
        // Index loops, not for-in: an unspecialised IndexingIterator (debug builds)
        // allocates a coroutine frame per element.
        let chain = self.chain
        let count = self.count
        var index = 0
        while index < count {
            chain[index]._withUnsafeGuaranteedRef { object in
                if object.isServiceable { object.counters.countSignals(signals) }
            }
            index += 1
        }
        var claimed = false
        switch mode {
        case .levelSensitive:
            // Level-sensitive: the first ISR that claims ends the pass.
            index = 0
            while index < count, !claimed {
                if chain[index]._withUnsafeGuaranteedRef({ $0.isServiceable && $0.service() }) { claimed = true }
                index += 1
            }
        case .latched:
            // Latched: edges may have been lost while ISRs ran; call on until a full pass is unclaimed.
            var passes = 0
            while true {
                var claimedThisPass = false
                index = 0
                while index < count {
                    if chain[index]._withUnsafeGuaranteedRef({ $0.isServiceable && $0.service() }) { claimedThisPass = true }
                    index += 1
                }
                claimed = claimed || claimedThisPass
                passes += 1
                if !claimedThisPass || count < 2 || passes >= maximumLatchedPasses { break }
            }
        }
        return claimed
    }
}

/// One interrupt descriptor the loop watches: how to read and clear it, the
/// line whose chain it runs, and how to re-enable a level-triggered line.
///
/// What a pass reads and writes is in its `PassRecord`, in the selector's slot
/// (the descriptor, how to drain it, the line's only object, the storm rules'
/// counters): the source object itself is read only on what is rare (a shared
/// line's chain, a UIO total, a failed read, a window or rate block that ends, a
/// level line's unmask).
final class VectorSource: WatchedDescriptor {
    let drain: InterruptSource.Drain
    /// Whether the source has an unmask (false: edge-triggered, never called).
    let unmasks: Bool
    /// The line this descriptor delivers (a strong `let`: the interrupt path reads
    /// it in place, where an `unowned(unsafe)` reference cost a retain and release
    /// per interrupt).
    let line: InterruptLine
    /// How many passes a shared latched chain gets per readiness (`DispatchOptions`).
    let maximumLatchedPasses: Int
    /// The source's unmask, or `NoUnmask`: a non-optional `let` existential is
    /// opened in place, where binding the optional copied it (box and
    /// payload retain) on every claimed level-triggered interrupt.
    let unmask: any InterruptUnmasking
    let key: ConnectionTable.SourceKey
    // Unchecked exclusivity for the two fields below: the loop thread alone
    // reads and writes them.
    /// UIO: the last interrupt total read (the count is the difference; the
    /// first read, with nothing to compare against, counts as one signal).
    @exclusivity(unchecked) var lastTotal: UInt32?
    /// Why reading or unmasking failed; the loop then stops watching it.
    @exclusivity(unchecked) var faulted: SystemError?
    // Storm detection (see `StormPolicy`), on the loop thread only; the counters
    // are in the pass record. The rules are read only where a window or block ends.
    @exclusivity(unchecked) private(set) var storm: StormPolicy
    /// Passes per unclaimed window (.max when the policy is off: a window that never fills).
    @exclusivity(unchecked) private var unclaimedWindow: UInt64
    @exclusivity(unchecked) private var unclaimedLimit: UInt64
    /// Signals per rate block (.max when the policy is off: a block that never fills).
    @exclusivity(unchecked) private var rateLimit: UInt64
    @exclusivity(unchecked) private var rateWindow: UInt64
    /// When the current rate block started (ns; 0: at the next interrupt).
    @exclusivity(unchecked) private var blockStart: UInt64 = 0
    /// The rule the vector tripped; the loop then contains it (off the interrupt path).
    @exclusivity(unchecked) var tripped: StormRule?
    /// Containment state, kept by the loop: contained since, the back-off in force, trips.
    @exclusivity(unchecked) var containedSince: UInt64?
    @exclusivity(unchecked) var rearmAt: UInt64?
    @exclusivity(unchecked) var lastRearm: UInt64 = 0
    /// Since the last re-arm: when the first pass came (ns; 0: none yet, or the storm
    /// policy is off), and whether each rule saw the storm let up: a window or block that
    /// closed without tripping, or (unclaimed) a pause of more than `stormPause` between
    /// two unclaimed passes, as genirq's note_interrupt starts its count afresh after 100 ms.
    /// Written off the claimed pass's path, read by the containment.
    @exclusivity(unchecked) var firstPassSinceRearm: UInt64 = 0
    @exclusivity(unchecked) var unclaimedLetUpSinceRearm = false
    @exclusivity(unchecked) var rateLetUpSinceRearm = false
    /// When the last unclaimed pass ran (ns; 0: none since the re-arm).
    @exclusivity(unchecked) private var lastUnclaimedPass: UInt64 = 0
    static let stormPause: UInt64 = 100_000_000
    @exclusivity(unchecked) var backoff: Duration?
    @exclusivity(unchecked) var trips = 0
    /// Every object it serves was reported inactive: not watched, suspended at the
    /// backend, until one is reported active (see `LoopState+Activity`).
    @exclusivity(unchecked) var inactive = false
    /// A level line left masked by a containment that ended while the source was
    /// inactive: unmasked when the source is watched again.
    @exclusivity(unchecked) var leftMasked = false
    /// Whether the loop has stopped watching it (contained, inactive, or both).
    var isSilenced: Bool { containedSince != nil || inactive }

    init(source: InterruptSource, line: InterruptLine, key: ConnectionTable.SourceKey, storm: StormPolicy,
         maximumLatchedPasses: Int) {
        drain = source.drain
        unmask = source.unmask ?? NoUnmask()
        unmasks = source.unmask != nil
        self.line = line
        self.maximumLatchedPasses = maximumLatchedPasses
        self.key = key
        self.storm = storm
        (unclaimedWindow, unclaimedLimit, rateLimit, rateWindow) = Self.limits(of: storm)
        super.init(descriptor: source.descriptor, isInterrupt: true)
    }

    /// The rules' limits. A disabled policy never trips: windows that cannot fill.
    private static func limits(of storm: StormPolicy) -> (UInt64, UInt64, UInt64, UInt64) {
        // Clamped: a disabled policy's fields are not validated (`StormPolicy.problem`).
        (storm.isEnabled ? UInt64(clamping: storm.unclaimedWindow) : .max, storm.isEnabled ? UInt64(clamping: storm.unclaimedLimit) : .max,
         storm.isEnabled ? UInt64(clamping: storm.rateLimit) : .max, storm.isEnabled ? storm.rateWindow.nanoseconds : 0)
    }

    /// Judges the vector by `storm` from now on, its windows started afresh (loop thread,
    /// between batches). A containment in force stays until its re-arm.
    func apply(_ storm: StormPolicy) {
        self.storm = storm
        (unclaimedWindow, unclaimedLimit, rateLimit, rateWindow) = Self.limits(of: storm)
        blockStart = 0
        if let record { startStormCounters(&record.pointee) }
    }

    /// Copies the line's only object (nil unless it has exactly one) and its DIRQL
    /// into the pass record; the line calls it whenever either changes while the
    /// source is watched (ignored while it is not).
    func mirror(sole: Unmanaged<InterruptObject>?, level: InterruptLevel) {
        record?.pointee.sole = sole?.toOpaque()
        record?.pointee.level = level.rawValue
    }

    override func fill(_ record: inout PassRecord) {
        record.drainsEventfd = drain == .eventfdCounter
        record.unmasks = unmasks
        record.probeBits = ServiceProbe.vectorBits(line.vector)
        startStormCounters(&record)
    }

    /// Starts the storm rules afresh (after a re-arm).
    func resetStormCounters() {
        blockStart = 0
        tripped = nil
        firstPassSinceRearm = 0
        unclaimedLetUpSinceRearm = false
        rateLetUpSinceRearm = false
        lastUnclaimedPass = 0
        if let record { startStormCounters(&record.pointee) }
    }

    /// A full unclaimed window to go; a rate block that ends at the next pass (which
    /// starts its clock), or never when the rule is off.
    private func startStormCounters(_ record: inout PassRecord) {
        record.passesLeft = unclaimedWindow
        record.unclaimedPasses = 0
        record.signalsLeft = rateLimit == .max ? .max : 0
    }

    /// Reads and clears the descriptor, runs the chain, unmasks a claimed level
    /// line. Returns false when the descriptor failed or a storm rule tripped
    /// (handled off the path). `record` is this source's pass record. Does not
    /// allocate, log or take a lock other than the objects' own.
    ///
    /// What is rare (a UIO total, a failed read, a window or rate block that ends, a
    /// level line's unmask, a shared line's chain) is out of line, where inlined it
    /// made the pass a call frame of its own per interrupt.
    @inline(never)
    func service(_ record: UnsafeMutablePointer<PassRecord>) -> Bool {
        // A cold vector's object is a cache miss or two: asked for now, they arrive while
        // read(2) drains the descriptor, not after it.
        if let sole = record.pointee.sole { Prefetch.twoLines(at: sole) }
        let signals: UInt64
        if record.pointee.drainsEventfd {
            do {
                guard let count = try EventFD.read(record.pointee.descriptor) else { return true }
                signals = count
            } catch {
                faulted = error
                return false
            }
        } else {
            guard let total = readUIOTotal() else { return faulted == nil }
            signals = total
        }
        let claimed = if let sole = record.pointee.sole {
            InterruptLine.serviceSole(Unmanaged.fromOpaque(sole), signals: signals)
        } else {
            line.serviceChain(signals: signals, maximumLatchedPasses: maximumLatchedPasses)
        }
        // Storm rules: counting down, and a clock read once per `rateLimit` signals (and
        // per unclaimed pass, which a served device does not make).
        if !claimed { noteUnclaimedPass(record) }
        if record.pointee.passesLeft <= 1 {
            if !closeUnclaimedWindow(record) { return false }
        } else {
            record.pointee.passesLeft &-= 1
        }
        if signals >= record.pointee.signalsLeft {
            if !closeRateBlock(record) { return false }
        } else {
            record.pointee.signalsLeft &-= signals
        }
        return record.pointee.unmasks ? unmaskLine() : true
    }

    /// Counts an unclaimed pass, and notes a storm that paused (see `unclaimedLetUpSinceRearm`).
    @inline(never)
    private func noteUnclaimedPass(_ record: UnsafeMutablePointer<PassRecord>) {
        record.pointee.unclaimedPasses &+= 1
        let now = MonotonicClock.nanoseconds()
        if lastUnclaimedPass != 0, now &- lastUnclaimedPass > Self.stormPause { unclaimedLetUpSinceRearm = true }
        lastUnclaimedPass = now
    }

    /// UIO: the signals since the last read of the interrupt total (the first read,
    /// with nothing to compare against, counts as one). nil: nothing new, or the
    /// read failed (`faulted` set).
    @inline(never)
    private func readUIOTotal() -> UInt64? {
        do {
            guard let total = try UIODevice.readTotal(descriptor) else { return nil }
            let signals = lastTotal.map { UInt64(max(1, total &- $0)) } ?? 1
            lastTotal = total
            return signals
        } catch {
            faulted = error
            return nil
        }
    }

    /// The pass that ends the unclaimed window: trips the rule (false: contained off
    /// the path, a level line stays masked) or starts the next window.
    @inline(never)
    private func closeUnclaimedWindow(_ record: UnsafeMutablePointer<PassRecord>) -> Bool {
        if record.pointee.unclaimedPasses > unclaimedLimit {
            tripped = .unclaimed
            return false
        }
        record.pointee.passesLeft = unclaimedWindow
        record.pointee.unclaimedPasses = 0
        unclaimedLetUpSinceRearm = true
        return true
    }

    /// The rate block is full (or its clock not started): trips the rule (false) or
    /// starts the next block.
    ///
    /// The clock starts at the first pass after connect or re-arm (one more clock
    /// read, once), so a storm trips after `rateLimit` more interrupts, not after a
    /// first block spent only starting the clock. That pass's signals are not
    /// counted: they may have piled up over any time (a vector contained or a loop
    /// stalled), and would trip the rule at once.
    @inline(never)
    private func closeRateBlock(_ record: UnsafeMutablePointer<PassRecord>) -> Bool {
        let now = MonotonicClock.nanoseconds()
        if blockStart != 0, now &- blockStart < rateWindow {
            tripped = .rate
            return false
        }
        if blockStart != 0 {
            rateLetUpSinceRearm = true
        } else if firstPassSinceRearm == 0 {
            firstPassSinceRearm = now
        }
        blockStart = now
        record.pointee.signalsLeft = rateLimit
        return true
    }

    /// Re-enables a level line whether or not an ISR claimed it, as genirq does: an
    /// interrupt nobody claims is counted by the unclaimed rule, which contains the
    /// line if it keeps coming, instead of masking it for good. False when it failed.
    @inline(never)
    private func unmaskLine() -> Bool {
        do {
            try unmask.unmask()
            return true
        } catch {
            faulted = error
            return false
        }
    }
}

/// A device's event descriptor (VFIO REQ/ERR, the simulated backend's events),
/// watched off the interrupt path for as long as the device is on the loop.
final class DeviceEventSource: WatchedDescriptor {
    let source: AuxiliarySource
    let device: InterruptDevice

    init(source: AuxiliarySource, device: InterruptDevice) {
        self.source = source
        self.device = device
        super.init(descriptor: source.descriptor, isInterrupt: false)
    }
}

/// The unmask of a source that has none (never called: `VectorSource.unmasks` is false).
private struct NoUnmask: InterruptUnmasking {
    func unmask() throws(SystemError) {}
}
