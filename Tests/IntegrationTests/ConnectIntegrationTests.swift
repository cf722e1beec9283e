// Issue 4 item 6: the connect API (IoConnectInterruptEx's three versions, as the
// runtime implements them) on real devices in the QEMU rig.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import Testing

extension RigIntegrationTests {
    @Suite("Connecting ISRs to real interrupts")
    struct ConnectIntegrationTests {
        /// An open edu under vfio-pci, a dispatcher, and the device with `policy`.
        struct EduRig {
            let backend: VFIOBackend
            let edu: Edu
            let device: InterruptDevice
            let dispatcher: InterruptDispatcher

            init(policy: InterruptPolicy) throws {
                try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
                backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
                edu = try Edu(bar: #require(backend.vfioDevice).mapBAR(0))
                // A level interrupt left asserted by an earlier user is not delivered on enable: clear it first.
                edu.acknowledgeAll()
                device = InterruptDevice(backend: backend, policy: policy)
                dispatcher = try InterruptDispatcher(logger: Rig.logger)
            }

            func close() {
                dispatcher.shutdown()
                backend.close()
            }
        }

        static let noMSI = InterruptPolicy(msiSupported: false)

        @Test func messageBasedGetsMSIWithItsProgrammedMessage() throws {
            let rig = try EduRig(policy: .default)
            defer { rig.close() }
            #expect(rig.device.resources.interruptKind == .msi)
            let probe = ISRProbe()
            let edu = rig.edu
            let connection = try rig.dispatcher.connectMessageBased(device: rig.device, messageRoutine: { _, message in
                probe.record(message: message)
                return edu.acknowledgeAll()
            })
            guard case let .messages(table) = connection else {
                Issue.record("expected messages, got a line-based fallback")
                return
            }
            #expect(table.messageCount == 1)
            #expect(table.messages[0].messageAddress & 0xfff0_0000 == 0xfee0_0000, "MessageAddress read back from the device")
            let kernelBefore = try Rig.kernelCount("vfio-msi[", Rig.eduVFIO)
            #expect(fireOneAtATime(Rig.count, probe: probe) { _ in edu.interrupt() } == Rig.count)
            #expect(try Rig.kernelCount("vfio-msi[", Rig.eduVFIO) - kernelBefore == UInt64(Rig.count))
            #expect(probe.perMessage[0].count == Rig.count)
            rig.dispatcher.disconnect(table)
        }

        @Test func messageBasedFallsBackToLineBasedWhenPolicyDisallowsMSI() throws {
            let rig = try EduRig(policy: Self.noMSI)
            defer { rig.close() }
            #expect(rig.device.resources.interruptKind == .intx)
            let probe = ISRProbe()
            let edu = rig.edu
            let connection = try rig.dispatcher.connectMessageBased(
                device: rig.device, messageRoutine: { _, _ in
                    Issue.record("the message routine must not run on a line-based device")
                    return false
                },
                fallbackRoutine: { _ in
                    probe.record()
                    return edu.acknowledgeAll()
                })
            guard case let .line(object) = connection else {
                Issue.record("expected the line-based fallback (Version = CONNECT_LINE_BASED)")
                return
            }
            #expect(object.kind == .intx)
            let backend = rig.backend
            #expect(fireOneAtATime(Rig.count, probe: probe, unmasks: { backend.unmaskCount }) { _ in edu.interrupt() } == Rig.count)
            rig.dispatcher.disconnect(object)
        }

        @Test func lineBasedGetsINTxAndUnmasksAfterEachClaim() throws {
            let rig = try EduRig(policy: Self.noMSI)
            defer { rig.close() }
            let probe = ISRProbe()
            let edu = rig.edu
            let object = try rig.dispatcher.connectLineBased(device: rig.device, routine: { _ in
                probe.record()
                return edu.acknowledgeAll()
            })
            #expect(object.mode == .levelSensitive)
            let backend = rig.backend
            let unmasksBefore = backend.unmaskCount
            let kernelBefore = try Rig.kernelCount("vfio-intx", Rig.eduVFIO)
            #expect(fireOneAtATime(Rig.count, probe: probe, unmasks: { backend.unmaskCount }) { _ in edu.interrupt() } == Rig.count)
            #expect(backend.unmaskCount - unmasksBefore == UInt64(Rig.count), "one unmask per claimed interrupt")
            #expect(try Rig.kernelCount("vfio-intx", Rig.eduVFIO) - kernelBefore == UInt64(Rig.count))
            rig.dispatcher.disconnect(object)
        }

        @Test(arguments: [false, true])
        func fullySpecifiedOnADescriptorFromTheTranslatedList(messageSignaled: Bool) throws {
            let rig = try EduRig(policy: messageSignaled ? .default : Self.noMSI)
            defer { rig.close() }
            let descriptor = try #require(rig.device.resources.translatedInterrupts.first)
            let vector: UInt32, level: UInt16, affinity: ProcessorAffinity
            switch descriptor.payload {
            case let .interrupt(line): (vector, level, affinity) = (line.vector, line.level, line.affinity)
            case let .messageInterrupt(message): (vector, level, affinity) = (message.translated.vector, message.translated.level, message.translated.affinity)
            default: Issue.record("not an interrupt descriptor"); return
            }
            #expect(descriptor.isMessageInterrupt == messageSignaled)
            let probe = ISRProbe()
            let edu = rig.edu
            let object = try rig.dispatcher.connectFullySpecified(
                device: rig.device, vector: vector, irql: InterruptLevel(UInt8(level)), synchronizeIrql: InterruptLevel(UInt8(level)),
                mode: descriptor.flags & InterruptFlags.latched != 0 ? .latched : .levelSensitive,
                shareVector: descriptor.shareDisposition == .shared, affinity: affinity,
                routine: { _ in
                    probe.record()
                    return edu.acknowledgeAll()
                })
            let backend = rig.backend
            let unmasks: (() -> UInt64)? = messageSignaled ? nil : { backend.unmaskCount }
            #expect(fireOneAtATime(Rig.count, probe: probe, unmasks: unmasks) { _ in edu.interrupt() } == Rig.count)
            rig.dispatcher.disconnect(object)
        }

        @Test func uioGenericINTxThroughLineBasedConnect() throws {
            try Rig.bind(Rig.eduUIO, to: .uioPCIGeneric)
            let info = try Rig.deviceInfo(Rig.eduUIO)
            let backend = try UIOBackend(device: info, logger: Rig.logger)
            defer { backend.close() }
            let edu = try Edu(bar: SysfsPCI().mapResource(Rig.eduUIO.description, bar: 0))
            let device = InterruptDevice(backend: backend, policy: Self.noMSI)
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let probe = ISRProbe()
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in
                probe.record()
                return edu.acknowledgeAll()
            })
            let irq = try #require(info.irqLine)
            let kernelBefore = try Rig.kernelCount(irq: irq)
            #expect(fireOneAtATime(Rig.count, probe: probe, unmasks: { backend.unmaskCount }) { _ in edu.interrupt() } == Rig.count)
            #expect(try Rig.kernelCount(irq: irq) - kernelBefore == UInt64(Rig.count))
            dispatcher.disconnect(object)
        }

        @Test func msixEveryVectorReachesTheISRWithItsMessageID() throws {
            try Rig.bind(Rig.ivshmem, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.ivshmem), logger: Rig.logger)
            defer { backend.close() }
            let vfio = try #require(backend.vfioDevice)
            let device = InterruptDevice(backend: backend)
            #expect(device.resources.interruptKind == .msix)
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let probe = ISRProbe()
            let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
                probe.record(message: message)
                return true
            })
            guard case let .messages(table) = connection else {
                Issue.record("expected MSI-X messages")
                return
            }
            let vectors = table.messageCount
            #expect(vectors == backend.supportedInterrupts[.msix])
            #expect(table.messages.allSatisfy { $0.messageAddress & 0xfff0_0000 == 0xfee0_0000 }, "MSI-X table read back")
            let ownID = try vfio.readBAR32(0, at: Ivshmem.position)
            let rounds = max(1, Rig.count / vectors)
            for round in 0..<rounds {
                for vector in 0..<vectors {
                    let before = probe.perMessage[vector].count
                    try vfio.writeBAR32(0, at: Ivshmem.doorbell, ownID << 16 | UInt32(vector))
                    guard eventually({ probe.perMessage[vector].count > before }) else {
                        Issue.record("round \(round): vector \(vector) never reached the ISR with MessageID \(vector)")
                        dispatcher.disconnect(table)
                        return
                    }
                }
            }
            #expect(probe.count == rounds * vectors, "no ISR call with another MessageID")
            for vector in 0..<vectors { #expect(probe.perMessage[vector].count == rounds) }
            dispatcher.disconnect(table)
        }

        @Test func anISRThatNeverAcknowledgesTheLevelInterruptDoesNotHang() throws {
            let rig = try EduRig(policy: Self.noMSI)
            defer { rig.close() }
            // Claims without quieting the device: every unmask re-fires at once (a storm).
            let storm = ISRProbe()
            let object = try rig.dispatcher.connectLineBased(device: rig.device, routine: { _ in
                storm.record()
                return true
            })
            rig.edu.interrupt()
            #expect(eventually { storm.count > 500 }, "the storm reaches the ISR over and over")
            rig.dispatcher.disconnect(object)
            let afterDisconnect = storm.count
            // The dispatcher still serves other work: a fresh connection works after the storm.
            rig.edu.acknowledgeAll()
            #expect(storm.count == afterDisconnect, "no ISR call after disconnect returned")

            // Never claims (and never acknowledges): as genirq does, the line is re-enabled after
            // an unclaimed pass too (issue 10: it used to stay masked for good), so it fires again,
            // and the unclaimed storm rule (here 99 of 100 passes) contains it: masked, not served.
            var containing = Self.noMSI
            containing.storm = StormPolicy(unclaimedLimit: 99, unclaimedWindow: 100, initialBackoff: nil)
            let watched = InterruptDevice(backend: rig.backend, policy: containing)
            let silent = ISRProbe()
            let unclaimed = try rig.dispatcher.connectLineBased(device: watched, routine: { _ in
                silent.record()
                return false
            })
            rig.edu.interrupt()
            #expect(eventually { unclaimed.isContained }, "the unclaimed rule contains the line")
            let atContainment = silent.count
            #expect(atContainment == 100, "contained on the 100th unclaimed pass")
            PThread.sleep(for: .milliseconds(200))
            #expect(silent.count == atContainment, "a contained line is not served: nothing spins")
            #expect(unclaimed.stormCount == 1)
            rig.dispatcher.disconnect(unclaimed)
            rig.edu.acknowledgeAll()
            #expect(storm.count == afterDisconnect)
        }

        @Test func disconnectWhileInterruptsFireLeavesNothingRunning() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let info = try Rig.deviceInfo(Rig.eduVFIO)
            let descriptorsBefore = try FileIO.openDescriptorCount()
            do {
                let rig = try EduRig(policy: .default)
                let probe = ISRProbe()
                let edu = rig.edu
                let connection = try rig.dispatcher.connectMessageBased(device: rig.device, messageRoutine: { _, message in
                    probe.record(message: message)
                    return edu.acknowledgeAll()
                })
                let firing = FiringThread(edu)
                #expect(eventually(within: 60) { probe.count > 200 }, "interrupts flow while the device fires")
                switch connection {
                case let .messages(table): rig.dispatcher.disconnect(table)
                case let .line(object): rig.dispatcher.disconnect(object)
                }
                let afterDisconnect = probe.count
                try firing.stop()
                edu.acknowledgeAll()
                #expect(probe.count == afterDisconnect, "no ISR ran after disconnect returned")
                #expect(rig.dispatcher.connectedInterrupts.isEmpty)
                rig.close()
            }
            _ = info
            #expect(try FileIO.openDescriptorCount() == descriptorsBefore, "every descriptor closed")
        }
    }
}

/// A thread that makes edu interrupt as fast as it can until stopped.
final class FiringThread: Sendable {
    private let running = AtomicCount()
    private let handle: Mutex<PThread.Handle?> = Mutex(nil)

    init(_ edu: Edu) {
        let stop = running
        let spawned = try? PThread.spawn(name: "edu-fire") {
            while stop.count == 0 { edu.interrupt() }
        }
        handle.withLock { $0 = spawned }
    }

    func stop() throws {
        running.add()
        if let handle = handle.withLock({ $0 }) { try PThread.join(handle) }
    }
}
