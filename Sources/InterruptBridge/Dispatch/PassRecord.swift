import InterruptBridgeCore

/// What one readiness of a watched descriptor reads and writes on the interrupt
/// path, kept in the selector's slot for it (`SlotTable`): the epoll token of the
/// vector that fires leads to one cache line holding its descriptor, its line's
/// only object and DIRQL, the watchdog's word and the storm rules' counters. With thousands
/// of vectors connected the one that fires is usually out of cache, and these
/// fields in the source object cost two to three misses more per interrupt.
///
/// Filled when the descriptor is watched (`Selector.watch`, then the source's own
/// fields), reset when it is unwatched. Loop thread only.
struct PassRecord {
    var descriptor: Int32
    /// A vector's descriptor (`VectorSource`), not a device's event descriptor.
    var isInterrupt: Bool
    /// The descriptor is an eventfd counter (else a UIO interrupt total).
    var drainsEventfd = false
    /// The source has an unmask (a level-triggered line).
    var unmasks = false
    /// Its line's DIRQL (`InterruptLevel.rawValue`: a type of another module is not
    /// bitwise-copyable here), what a batch sorts by when the loop's levels differ
    /// (kept current by the line, as `sole` is).
    var level: UInt8 = InterruptLevel.passive.rawValue
    /// The line's only object while it has exactly one (an unretained
    /// `Unmanaged<InterruptObject>`; the line holds the reference and keeps this
    /// current), else nil: the line's chain is served.
    var sole: UnsafeMutableRawPointer?
    /// The stuck-ISR watchdog's word for a pass of this vector, less the pass number.
    var probeBits: UInt64 = 0
    /// Storm rules (`StormPolicy`): passes left in the current unclaimed window,
    /// unclaimed passes in it, and signals left in the current rate block (0: the
    /// block clock has not started, and the next pass starts it).
    var passesLeft: UInt64 = .max
    var unclaimedPasses: UInt64 = 0
    var signalsLeft: UInt64 = .max

    init(descriptor: Int32, isInterrupt: Bool) {
        self.descriptor = descriptor
        self.isInterrupt = isInterrupt
    }

    /// A free slot's record.
    static var empty: PassRecord { PassRecord(descriptor: -1, isInterrupt: false) }
}
