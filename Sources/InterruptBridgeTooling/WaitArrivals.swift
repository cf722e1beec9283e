// What `irqbridge wait` counts as its device's interrupts on one vector.

public import InterruptBridgeCore

public enum WaitArrivals {
    /// The interrupts that count toward a wait's `--count`, of `calls` ISR calls on a
    /// vector of `kind`, `claimed` of them claimed by the acknowledge (the object's own
    /// count: calls less unclaimed, read apart, is off by the passes in flight, thousands
    /// on a re-signalled line).
    ///
    /// A message is always its own device's, so every call counts. An INTx line's call
    /// the acknowledge declined is not an interrupt it served: VFIO and UIO run the ISR only
    /// when the function's Interrupt Status bit is set, so such calls are the line signalled
    /// again at each unmask because the acknowledge tests the wrong bit or clears nothing
    /// (one raise then ran the ISR 20,450 times in the rig, and satisfied any wait). Only
    /// claimed calls count there, unless the raises come through VFIO's loopback
    /// (`raisedByLoopback`), which leaves nothing pending for a status-reading acknowledge
    /// to claim.
    public static func count(kind: InterruptKind, calls: UInt64, claimed: UInt64, raisedByLoopback: Bool) -> UInt64 {
        guard kind == .intx, !raisedByLoopback else { return calls }
        return min(claimed, calls)
    }
}
