// The backends alone against real devices: every interrupt the device raises
// arrives on the source's descriptor, the kernel's count agrees, nothing leaks.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import Testing

extension RigIntegrationTests {
    @Suite("Backends on real devices")
    struct BackendIntegrationTests {
        /// Raises `count` edu interrupts one at a time, waiting for each on `source`
        /// and acknowledging it as an ISR would. Returns how many arrived.
        func roundTrips(_ edu: Edu, _ source: InterruptSource, count: Int) throws -> Int {
            var delivered = 0
            for index in 0..<count {
                edu.interrupt()
                guard try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 2000) else {
                    Issue.record("interrupt \(index) never arrived")
                    break
                }
                switch source.drain {
                case .eventfdCounter: delivered += Int(try EventFD.read(source.descriptor) ?? 0)
                case .uioTotal: if try UIODevice.readTotal(source.descriptor) != nil { delivered += 1 }
                }
                edu.acknowledgeAll()
                try source.unmask?.unmask()
            }
            return delivered
        }

        @Test func vfioMSIOnEduDeliversEveryInterrupt() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            #expect(backend.supportedInterrupts[.msi] == 1)
            #expect(backend.supportedInterrupts[.intx] == 1)
            #expect(backend.requestInterrupts == 1)
            let sources = try backend.enableInterrupts(.msi, count: 1)
            #expect(sources.count == 1 && sources[0].unmask == nil, "MSI is edge-triggered: no unmask")
            let edu = try Edu(bar: #require(backend.vfioDevice).mapBAR(0))
            let before = try Rig.kernelCount("vfio-msi[", Rig.eduVFIO)
            #expect(try roundTrips(edu, sources[0], count: Rig.count) == Rig.count)
            #expect(try Rig.kernelCount("vfio-msi[", Rig.eduVFIO) - before == UInt64(Rig.count))
            try backend.disableInterrupts(.msi)
        }

        /// A loopback trigger for a message the device has not enabled is a typed error,
        /// not a crash (a negative number once trapped converting to the ioctl's UInt32).
        @Test func vfioLoopbackOfAMessageNotEnabledIsATypedError() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            #expect { try backend.triggerLoopback(message: 0) } throws: { error in
                if case .kernelLimit = error as? BackendError { true } else { false }
            }
            let sources = try backend.enableInterrupts(.msi, count: 1)
            for message in [-1, 1, Int.max] {
                #expect { try backend.triggerLoopback(message: message) } throws: { error in
                    guard case let .noSuchMessage(kind, asked, enabled) = error as? BackendError else { return false }
                    return kind == .msi && asked == message && enabled == 1
                }
            }
            try backend.triggerLoopback(message: 0)
            #expect(try FileIO.waitReadable(sources[0].descriptor, timeoutMilliseconds: 2000))
            try backend.disableInterrupts(.msi)
        }

        /// A backend left open, nothing connected or watched, holds the device: Rig.unbind
        /// says so after its patience instead of hanging the test, and closing the backend
        /// (a BAR mapping still alive) lets the waiting unbind complete.
        @Test func aDeviceLeftOpenIsReportedAndClosingItCompletesTheUnbind() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            let bar = try backend.mapRegisters(bar: 0)
            #expect(bar.read32(at: 0) == 0x0100_00ed, "edu's identification register")
            #expect(throws: RigError.self, "held: reported, not a hang") { try Rig.unbind(Rig.eduVFIO) }
            backend.close()
            #expect(eventually(5) { (try? FileIO.readlinkBasename("/sys/bus/pci/devices/\(Rig.eduVFIO)/driver")) == nil },
                    "the waiting unbind completed once the backend closed, its mapping released")
            #expect(bar.read32(at: 0) == 0, "the mapping no longer reaches the device")
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
        }

        /// Watched by a dispatcher, the device is let go when the kernel asks: Rig.unbind is
        /// how a test removes it from under its driver.
        @Test func aWatchedDeviceIsGivenBackByRigUnbind() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let device = InterruptDevice(backend: backend)
            dispatcher.watchEvents(of: device)
            let started = MonotonicClock.nanoseconds()
            try Rig.unbind(Rig.eduVFIO)
            #expect(MonotonicClock.nanoseconds() - started < 5_000_000_000)
            #expect(device.wasRemoved)
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
        }

        @Test func vfioINTxOnEduNeedsAndGetsUnmask() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            let sources = try backend.enableInterrupts(.intx, count: 1)
            let source = try #require(sources.first)
            #expect(source.unmask != nil, "INTx is level-triggered and automasked")
            let edu = try Edu(bar: #require(backend.vfioDevice).mapBAR(0))
            let before = try Rig.kernelCount("vfio-intx", Rig.eduVFIO)
            #expect(try roundTrips(edu, source, count: Rig.count) == Rig.count)
            #expect(try Rig.kernelCount("vfio-intx", Rig.eduVFIO) - before == UInt64(Rig.count))

            // Without unmask the line stays masked: the next interrupt is not delivered.
            edu.interrupt()
            #expect(try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 2000))
            _ = try EventFD.read(source.descriptor)
            edu.interrupt()
            #expect(try !FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 200), "masked until unmask")
            edu.acknowledgeAll()
            try source.unmask?.unmask()
        }

        @Test func vfioReportsKernelLimitsClearly() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            _ = try backend.enableInterrupts(.msi, count: 1)
            #expect {
                _ = try backend.enableInterrupts(.intx, count: 1)
            } throws: { error in
                guard case let .kernelLimit(reason) = error as? BackendError else { return false }
                return reason.contains("one interrupt kind at a time")
            }
            #expect {
                _ = try backend.enableInterrupts(.msi, count: 1)
            } throws: { error in
                guard case let .kernelLimit(reason) = error as? BackendError else { return false }
                return reason.contains("cannot add vectors")
            }
            #expect {
                _ = try backend.enableInterrupts(.msix, count: 1)
            } throws: { error in
                guard case .unsupported(.msix, 1, 0) = error as? BackendError else { return false }
                return true
            }
        }

        @Test func vfioMSIXOnIvshmemEveryVectorArrivesOnItsOwnDescriptor() throws {
            try Rig.bind(Rig.ivshmem, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.ivshmem), logger: Rig.logger)
            defer { backend.close() }
            let vectors = try #require(backend.supportedInterrupts[.msix])
            #expect(vectors >= 2)
            let sources = try backend.enableInterrupts(.msix, count: vectors)
            let vfio = try #require(backend.vfioDevice)
            try vfio.writeBAR32(0, at: Ivshmem.interruptMask, 0xffff_ffff)
            let ownID = try vfio.readBAR32(0, at: Ivshmem.position)
            try expectEachVectorArrivesAlone(sources) { vector in
                try vfio.writeBAR32(0, at: Ivshmem.doorbell, ownID << 16 | UInt32(vector))
            }
        }

        @Test func vfioPreparedLoopbackTriggerFiresEachVectorOnItsOwnDescriptor() throws {
            try Rig.bind(Rig.ivshmem, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.ivshmem), logger: Rig.logger)
            defer { backend.close() }
            #expect { _ = try backend.loopbackTrigger() } throws: { error in  // nothing enabled yet
                guard case .kernelLimit = error as? BackendError else { return false }
                return true
            }
            let vectors = try #require(backend.supportedInterrupts[.msix])
            let sources = try backend.enableInterrupts(.msix, count: vectors)
            let trigger = try backend.loopbackTrigger()
            #expect(trigger.index == .msix && trigger.count == vectors)
            try expectEachVectorArrivesAlone(sources) { vector in try trigger.fire(vector) }
            #expect { try trigger.fire(vectors) } throws: { ($0 as? SystemError)?.code == EINVAL }
            #expect { try trigger.fire(-1) } throws: { ($0 as? SystemError)?.code == EINVAL }
            // Prepared while enabled, fired after the disable: the kernel refuses, nothing traps.
            try backend.disableInterrupts(.msix)
            #expect { try trigger.fire(0) } throws: { ($0 as? SystemError)?.code == EINVAL }
        }

        @Test func vfioMSIXSetCannotGrowOnceEnabled() throws {
            try Rig.bind(Rig.ivshmem, to: .vfioPCI)
            let backend = try VFIOBackend(device: Rig.deviceInfo(Rig.ivshmem), logger: Rig.logger)
            defer { backend.close() }
            let vectors = try #require(backend.supportedInterrupts[.msix])
            #expect {
                _ = try backend.enableInterrupts(.msix, count: vectors + 1)
            } throws: { error in
                guard case .unsupported(.msix, vectors + 1, vectors) = error as? BackendError else { return false }
                return true
            }
            #expect(try backend.enableInterrupts(.msix, count: 2).count == 2)
            #expect(backend.programmedMessages(.msix)?.count == 2)
            #expect {
                _ = try backend.enableInterrupts(.msix, count: vectors)
            } throws: { error in
                guard case let .kernelLimit(reason) = error as? BackendError else { return false }
                return reason.contains("MSI-X is already enabled with 2 vector(s)") && reason.contains("NORESIZE")
            }
            try backend.disableInterrupts(.msix)
            #expect(try backend.enableInterrupts(.msix, count: vectors).count == vectors, "after disabling, the full set can be enabled")
        }

        @Test func uioINTxOnEduDeliversEveryInterrupt() throws {
            try Rig.bind(Rig.eduUIO, to: .uioPCIGeneric)
            let info = try Rig.deviceInfo(Rig.eduUIO)
            let backend = try UIOBackend(device: info, logger: Rig.logger)
            defer { backend.close() }
            let source = try #require(backend.enableInterrupts(.intx, count: 1).first)
            #expect(source.drain == .uioTotal)
            let edu = try Edu(bar: SysfsPCI().mapResource(Rig.eduUIO.description, bar: 0))
            let irq = try #require(info.irqLine)
            let before = try Rig.kernelCount(irq: irq)
            #expect(try roundTrips(edu, source, count: Rig.count) == Rig.count)
            #expect(try Rig.kernelCount(irq: irq) - before >= UInt64(Rig.count))
        }

        /// A cause the edu raised with no driver bound (its line asserted before
        /// uio_pci_generic's probe enabled it) arrives when INTx is enabled, and so does the
        /// next one. QEMU's IO-APIC drops a level that rose while the pin was edge-triggered
        /// and masked (Linux's state for a freed IRQ): without `UIODevice.start` raising it
        /// anew, neither ever arrived (0 of 10 in the rig).
        @Test func uioINTxDeliversALevelPendingFromBeforeTheBind() throws {
            try Rig.bind(Rig.eduUIO, to: .uioPCIGeneric)
            let edu = try Edu(bar: SysfsPCI().mapResource(Rig.eduUIO.description, bar: 0))
            edu.acknowledgeAll()
            try Rig.unbind(Rig.eduUIO)
            edu.interrupt()
            try Rig.bind(Rig.eduUIO, to: .uioPCIGeneric)
            let backend = try UIOBackend(device: Rig.deviceInfo(Rig.eduUIO), logger: Rig.logger)
            defer { backend.close() }
            let source = try #require(backend.enableInterrupts(.intx, count: 1).first)
            #expect(try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 3000), "the pending level arrives at enable")
            _ = try UIODevice.readTotal(source.descriptor)
            #expect(edu.acknowledgeAll(), "the edu's status still had the cause")
            try source.unmask?.unmask()
            edu.interrupt()
            #expect(try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 3000), "and the next interrupt too")
            edu.acknowledgeAll()
        }

        @Test func openingAndClosingLeaksNoDescriptors() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let info = try Rig.deviceInfo(Rig.eduVFIO)
            let start = try FileIO.openDescriptorCount()
            for _ in 0..<50 {
                let backend = try VFIOBackend(device: info, logger: Rig.logger)
                _ = try backend.enableInterrupts(.intx, count: 1)
                #expect(throws: BackendError.self) { _ = try backend.enableInterrupts(.msi, count: 1) }
                try backend.disableInterrupts(.intx)
                _ = try backend.enableInterrupts(.msi, count: 1)
                backend.close()
            }
            #expect(try FileIO.openDescriptorCount() == start)
        }
    }
}

/// ivshmem's BAR0 registers.
enum Ivshmem {
    static let interruptMask = 0
    static let position = 8
    static let doorbell = 12
}

#if canImport(Glibc)
import Glibc
#endif

/// Raises each vector in turn, `Rig.count` interrupts in all, and expects each to arrive
/// once on its own descriptor and on no other.
private func expectEachVectorArrivesAlone(_ sources: [InterruptSource], raise: (Int) throws -> Void) throws {
    for round in 0..<max(1, Rig.count / sources.count) {
        for (vector, source) in sources.enumerated() {
            try raise(vector)
            guard try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 2000) else {
                Issue.record("round \(round): vector \(vector) never arrived")
                return
            }
            #expect(try EventFD.read(source.descriptor) == 1)
            for other in sources where other.descriptor != source.descriptor {
                #expect(try EventFD.read(other.descriptor) == nil, "vector \(vector) also signalled another vector")
            }
        }
    }
}
