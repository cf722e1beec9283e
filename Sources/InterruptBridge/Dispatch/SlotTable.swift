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
///
/// Each slot also holds a `Record`, the small state its occupant's hot path
/// reads and writes (see `PassRecord`), in the same cache-line-aligned cell as
/// the entry pointer and generation: with thousands of descriptors watched and
/// the one that fires out of cache, resolving its token and reading its state
/// is one miss, where a slot and an object of its own were two dependent ones.
/// A released slot's record is reset to `emptyRecord`.
///
/// Not `~Copyable` with a `deinit`: Swift 6.3 crashes compiling that under
/// Thread Sanitizer. The owner (the selector) calls `deallocate()` once.
struct SlotTable<Entry: AnyObject, Record: BitwiseCopyable> {
    /// A slot: its retained entry as an opaque pointer (nil: free), its generation
    /// and its record. Not `Unmanaged<Entry>?`: Swift 6.3 crashes compiling that
    /// under Thread Sanitizer ("Invalid bitcast").
    /// The record first: its address is the cell's.
    private struct Slot {
        var record: Record
        var entry: UnsafeMutableRawPointer?
        var generation: UInt32
    }

    /// Bytes per cell: the slot rounded up to whole cache lines, cells aligned to one.
    private let cellSize: Int
    private let cells: UnsafeMutableRawPointer
    private let emptyRecord: Record
    private var free: [Int]
    let capacity: Int

    init(capacity: Int, emptyRecord: Record) {
        let lines = (MemoryLayout<Slot>.stride + Self.cacheLine - 1) / Self.cacheLine
        cellSize = lines * Self.cacheLine
        cells = .allocate(byteCount: max(capacity, 1) * cellSize, alignment: Self.cacheLine)
        self.capacity = capacity
        self.emptyRecord = emptyRecord
        for index in 0..<capacity {
            (cells + index * cellSize).initializeMemory(as: Slot.self, to: Slot(record: emptyRecord, entry: nil, generation: 0))
        }
        free = Array((0..<capacity).reversed())
    }

    private static var cacheLine: Int { 64 }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutablePointer<Slot> {
        (cells + index &* cellSize).assumingMemoryBound(to: Slot.self)
    }

    /// Gives back every entry's reference and frees the table. Once, by the owner.
    func deallocate() {
        for index in 0..<capacity { slot(index).pointee.entry.map { Unmanaged<Entry>.fromOpaque($0).release() } }
        cells.deallocate()
    }

    var freeCount: Int { free.count }

    /// Takes a free slot and returns the token it will be known by, or nil when full.
    mutating func reserve() -> EpollToken? {
        guard let index = free.popLast() else { return nil }
        return EpollToken(slot: UInt32(index), generation: slot(index).pointee.generation)
    }

    /// Returns a reserved slot that was never filled.
    mutating func unreserve(_ token: EpollToken) {
        free.append(Int(token.slot))
    }

    /// Fills a reserved slot (the table keeps a reference until `release`).
    func store(_ entry: Entry, for token: EpollToken) {
        slot(Int(token.slot)).pointee.entry = Unmanaged.passRetained(entry).toOpaque()
    }

    /// Empties a slot, drops the table's reference, resets its record and
    /// invalidates every token issued for it.
    mutating func release(_ index: Int) {
        let cell = slot(index)
        cell.pointee.entry.map { Unmanaged<Entry>.fromOpaque($0).release() }
        cell.pointee.entry = nil
        cell.pointee.record = emptyRecord
        cell.pointee.generation &+= 1
        free.append(index)
    }

    /// The entry a token names and its record, or nil if the slot was released
    /// since (stale) or is empty. The token must be one this table issued (every
    /// epoll event's data is: only the selector registers descriptors, and its wake
    /// token is told apart first), so its index is in range: checked in debug
    /// builds only, since the loop resolves one per interrupt.
    @inline(__always)
    func resolve(_ token: EpollToken) -> (entry: Unmanaged<Entry>, record: UnsafeMutablePointer<Record>)? {
        let index = Int(token.slot)
        assert(index < capacity, "epoll token \(token) names no slot of \(capacity)")
        let cell = slot(index)
        guard cell.pointee.generation == token.generation, let entry = cell.pointee.entry else { return nil }
        return (Unmanaged.fromOpaque(entry), Self.record(of: cell))
    }

    /// The record of the slot at `index` (valid until the table is deallocated; reset when the slot is released).
    func record(at index: Int) -> UnsafeMutablePointer<Record> { Self.record(of: slot(index)) }

    @inline(__always)
    private static func record(of cell: UnsafeMutablePointer<Slot>) -> UnsafeMutablePointer<Record> {
        UnsafeMutableRawPointer(cell).assumingMemoryBound(to: Record.self)
    }

    /// The token a stored entry at `index` is known by now.
    func token(at index: Int) -> EpollToken {
        EpollToken(slot: UInt32(index), generation: slot(index).pointee.generation)
    }

    /// The entry at `index` (whatever its generation), unretained.
    @inline(__always)
    subscript(index: Int) -> Unmanaged<Entry>? { slot(index).pointee.entry.map { Unmanaged.fromOpaque($0) } }
}
