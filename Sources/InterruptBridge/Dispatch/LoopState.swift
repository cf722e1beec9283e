import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Synchronization

/// Everything one dispatch loop's thread owns: the selector's table, the
/// connection table, the batch buffers. Never shared: no lock guards it
/// because only that thread (or, for a manually stepped loop, the holder of
/// its step lock) touches it.
final class LoopState {
    let loop: DispatchLoop
    let logger: Logger
    let selector: Selector
    /// Every connection this loop serves (see `ConnectionTable`).
    var table = ConnectionTable()
    /// Ready vector sources of the current batch, highest DIRQL first (preallocated, unretained:
    /// the selector's table keeps them until the batch ends), and their pass records.
    private let ready: UnsafeMutableBufferPointer<Unmanaged<VectorSource>>
    private let readyRecords: UnsafeMutableBufferPointer<UnsafeMutablePointer<PassRecord>>
    /// Event descriptors and faulted vectors of the current batch, handled off the interrupt path.
    private let deferred: UnsafeMutableBufferPointer<Unmanaged<WatchedDescriptor>>
    /// A manually stepped loop applies commands after every step: one posted from
    /// inside the step (a deferred disconnect) writes no wake-up there.
    private let appliesCommandsEveryStep: Bool
    var pinnedAffinity: UInt64 = 0
    // Unchecked exclusivity for the variables below: only the loop thread touches
    // them, never reentrantly, and the dynamic check (swift_beginAccess and a
    // thread-local access set) cost about 100 instructions per interrupt.
    /// How many descriptors the last batch found ready (manual stepping reports it).
    @exclusivity(unchecked) private(set) var lastBatchSize = 0
    /// Storm-contained vector sources (see `LoopState+Storms`).
    @exclusivity(unchecked) var contained: [VectorSource] = [] {
        didSet { nextRearm = contained.lazy.compactMap { $0.rearmAt }.min() }
    }
    /// The earliest automatic re-arm among `contained` (nil: none scheduled), what each
    /// batch checks: a contained vector with no re-arm due then costs the healthy
    /// ones nothing (walking `contained` with a key path per batch cost them about
    /// 15% of their p50 latency in `irqbridge bench --scenario storm`).
    @exclusivity(unchecked) private(set) var nextRearm: UInt64?
    /// Tells the stuck-ISR watchdog which vector's ISRs run (unretained: the loop owns it).
    private let serving: Unmanaged<ServiceProbe>
    /// Numbers each ISR pass for the watchdog, so a new pass is not taken for a stuck
    /// one (kept shifted into place: `ServiceProbe.nextPass`).
    @exclusivity(unchecked) private var passSequence: UInt64 = 0
    /// Whether every vector source on the loop has the same DIRQL (the common case:
    /// a device's messages share one). A batch is then served in the order epoll
    /// returns it, each source as it is read: no sorting, no second pass (about 20
    /// instructions per interrupt with 64 vectors). Worked out again at the next
    /// batch after any command, since only commands change the table.
    @exclusivity(unchecked) private var levelsUniform = false
    @exclusivity(unchecked) var levelsKnown = false
    // The current batch's bookkeeping, in the state rather than in locals: fewer
    // values live across each pass's call means fewer spills per interrupt.
    /// Entries of `ready` (the sorted path only).
    @exclusivity(unchecked) private var readyCount = 0
    /// Entries of `deferred`.
    @exclusivity(unchecked) private var deferredCount = 0
    /// Whether the batch held the wake descriptor (commands or DPCs were posted).
    @exclusivity(unchecked) private var woken = false
    /// `loop.deferredCalls`, unretained (the loop owns it and outlives this
    /// state): reading it through `loop` retained and released it once per batch.
    private let deferredCallQueue: Unmanaged<DeferredCallQueue>?

    init(loop: DispatchLoop) {
        self.loop = loop
        self.logger = loop.logger
        selector = loop.selector
        appliesCommandsEveryStep = loop.isManuallyStepped
        deferredCallQueue = loop.deferredCalls.map { Unmanaged.passUnretained($0) }
        serving = Unmanaged.passUnretained(loop.serving)
        let batch = selector.events.capacity
        ready = .allocate(capacity: batch)
        readyRecords = .allocate(capacity: batch)
        deferred = .allocate(capacity: batch)
    }

    deinit {
        ready.deallocate()
        readyRecords.deallocate()
        deferred.deallocate()
    }

    // MARK: The loop

    /// A fault's log level (`DispatchOptions.faultLevel`).
    func faultLevel(_ level: Logger.Level) -> Logger.Level { loop.options.faultLevel(level) }

    /// Runs until stopped (the loop's thread): spinning (`busyPoll`), sleeping
    /// after each batch, or polling for a while first (`pollWindowLimit`).
    func run() {
        if loop.options.busyPoll {
            while step(timeout: 0) == .proceed {}
        } else if let limit = loop.options.pollWindowLimit, limit > .zero {
            runPollingFirst(limit: limit)
        } else {
            while step(timeout: -1) == .proceed {}
        }
        tearDown()
    }

    /// After each batch, polls for as long as the window says, yielding the processor
    /// between polls, then sleeps (see `PollWindow`). A batch caught while polling
    /// opens a new window from its start.
    ///
    /// Two loops. While the window is closed (sparse interrupts, or a contended
    /// processor) the loop sleeps after every batch and reads the counter once per
    /// `closedSample` batches: it opens when their mean gap is within the limit, so
    /// a closed window costs a few instructions per batch over always sleeping (a
    /// read per batch cost about 16, 6% of the 1-vector interrupt path). The open
    /// loop reads it after every batch and adapts the window after every sleep.
    private func runPollingFirst(limit: Duration) {
        var window = PollWindow(.limit(limit))
        let sampleLimit = window.configuration.limit &* Self.closedSample
        var lastBatch = CycleCounter.now()
        while true {
            // Closed: sleep after every batch until `closedSample` come within the limit of each other on average.
            var sampled = lastBatch
            var batches: UInt64 = 0
            while true {
                guard step(timeout: -1) == .proceed else { return }
                batches &+= 1
                guard batches == Self.closedSample else { continue }
                batches = 0
                let woken = CycleCounter.now()
                let span = woken &- sampled
                sampled = woken
                if span <= sampleLimit, woken >= window.closedUntil {
                    window.slept(gap: span / Self.closedSample, now: woken)
                    lastBatch = woken
                    break
                }
            }
            // Open: poll up to the window's width after each batch, sleep if nothing came.
            polling: while window.width != 0 {
                let deadline = lastBatch &+ window.width
                var handedOver = false
                while true {
                    guard step(timeout: 0) == .proceed else { return }
                    let polled = CycleCounter.now()
                    // Only a catch can close the window here (`polledAfterHandOver`).
                    let raiserIsHere = handedOver && window.polledAfterHandOver(caught: lastBatchSize, now: polled)
                    handedOver = false
                    if lastBatchSize != 0 {
                        lastBatch = polled
                        Self.increment(loop.pollCatches)
                        guard raiserIsHere else { continue polling }
                        // The raiser runs on this processor: sleep, so its next raise wakes the loop at once.
                        Self.increment(loop.windowClosings)
                        break polling
                    }
                    if polled >= deadline { break }
                    PThread.yieldProcessor()
                    let resumed = CycleCounter.now()
                    let outcome = window.yielded(took: resumed &- polled, now: resumed)
                    if outcome == .uncontended { continue }
                    if outcome == .handedOver {
                        handedOver = true
                        continue
                    }
                    if outcome == .closed {
                        Self.increment(loop.windowClosings)
                        break polling
                    }
                    Self.increment(loop.pollsCutShort)
                    break // preempted once: sleep now
                }
                guard step(timeout: -1) == .proceed else { return }
                let woken = CycleCounter.now()
                window.slept(gap: woken &- lastBatch, now: woken)
                lastBatch = woken
            }
        }
    }

    /// Batches per counter read while the poll window is closed.
    private static let closedSample: UInt64 = 8

    /// Adds one to a counter only this thread writes (no locked instruction).
    @inline(__always)
    private static func increment(_ counter: borrowing Atomic<UInt64>) {
        counter.store(counter.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// One batch: wait (up to `timeout` ms), serve the ready vectors highest
    /// DIRQL first, drain the DPCs, then handle device events, faults and
    /// commands. `.stop` once a stop command was applied.
    func step(timeout: Int32) -> CommandOutcome {
        let count: Int
        do {
            count = try selector.wait(timeout: nextRearm != nil ? self.timeout(honouring: timeout) : timeout)
        } catch {
            logger.critical("dispatch loop \(loop.name): \(error); stopping")
            return .stop
        }
        lastBatchSize = count
        if !levelsKnown {
            levelsUniform = table.hasUniformLevels
            levelsKnown = true
        }
        let probe = serving
        readyCount = 0
        deferredCount = 0
        woken = false
        var pass = passSequence
        var index = 0
        if levelsUniform {
            // One DIRQL on the loop: each source is served as the batch is read.
            while index < count {
                if let (source, record) = interruptSource(at: index) { serve(source, record, probe: probe, pass: &pass) }
                index += 1
            }
        } else {
            // Levels differ: highest DIRQL first. Entries stay in the selector's table
            // for the whole batch (commands run after it).
            while index < count {
                if let (source, record) = interruptSource(at: index) {
                    insertReady(source, record)
                }
                index += 1
            }
            var position = 0
            while position < readyCount {
                serve(ready[position], readyRecords[position], probe: probe, pass: &pass)
                position += 1
            }
        }
        passSequence = pass
        // Between batches (and while the DPCs below run) no ISR runs: the word is 0.
        if count > 0 { probe._withUnsafeGuaranteedRef { $0.leave() } }
        if let deferredCallQueue {
            deferredCallQueue._withUnsafeGuaranteedRef { queue in
                if !queue.isEmpty { queue.drain() }
            }
        }
        // Off the interrupt path: device events, faults, commands.
        for position in 0..<deferredCount {
            handleDeferred(deferred[position].takeUnretainedValue())
            deferred[position].release()
        }
        if let nextRearm, nextRearm <= MonotonicClock.nanoseconds() { rearmDueSources() }
        if woken || appliesCommandsEveryStep { return applyCommands() }
        return .proceed
    }

    /// Runs the DPCs queued now (off the interrupt path: a flush's command).
    func drainDeferredCalls() {
        deferredCallQueue?._withUnsafeGuaranteedRef { queue in
            if !queue.isEmpty { queue.drain() }
        }
    }

    /// The vector source event `index` of the batch names, with its pass record; nil for anything else,
    /// which is taken care of here: the wake descriptor is cleared (and `woken` set),
    /// a device's event descriptor is queued in `deferred`, a stale token is dropped.
    @inline(__always)
    private func interruptSource(at index: Int) -> (Unmanaged<VectorSource>, UnsafeMutablePointer<PassRecord>)? {
        switch selector.readiness(at: index) {
        case .wake:
            // Cleared now, before the DPC drain: a DPC queued from another thread
            // after the drain wakes the loop again instead of being lost.
            selector.clearWake()
            woken = true
        case .stale:
            break
        case let .entry(entry, record):
            if record.pointee.isInterrupt {
                return (Unmanaged<VectorSource>.fromOpaque(entry.toOpaque()), record)
            }
            // Retained until handled: handling one event (a removal) can unwatch
            // and drop another entry of the same batch. Off the interrupt path.
            deferred[deferredCount] = entry.retain()
            deferredCount += 1
        }
        return nil
    }

    /// Calls the ISRs of one ready source, telling the stuck-ISR watchdog which pass
    /// runs (each pass's word is new: the pass number moves on); a source whose descriptor failed or whose storm rule tripped is queued in
    /// `deferred`. Locals, and no closure nested in another: capturing `self` or the
    /// source in a nested closure cost a retain and a release per interrupt.
    @inline(__always)
    private func serve(_ source: Unmanaged<VectorSource>, _ record: UnsafeMutablePointer<PassRecord>,
                       probe: Unmanaged<ServiceProbe>, pass: inout UInt64) {
        let word = record.pointee.probeBits | pass
        // The next pass's word replaces this one; `step` clears it once the batch is served.
        probe._withUnsafeGuaranteedRef { $0.enter(word) }
        let served = source._withUnsafeGuaranteedRef { $0.service(record) }
        pass = ServiceProbe.nextPass(pass)
        if !served {
            deferred[deferredCount] = Unmanaged<WatchedDescriptor>.fromOpaque(source.toOpaque()).retain()
            deferredCount &+= 1
        }
    }

    /// Inserts a ready source keeping `ready` sorted by its line's DIRQL (in its pass
    /// record), highest first. Does not allocate.
    @inline(__always)
    private func insertReady(_ source: Unmanaged<VectorSource>, _ record: UnsafeMutablePointer<PassRecord>) {
        let level = record.pointee.level
        var position = readyCount
        while position > 0, readyRecords[position - 1].pointee.level < level {
            ready[position] = ready[position - 1]
            readyRecords[position] = readyRecords[position - 1]
            position -= 1
        }
        ready[position] = source
        readyRecords[position] = record
        readyCount &+= 1
    }

    private func handleDeferred(_ entry: WatchedDescriptor) {
        // Unwatched earlier in this batch (its device was removed): its descriptor may be closed.
        guard entry.slot >= 0 else { return }
        if let events = entry as? DeviceEventSource {
            for event in events.source.read() { handle(event, of: events.device) }
        } else if let vector = entry as? VectorSource {
            if let fault = vector.faulted {
                // A UIO device unbound from uio_pci_generic under its user: the kernel wakes the
                // reader with EIO (ENODEV on some kernels). That is the device going, as VFIO's
                // device request is: disconnected and reported as a removal, not a dead vector.
                if fault.isDeviceGone, let device = table.devices[vector.key.device]?.device,
                   device.backend is UIOBackend {
                    handle(.removalRequested(reason: "its UIO device went away (\(fault))"), of: device)
                    return
                }
                logger.error("vector 0x\(String(vector.line.vector, radix: 16)) (\(vector.key)): \(fault); no longer watched")
                selector.silence(vector)
            } else if let rule = vector.tripped {
                contain(vector, rule: rule)
            }
        }
    }
}
