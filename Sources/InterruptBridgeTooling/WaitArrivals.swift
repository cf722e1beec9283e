// What `irqbridge wait` counts as its device's interrupts on one vector.

public import InterruptBridgeCore

public enum WaitArrivals {
    /// The interrupts that count toward a wait's `--count`, of `calls` ISR calls on a
    /// vector of `kind`, `unclaimed` of them declined by the acknowledge.
    ///
    /// A message is always its own device's, so every call counts. An INTx line's call
    /// the acknowledge declined is not the device's: another card's interrupt on a shared
    /// line (the rig's two ne2k_pci on GSI 20: a wait on one was satisfied by the other's
    /// raises), or a re-signal of one the acknowledge tests the wrong bit of. Only claimed
    /// calls count there, unless the raises come through VFIO's loopback
    /// (`raisedByLoopback`), which leaves nothing pending for a status-reading acknowledge
    /// to claim.
    public static func count(kind: InterruptKind, calls: UInt64, unclaimed: UInt64, raisedByLoopback: Bool) -> UInt64 {
        guard kind == .intx, !raisedByLoopback else { return calls }
        return calls - min(calls, unclaimed)
    }
}
