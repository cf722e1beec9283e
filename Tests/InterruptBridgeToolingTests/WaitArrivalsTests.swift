import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// A wait on an INTx line counts the calls its acknowledge claimed: the ones it declined
/// are the line signalled again, not interrupts it served.
@Suite struct WaitArrivalsTests {
    @Test func anUnclaimedCallOnALineIsNotTheDevicesInterrupt() {
        #expect(WaitArrivals.count(kind: .intx, calls: 35, claimed: 25, raisedByLoopback: false) == 25)
        // An acknowledge testing the wrong bit: one raise, re-signalled at every unmask, none claimed.
        #expect(WaitArrivals.count(kind: .intx, calls: 20_450, claimed: 0, raisedByLoopback: false) == 0)
    }

    @Test func aMessageIsAlwaysTheDevicesOwn() {
        #expect(WaitArrivals.count(kind: .msi, calls: 7, claimed: 0, raisedByLoopback: false) == 7)
        #expect(WaitArrivals.count(kind: .msix, calls: 7, claimed: 4, raisedByLoopback: false) == 7)
    }

    @Test func loopbackRaisesCountOnTheLineToo() {
        // A status-reading acknowledge declines a loopback raise: nothing is pending on the device.
        #expect(WaitArrivals.count(kind: .intx, calls: 5, claimed: 0, raisedByLoopback: true) == 5)
    }

    @Test func claimsReadAfterTheCallsNeverExceedThem() {
        #expect(WaitArrivals.count(kind: .intx, calls: 3, claimed: 4, raisedByLoopback: false) == 3)
    }
}
