/// What the dispatch loop puts in `epoll_event.data`: a slot index beside the
/// slot's generation at the time the descriptor was added.
struct EpollToken: Hashable {
    var slot: UInt32
    var generation: UInt32

    init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    init(data: UInt64) {
        slot = UInt32(truncatingIfNeeded: data)
        generation = UInt32(truncatingIfNeeded: data >> 32)
    }

    var data: UInt64 { UInt64(slot) | UInt64(generation) << 32 }

    /// The loop's own wake eventfd (no slot has this index). All ones: the loop compares
    /// every event's data with it, and -1 is an immediate operand where 0xffffffff
    /// took a register for the whole batch.
    static let wake = EpollToken(slot: .max, generation: .max)
}

/// A fixed-capacity table of what the loop watches, indexed by epoll token.
///
/// Releasing a slot bumps its generation, so a token handed out before the
/// release never resolves again, even after the index (and perhaps the same
/// descriptor number, reused by the kernel) is given to something else: a
/// stale readiness event cannot reach the new occupant. Sized once; lookups
/// and stores do not allocate.
///
/// The table owns its entries (one retain each, taken by `store` and given
/// back by `release`) and hands them out unretained: the interrupt path reads
/// an entry without a retain/release pair per event, and the entry cannot go
/// away under it because only the loop thread releases slots, between batches.
/// This one buffer is what the hot path reads; there is no second copy.
///
/// Not `~Copyable` with a `deinit`: Swift 6.3 crashes compiling that under
/// Thread Sanitizer. The owner (the selector) calls `deallocate()` once.
struct SlotTable<Entry: AnyObject> {
    /// Retained entries as opaque pointers (nil: free). Not `Unmanaged<Entry>?`:
    /// Swift 6.3 crashes compiling that buffer under Thread Sanitizer ("Invalid bitcast").
    private let entries: UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>
    private let generations: UnsafeMutableBufferPointer<UInt32>
    private var free: [Int]

    init(capacity: Int) {
        entries = .allocate(capacity: capacity)
        entries.initialize(repeating: nil)
        generations = .allocate(capacity: capacity)
        generations.initialize(repeating: 0)
        free = Array((0..<capacity).reversed())
    }

    /// Gives back every entry's reference and frees the table. Once, by the owner.
    func deallocate() {
        for entry in entries { entry.map { Unmanaged<Entry>.fromOpaque($0).release() } }
        entries.deallocate()
        generations.deallocate()
    }

    var capacity: Int { entries.count }
    var freeCount: Int { free.count }

    /// Takes a free slot and returns the token it will be known by, or nil when full.
    mutating func reserve() -> EpollToken? {
        guard let index = free.popLast() else { return nil }
        return EpollToken(slot: UInt32(index), generation: generations[index])
    }

    /// Returns a reserved slot that was never filled.
    mutating func unreserve(_ token: EpollToken) {
        free.append(Int(token.slot))
    }

    /// Fills a reserved slot (the table keeps a reference until `release`).
    func store(_ entry: Entry, for token: EpollToken) {
        entries[Int(token.slot)] = Unmanaged.passRetained(entry).toOpaque()
    }

    /// Empties a slot, drops the table's reference and invalidates every token issued for it.
    mutating func release(_ index: Int) {
        entries[index].map { Unmanaged<Entry>.fromOpaque($0).release() }
        entries[index] = nil
        generations[index] &+= 1
        free.append(index)
    }

    /// The entry a token names, or nil if the slot was released since (stale),
    /// is empty, or the index is out of range.
    @inline(__always)
    func resolve(_ token: EpollToken) -> Unmanaged<Entry>? {
        let index = Int(token.slot)
        guard index < entries.count, generations[index] == token.generation, let entry = entries[index] else { return nil }
        return Unmanaged.fromOpaque(entry)
    }

    /// The token a stored entry at `index` is known by now.
    func token(at index: Int) -> EpollToken {
        EpollToken(slot: UInt32(index), generation: generations[index])
    }

    /// The entry at `index` (whatever its generation), unretained.
    @inline(__always)
    subscript(index: Int) -> Unmanaged<Entry>? { entries[index].map { Unmanaged.fromOpaque($0) } }
}
