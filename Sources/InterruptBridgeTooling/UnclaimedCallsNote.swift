// A vector whose ISR declined (nearly) every call: the profile's acknowledge never claims.

public enum UnclaimedCallsNote {
    /// A note when at least 20 calls came and 99 in 100 or more were unclaimed, else nil.
    ///
    /// Under VFIO and UIO an INTx vector's ISR runs only when its own device asserted the
    /// line (the kernel's handler tests the function's Interrupt Status bit), and a message
    /// is always its device's: an ISR that declines nearly every call has an acknowledge
    /// that tests the wrong register or bit. The storm rule for unclaimed calls contains
    /// such a vector only after its window (like the kernel's 99,900 of 100,000), so a watch
    /// or a wait says so first.
    public static func note(calls: UInt64, unclaimed: UInt64) -> String? {
        guard calls >= 20, unclaimed >= calls - calls / 100 else { return nil }
        return "\(unclaimed) of \(calls) call(s) unclaimed: the acknowledge program claims none of the device's interrupts "
            + "(does it test the device's interrupt status register and bit?)"
    }
}
