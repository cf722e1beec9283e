@testable import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Runtime {
    /// What other threads may still do to a loop that has ended: wake it, post to it.
    @Suite("Dispatch loop: after its end")
    struct DispatchLoopEndTests {
        static func makeLoop(_ name: String) throws -> DispatchLoop {
            try DispatchLoop(name: name, options: DispatchOptions(stuckISRThreshold: nil), logger: .silent(), isPassive: false,
                             events: EventHub(), deferredCalls: DeferredCallQueueFactory())
        }

        /// A wake that comes after stop() (a post racing it, a DPC queued off the loop) writes
        /// nothing: the wake descriptor's number may already be another file's.
        @Test func aWakeAfterTheStopWritesToNoDescriptor() throws {
            let loop = try Self.makeLoop("ended")
            try loop.start()
            let numbers = [loop.selector.wakeDescriptor, loop.selector.epollDescriptor]
            loop.stop()
            // The lowest free numbers go to the next descriptors opened: most often the selector's.
            let first = try EventFD.open(name: "reuse 1"), second = try EventFD.open(name: "reuse 2")
            defer {
                first.close()
                second.close()
            }
            let reused = [first, second].filter { numbers.contains($0.rawValue) }
            loop.selector.wake()
            #expect(!loop.post(.heartbeat), "a stopped loop takes no command")
            for descriptor in reused {
                #expect(try EventFD.read(descriptor.rawValue) == nil, "the wake wrote to descriptor \(descriptor.rawValue), now another file")
            }
        }

        /// A loop whose thread ended on its own (epoll failed) refuses later commands; their
        /// posters used to wait for ever for an answer no thread would give.
        @Test func aLoopThatEndedOnItsOwnRefusesLaterCommands() throws {
            let loop = try Self.makeLoop("failing")
            try loop.start()
            // An eventfd in place of the epoll descriptor: the loop's next epoll_wait fails (EINVAL).
            let stand = try EventFD.open(name: "not an epoll")
            defer { stand.close() }
            #expect(dup2(stand.rawValue, loop.selector.epollDescriptor) == loop.selector.epollDescriptor)
            // The post wakes the loop, and its next wait fails. Not asserted as taken: a loop that
            // woke by itself in between (a timer, a slow run under a sanitizer) may have ended already.
            _ = loop.post(.heartbeat)
            let deadline = ContinuousClock.now + .seconds(10)
            var refused = false
            while !refused, ContinuousClock.now < deadline {
                refused = !loop.post(.heartbeat)
                if !refused { PThread.sleep(for: .milliseconds(5)) }
            }
            #expect(refused, "posts after the loop's thread ended were taken, and would never be answered")
            loop.stop()
            #expect(loop.selector.openDescriptorCount == 0)
        }
    }
}
