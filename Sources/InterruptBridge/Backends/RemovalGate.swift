// Orders a device's own raises against its release after the kernel's removal request,
// so the device is quiesced while its registers still reach it, and raised no more after.
import InterruptBridgeSystem

/// What stands between a device's raises and its release after a removal request.
///
/// Why it exists: a removal request disables the device's messages first (the loop
/// disconnects its vectors) and closes the device after. A raise that reaches a card such as
/// QEMU's edu in between (a `trigger` run's, in flight) asserts its INTx line instead. On a
/// removal vfio-pci cannot reset the card as it closes it (the kernel's remove path holds
/// the device lock, so `vfio_pci_core_disable`'s try-lock reset is skipped) and it restores
/// a Command register with Interrupt Disable clear: the line stays asserted, with no handler,
/// until the card is gone. In the rig that was 10,002 unhandled interrupts on the line of a
/// card under test sharing it (`scripts/rig/intx-flood.sh`); the kernel turns a line off for
/// good at 99,900 of 100,000 ("nobody cared"). Quiescing the card once it is closed does
/// nothing: its register mappings read zeroes by then.
///
/// Acknowledging it then comes too late as well: the line storms from the raise on, and the
/// storm starves the acknowledging thread (QEMU's IOAPIC re-delivers a level interrupt 10,000
/// times before it slows down: an edu raised and at once acknowledged after its MSI was
/// disabled still cost 10,000 unhandled interrupts in the rig).
///
/// So a raise of the device's own stimulus passes the gate (`pass`), and the dispatch loop
/// closes the gate (`close`) on a removal request before it disables the device's messages:
/// that waits for a raise in flight (which lands while the messages still deliver), refuses
/// any later one, and runs the owner's quiesce (`onRelease`) while the registers still reach
/// the device. The backend's release closes it too (for a release with no request read).
///
/// The quiesce runs on the thread that closes the gate, usually the dispatch loop's, with
/// the gate held: it must be short and must not block, call the dispatcher (a disconnect, a
/// synchronize) or raise through this gate. A profile's quiesce (a few register accesses) is
/// what it is for.
public final class RemovalGate: @unchecked Sendable {
    // Safe: `closed` and `quiesce` are read and written only with `mutex` held; a raise and
    // the quiesce run with it held too, which is what orders a raise before or after the
    // release, and makes a second `close` return only once the quiesce is done.
    private let mutex = BlockingMutex()
    private var closed = false
    private var quiesce: (@Sendable () -> Void)?
    /// The backend's own step, run at the close before the owner's quiesce (UIO: mask the line).
    private let masking: (@Sendable () -> Void)?
    /// Asked before each raise: true when the device is known to be going (UIO: its node
    /// reports an error), which closes the gate then and there instead of raising.
    private let isGoing: (@Sendable () -> Bool)?

    /// `masking`: what the backend itself does to the device at the close, before the owner's
    /// quiesce, under the same rules (short, no blocking, no dispatcher call). `isGoing`: a
    /// check of the backend's own, without blocking, that the device is being removed, asked
    /// before each raise; when it says so, the raise closes the gate (on its own thread) and
    /// does not run, rather than waiting for the dispatch loop to read the news.
    public init(masking: (@Sendable () -> Void)? = nil, isGoing: (@Sendable () -> Bool)? = nil) {
        self.masking = masking
        self.isGoing = isGoing
    }

    /// Whether the device is being released (no raise passes any more).
    public var isClosed: Bool {
        mutex.lock()
        defer { mutex.unlock() }
        return closed
    }

    /// What quiets the device (a profile's quiesce: acknowledge whatever is pending), run
    /// once at the release, before the device is closed. Replaces an earlier one; nil: none
    /// (what a session that lets the device go sets, so the gate keeps nothing of it).
    public func onRelease(quiesce: (@Sendable () -> Void)?) {
        mutex.lock()
        defer { mutex.unlock() }
        self.quiesce = quiesce
    }

    /// Runs `raise` unless the device is being released: false then, and `raise` did not run.
    /// The release waits for a raise that passed.
    public func pass(_ raise: () throws -> Void) rethrows -> Bool {
        mutex.lock()
        defer { mutex.unlock() }
        guard !closed else { return false }
        if let isGoing, isGoing() {
            closeLocked()
            return false
        }
        try raise()
        return true
    }

    /// Closes the gate (after a raise in flight) and runs the quiesce, once; a later call
    /// returns once it has run. The dispatch loop calls it when it reads a removal request,
    /// before it disables the device's messages; the backend again before it gives the
    /// device back.
    public func close() {
        mutex.lock()
        defer { mutex.unlock() }
        closeLocked()
    }

    /// `close` with `mutex` held.
    private func closeLocked() {
        guard !closed else { return }
        closed = true
        let quiesce = self.quiesce
        self.quiesce = nil
        masking?()
        quiesce?()
    }
}
