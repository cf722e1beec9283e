import InterruptBridgeTooling
import Testing

/// The daemon's unquieted-line rule, window by window: only a window with no kernel
/// interrupt, at least `minimum` ISR calls and no trigger at either end or in between trips.
@Suite struct UnquietedLineCheckTests {
    typealias Sample = UnquietedLineCheck.Sample

    static func sample(_ calls: UInt64, _ kernel: UInt64, started: UInt64 = 0, running: Bool = false) -> Sample {
        Sample(calls: calls, kernel: kernel, triggersStarted: started, triggerRunning: running)
    }

    @Test func aLineTheKernelNeverSawAgainTripsOnceItRanEnough() {
        var check = UnquietedLineCheck(minimum: 1_000)
        #expect(check.judge(Self.sample(10, 1)) == nil, "no earlier check")
        #expect(check.judge(Self.sample(1_009, 1)) == nil, "999 calls: below the minimum")
        #expect(check.judge(Self.sample(2_509, 1)) == 1_500)
        #expect(check.judge(Self.sample(5_000, 2)) == nil, "the kernel took an interrupt: the line deasserted and asserted again")
        #expect(check.judge(Self.sample(9_000, 2)) == 4_000)
    }

    @Test func aWindowATriggerTouchedIsNotJudged() {
        var check = UnquietedLineCheck(minimum: 1_000)
        _ = check.judge(Self.sample(0, 0))
        #expect(check.judge(Self.sample(5_000, 0, started: 1, running: true)) == nil, "a trigger started and runs")
        #expect(check.judge(Self.sample(9_000, 0, started: 1, running: true)) == nil, "it still runs")
        #expect(check.judge(Self.sample(12_000, 0, started: 1)) == nil, "it ended in this window: its raises are in it")
        #expect(check.judge(Self.sample(14_000, 0, started: 2)) == nil, "one started and ended between two checks")
        #expect(check.judge(Self.sample(16_000, 0, started: 2)) == 2_000, "a quiet window again")
    }

    @Test func countsThatWentBackwardsAreNotJudged() {
        var check = UnquietedLineCheck(minimum: 1_000)
        _ = check.judge(Self.sample(0, 500))
        #expect(check.judge(Self.sample(5_000, 400)) == nil, "the kernel's sum dropped (a processor offline, a wrapped counter)")
        #expect(check.judge(Self.sample(7_000, 400)) == 2_000, "judged again from the new base")
        #expect(check.judge(Self.sample(3, 400)) == nil, "calls from a new connection")
        check.reset()
        #expect(check.judge(Self.sample(5_000, 400)) == nil, "reset: no earlier check")
    }
}
