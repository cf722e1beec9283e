// Issue 4 item 6 in the WDK's own spelling: IoConnectInterruptEx on real devices,
// the seeds' code ported line for line.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import Synchronization
import InterruptBridgeTestKit
import Testing

/// A ported driver's device extension: results written by IoConnectInterruptEx on the
/// test thread; the ISR touches only the atomics and the immutable register mapping.
final class EDU_EXTENSION: Addressable, @unchecked Sendable {
    // @unchecked: IntObj and ConnectionContext are written by IoConnectInterruptEx on the
    // test thread and read by it afterwards; the ISR uses `edu` (immutable) and atomics.
    var IntObj: PKINTERRUPT = nil
    var ConnectionContext: PVOID = nil
    let edu: Edu
    let probe = ISRProbe()
    init(_ edu: Edu) { self.edu = edu }
}

extension RigIntegrationTests {
    @Suite("IoConnectInterruptEx on real devices")
    struct WDKIntegrationTests {
        static let interruptService: KSERVICE_ROUTINE = { Interrupt, ServiceContext in
            let devExt = ServiceContext as! EDU_EXTENSION
            devExt.probe.record()
            return devExt.edu.acknowledgeAll()
        }

        static let messageService: KMESSAGE_SERVICE_ROUTINE = { Interrupt, ServiceContext, MessageID in
            let devExt = ServiceContext as! EDU_EXTENSION
            devExt.probe.record(message: MessageID)
            return devExt.edu.acknowledgeAll()
        }

        struct Driver {
            let backend: VFIOBackend
            let dispatcher: InterruptDispatcher
            let PhysicalDeviceObject: DEVICE_OBJECT
            let devExt: EDU_EXTENSION

            init(policy: InterruptPolicy) throws {
                try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
                backend = try VFIOBackend(device: Rig.deviceInfo(Rig.eduVFIO), logger: Rig.logger)
                let edu = try Edu(bar: #require(backend.vfioDevice).mapBAR(0))
                edu.acknowledgeAll()
                dispatcher = try InterruptDispatcher(logger: Rig.logger)
                PhysicalDeviceObject = DEVICE_OBJECT(InterruptDevice(backend: backend, policy: policy), dispatcher: dispatcher)
                devExt = EDU_EXTENSION(edu)
            }

            /// What a driver's stop-device does. The extension's results are cleared: the
            /// ISR's ServiceContext is the extension itself, and the extension holds the
            /// connection, a cycle that would keep the BAR mapping (and with it the
            /// VFIO device and group) open for the next test.
            func close() {
                devExt.IntObj = nil
                devExt.ConnectionContext = nil
                dispatcher.shutdown()
                backend.close()
            }

            func fire() -> Int {
                let backend = backend
                let unmasks: (() -> UInt64)? = devExt.IntObj?.kind == .intx ? { backend.unmaskCount } : nil
                return fireOneAtATime(Rig.count, probe: devExt.probe, unmasks: unmasks) { _ in devExt.edu.interrupt() }
            }
        }

        @Test func messageBasedOnEduGetsMSI() throws {
            let driver = try Driver(policy: .default)
            defer { driver.close() }
            let devExt = driver.devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = driver.PhysicalDeviceObject
            params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = Self.messageService
            params.MessageBased.ServiceContext = devExt
            params.MessageBased.SpinLock = nil
            params.MessageBased.SynchronizeIrql = 0
            params.MessageBased.FloatingSave = FALSE
            params.MessageBased.FallBackServiceRoutine = Self.interruptService
            let status = IoConnectInterruptEx(&params)
            #expect(NT_SUCCESS(status), "\(status)")
            #expect(params.Version == CONNECT_MESSAGE_BASED)
            let table = try #require(devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO)
            #expect(table.MessageCount == 1)
            #expect(table.MessageInfo[0].InterruptObject.kind == .msi)
            #expect(table.MessageInfo[0].MessageAddress.QuadPart & 0xfff0_0000 == 0xfee0_0000)
            let kernelBefore = try Rig.kernelCount("vfio-msi[", Rig.eduVFIO)
            #expect(driver.fire() == Rig.count)
            #expect(try Rig.kernelCount("vfio-msi[", Rig.eduVFIO) - kernelBefore == UInt64(Rig.count))
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = params.Version
            disconnect.ConnectionContext.InterruptMessageTable = table
            IoDisconnectInterruptEx(&disconnect)
            #expect(driver.dispatcher.connectedInterrupts.isEmpty)
        }

        @Test func msiDisallowedByPolicyFallsBackWithVersionLineBased() throws {
            let driver = try Driver(policy: InterruptPolicy(msiSupported: false))
            defer { driver.close() }
            let devExt = driver.devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = driver.PhysicalDeviceObject
            params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = Self.messageService
            params.MessageBased.ServiceContext = devExt
            params.MessageBased.FallBackServiceRoutine = Self.interruptService
            let status = IoConnectInterruptEx(&params)
            #expect(NT_SUCCESS(status), "\(status)")
            #expect(params.Version == CONNECT_LINE_BASED)
            let interrupt = try #require(devExt.ConnectionContext as? KINTERRUPT)
            #expect(interrupt.kind == .intx)
            devExt.IntObj = interrupt
            #expect(driver.fire() == Rig.count)
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = params.Version
            disconnect.ConnectionContext.InterruptObject = interrupt
            IoDisconnectInterruptEx(&disconnect)
            #expect(driver.dispatcher.connectedInterrupts.isEmpty)
        }

        enum UnionMember: String, CaseIterable, Sendable { case Generic, InterruptObject, InterruptMessageTable }

        /// Seed 001: "To minimize casting, ConnectionContext is defined as a union ... Use
        /// ConnectionContext.InterruptObject and ConnectionContext.InterruptMessageTable to
        /// treat the location as a PKINTERRUPT or PIO_INTERRUPT_MESSAGE_INFO variable
        /// respectively." Whichever member the driver points at its variable, it gets the
        /// connection: edu's MSI (Version = CONNECT_MESSAGE_BASED) or, with MSI disallowed,
        /// its INTx line through the fall-back (Version = CONNECT_LINE_BASED).
        @Test(arguments: UnionMember.allCases, [true, false])
        func everyUnionMemberReceivesTheConnection(member: UnionMember, msi: Bool) throws {
            let driver = try Driver(policy: InterruptPolicy(msiSupported: msi))
            defer { driver.close() }
            let devExt = driver.devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = driver.PhysicalDeviceObject
            switch member {
            case .Generic: params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            case .InterruptObject: params.MessageBased.ConnectionContext.InterruptObject = devExt.pointer(to: \.ConnectionContext)
            case .InterruptMessageTable:
                params.MessageBased.ConnectionContext.InterruptMessageTable = devExt.pointer(to: \.ConnectionContext)
            }
            params.MessageBased.MessageServiceRoutine = Self.messageService
            params.MessageBased.ServiceContext = devExt
            params.MessageBased.FallBackServiceRoutine = Self.interruptService
            let status = IoConnectInterruptEx(&params)
            #expect(NT_SUCCESS(status), "\(status)")
            let context = params.MessageBased.ConnectionContext
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = params.Version
            if msi {
                #expect(params.Version == CONNECT_MESSAGE_BASED)
                let table = try #require(context.InterruptMessageTable?.pointee)
                #expect(context.InterruptObject?.pointee == nil)
                #expect(table.MessageInfo[0].InterruptObject.kind == .msi)
                disconnect.ConnectionContext.InterruptMessageTable = table
            } else {
                #expect(params.Version == CONNECT_LINE_BASED)
                let interrupt = try #require(context.InterruptObject?.pointee)
                #expect(context.InterruptMessageTable?.pointee == nil)
                #expect(interrupt.kind == .intx)
                devExt.IntObj = interrupt
                disconnect.ConnectionContext.InterruptObject = interrupt
            }
            #expect(driver.fire() == Rig.count)
            IoDisconnectInterruptEx(&disconnect)
            #expect(driver.dispatcher.connectedInterrupts.isEmpty)
        }

        /// CONNECT_MESSAGE_BASED_PASSIVE on edu's real MSI: the routine runs at PASSIVE_LEVEL.
        @Test func messageBasedPassiveOnEduMSI() throws {
            let driver = try Driver(policy: .default)
            defer { driver.close() }
            let devExt = driver.devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_MESSAGE_BASED_PASSIVE
            params.MessageBased.PhysicalDeviceObject = driver.PhysicalDeviceObject
            params.MessageBased.ConnectionContext.InterruptMessageTable = devExt.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = { Interrupt, ServiceContext, MessageID in
                let devExt = ServiceContext as! EDU_EXTENSION
                if KeGetCurrentIrql() == PASSIVE_LEVEL { devExt.probe.record(message: MessageID) }
                return devExt.edu.acknowledgeAll()
            }
            params.MessageBased.ServiceContext = devExt
            let status = IoConnectInterruptEx(&params)
            #expect(NT_SUCCESS(status), "\(status)")
            #expect(params.Version == CONNECT_MESSAGE_BASED_PASSIVE)
            let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
            #expect(table.UnifiedIrql == PASSIVE_LEVEL)
            #expect(table.MessageInfo[0].InterruptObject.isPassiveLevel)
            #expect(table.MessageInfo[0].MessageAddress.QuadPart & 0xfff0_0000 == 0xfee0_0000)
            #expect(driver.fire() == Rig.count, "every interrupt reached the routine at PASSIVE_LEVEL")
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = params.Version
            disconnect.ConnectionContext.InterruptMessageTable = table
            IoDisconnectInterruptEx(&disconnect)
            #expect(driver.dispatcher.connectedInterrupts.isEmpty)
        }

        @Test func lineBasedGetsINTx() throws {
            let driver = try Driver(policy: InterruptPolicy(msiSupported: false))
            defer { driver.close() }
            let devExt = driver.devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            var status: NTSTATUS
            // Seed 000, line for line.
            RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
            params.Version = CONNECT_LINE_BASED
            params.LineBased.PhysicalDeviceObject = driver.PhysicalDeviceObject
            params.LineBased.InterruptObject = devExt.pointer(to: \.IntObj)
            params.LineBased.ServiceRoutine = Self.interruptService
            params.LineBased.ServiceContext = devExt
            params.LineBased.SpinLock = nil
            params.LineBased.SynchronizeIrql = 0
            params.LineBased.FloatingSave = FALSE
            status = IoConnectInterruptEx(&params)
            if !NT_SUCCESS(status) {
                Issue.record("IoConnectInterruptEx failed: \(status)")
                return
            }
            #expect(devExt.IntObj?.kind == .intx)
            let unmasksBefore = driver.backend.unmaskCount
            #expect(driver.fire() == Rig.count)
            #expect(driver.backend.unmaskCount - unmasksBefore == UInt64(Rig.count))
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = CONNECT_LINE_BASED
            disconnect.ConnectionContext.InterruptObject = devExt.IntObj
            IoDisconnectInterruptEx(&disconnect)
        }

        @Test(arguments: [true, false])
        func fullySpecifiedOnTheTranslatedDescriptor(messageSignaled: Bool) throws {
            let driver = try Driver(policy: InterruptPolicy(msiSupported: messageSignaled))
            defer { driver.close() }
            let devExt = driver.devExt
            let PhysicalDeviceObject = driver.PhysicalDeviceObject
            let deviceInterruptService = Self.interruptService
            let ServiceContext: PVOID = devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            var status: NTSTATUS

            let Irp = IoBuildStartDeviceIrp(PhysicalDeviceObject)
            let stack = IoGetCurrentIrpStackLocation(Irp)
            let translated = try #require(stack.Parameters.StartDevice.AllocatedResourcesTranslated)
            let partialList = translated.List[0].PartialResourceList
            var found: CM_PARTIAL_RESOURCE_DESCRIPTOR?
            for i in 0..<Int(partialList.Count) where partialList.PartialDescriptors[i].Type == CmResourceTypeInterrupt {
                found = partialList.PartialDescriptors[i]
            }
            let IntResource = try #require(found)

            // Seed 003, line for line.
            RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
            params.Version = CONNECT_FULLY_SPECIFIED
            params.FullySpecified.PhysicalDeviceObject = PhysicalDeviceObject
            params.FullySpecified.InterruptObject = devExt.pointer(to: \.IntObj)
            params.FullySpecified.ServiceRoutine = deviceInterruptService
            params.FullySpecified.ServiceContext = ServiceContext
            params.FullySpecified.FloatingSave = FALSE
            params.FullySpecified.SpinLock = nil
            if IntResource.Flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0 {
                params.FullySpecified.Vector = IntResource.u.MessageInterrupt.Translated.Vector
                params.FullySpecified.Irql = KIRQL(IntResource.u.MessageInterrupt.Translated.Level)
                params.FullySpecified.SynchronizeIrql = KIRQL(IntResource.u.MessageInterrupt.Translated.Level)
                params.FullySpecified.ProcessorEnableMask = IntResource.u.MessageInterrupt.Translated.Affinity
            } else {
                params.FullySpecified.Vector = IntResource.u.Interrupt.Vector
                params.FullySpecified.Irql = KIRQL(IntResource.u.Interrupt.Level)
                params.FullySpecified.SynchronizeIrql = KIRQL(IntResource.u.Interrupt.Level)
                params.FullySpecified.ProcessorEnableMask = IntResource.u.Interrupt.Affinity
            }
            params.FullySpecified.InterruptMode = (IntResource.Flags & CM_RESOURCE_INTERRUPT_LATCHED != 0 ? Latched : LevelSensitive)
            params.FullySpecified.ShareVector = BOOLEAN(IntResource.ShareDisposition == CmResourceShareShared)
            status = IoConnectInterruptEx(&params)
            if !NT_SUCCESS(status) {
                Issue.record("IoConnectInterruptEx failed: \(status)")
                return
            }
            #expect(devExt.IntObj?.kind == (messageSignaled ? .msi : .intx))
            #expect(driver.fire() == Rig.count)
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = CONNECT_FULLY_SPECIFIED
            disconnect.ConnectionContext.InterruptObject = devExt.IntObj
            IoDisconnectInterruptEx(&disconnect)
        }
    }
}
