@testable import InterruptBridge
import Testing

extension Runtime {
    /// The (slot, generation) tokens the dispatch loop puts in epoll data.
    @Suite("Dispatch slot table")
    struct DispatchSlotTableTests {
        @Test func aTokenOfAReleasedSlotNeverResolvesAgainEvenWhenTheSlotIsReused() {
            var table = SlotTable<String>(capacity: 1)
            let old = table.reserve()!
            table.store("first descriptor", for: old)
            #expect(table.resolve(EpollToken(data: old.data)) == "first descriptor")
            table.release(Int(old.slot))
            let new = table.reserve()!
            #expect(new.slot == old.slot, "the only slot is reused")
            table.store("reused descriptor number", for: new)
            #expect(table.resolve(old) == nil, "a stale event must not reach the new occupant")
            #expect(table.resolve(new) == "reused descriptor number")
            #expect(table.reserve() == nil)
        }

        @Test func tokensRoundTripThroughEpollData() {
            let token = EpollToken(slot: 0xdead, generation: 0xbeef_cafe)
            #expect(EpollToken(data: token.data) == token)
            #expect(EpollToken(data: EpollToken.wake.data) == .wake)
        }
    }
}
