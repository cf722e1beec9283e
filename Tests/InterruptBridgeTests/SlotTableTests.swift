@testable import InterruptBridge
import InterruptBridgeTestKit
import Testing

extension Runtime {
    /// The (slot, generation) tokens the dispatch loop puts in epoll data.
    @Suite("Dispatch slot table")
    struct DispatchSlotTableTests {
        @Test func aTokenOfAReleasedSlotNeverResolvesAgainEvenWhenTheSlotIsReused() {
            var table = SlotTable<Entry, Int>(capacity: 1, emptyRecord: -1)
            defer { table.deallocate() }
            let old = table.reserve()!
            table.store(Entry("first descriptor"), for: old)
            #expect(table.resolve(EpollToken(data: old.data))?.entry.takeUnretainedValue().name == "first descriptor")
            table.release(Int(old.slot))
            let new = table.reserve()!
            #expect(new.slot == old.slot, "the only slot is reused")
            table.store(Entry("reused descriptor number"), for: new)
            #expect(table.resolve(old) == nil, "a stale event must not reach the new occupant")
            #expect(table.resolve(new)?.entry.takeUnretainedValue().name == "reused descriptor number")
            #expect(table.reserve() == nil)
        }

        @Test func theTableOwnsItsEntriesUntilReleased() {
            weak var watched: Entry?
            var table = SlotTable<Entry, Int>(capacity: 2, emptyRecord: -1)
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

        @Test func eachSlotKeepsItsOwnRecordInACacheLineOfItsOwnUntilReleased() {
            var table = SlotTable<Entry, PassRecord>(capacity: 3, emptyRecord: .empty)
            defer { table.deallocate() }
            let tokens = (0..<3).map { _ in table.reserve()! }
            for (index, token) in tokens.enumerated() {
                table.store(Entry("entry \(index)"), for: token)
                table.record(at: Int(token.slot)).pointee.probeBits = UInt64(index) + 100
            }
            for (index, token) in tokens.enumerated() {
                let resolved = table.resolve(token)
                #expect(resolved?.entry.takeUnretainedValue().name == "entry \(index)")
                #expect(resolved?.record.pointee.probeBits == UInt64(index) + 100)
                #expect(UInt(bitPattern: resolved?.record) % 64 == 0, "records start on a cache line")
            }
            let first = table.record(at: Int(tokens[0].slot))
            let second = table.record(at: Int(tokens[1].slot))
            #expect(abs(UnsafeMutableRawPointer(second) - UnsafeMutableRawPointer(first)) >= 64, "one line per slot")
            table.release(Int(tokens[1].slot))
            #expect(table.record(at: Int(tokens[1].slot)).pointee.probeBits == 0, "a released slot's record is reset")
            #expect(table.record(at: Int(tokens[2].slot)).pointee.probeBits == 102)
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
