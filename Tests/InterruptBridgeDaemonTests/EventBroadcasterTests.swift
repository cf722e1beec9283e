import InterruptBridgeDaemon
import Testing

/// Who counts as an event watcher, and how a watcher that stopped reading is let go.
@Suite struct EventBroadcasterTests {
    @Test func theDaemonsOwnWatcherIsNotCountedAndAnUnwatchedStreamEnds() async {
        let events = EventBroadcaster()
        let metrics = events.watch(internal: true)
        #expect(events.watcherCount == 0, "the metrics' own watcher is not a follower")
        let follower = events.watch()
        #expect(events.watcherCount == 1)
        events.publish(DaemonEvent(kind: .reload, device: nil, message: "one"))
        // A client gone is found by a failed write, not a cancellation: unwatch ends its stream.
        events.unwatch(follower.id)
        #expect(events.watcherCount == 0)
        var received: [String] = []
        for await event in follower.stream { received.append(event.message) }
        #expect(received == ["one"], "what was sent before is still read, then the stream ends")
        events.unwatch(metrics.id)
        events.finish()
    }
}
