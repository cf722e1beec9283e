import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import Testing

extension Runtime {
    /// How the dispatch loop runs ISR chains: sharing, level vs latched, unmask,
    /// priority order, coalescing.
    @Suite("Dispatch chains")
    struct DispatchChainTests {
        let dispatcher: InterruptDispatcher
        init() throws { dispatcher = try makeDispatcher() }

        func connectShared(_ device: InterruptDevice, mode: InterruptMode, vector: UInt32,
                           _ routine: @escaping InterruptServiceRoutine) throws -> InterruptObject {
            try dispatcher.connectFullySpecified(device: device, vector: vector, irql: InterruptLevel(5), synchronizeIrql: InterruptLevel(5),
                                                 mode: mode, shareVector: true, affinity: .first(2), routine: routine)
        }

        @Test func levelSensitiveChainStopsAtTheFirstISRThatClaims() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let order = Recorder<String>()
            let firstClaims = Flag(true)
            let first = try connectShared(device, mode: .levelSensitive, vector: 11) { _ in
                order.append("first")
                return firstClaims.isSet
            }
            let second = try connectShared(device, mode: .levelSensitive, vector: 11) { _ in
                order.append("second")
                return true
            }
            backend.raise()
            #expect(eventually { order.all == ["first"] })
            firstClaims.set(false)
            backend.raise()
            #expect(eventually { order.all == ["first", "first", "second"] })
            #expect(second.serviceCallCount == 1)
            dispatcher.disconnect(first)
            dispatcher.disconnect(second)
        }

        @Test func latchedChainCallsOnUntilAFullPassIsUnclaimed() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 1))
            let vector = device.vectors[0].vector
            let firstWork = Counter(2)
            let secondWork = Counter(1)
            @Sendable func routine(_ work: Counter) -> Bool {
                // Claims while it has work: models a device with several events latched.
                if work.count > 0 {
                    work.decrement()
                    return true
                }
                return false
            }
            let first = try connectShared(device, mode: .latched, vector: vector) { _ in routine(firstWork) }
            let second = try connectShared(device, mode: .latched, vector: vector) { _ in routine(secondWork) }
            backend.raise()
            // Pass 1: both claim; pass 2: first claims; pass 3: nobody claims -> stop.
            #expect(eventually { first.serviceCallCount == 3 && second.serviceCallCount == 3 })
            #expect(first.claimedCount == 2 && second.claimedCount == 1)
            dispatcher.disconnect(first)
            dispatcher.disconnect(second)
        }

        /// Issue 10: an ISR that returns FALSE once on a level line used to leave the line
        /// masked for good. As genirq does, the line is re-enabled after an unclaimed
        /// interrupt too (the unclaimed storm rule contains it if it keeps coming).
        @Test func aLevelLineIsReenabledAfterAnUnclaimedInterruptAndCountsIt() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let claims = Flag(false)
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in claims.isSet })
            backend.raise()
            #expect(eventually { object.serviceCallCount == 1 && !backend.isLineMasked },
                    "an unclaimed level interrupt does not leave the line masked")
            #expect(object.unclaimedCount == 1)
            // The next interrupts reach the ISR: nothing is lost to a stuck mask.
            claims.set()
            for expected in 2...100 {
                backend.raise()
                #expect(eventually { object.serviceCallCount == UInt64(expected) }, "interrupt \(expected) reached the ISR")
            }
            #expect(object.claimedCount == 99 && object.unclaimedCount == 1)
            dispatcher.disconnect(object)
        }

        @Test func anAssertedLineStormsUntilTheISRAcknowledges() throws {
            defer { dispatcher.shutdown() }
            var configuration = SimulatedDevice.edu()
            configuration.holdsLineUntilAcknowledged = true
            let (device, backend) = makeDevice(configuration, policy: InterruptPolicy(msiSupported: false))
            let calls = Counter()
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in
                // Claims without quieting the device 50 times, then acknowledges.
                if calls.increment() >= 50 { backend.acknowledge() }
                return true
            })
            backend.raise()
            #expect(eventually { calls.count == 50 && !backend.isLineMasked })
            #expect(object.serviceCallCount == 50)
            dispatcher.disconnect(object)
        }

        @Test func readyInterruptsAreServedHighestDIRQLFirst() throws {
            defer { dispatcher.shutdown() }
            let gate = Gate()
            let (blocker, blockerBackend) = try connectBlocker(dispatcher, gate: gate)
            let (low, lowBackend) = makeDevice(.edu(address: PCIAddress(bus: 1, device: 0, function: 0), irqLine: 10),
                                               policy: InterruptPolicy(msiSupported: false, devicePriority: .low))
            let (high, highBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 2, device: 0, function: 0), msixCount: 1),
                                                 policy: InterruptPolicy(devicePriority: .high))
            let (middle, middleBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 3, device: 0, function: 0), msixCount: 1))
            let order = Recorder<InterruptLevel>()
            let record: InterruptServiceRoutine = { interrupt in
                order.append(interrupt.irql)
                return true
            }
            let objects = [
                try dispatcher.connectLineBased(device: low, routine: record),
                try dispatcher.connectMessageBased(device: high, messageRoutine: { interrupt, _ in record(interrupt) }).interruptObjects[0],
                try dispatcher.connectMessageBased(device: middle, messageRoutine: { interrupt, _ in record(interrupt) }).interruptObjects[0],
            ]
            blockerBackend.raise()
            #expect(gate.waitUntilEntered())
            // Readiness order low, middle, high: service order must be high, middle, low.
            lowBackend.raise()
            middleBackend.raise()
            highBackend.raise()
            gate.open()
            #expect(eventually { order.all.count == 3 })
            #expect(order.all == [InterruptLevel(10), InterruptLevel(8), InterruptLevel(4)])
            for object in objects + [blocker] { dispatcher.disconnect(object) }
        }

        /// The batch is sorted by each vector's DIRQL as it is now: a second object
        /// with a higher DIRQL on a shared vector raises the whole vector's level.
        @Test func aVectorWhoseDIRQLRoseIsServedAtItsNewLevel() throws {
            defer { dispatcher.shutdown() }
            let gate = Gate()
            let (blocker, blockerBackend) = try connectBlocker(dispatcher, gate: gate)
            let (first, firstBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 4, device: 0, function: 0), msixCount: 1))
            let (second, secondBackend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: 5, device: 0, function: 0), msixCount: 1))
            let order = Recorder<String>()
            func connect(_ device: InterruptDevice, level: UInt8, _ name: String) throws -> InterruptObject {
                try dispatcher.connectFullySpecified(
                    device: device, vector: device.vectors[0].vector, irql: InterruptLevel(level), synchronizeIrql: InterruptLevel(level),
                    mode: .latched, shareVector: true, affinity: .first(2)) { _ in
                    order.append(name)
                    return false
                }
            }
            let objects = [
                try connect(first, level: 5, "first at 5"),
                try connect(second, level: 7, "second at 7"),
                try connect(first, level: 9, "first at 9"),
            ]
            blockerBackend.raise()
            #expect(gate.waitUntilEntered())
            // Readiness order second, first: the first vector is now at DIRQL 9, so it goes first.
            secondBackend.raise()
            firstBackend.raise()
            gate.open()
            #expect(eventually { order.all.count == 3 })
            #expect(order.all == ["first at 5", "first at 9", "second at 7"])
            for object in objects + [blocker] { dispatcher.disconnect(object) }
        }

        @Test func coalescedSignalsBecomeOneISRCall() throws {
            defer { dispatcher.shutdown() }
            let gate = Gate()
            let (blocker, blockerBackend) = try connectBlocker(dispatcher, gate: gate)
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 2))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
            let object = connection.interruptObjects[1]
            blockerBackend.raise()
            #expect(gate.waitUntilEntered())
            for _ in 0..<5 { backend.raise(message: 1) }
            gate.open()
            // Signals are counted before the ISR runs, calls after it returns: wait for both.
            #expect(eventually { object.deliveredSignalCount == 5 && object.serviceCallCount >= 1 })
            for _ in 0..<1000 { PThread.yieldProcessor() }
            #expect(object.serviceCallCount == 1)
            #expect(connection.interruptObjects[0].serviceCallCount == 0)
            dispatcher.disconnect(connection)
            dispatcher.disconnect(blocker)
        }

        @Test func multiMessageMSIDataIsOneAlignedBaseOredWithTheMessageNumber() throws {
            defer { dispatcher.shutdown() }
            let (device, _) = makeDevice(SimulatedDevice(msiCount: 4))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true }, context: .none)
            defer { dispatcher.disconnect(connection) }
            guard case let .messages(table) = connection else {
                Issue.record("expected a message table")
                return
            }
            let data = table.messages.map(\.messageData)
            #expect(data.count == 4)
            #expect(data.allSatisfy { $0 & ~3 == data[0] } && data[0] & 3 == 0, "base \(data[0]) aligned to 4, message number in the low bits")
            #expect(data.enumerated().allSatisfy { $0.element & 3 == UInt32($0.offset) })
        }

        @Test func messageISRsReceiveTheirMessageIDAndTheTableDescribesEachMessage() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 4))
            let seen = Recorder<UInt32>()
            let context = OpaqueContext(UnsafeMutableRawPointer(bitPattern: 0x1234))
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { interrupt, message in
                #expect(interrupt.serviceContext == context)
                seen.append(message)
                return true
            }, context: context)
            guard case let .messages(table) = connection else {
                Issue.record("expected a message table")
                return
            }
            #expect(table.messageCount == 4)
            #expect(table.unifiedServiceContext == context)
            for (index, entry) in table.messages.enumerated() {
                #expect(entry.interruptObject.messageID == UInt32(index))
                #expect(entry.vector == device.vectors[index].vector)
                #expect(entry.messageAddress == 0xfee0_0000)
                #expect(entry.messageData == UInt32(0x41 + index))
                #expect(entry.mode == .latched)
                #expect(entry.interruptObject.spinLock === table.spinLock)
                #expect(entry.targetProcessorSet == .first(2))
            }
            backend.raise(message: 2)
            backend.raise(message: 0)
            #expect(eventually { Set(seen.all) == [0, 2] })
            dispatcher.disconnect(table)
        }

        /// The watched source keeps a copy of its line's only object (the one-ISR pass
        /// reads it there): each connect and disconnect that changes the chain's size
        /// must reach it, whichever object is left.
        @Test func aChainThatGrowsAndShrinksServesExactlyTheObjectsOnIt() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 1))
            let vector = device.vectors[0].vector
            let calls = (a: Counter(), b: Counter(), c: Counter())
            func counts() -> [Int] { [calls.a.count, calls.b.count, calls.c.count] }
            func raiseAndExpect(_ expected: [Int], _ comment: Comment) {
                backend.raise()
                #expect(eventually { counts() == expected }, comment)
            }
            // Unclaimed latched passes: every ISR on the chain is called once per raise.
            let a = try connectShared(device, mode: .latched, vector: vector) { _ in calls.a.increment(); return false }
            raiseAndExpect([1, 0, 0], "one object")
            let b = try connectShared(device, mode: .latched, vector: vector) { _ in calls.b.increment(); return false }
            raiseAndExpect([2, 1, 0], "two objects")
            dispatcher.disconnect(a)
            raiseAndExpect([2, 2, 0], "the second object alone")
            let c = try connectShared(device, mode: .latched, vector: vector) { _ in calls.c.increment(); return false }
            dispatcher.disconnect(b)
            raiseAndExpect([2, 2, 1], "the third object alone")
            dispatcher.disconnect(c)
            backend.raise()
            for _ in 0..<1000 { PThread.yieldProcessor() }
            #expect(counts() == [2, 2, 1], "no object left: nothing is called")
        }

        /// The objects of one message-based connect share their routine: disconnecting
        /// some of them leaves it working for the others.
        @Test func messagesLeftConnectedStillRunTheSharedRoutine() throws {
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(SimulatedDevice(msixCount: 3))
            let seen = Recorder<UInt32>()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
                seen.append(message)
                return true
            })
            guard case let .messages(table) = connection else {
                Issue.record("expected a message table")
                return
            }
            dispatcher.disconnect(table.messages[0].interruptObject)
            dispatcher.disconnect(table.messages[2].interruptObject)
            backend.raise(message: 1)
            #expect(eventually { seen.all == [1] })
            #expect(table.messages[0].interruptObject.serviceCallCount == 0)
            dispatcher.disconnect(table)
        }

        @Test func anISRMayRunBeforeConnectReturns() throws {
            defer { dispatcher.shutdown() }
            // The device already signals when its interrupts are enabled, and the
            // backend holds connect back (in programmedMessages) until the ISR ran.
            let inner = SimulatedBackend(SimulatedDevice(msixCount: 1))
            let calls = Counter()
            let backend = PendingAtEnableBackend(inner: inner, serviced: { calls.count > 0 })
            let device = InterruptDevice(backend: backend, facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)))
            let connectReturned = Flag()
            let ranBeforeReturn = Flag()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                if !connectReturned.isSet { ranBeforeReturn.set() }
                calls.increment()
                return true
            })
            connectReturned.set()
            #expect(ranBeforeReturn.isSet)
            dispatcher.disconnect(connection)
        }
    }
}
