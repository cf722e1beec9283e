import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Runtime {
    /// `disconnect` and `deactivate` called holding a passive-level object's lock (inside
    /// `synchronize`, or between `acquire` and `release`): the thread is at PASSIVE_LEVEL,
    /// but the passive dispatch thread may be waiting for that lock to call the pending
    /// ISR, so waiting for the loop would wait forever. Each child process is stopped by
    /// its alarm if it hangs.
    @Suite("Dispatch: disconnect and deactivate holding a passive interrupt lock")
    struct DispatchPassiveLockHeldTests {
        /// A passive-level object on a one-message device, counting its calls.
        static func connectPassive(_ dispatcher: InterruptDispatcher, _ device: InterruptDevice, _ calls: Counter) throws -> InterruptObject {
            try dispatcher.connectFullySpecified(
                device: device, vector: device.vectors[0].vector, irql: .passive, synchronizeIrql: .passive, mode: .latched,
                shareVector: false, affinity: .first(2), routine: { _ in
                    calls.increment()
                    return true
                })
        }

        @Test func aDisconnectInsideSynchronizeOnAPendingPassiveObjectReturns() async {
            await #expect(processExitsWith: .success) {
                alarm(20)
                let dispatcher = try makeDispatcher()
                let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
                let calls = Counter()
                let object = try Self.connectPassive(dispatcher, device, calls)
                object.synchronize {
                    backend.raise()
                    usleep(50_000)  // the passive thread reaches the interrupt and waits for its lock
                    dispatcher.disconnect(object)
                }
                guard !object.isConnected else { exit(3) }
                guard eventually(10, { dispatcher.connectedInterrupts.isEmpty }) else { exit(4) }
                // The loop had begun that call (it waited for the lock): it may finish, but no other.
                backend.raise()
                guard !eventually(0.3, { calls.count > 1 }) else { exit(5) }
                dispatcher.shutdown()
                exit(0)
            }
        }

        @Test func aDeactivateBetweenAcquireAndReleaseOfAPendingPassiveObjectReturns() async {
            await #expect(processExitsWith: .success) {
                alarm(20)
                let dispatcher = try makeDispatcher()
                let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
                let calls = Counter()
                let object = try Self.connectPassive(dispatcher, device, calls)
                let previous = object.acquire()
                backend.raise()
                usleep(50_000)  // the passive thread reaches the interrupt and waits for its lock
                dispatcher.deactivate(object)
                object.release(previous)
                // Applied after the batch whose call the loop had begun (waiting for the lock):
                // once inactive, that call has finished, so the count is taken then.
                guard eventually(10, { !object.isActive }) else { exit(4) }
                let served = calls.count
                guard served <= 1 else { exit(3) }
                backend.raise()
                guard !eventually(0.3, { calls.count > served }) else { exit(5) }  // inactive
                dispatcher.activate(object)
                guard eventually(10, { calls.count == served + 1 }) else { exit(6) }
                dispatcher.disconnect(object)
                dispatcher.shutdown()
                exit(0)
            }
        }

        /// The count of passive locks held follows nesting and is per thread: a lock held by
        /// another thread does not make this one's disconnect skip its wait.
        @Test func aPassiveLockHeldByAnotherThreadStillLetsADisconnectWait() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(SimulatedDevice(msixCount: 1))
            let (otherDevice, _) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1))
            let calls = Counter()
            let object = try Self.connectPassive(dispatcher, device, calls)
            let other = try Self.connectPassive(dispatcher, otherDevice, calls)
            #expect(!InterruptDispatcher.isHoldingPassiveInterruptLock)
            object.synchronize {
                other.synchronize { #expect(InterruptDispatcher.isHoldingPassiveInterruptLock) }
                #expect(InterruptDispatcher.isHoldingPassiveInterruptLock, "still one held")
            }
            #expect(!InterruptDispatcher.isHoldingPassiveInterruptLock)
            let holder = OneShotSignal(), release = OneShotSignal()
            let thread = try PThread.spawn(name: "holder") {
                other.synchronize {
                    holder.signal()
                    release.wait()
                }
            }
            holder.wait()
            #expect(!InterruptDispatcher.isHoldingPassiveInterruptLock)
            dispatcher.disconnect(object)
            #expect(dispatcher.connectedInterrupts.count == 1, "waited for the loop to detach it")
            release.signal()
            try PThread.join(thread)
            dispatcher.disconnect(other)
        }
    }
}
