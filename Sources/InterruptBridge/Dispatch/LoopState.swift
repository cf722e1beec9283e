import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

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
    /// the selector's table keeps them until the batch ends).
    private let ready: UnsafeMutableBufferPointer<Unmanaged<VectorSource>>
    /// The DIRQL of each entry of `ready` (preallocated).
    private let readyLevels: UnsafeMutableBufferPointer<InterruptLevel>
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
    /// one (kept shifted into place: `ServiceProbe.passBits`).
    @exclusivity(unchecked) private var passSequence: UInt64 = 0
    /// Whether every vector source on the loop has the same DIRQL (the common case:
    /// a device's messages share one). A batch is then served in the order epoll
    /// returns it, each source as it is read: no sorting, no second pass (about 20
    /// instructions per interrupt with 64 vectors). Worked out again at the next
    /// batch after any command, since only commands change the table.
    @exclusivity(unchecked) private var levelsUniform = false
    @exclusivity(unchecked) var levelsKnown = false
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
        readyLevels = .allocate(capacity: batch)
        deferred = .allocate(capacity: batch)
    }

    deinit {
        ready.deallocate()
        readyLevels.deallocate()
        deferred.deallocate()
    }

    // MARK: The loop

    /// Runs until stopped (the loop's thread).
    func run() {
        let timeout: Int32 = loop.options.busyPoll ? 0 : -1
        while step(timeout: timeout) == .proceed {}
        tearDown()
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
        let inArrivalOrder = levelsUniform
        let probe = serving
        var readyCount = 0
        var deferredCount = 0
        var woken = false
        var pass = passSequence
        var index = 0
        while index < count {
            switch selector.readiness(at: index) {
            case .wake:
                // Cleared now, before the DPC drain: a DPC queued from another thread
                // after the drain wakes the loop again instead of being lost.
                selector.clearWake()
                woken = true
            case .stale:
                break
            case let .entry(entry):
                if entry._withUnsafeGuaranteedRef({ $0.isInterrupt }) {
                    let source = Unmanaged<VectorSource>.fromOpaque(entry.toOpaque())
                    if inArrivalOrder {
                        serve(source, probe: probe, pass: &pass, deferredCount: &deferredCount)
                    } else {
                        insertReady(source, level: source._withUnsafeGuaranteedRef { $0.line.irql }, count: &readyCount)
                    }
                } else {
                    // Retained until handled: handling one event (a removal) can unwatch
                    // and drop another entry of the same batch. Off the interrupt path.
                    deferred[deferredCount] = entry.retain()
                    deferredCount += 1
                }
            }
            index += 1
        }
        // The interrupt path, when levels differ: highest DIRQL first. Entries stay in
        // the selector's table for the whole batch (commands run after it).
        var position = 0
        while position < readyCount {
            serve(ready[position], probe: probe, pass: &pass, deferredCount: &deferredCount)
            position += 1
        }
        passSequence = pass
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

    /// Calls the ISRs of one ready source, telling the stuck-ISR watchdog which pass
    /// runs; a source whose descriptor failed or whose storm rule tripped is queued in
    /// `deferred`. Locals, and no closure nested in another: capturing `self` or the
    /// source in a nested closure cost a retain and a release per interrupt.
    @inline(__always)
    private func serve(_ source: Unmanaged<VectorSource>, probe: Unmanaged<ServiceProbe>, pass: inout UInt64,
                       deferredCount: inout Int) {
        let word = source._withUnsafeGuaranteedRef { $0.probeBits } | pass
        probe._withUnsafeGuaranteedRef { $0.enter(word) }
        let served = source._withUnsafeGuaranteedRef { $0.service() }
        probe._withUnsafeGuaranteedRef { $0.leave() }
        pass = ServiceProbe.nextPass(pass)
        if !served {
            deferred[deferredCount] = Unmanaged<WatchedDescriptor>.fromOpaque(source.toOpaque()).retain()
            deferredCount &+= 1
        }
    }

    /// Inserts a ready source keeping `ready` sorted by level, highest first. Does not allocate.
    @inline(__always)
    private func insertReady(_ source: Unmanaged<VectorSource>, level: InterruptLevel, count: inout Int) {
        var position = count
        while position > 0, readyLevels[position - 1] < level {
            ready[position] = ready[position - 1]
            readyLevels[position] = readyLevels[position - 1]
            position -= 1
        }
        ready[position] = source
        readyLevels[position] = level
        count &+= 1
    }

    private func handleDeferred(_ entry: WatchedDescriptor) {
        // Unwatched earlier in this batch (its device was removed): its descriptor may be closed.
        guard entry.slot >= 0 else { return }
        if let events = entry as? DeviceEventSource {
            for event in events.source.read() { handle(event, of: events.device) }
        } else if let vector = entry as? VectorSource {
            if let fault = vector.faulted {
                logger.error("vector 0x\(String(vector.line.vector, radix: 16)) (\(vector.key)): \(fault); no longer watched")
                selector.silence(vector)
            } else if let rule = vector.tripped {
                contain(vector, rule: rule)
            }
        }
    }
}
