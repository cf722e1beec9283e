// The legacy IoConnectInterrupt on a line two cards share, on real VFIO INTx: the call
// names a vector and no card, and each card's line is its own eventfd.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Testing

extension Rig {
    /// A second edu on edu's line (scripts/rig/run.sh `edu@0b`: slot 0b, GSI 23 like slot 03).
    static let eduSharingLine = PCIAddress("0000:00:0b.0")!
}

extension RigIntegrationTests {
    @Suite("IoConnectInterrupt on a shared line",
           .enabled(if: FileIO.exists("/sys/bus/pci/devices/\(Rig.eduSharingLine)"), "needs an edu at 00:0b.0 (--devices ...,edu@0b)"))
    struct SharedLineLegacyIntegrationTests {
        /// Card B's driver, written for a shared line: it reads its own card and claims only its interrupts.
        static let serviceB: KSERVICE_ROUTINE = { _, ServiceContext in
            let devExt = ServiceContext as! EDU_EXTENSION
            devExt.probe.record()
            return devExt.edu.acknowledgeAll()
        }

        /// Whether VFIO has the device's INTx handler installed (its line enabled).
        func handlesLine(_ address: PCIAddress) throws -> Bool {
            try ProcInterrupts.read().contains { $0.description.contains("vfio-intx(\(address))") }
        }

        /// Both edus on vfio-pci with their lines, A's DEVICE_OBJECT created first; only B's
        /// driver connects, by vector. B's interrupts reach its ISR though the object names A
        /// (the first card with no connection), and A's interrupt runs the same chain.
        @Test func onlyTheSecondCardsDriverConnectsAndHearsItsCard() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            try Rig.bind(Rig.eduSharingLine, to: .vfioPCI)
            let backendA = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
            defer { backendA.close() }
            let backendB = try VFIOBackend(device: Rig.deviceInfo(Rig.eduSharingLine), logger: Rig.logger)
            defer { backendB.close() }
            let eduA = try Edu(bar: #require(backendA.vfioDevice).mapBAR(0))
            let eduB = try Edu(bar: #require(backendB.vfioDevice).mapBAR(0))
            eduA.acknowledgeAll()
            eduB.acknowledgeAll()
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let lineOnly = InterruptPolicy(msiSupported: false)
            let pdoA = DEVICE_OBJECT(InterruptDevice(backend: backendA, policy: lineOnly), dispatcher: dispatcher)
            let pdoB = DEVICE_OBJECT(InterruptDevice(backend: backendB, policy: lineOnly), dispatcher: dispatcher)
            func line(_ pdo: DEVICE_OBJECT) throws -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
                try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice.AllocatedResourcesTranslated?
                    .List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })
            }
            let resourceB = try line(pdoB)
            let resourceA = try line(pdoA)
            #expect(resourceA.u.Interrupt.Vector == resourceB.u.Interrupt.Vector,
                    "the two edus share a line (GSI 23): A \(resourceA.Flags) \(resourceA.u.Interrupt.Vector) irq \(String(describing: backendA.device.irqLine)) msi \(backendA.device.irqLineIsMSI); B \(resourceB.Flags) \(resourceB.u.Interrupt.Vector) irq \(String(describing: backendB.device.irqLine))")

            let devExtB = EDU_EXTENSION(eduB)
            let Irql = KIRQL(resourceB.u.Interrupt.Level)
            let status = IoConnectInterrupt(&devExtB.IntObj, Self.serviceB, devExtB, nil, resourceB.u.Interrupt.Vector, Irql, Irql,
                                            LevelSensitive, TRUE, resourceB.u.Interrupt.Affinity, FALSE, dispatcher: dispatcher)
            #expect(status == STATUS_SUCCESS)
            #expect(devExtB.IntObj?.device === pdoA.device, "the object names the first card with no connection")
            #expect(try handlesLine(Rig.eduVFIO) && handlesLine(Rig.eduSharingLine), "both lines are enabled")
            let kernelBefore = try Rig.kernelCount("vfio-intx", Rig.eduSharingLine)
            let unmasksBefore = backendB.unmaskCount
            #expect(fireOneAtATime(Rig.count, probe: devExtB.probe, unmasks: { backendB.unmaskCount }) { _ in eduB.interrupt() } == Rig.count, "B's card is heard")
            #expect(backendB.unmaskCount - unmasksBefore == UInt64(Rig.count), "B's line is unmasked after each claim")
            #expect(try Rig.kernelCount("vfio-intx", Rig.eduSharingLine) - kernelBefore == UInt64(Rig.count), "each was a real interrupt")
            let calls = devExtB.probe.count
            eduA.interrupt()
            // The ISR finds nothing on its card and does not claim. The line is re-enabled after the
            // unclaimed pass (as genirq does: the unclaimed rule judges a line that keeps coming),
            // and A still asserts it, so the chain runs again and again until A is acknowledged:
            // at least once is what shows A is heard. (Waiting for exactly one more call raced
            // with those re-runs: a poll could land after the second.)
            #expect(eventually(within: 5) { devExtB.probe.count > calls }, "A's interrupt runs the vector's chain too")
            eduA.acknowledgeAll()
            IoDisconnectInterrupt(devExtB.IntObj)
            #expect(dispatcher.connectedInterrupts.isEmpty)
            #expect(try !handlesLine(Rig.eduVFIO) && !handlesLine(Rig.eduSharingLine), "neither line is left enabled")
            devExtB.IntObj = nil
        }
    }
}
