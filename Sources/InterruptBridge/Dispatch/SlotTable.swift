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

    /// The loop's own wake eventfd (no slot has this index).
    static let wake = EpollToken(slot: .max, generation: 0)
}

/// A fixed-capacity table of what the loop watches, indexed by epoll token.
///
/// Releasing a slot bumps its generation, so a token handed out before the
/// release never resolves again, even after the index (and perhaps the same
/// descriptor number, reused by the kernel) is given to something else: a
/// stale readiness event cannot reach the new occupant. Sized once; lookups
/// and stores do not allocate.
struct SlotTable<Entry> {
    private var entries: ContiguousArray<Entry?>
    private var generations: ContiguousArray<UInt32>
    private var free: [Int]

    init(capacity: Int) {
        entries = ContiguousArray(repeating: nil, count: capacity)
        generations = ContiguousArray(repeating: 0, count: capacity)
        free = Array((0..<capacity).reversed())
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

    /// Fills a reserved slot.
    mutating func store(_ entry: Entry, for token: EpollToken) {
        entries[Int(token.slot)] = entry
    }

    /// Empties a slot and invalidates every token issued for it.
    mutating func release(_ index: Int) {
        entries[index] = nil
        generations[index] &+= 1
        free.append(index)
    }

    /// The entry a token names, or nil if the slot was released since (stale),
    /// is empty, or the index is out of range.
    @inline(__always)
    func resolve(_ token: EpollToken) -> Entry? {
        let index = Int(token.slot)
        guard index < entries.count, generations[index] == token.generation else { return nil }
        return entries[index]
    }

    /// Whether `token` still names its slot (in range, not released since).
    @inline(__always)
    func isCurrent(_ token: EpollToken) -> Bool {
        let index = Int(token.slot)
        return index < generations.count && generations[index] == token.generation
    }

    /// The entry at `index` (whatever its generation).
    @inline(__always)
    subscript(index: Int) -> Entry? { entries[index] }

    /// Every occupied slot index.
    var occupied: [Int] { entries.indices.filter { entries[$0] != nil } }
}
