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

    /// An unpaced trigger waits for each raise's ISR, which a vector contained as storming
    /// does not run: it stops at once with a 409 that says why, not a second per raise.
    /// Held until the explicit rearm (`rearm-after-ms: never`): the default second's re-arm
    /// can come first on a loaded machine, and the unpaced trigger is then served.
    @Test func anUnpacedTriggerOnAContainedVectorStopsAtOnceAndSaysWhy() async throws {
        let daemon = try await DaemonHarness("settings: {storm: {rate-limit: 20, rate-window-ms: 100, rearm-after-ms: never}}\n"
                                             + "simulated:\n  loud: {interrupts: msi, vectors: 1}\n")
        // Paced, it raises into the containment (how a storm is watched holding).
        let storm = try await daemon.call("POST", "/v1/devices/loud/trigger", ["count": 400, "rate": 2000])
        #expect(storm.status == 200, "\(storm.text)")
        let contained = try await daemon.call("GET", "/v1/devices/loud")
        #expect(contained.text.contains("contained") || contained.text.contains("storm"), "\(contained.text)")
        let started = ContinuousClock.now
        let unpaced = try await daemon.call("POST", "/v1/devices/loud/trigger", ["count": 30])
        let took = ContinuousClock.now - started
        #expect(unpaced.status == 409, "\(unpaced.text)")
        let error = unpaced.json["error"] as? String ?? ""
        #expect(error.hasPrefix("loud: vector 0 was contained as storming after "), "\(error)")
        #expect(error.contains("POST /v1/devices/loud/rearm re-arms it"), "\(error)")
        #expect(took < .seconds(10), "stopped at once, not after a second per raise: \(took)")
        // Re-armed, an unpaced trigger is served again.
        #expect(try await daemon.call("POST", "/v1/devices/loud/rearm", [:]).status == 200)
        let after = try await daemon.call("POST", "/v1/devices/loud/trigger", ["count": 3])
        #expect(after.status == 200, "\(after.text)")
        try await daemon.stop()
    }
}
