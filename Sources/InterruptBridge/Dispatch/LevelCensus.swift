import InterruptBridgeCore

/// How many watched sources run at each DIRQL, kept as lines gain and lose sources and
/// change level, so whether they all share one level (the loop then serves a batch in
/// arrival order) is answered without walking every source. The walk ran once per command
/// batch that changed the table: connecting d devices was O(d x vectors), 60 million
/// instructions for 256 devices of 64. Loop thread only (the command path).
final class LevelCensus {
    private var sourcesAtLevel: [InterruptLevel: Int] = [:]

    /// Whether every counted source has the same level (true for none).
    var isUniform: Bool { sourcesAtLevel.count <= 1 }

    func add(_ count: Int, at level: InterruptLevel) {
        guard count > 0 else { return }
        sourcesAtLevel[level, default: 0] += count
    }

    func remove(_ count: Int, at level: InterruptLevel) {
        guard count > 0 else { return }
        let left = (sourcesAtLevel[level] ?? 0) - count
        // A miscount would only change the order a batch is served in: checked in debug
        // builds (the tests), never a reason to stop a running loop.
        assert(left >= 0, "LevelCensus: \(count) source(s) removed at \(level), fewer were counted")
        sourcesAtLevel[level] = left > 0 ? left : nil
    }

    /// `count` sources went from `old` to `new`.
    func move(_ count: Int, from old: InterruptLevel, to new: InterruptLevel) {
        guard old != new else { return }
        remove(count, at: old)
        add(count, at: new)
    }
}
