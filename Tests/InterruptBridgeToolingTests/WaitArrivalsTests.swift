import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// A wait on one card of a shared INTx line is not satisfied by the other card's
/// interrupts, which its acknowledge declines.
@Suite struct WaitArrivalsTests {
    @Test func anUnclaimedCallOnALineIsNotTheDevicesInterrupt() {
        // Rig: ne2k_pci 00:0c.0 raised 25, ne2k_pci 00:18.0 (same GSI) raised 10.
        #expect(WaitArrivals.count(kind: .intx, calls: 35, unclaimed: 10, raisedByLoopback: false) == 25)
        // An acknowledge testing the wrong bit: one raise, re-signalled at every unmask.
        #expect(WaitArrivals.count(kind: .intx, calls: 20_450, unclaimed: 20_448, raisedByLoopback: false) == 2)
    }

    @Test func aMessageIsAlwaysTheDevicesOwn() {
        #expect(WaitArrivals.count(kind: .msi, calls: 7, unclaimed: 7, raisedByLoopback: false) == 7)
        #expect(WaitArrivals.count(kind: .msix, calls: 7, unclaimed: 3, raisedByLoopback: false) == 7)
    }

    @Test func loopbackRaisesCountOnTheLineToo() {
        // A status-reading acknowledge declines a loopback raise: nothing is pending on the device.
        #expect(WaitArrivals.count(kind: .intx, calls: 5, unclaimed: 5, raisedByLoopback: true) == 5)
    }

    @Test func aReadingTakenMidPassNeverUnderflows() {
        #expect(WaitArrivals.count(kind: .intx, calls: 3, unclaimed: 4, raisedByLoopback: false) == 0)
    }
}
