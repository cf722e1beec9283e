import InterruptBridgeSystem

/// Polls `condition` until it holds or `seconds` pass, yielding the processor
/// between polls. A liveness bound for tests on threads, not a timing assertion:
/// prefer a manually stepped dispatcher where the test can step instead.
public func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        PThread.yieldProcessor()
    }
    return condition()
}

/// `eventually` under the name the rig's integration tests use.
public func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
    eventually(seconds, condition)
}
