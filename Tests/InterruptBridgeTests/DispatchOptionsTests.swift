@testable import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

extension Runtime {
    /// Pinning, SCHED_FIFO and busy polling of the dispatch thread.
    @Suite("Dispatch options")
    struct DispatchOptionsTests {
        func threadFacts(_ options: DispatchOptions, affinity: ProcessorAffinity = .first(2)) throws
            -> (mask: UInt64, policy: Int32, processor: Int32) {
            let dispatcher = try makeDispatcher(options)
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1), policy: InterruptPolicy(affinityOverride: affinity))
            let facts = Recorder<(UInt64, Int32, Int32)>()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                let mask = (try? PThread.affinity(PThread.current)) ?? 0
                let policy = (try? PThread.schedulingPolicy(PThread.current).policy) ?? -1
                facts.append((mask, policy, PThread.currentProcessor))
                return true
            })
            backend.raise()
            #expect(eventually { facts.all.count == 1 })
            dispatcher.disconnect(connection)
            guard let first = facts.all.first else { throw ConnectionError.noInterrupts }
            return first
        }

        @Test func explicitPinningConfinesTheDispatchThread() throws {
            let facts = try threadFacts(DispatchOptions(pinning: .processors(ProcessorAffinity(rawValue: 0b1))))
            #expect(facts.mask == 0b1)
            #expect(facts.processor == 0)
        }

        @Test func interruptAffinityPinningFollowsTheConnectedInterrupts() throws {
            guard PThread.onlineProcessorCount >= 2 else { return }
            let facts = try threadFacts(DispatchOptions(pinning: .interruptAffinity), affinity: ProcessorAffinity(rawValue: 0b10))
            #expect(facts.mask == 0b10)
            #expect(facts.processor == 1)
        }

        @Test func realtimePriorityIsAppliedOrRefusedWithAClearError() throws {
            do {
                let facts = try threadFacts(DispatchOptions(realtimePriority: 10))
                #expect(facts.policy == 1, "SCHED_FIFO")
            } catch let error as DispatchError {
                guard case .realtimeRefused(priority: 10, _) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(error.description.contains("CAP_SYS_NICE"))
            }
        }

        @Test func outOfRangeOptionsAreRejected() {
            #expect(throws: DispatchError.self) { try makeDispatcher(DispatchOptions(realtimePriority: 100)) }
            #expect(throws: DispatchError.self) { try makeDispatcher(DispatchOptions(capacity: 0)) }
            #expect(throws: DispatchError.self) { try makeDispatcher(DispatchOptions(capacity: Int(Int32.max))) }
        }

        @Test func refusedPinningFailsCleanlyAndLeaksNothing() throws {
            let process = try ProcessDescriptorCount()
            // The refusal comes from the loop's start, which must close its selector on the way out.
            let refused = DispatchOptions(pinning: .processors(ProcessorAffinity(rawValue: 1 << 63)))
            let loop = try DispatchLoop(name: "refused", options: refused, logger: .silent(), isPassive: false, events: EventHub(),
                                        deferredCalls: DeferredCallQueueFactory())
            #expect(loop.selector.openDescriptorCount == 2, "its epoll and wake eventfd")
            #expect(throws: DispatchError.self) { try loop.start() }
            #expect(loop.selector.openDescriptorCount == 0, "the epoll and wake descriptors were closed")
            for _ in 0..<20 {
                do {
                    _ = try makeDispatcher(DispatchOptions(pinning: .processors(ProcessorAffinity(rawValue: 1 << 63))))
                    Issue.record("pinning to a processor that does not exist must fail")
                } catch {
                    guard let dispatchError = error as? DispatchError, case .pinningRefused = dispatchError else {
                        Issue.record("unexpected \(error)")
                        continue
                    }
                    #expect(dispatchError.description.contains("cannot pin the dispatch thread"))
                }
            }
            process.expectNoneLeaked()
        }

        @Test func busyPollingDeliversInterrupts() throws {
            let dispatcher = try makeDispatcher(DispatchOptions(busyPoll: true))
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                calls.increment()
                return true
            })
            for expected in 1...100 {
                backend.raise()
                #expect(eventually { calls.count == expected })
            }
            dispatcher.disconnect(connection)
        }

        @Test func aFullLoopRefusesWithInsufficientResources() throws {
            let dispatcher = try makeDispatcher(DispatchOptions(capacity: 2))
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 3))
            #expect(throws: ConnectionError.self) {
                try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            }
            #expect(backend.enabledKind == nil, "a refused connect disables what it enabled")
            #expect(dispatcher.connectedInterrupts.isEmpty)
        }
    }
}
