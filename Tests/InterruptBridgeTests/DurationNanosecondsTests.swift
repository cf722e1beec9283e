import InterruptBridgeSystem
import Testing

/// `Duration.nanoseconds` never traps: a negative duration of any size is 0.
@Suite struct DurationNanosecondsTests {
    @Test(arguments: [Duration.nanoseconds(-500), .microseconds(-1), .milliseconds(-999), .seconds(-1), .seconds(-3) + .nanoseconds(7), .zero])
    func aNegativeDurationIsZero(duration: Duration) {
        #expect(duration.nanoseconds == 0)
        #expect(duration.wholeMicroseconds == 0)
    }

    @Test func aPositiveDurationIsItsWholeNanoseconds() {
        #expect(Duration.nanoseconds(1).nanoseconds == 1)
        #expect((Duration.seconds(2) + .nanoseconds(345)).nanoseconds == 2_000_000_345)
    }

    /// What a paced raise computed a moment after its deadline: sleeping for it returns at once.
    @Test func sleepingForANegativeDurationReturns() {
        PThread.sleep(for: .nanoseconds(-500))
    }
}
