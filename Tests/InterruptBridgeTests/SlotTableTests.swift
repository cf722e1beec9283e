@testable import InterruptBridge
import InterruptBridgeTestKit
import Testing

extension Runtime {
    /// The (slot, generation) tokens the dispatch loop puts in epoll data.
    @Suite("Dispatch slot table")
    struct DispatchSlotTableTests {
        @Test func aTokenOfAReleasedSlotNeverResolvesAgainEvenWhenTheSlotIsReused() {
            var table = SlotTable<Entry>(capacity: 1)
            defer { table.deallocate() }
            let old = table.reserve()!
            table.store(Entry("first descriptor"), for: old)
            #expect(table.resolve(EpollToken(data: old.data))?.takeUnretainedValue().name == "first descriptor")
            table.release(Int(old.slot))
            let new = table.reserve()!
            #expect(new.slot == old.slot, "the only slot is reused")
            table.store(Entry("reused descriptor number"), for: new)
            #expect(table.resolve(old) == nil, "a stale event must not reach the new occupant")
            #expect(table.resolve(new)?.takeUnretainedValue().name == "reused descriptor number")
            #expect(table.reserve() == nil)
        }

        @Test func theTableOwnsItsEntriesUntilReleased() {
            weak var watched: Entry?
            var table = SlotTable<Entry>(capacity: 2)
            defer { table.deallocate() }
            let token = table.reserve()!
            do {
                let entry = Entry("owned")
                watched = entry
                table.store(entry, for: token)
            }
            #expect(watched != nil, "stored entries are kept alive by the table")
            table.release(Int(token.slot))
            #expect(watched == nil, "release gives the table's reference back")
        }

        final class Entry {
            let name: String
            init(_ name: String) { self.name = name }
        }

        @Test func tokensRoundTripThroughEpollData() {
            let token = EpollToken(slot: 0xdead, generation: 0xbeef_cafe)
            #expect(EpollToken(data: token.data) == token)
            #expect(EpollToken(data: EpollToken.wake.data) == .wake)
        }
    }
}
