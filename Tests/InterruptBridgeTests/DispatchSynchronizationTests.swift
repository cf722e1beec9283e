import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Runtime {
    /// KeSynchronizeExecution, the interrupt spin lock, passive-level ISRs.
    @Suite("Dispatch synchronization")
    struct DispatchSynchronizationTests {
        let dispatcher: InterruptDispatcher
        init() throws { dispatcher = try makeDispatcher() }

        @Test func spinLockExcludesConcurrentHolders() throws {
            let lock = InterruptSpinLock()
            let inside = Counter()
            let violations = Counter()
            let done = Counter()
            var threads: [PThread.Handle] = []
            for index in 0..<4 {
                threads.append(try PThread.spawn(name: "spin-\(index)") {
                    for _ in 0..<20_000 {
                        lock.withLock {
                            if inside.increment() != 1 { violations.increment() }
                            inside.decrement()
                        }
                    }
                    done.increment()
                })
            }
            for thread in threads { try PThread.join(thread) }
            #expect(done.count == 4)
            #expect(violations.count == 0)
            #expect(!lock.isLocked)
        }

        @Test func synchronizeExcludesTheISRAndReturnsTheRoutinesValue() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let inSynchronize = Flag()
            let overlaps = Counter()
            let levels = Recorder<InterruptLevel>()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { interrupt, _ in
                if inSynchronize.isSet { overlaps.increment() }
                if levels.all.isEmpty { levels.append(InterruptLevel.current) }
                return true
            })
            let object = connection.interruptObjects[0]
            let raiser = Flag(true)
            let raiserThread = try PThread.spawn(name: "raiser") {
                while raiser.isSet {
                    backend.raise()
                    PThread.yieldProcessor()  // a pthread mutex is not fair: let the loop take the backend lock
                }
            }
            #expect(eventually { object.serviceCallCount > 10 })
            for round in 0..<200 {
                let value = object.synchronize { () -> Int in
                    inSynchronize.set()
                    #expect(InterruptLevel.current == object.synchronizeIrql)
                    let callsBefore = object.serviceCallCount
                    for _ in 0..<200 { PThread.yieldProcessor() }
                    #expect(object.serviceCallCount == callsBefore, "the ISR ran while synchronize held its lock")
                    inSynchronize.set(false)
                    return round * 7
                }
                #expect(value == round * 7)
            }
            #expect(InterruptLevel.current == .passive)
            #expect(overlaps.count == 0)
            #expect(levels.all == [object.synchronizeIrql], "ISRs run at their SynchronizeIrql")
            raiser.set(false)
            try PThread.join(raiserThread)
            dispatcher.disconnect(connection)
        }

        @Test func acquireAndReleaseBracketTheISR() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let object = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                calls.increment()
                return true
            }).interruptObjects[0]
            let previous = object.acquire()
            #expect(previous == .passive)
            #expect(object.spinLock?.isLocked == true)
            backend.raise()
            for _ in 0..<2000 { PThread.yieldProcessor() }
            #expect(calls.count == 0, "the ISR must wait for the lock")
            object.release(previous)
            #expect(eventually { calls.count == 1 })
            dispatcher.disconnect(object)
        }

        @Test func aCallerSuppliedSpinLockSerialisesISRsOfDifferentDevices() throws {
            defer { dispatcher.shutdown() }
            let shared = InterruptSpinLock()
            let (first, firstBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 1, device: 0, function: 0), msixCount: 1))
            let (second, _) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1))
            let a = try dispatcher.connectMessageBased(device: first, messageRoutine: { _, _ in true }, spinLock: shared)
            let b = try dispatcher.connectMessageBased(device: second, messageRoutine: { _, _ in true }, spinLock: shared)
            #expect(a.interruptObjects[0].spinLock === shared && b.interruptObjects[0].spinLock === shared)
            // Holding b's lock holds off a's ISR: they share one lock.
            let previous = b.interruptObjects[0].acquire()
            firstBackend.raise()
            for _ in 0..<2000 { PThread.yieldProcessor() }
            #expect(a.interruptObjects[0].serviceCallCount == 0)
            b.interruptObjects[0].release(previous)
            #expect(eventually { a.interruptObjects[0].serviceCallCount == 1 })
            dispatcher.disconnect(a)
            dispatcher.disconnect(b)
        }

        @Test func passiveLevelISRsRunOnTheirOwnThreadAndMayBlock() throws {
            defer { dispatcher.shutdown() }
            let (slow, slowBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 1, device: 0, function: 0), msixCount: 1))
            let (fast, fastBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1))
            let release = OneShotSignal()
            let passiveEntered = Flag()
            let passiveThread = Counter()
            let passiveLevel = Recorder<InterruptLevel>()
            let passive = try dispatcher.connectFullySpecified(
                device: slow, vector: slow.vectors[0].vector, irql: .passive, synchronizeIrql: .passive, mode: .latched,
                shareVector: false, affinity: .first(2), routine: { _ in
                    passiveThread.increment()
                    passiveLevel.append(InterruptLevel.current)
                    passiveEntered.set()
                    release.wait()  // blocks: allowed at passive level
                    return true
                })
            #expect(passive.isPassiveLevel && passive.spinLock == nil)
            let fastCalls = Counter()
            let device = try dispatcher.connectMessageBased(device: fast, messageRoutine: { _, _ in
                fastCalls.increment()
                return true
            })
            slowBackend.raise()
            #expect(passiveEntered.isSet || eventually { passiveEntered.isSet })
            // While the passive ISR is blocked, device-level interrupts are still served.
            fastBackend.raise()
            #expect(eventually { fastCalls.count == 1 })
            // synchronize on a passive object waits on its mutex, not a spin lock.
            release.signal()
            let value = passive.synchronize { 42 }
            #expect(value == 42)
            #expect(passiveLevel.all == [.passive])
            dispatcher.disconnect(passive)
            dispatcher.disconnect(device)
        }

        @Test func passiveAndDeviceLevelISRsCannotShareAVector() throws {
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let passive = try dispatcher.connectFullySpecified(
                device: device, vector: 11, irql: .passive, synchronizeIrql: .passive, mode: .levelSensitive, shareVector: true,
                affinity: .first(1), routine: { _ in true })
            #expect(throws: ConnectionError.self) {
                try dispatcher.connectFullySpecified(device: device, vector: 11, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                     mode: .levelSensitive, shareVector: true, affinity: .first(1), routine: { _ in true })
            }
            dispatcher.disconnect(passive)
        }
    }
}

extension Runtime.DispatchSynchronizationTests {
    @Test func synchronizingOnTheOwnInterruptFromItsISRStopsWithAMessageInsteadOfHanging() async {
        await #expect(processExitsWith: .failure) {
            let dispatcher = try makeDispatcher()
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
            _ = try dispatcher.connectMessageBased(device: device, messageRoutine: { interrupt, _ in
                return interrupt.synchronize { true }  // the ISR already holds this lock
            })
            backend.raise()
            // Without the check the ISR spins forever: give up after a while and
            // exit successfully, which fails the expectation instead of hanging.
            _ = eventually(10) { false }
            exit(0)
        }
    }

    @Test func aHeldSpinLockIsNotMistakenForRecursionByAnotherThread() throws {
        let lock = InterruptSpinLock()
        lock.lock()
        let acquired = Flag()
        let other = try PThread.spawn(name: "waiter") {
            lock.lock()
            acquired.set()
            lock.unlock()
        }
        for _ in 0..<1000 { PThread.yieldProcessor() }
        #expect(!acquired.isSet)
        lock.unlock()
        try PThread.join(other)
        #expect(acquired.isSet)
    }
}
