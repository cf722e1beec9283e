import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

/// Everything the dispatch thread owns. Created on the loop thread, never
/// shared: no locks guard it because only that thread touches it.
///
/// epoll data packs (slot index, generation): the low 32 bits index `slots`,
/// the high 32 bits are the slot's generation when the descriptor was added.
/// Freeing a slot bumps its generation, so an event still in flight for a
/// descriptor that was removed (and whose number the kernel may have reused)
/// no longer matches and is dropped.
final class LoopState {
    static let wakeData = EpollToken.wake.data

    let loop: DispatchLoop
    let logger: Logger
    let events: Epoll.EventBuffer
    /// Slot table, sized once to the loop's capacity (no growth on the interrupt path).
    /// Unchecked exclusivity: only the loop thread touches it, and never reentrantly
    /// (commands and the interrupt path alternate), so the dynamic check per event
    /// (swift_beginAccess, about 70 instructions per interrupt) proves nothing.
    @exclusivity(unchecked) var slots: SlotTable<Slot>
    /// The interrupt slot at each index, unretained, beside `slots` (which owns it):
    /// set when an interrupt slot is stored and cleared before it is released, so
    /// the interrupt path resolves an event without copying the `Slot` enum (a
    /// retain and a release per copy). nil for auxiliary and free slots.
    let interruptSlots: UnsafeMutableBufferPointer<Unmanaged<InterruptSlot>?>
    var slotBySource: [SourceKey: Int] = [:]
    var lines: [UInt32: VectorLine] = [:]
    var devices: [ObjectIdentifier: DeviceUse] = [:]
    /// Ready interrupt slots of the current batch, ordered by DIRQL (preallocated).
    let ready: UnsafeMutableBufferPointer<Int>
    /// The DIRQL of each entry of `ready` (preallocated).
    let readyLevels: UnsafeMutableBufferPointer<InterruptLevel>
    /// Auxiliary and faulted slots of the current batch (preallocated).
    let deferredSlots: UnsafeMutableBufferPointer<Int>
    var pinnedAffinity: UInt64 = 0
    /// `loop.deferredCalls`, unretained (the loop owns it and outlives this
    /// state): reading it through `loop` retained and released it once per batch.
    private let deferredCallQueue: Unmanaged<DeferredCallQueue>?

    enum Slot {
        case interrupt(InterruptSlot)
        case auxiliary(AuxiliarySlot)
    }

    /// One interrupt descriptor the loop waits on.
    /// The interrupt path reads `descriptor`, `drain` and `unmask`, copied out of
    /// `source` once: reading them through `source` copied the whole struct and
    /// its existential (value-witness calls and a retain/release) per event.
    final class InterruptSlot {
        let source: InterruptSource
        let descriptor: Int32
        let drain: InterruptSource.Drain
        /// The source's unmask, or `NoUnmask`: a non-optional `let` existential is
        /// opened in place, where binding the optional copied it (box and
        /// payload retain) on every claimed level-triggered interrupt.
        let unmask: any InterruptUnmasking
        /// Whether the source has an unmask (false: edge-triggered, never called).
        let unmasks: Bool
        let line: VectorLine
        let key: SourceKey
        // Unchecked exclusivity for the two fields below: the loop thread alone
        // reads and writes them (see `slots`).
        /// UIO: the last interrupt total read (the count is the difference; the
        /// first read, with nothing to compare against, counts as one signal).
        @exclusivity(unchecked) var lastTotal: UInt32?
        @exclusivity(unchecked) var faulted: SystemError?
        init(source: InterruptSource, line: VectorLine, key: SourceKey) {
            self.source = source
            self.descriptor = source.descriptor
            self.drain = source.drain
            self.unmask = source.unmask ?? NoUnmask()
            self.unmasks = source.unmask != nil
            self.line = line
            self.key = key
        }
    }

    final class AuxiliarySlot {
        let source: AuxiliarySource
        init(source: AuxiliarySource) { self.source = source }
    }

    /// The ISR chain of one vector (several objects when shared).
    ///
    /// Changed by commands only, between batches, on the loop thread, hence the
    /// unchecked exclusivity (see `slots`).
    final class VectorLine {
        let vector: UInt32
        let mode: InterruptMode
        /// The chain in connect order; owns its objects.
        @exclusivity(unchecked) var chain: ContiguousArray<InterruptObject> = [] {
            didSet { refreshServiceOrder() }
        }
        @exclusivity(unchecked) var irql: InterruptLevel = .passive
        /// `chain` as unretained references, what the interrupt path walks: reading
        /// `chain` retained its buffer and every element it visited. Rebuilt
        /// whenever `chain` changes, so it never outlives the references it mirrors.
        @exclusivity(unchecked) private(set) var serviceOrder = UnsafeMutableBufferPointer<Unmanaged<InterruptObject>>(start: nil, count: 0)

        init(vector: UInt32, mode: InterruptMode) {
            self.vector = vector
            self.mode = mode
        }

        deinit { serviceOrder.deallocate() }

        private func refreshServiceOrder() {
            serviceOrder.deallocate()
            serviceOrder = .allocate(capacity: chain.count)
            for (index, object) in chain.enumerated() {
                serviceOrder.initializeElement(at: index, to: Unmanaged.passUnretained(object))
            }
        }
    }

    /// A device's objects on this loop and the auxiliary slots watched for it.
    struct DeviceUse {
        var objects: Int
        var auxiliarySlots: [Int]
    }

    struct SourceKey: Hashable {
        var device: ObjectIdentifier
        var kind: InterruptKind
        var message: UInt32
        init(_ object: InterruptObject) {
            device = ObjectIdentifier(object.device)
            kind = object.kind
            message = object.messageID
        }
    }

    init(loop: DispatchLoop) {
        self.loop = loop
        self.logger = loop.logger
        let capacity = loop.options.capacity
        events = Epoll.EventBuffer(capacity: min(capacity + 1, 256))
        slots = SlotTable(capacity: capacity)
        deferredCallQueue = loop.deferredCalls.map { Unmanaged.passUnretained($0) }
        interruptSlots = .allocate(capacity: capacity)
        interruptSlots.initialize(repeating: nil)
        ready = .allocate(capacity: events.capacity)
        readyLevels = .allocate(capacity: events.capacity)
        deferredSlots = .allocate(capacity: events.capacity)
    }

    deinit {
        interruptSlots.deallocate()
        ready.deallocate()
        readyLevels.deallocate()
        deferredSlots.deallocate()
    }

    // MARK: The loop

    func run() {
        let timeout: Int32 = loop.options.busyPoll ? 0 : -1
        while true {
            let count: Int
            do {
                count = try Epoll.wait(loop.epollDescriptor, into: events, timeout: timeout)
            } catch {
                logger.critical("dispatch loop \(loop.name): \(error); stopping")
                tearDown()
                return
            }
            if count == 0 { continue }
            var readyCount = 0
            var deferredCount = 0
            var woken = false
            var index = 0
            while index < count {
                let data = events.data(at: index)
                index += 1
                if data == Self.wakeData {
                    // Clear the wake counter before this batch's DPC drain and commands, so
                    // a DPC queued or a command posted after them wakes us again (cleared
                    // after the drain, the wake of a DPC queued meanwhile was lost).
                    _ = try? EventFD.read(loop.wakeDescriptor)
                    woken = true
                    continue
                }
                let token = EpollToken(data: data)
                // A released (stale) token is dropped.
                guard slots.isCurrent(token) else { continue }
                let slotIndex = Int(token.slot)
                if let interrupt = interruptSlots[slotIndex] {
                    let level = interrupt._withUnsafeGuaranteedRef { $0.line.irql }
                    insertReady(slotIndex, level: level, count: &readyCount)
                } else {
                    deferredSlots[deferredCount] = slotIndex  // auxiliary
                    deferredCount += 1
                }
            }
            // The interrupt path: highest DIRQL first, then the DPCs of the batch.
            // Slots stay stored for the whole batch (commands run after it).
            var position = 0
            while position < readyCount {
                if let interrupt = interruptSlots[ready[position]], !interrupt._withUnsafeGuaranteedRef({ service($0) }) {
                    deferredSlots[deferredCount] = ready[position]
                    deferredCount += 1
                }
                position += 1
            }
            if let deferredCallQueue {
                deferredCallQueue._withUnsafeGuaranteedRef { queue in
                    if !queue.isEmpty { queue.drain() }
                }
            }
            // Off the interrupt path: backend events, faults, commands.
            for position in 0..<deferredCount { handleDeferred(deferredSlots[position]) }  // rare: faults, backend events
            if woken, applyCommands() == .stop {
                tearDown()
                return
            }
        }
    }

    /// Inserts a ready slot keeping `ready` sorted by level, highest first. Does not allocate.
    @inline(__always)
    private func insertReady(_ slotIndex: Int, level: InterruptLevel, count: inout Int) {
        var position = count
        while position > 0, readyLevels[position - 1] < level {
            ready[position] = ready[position - 1]
            readyLevels[position] = readyLevels[position - 1]
            position -= 1
        }
        ready[position] = slotIndex
        readyLevels[position] = level
        count += 1
    }

    /// Reads and clears the descriptor, runs the chain, unmasks a claimed level
    /// line. Returns false when the descriptor failed (handled off the path).
    /// Does not allocate, log or take a lock other than the objects' own.
    @inline(__always)
    private func service(_ slot: InterruptSlot) -> Bool {
        let signals: UInt64
        do {
            switch slot.drain {
            case .eventfdCounter:
                guard let count = try EventFD.read(slot.descriptor) else { return true }
                signals = count
            case .uioTotal:
                guard let total = try FileDescriptors.readUInt32(slot.descriptor) else { return true }
                signals = slot.lastTotal.map { UInt64(max(1, total &- $0)) } ?? 1
                slot.lastTotal = total
            }
        } catch {
            slot.faulted = error
            return false
        }
        let line = slot.line
        // Index loops, not for-in: an unspecialised IndexingIterator (debug builds)
        // allocates a coroutine frame per element. Unretained references: the
        // chain owns the objects and changes only between batches.
        let chain = line.serviceOrder
        let count = chain.count
        var index = 0
        while index < count {
            chain[index]._withUnsafeGuaranteedRef { object in
                if object.isServiceable { object.counters.countSignals(signals) }
            }
            index += 1
        }
        var claimed = false
        switch line.mode {
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
                if !claimedThisPass || count < 2 || passes >= loop.options.maximumLatchedPasses { break }
            }
        }
        if claimed, slot.unmasks {
            do {
                try slot.unmask.unmask()
            } catch {
                slot.faulted = error
                return false
            }
        }
        return true
    }

    private func handleDeferred(_ index: Int) {
        switch slots[index] {
        case let .auxiliary(auxiliary)?:
            auxiliary.source.handler()
        case let .interrupt(interrupt)?:
            guard let fault = interrupt.faulted else { return }
            logger.error("vector 0x\(String(interrupt.line.vector, radix: 16)) of \(interrupt.key.kind): \(fault); no longer watched")
            try? Epoll.remove(loop.epollDescriptor, descriptor: interrupt.descriptor)
        case nil:
            return
        }
    }
}

/// The unmask of a source that has none (never called: `InterruptSlot.unmasks` is false).
private struct NoUnmask: InterruptUnmasking {
    func unmask() throws(SystemError) {}
}
