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
    var slots: SlotTable<Slot>
    var slotBySource: [SourceKey: Int] = [:]
    var lines: [UInt32: VectorLine] = [:]
    var devices: [ObjectIdentifier: DeviceUse] = [:]
    /// Ready interrupt slots of the current batch, ordered by DIRQL (preallocated).
    let ready: UnsafeMutableBufferPointer<Int>
    /// Auxiliary and faulted slots of the current batch (preallocated).
    let deferredSlots: UnsafeMutableBufferPointer<Int>
    var pinnedAffinity: UInt64 = 0

    enum Slot {
        case interrupt(InterruptSlot)
        case auxiliary(AuxiliarySlot)
    }

    /// One interrupt descriptor the loop waits on.
    final class InterruptSlot {
        let source: InterruptSource
        let line: VectorLine
        let key: SourceKey
        /// UIO: the last interrupt total read (the count is the difference; the
        /// first read, with nothing to compare against, counts as one signal).
        var lastTotal: UInt32?
        var faulted: SystemError?
        init(source: InterruptSource, line: VectorLine, key: SourceKey) {
            self.source = source
            self.line = line
            self.key = key
        }
    }

    final class AuxiliarySlot {
        let source: AuxiliarySource
        init(source: AuxiliarySource) { self.source = source }
    }

    /// The ISR chain of one vector (several objects when shared).
    final class VectorLine {
        let vector: UInt32
        let mode: InterruptMode
        var chain: ContiguousArray<InterruptObject> = []
        var irql: InterruptLevel = .passive
        init(vector: UInt32, mode: InterruptMode) {
            self.vector = vector
            self.mode = mode
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
        ready = .allocate(capacity: events.capacity)
        deferredSlots = .allocate(capacity: events.capacity)
    }

    deinit {
        ready.deallocate()
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
                    woken = true
                    continue
                }
                let token = EpollToken(data: data)
                // A released (stale) token resolves to nil: its event is dropped.
                guard let slot = slots.resolve(token) else { continue }
                switch slot {
                case let .interrupt(interrupt):
                    insertReady(Int(token.slot), level: interrupt.line.irql, count: &readyCount)
                case .auxiliary:
                    deferredSlots[deferredCount] = Int(token.slot)
                    deferredCount += 1
                }
            }
            // The interrupt path: highest DIRQL first, then the DPCs of the batch.
            var position = 0
            while position < readyCount {
                if case let .interrupt(interrupt)? = slots[ready[position]], !service(interrupt) {
                    deferredSlots[deferredCount] = ready[position]
                    deferredCount += 1
                }
                position += 1
            }
            loop.deferredCalls?.drain()
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
        while position > 0, let previous = levelOfSlot(ready[position - 1]), previous < level {
            ready[position] = ready[position - 1]
            position -= 1
        }
        ready[position] = slotIndex
        count += 1
    }

    @inline(__always)
    private func levelOfSlot(_ index: Int) -> InterruptLevel? {
        if case let .interrupt(interrupt)? = slots[index] { return interrupt.line.irql }
        return nil
    }

    /// Reads and clears the descriptor, runs the chain, unmasks a claimed level
    /// line. Returns false when the descriptor failed (handled off the path).
    /// Does not allocate, log or take a lock other than the objects' own.
    @inline(__always)
    private func service(_ slot: InterruptSlot) -> Bool {
        let signals: UInt64
        do {
            switch slot.source.drain {
            case .eventfdCounter:
                guard let count = try EventFD.read(slot.source.descriptor) else { return true }
                signals = count
            case .uioTotal:
                guard let total = try FileDescriptors.readUInt32(slot.source.descriptor) else { return true }
                signals = slot.lastTotal.map { UInt64(max(1, total &- $0)) } ?? 1
                slot.lastTotal = total
            }
        } catch {
            slot.faulted = error
            return false
        }
        let line = slot.line
        // Index loops, not for-in: an unspecialised IndexingIterator (debug builds)
        // allocates a coroutine frame per element.
        let chain = line.chain
        let count = chain.count
        var index = 0
        while index < count {
            let object = chain[index]
            if object.isServiceable { object.counters.signals.add(signals, ordering: .relaxed) }
            index += 1
        }
        var claimed = false
        switch line.mode {
        case .levelSensitive:
            // Level-sensitive: the first ISR that claims ends the pass.
            index = 0
            while index < count, !claimed {
                let object = chain[index]
                if object.isServiceable, object.service() { claimed = true }
                index += 1
            }
        case .latched:
            // Latched: edges may have been lost while ISRs ran; call on until a full pass is unclaimed.
            var passes = 0
            while true {
                var claimedThisPass = false
                index = 0
                while index < count {
                    let object = chain[index]
                    if object.isServiceable, object.service() { claimedThisPass = true }
                    index += 1
                }
                claimed = claimed || claimedThisPass
                passes += 1
                if !claimedThisPass || chain.count < 2 || passes >= loop.options.maximumLatchedPasses { break }
            }
        }
        if claimed, let unmask = slot.source.unmask {
            do {
                try unmask.unmask()
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
            try? Epoll.remove(loop.epollDescriptor, descriptor: interrupt.source.descriptor)
        case nil:
            return
        }
    }
}
