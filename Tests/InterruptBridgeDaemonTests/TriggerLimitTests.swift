@testable import InterruptBridgeDaemon
import Foundation
import Testing

/// An unpaced trigger stops at its limit (an hour; seconds here) and says so with a 409,
/// rather than raising on after the caller gave up.
@Suite("Trigger limits")
struct TriggerLimitTests {
    @Test func anUnpacedTriggerStopsAtItsLimitWithAConflictThatSaysHowManyWereRaised() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 1}\n")
        await daemon.services.registry.setUnpacedTriggerLimit(.seconds(1))
        let started = ContinuousClock.now
        let triggered = try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 1_000_000])
        let took = ContinuousClock.now - started
        #expect(triggered.status == 409, "\(triggered.text)")
        let error = triggered.json["error"] as? String ?? ""
        #expect(error.hasPrefix("quiet: the trigger stopped after "), "\(error)")
        #expect(error.contains(" of 1000000 interrupt(s), at the 1 s a trigger may take"), "\(error)")
        #expect(!error.contains("after 0 of"), "\(error)")
        #expect(took < .seconds(20), "it stopped at the limit, not at the end of the run")
        // The device is still served: a short trigger afterwards completes.
        let after = try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 3])
        #expect(after.status == 200, "\(after.text)")
        try await daemon.stop()
    }
}
