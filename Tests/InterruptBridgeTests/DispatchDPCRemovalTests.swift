import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import Testing

extension Runtime {
    /// KeRemoveQueueDpc on the runtime DPC, KeInitializeThreadedDpc, and the queue
    /// protocol under concurrent insert / remove / drain.
    @Suite("Dispatch DPC removal")
    struct DispatchDPCRemovalTests {
        let dispatcher: InterruptDispatcher
        init() throws { dispatcher = try makeDispatcher() }

        static func pointer(_ bits: UInt) -> OpaqueContext { OpaqueContext(UnsafeMutableRawPointer(bitPattern: bits)) }

        /// "If the DPC object is currently in the DPC queue, it is removed from the queue,
        /// and KeRemoveQueueDpc returns TRUE. If the DPC object is not in the queue,
        /// KeRemoveQueueDpc returns FALSE" (wdm.h). A removed DPC does not run for that
        /// insertion, and can be queued again with new arguments.
        @Test func removingAQueuedDPCKeepsItFromRunningAndItCanBeQueuedAgain() throws {
            defer { dispatcher.shutdown() }
            let gate = Gate()
            let (blocker, blockerBackend) = try connectBlocker(dispatcher, gate: gate)
            let arguments = Recorder<UInt>()
            let dpc = DeferredProcedureCall(dispatcher: dispatcher) { _, first, _ in
                arguments.append(UInt(bitPattern: first.pointer))
            }
            #expect(dpc.remove() == nil, "never queued")
            blockerBackend.raise()
            #expect(gate.waitUntilEntered())
            #expect(dpc.enqueue(Self.pointer(1), Self.pointer(2)))
            let removed = try #require(dpc.remove(), "it was queued")
            #expect(removed.argument1 == Self.pointer(1) && removed.argument2 == Self.pointer(2), "the arguments come back")
            #expect(!dpc.isQueued)
            #expect(!dpc.dequeue(), "removed already")
            // Queued again while its removed place is still on the list: one run, the new arguments.
            #expect(dpc.enqueue(Self.pointer(3), .none))
            #expect(!dpc.enqueue(Self.pointer(4), .none), "queued once")
            gate.open()
            #expect(eventually { dpc.runCount == 1 })
            #expect(arguments.all == [3])
            #expect(!dpc.dequeue(), "it ran: nothing to remove")

            // Removed and not queued again: it never runs.
            #expect(dpc.enqueue(Self.pointer(5), .none))
            #expect(dpc.dequeue() || dpc.runCount == 2, "removed, unless the loop ran it first")
            let runs = dpc.runCount
            #expect(dpc.enqueue(Self.pointer(6), .none))
            #expect(eventually { dpc.runCount == runs + 1 })
            #expect(arguments.all.last == 6)
            dispatcher.disconnect(blocker)
        }

        /// Every successful insertion ends in exactly one run or one removal, with
        /// two threads inserting and removing while the dispatch thread drains.
        @Test func everyInsertionEndsInOneRunOrOneRemoval() async throws {
            defer { dispatcher.shutdown() }
            let dpc = DeferredProcedureCall(dispatcher: dispatcher) { _, _, _ in }
            let inserted = Counter()
            let removed = Counter()
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<2 {
                    group.addTask {
                        for round in 0..<20_000 {
                            if dpc.enqueue(Self.pointer(UInt(round + 1)), .none) { inserted.increment() }
                            if (round + worker) % 3 != 0, dpc.dequeue() { removed.increment() }
                        }
                    }
                }
            }
            #expect(eventually { !dpc.isQueued })
            // Let the drain finish the last run it may have claimed.
            #expect(eventually {
                Int(dpc.runCount) + removed.count == inserted.count
            }, "runs \(dpc.runCount) + removals \(removed.count) == insertions \(inserted.count)")
            #expect(removed.count > 0, "removals raced the drain")
            // After the storm the DPC still queues and runs (how many ran before depends on timing).
            let runs = dpc.runCount
            #expect(dpc.enqueue())
            #expect(eventually { dpc.runCount == runs + 1 })
        }

        /// KeInitializeThreadedDpc: the routine runs at PASSIVE_LEVEL, on the dispatch thread.
        @Test func aThreadedDPCRunsAtPassiveLevel() throws {
            defer { dispatcher.shutdown() }
            let levels = Recorder<InterruptLevel>()
            let onDispatchThread = Flag()
            let dpc = DeferredProcedureCall(dispatcher: dispatcher, threaded: true) { dpc, _, _ in
                levels.append(InterruptLevel.current)
                if dpc.dispatcher?.isOnDispatchThread == true { onDispatchThread.set() }
            }
            #expect(dpc.isThreaded)
            #expect(dpc.enqueue())
            #expect(eventually { dpc.runCount == 1 })
            #expect(levels.all == [.passive])
            #expect(onDispatchThread.isSet)
        }
    }
}
