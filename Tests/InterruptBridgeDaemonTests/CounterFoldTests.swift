@testable import InterruptBridgeDaemon
import Testing

/// How a metric's series folds the raw counts read at each scrape (MetricsExporter).
@Suite struct CounterFoldTests {
    /// Seen in the rig's soak (scripts/rig/soak.sh): a hot-pluggable edu pulled and added back
    /// each cycle. Its new connection's kernel count had reached the old one's last reading by
    /// the next scrape, so it was taken for no reset, and irqbridge_kernel_interrupts_total
    /// fell behind irqbridge_interrupts_total by a whole connection's count per cycle.
    @Test func aNewConnectionsKernelCountIsCountedWholeEvenWhenItIsPastTheOldOnes() {
        var fold = CounterFold()
        fold.add(50, since: 1)
        fold.add(80, since: 1)
        #expect(fold.total == 80)
        fold.add(50, since: 2)  // reconnected: 50 more, not 0
        #expect(fold.total == 130)
        fold.add(120, since: 3)  // reconnected again, past the last reading: 120 more, not 70
        #expect(fold.total == 250)
        fold.add(130, since: 3)
        #expect(fold.total == 260)
    }

    /// A counter with one start for ever (the ISR's counts, which go on across connections):
    /// it only grows, and a fall is a reset counted whole.
    @Test func aFallIsAResetAndARiseIsItsDifference() {
        var fold = CounterFold()
        for raw: UInt64 in [0, 10, 25, 25] { fold.add(raw) }
        #expect(fold.total == 25)
        fold.add(5)
        #expect(fold.total == 30)
        fold.add(7)
        #expect(fold.total == 32)
    }
}
