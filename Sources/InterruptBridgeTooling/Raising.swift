// Raising a device's interrupts for `trigger` (and for a trigger request a holder
// serves): K raises on one vector or every vector in turn, paced by a rate or by
// each interrupt having been served.
public import InterruptBridge
import InterruptBridgeSystem

public enum Raising {
    /// The rates a paced run takes, per second: from one raise in 1,000 seconds (slower
    /// is a script's loop, not a pace) to a million per second.
    public static let rates: ClosedRange<Double> = 0.001...1_000_000

    /// Raises `count` interrupts. Without a rate, each raise waits (up to one second)
    /// for its vector's ISR to have claimed it (not merely run: a device that signals a
    /// raise twice, as the rig's e1000e does, must not let the next raise go out while
    /// the cause is still pending; a loopback raise leaves nothing pending at the device,
    /// so for it the ISR having run is enough), so no two raises merge into one
    /// interrupt, and for a line also for the unmask (`unmaskCount`): raised while
    /// masked, the kernel delivers it at unmask time without its IRQ handler, and
    /// /proc/interrupts misses it. `shouldStop` is asked before each raise and while
    /// a paced run sleeps. Returns how many were raised; throws the stimulus's error as a
    /// `RaisingFailure`, with how many had been raised, and, unpaced, `RaisingContained`
    /// once the vector to raise on is contained as storming (a paced run raises into it:
    /// how a storm's containment is watched holding).
    public static func run(vector chosen: Int?, count: Int, rate: Double?, stimulus: SelftestStimulus, objects: [InterruptObject],
                           unmaskCount: (() -> UInt64)?, shouldStop: () -> Bool = { false }) throws -> Int {
        let unmaskCount = objects.first?.kind == .intx ? unmaskCount : nil
        let vectors = max(1, min(objects.count, stimulus.vectors ?? objects.count))
        let raiser = try stimulus.prepared()  // for this run only: a loopback holds the device open
        // What shows a raise served: a device's raise, its claim; a loopback raise, which leaves
        // the device with nothing pending (a profile's acknowledge may call it unclaimed), the call.
        let served: (InterruptObject) -> UInt64 = stimulus.isLoopback ? { $0.serviceCallCount } : { $0.claimedCount }
        let start = ContinuousClock.now
        // Disconnected under the run (a removal, an unbind): a raise that landed after the
        // messages were disabled asserts the device's INTx line with no handler, perhaps a line
        // shared with a card under test, which the kernel then calls for without end and may
        // disable ("nobody cared"). Quiesced here, at once, not when the owner lets it go.
        func disconnectedUnderIt(_ raised: Int) -> Bool {
            guard raised > 0, !objects.contains(where: \.isConnected) else { return false }
            stimulus.quiesce()
            return true
        }
        for index in 0..<count {
            if disconnectedUnderIt(index) || shouldStop() { return index }
            let vector = chosen ?? index % vectors
            let object = objects[min(vector, objects.count - 1)]
            // Unpaced, each raise waits for its ISR, which a contained vector does not run until
            // re-armed: a second per raise for nothing (an hour for 3,600) without this stop.
            if rate == nil, object.isContained { throw RaisingContained(raised: index, vector: vector) }
            let before = served(object)
            let unmasksBefore = unmaskCount?()
            object.markStimulus()  // the dispatch loop times the raise to its ISR (watch: stimulus-to-ISR)
            do { try raiser.raise(vector) } catch { throw RaisingFailure(raised: index, underlying: error) }
            if let rate = rate {
                // Paced: sleep until the next is due, in slices short enough to stop on time.
                let due = start + .nanoseconds(Int64(min(Double(index + 1) / rate, 1e9) * 1e9))
                while case let remaining = due - ContinuousClock.now, remaining > .zero {
                    if disconnectedUnderIt(index + 1) || shouldStop() { return index + 1 }
                    PThread.sleep(for: min(remaining, .milliseconds(50)))
                }
            } else {
                let deadline = ContinuousClock.now + .seconds(1)
                while served(object) == before, ContinuousClock.now < deadline, object.isConnected, !object.isContained { PThread.yieldProcessor() }
                if let unmaskCount, let unmasksBefore {
                    while unmaskCount() == unmasksBefore, ContinuousClock.now < deadline, object.isConnected { PThread.yieldProcessor() }
                }
            }
        }
        _ = disconnectedUnderIt(count)
        return count
    }

    /// After a raise failed: whether the device's vectors were disconnected within
    /// `patience` (`disconnected` asked every 10 ms). A card pulled mid-run fails its raise
    /// (VFIO answers EINVAL once the kernel has torn its vectors down) a moment before its
    /// removal reaches the dispatcher: a removal, not a failure of the stimulus.
    public static func failedForRemoval(_ disconnected: () -> Bool, patience: Duration = .seconds(2)) -> Bool {
        let deadline = ContinuousClock.now + patience
        while !disconnected() {
            guard ContinuousClock.now < deadline else { return false }
            PThread.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Why a run's figures are a failure (nil: they are not). `kernel`: the interrupts the
    /// kernel took on the vectors meanwhile (nil for a loopback raise, which it never sees).
    ///
    /// Unpaced, each raise waits until it was served, so every one must reach the ISR, and
    /// the profile's acknowledge must claim each once (a device may signal a vector twice for
    /// one raise: the rig's e1000e does; the kernel counts both, the eventfd folds them).
    /// Paced (`--rate`), raises may come faster than the ISR is served, and then fold as they
    /// do on hardware: a level line stays asserted until acknowledged, and messages to one
    /// vector fold at the interrupt controller while one is pending, then in its eventfd. So
    /// the calls may be fewer, but every message the kernel took (every loopback raise, which
    /// goes to the eventfd directly) must have signalled the dispatch loop. A line's kernel
    /// count is not compared: a neighbour on a shared line moves it.
    public static func failure(count: UInt64, served: UInt64, claimed: UInt64, signals: UInt64, kernel: UInt64?,
                               paced: Bool, messages: Bool, claimsExpected: Bool) -> String? {
        if served == 0 { return "no interrupt reached the ISR (\(count) raised)" }
        if paced {
            if messages, let kernel, signals < kernel { return "the kernel took \(kernel) message(s), only \(signals) signalled the dispatch loop" }
            if messages, kernel == nil, signals < count { return "\(count - signals) of \(count) raised message(s) never signalled the dispatch loop" }
            if claimsExpected, claimed == 0 { return "the profile's acknowledge claimed none of \(served) call(s)" }
            return nil
        }
        if served < count { return "\(count - served) of \(count) interrupt(s) did not reach the ISR" }
        if claimsExpected, claimed != count { return "the profile's acknowledge claimed \(claimed) of \(count) raise(s)" }
        return nil
    }
}

/// An unpaced run stopped because the vector it was to raise on is contained as storming.
public struct RaisingContained: Error, CustomStringConvertible {
    public let raised: Int
    public let vector: Int
    public var description: String {
        "vector \(vector) was contained as storming after \(raised) interrupt(s) were raised: an unpaced trigger waits for "
            + "each one's ISR, which a contained vector does not run until re-armed"
    }
}

/// A raise the stimulus refused, after `raised` had gone out. Described as the stimulus's
/// error.
public struct RaisingFailure: Error, CustomStringConvertible {
    public let raised: Int
    public let underlying: any Error
    public var description: String { "\(underlying)" }
}
