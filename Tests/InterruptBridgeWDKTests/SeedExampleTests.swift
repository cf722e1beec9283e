import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// The two code examples of the WDK documentation (seeds 000 and 003), ported line
/// for line, run on the simulated backend with an interrupt raised and the ISR observed.
@Suite("Seed examples")
struct SeedExampleTests {
    /// The driver's InterruptService routine: counts, records the IRQL it runs at and
    /// whether it was handed the interrupt object IoConnectInterruptEx returned.
    static let deviceInterruptService: KSERVICE_ROUTINE = { Interrupt, ServiceContext in
        let deviceExtension = ServiceContext as! DEVICE_EXTENSION
        deviceExtension.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
        deviceExtension.isrCalls.add(1, ordering: .releasing)
        return TRUE
    }

    /// Seed 000: "Using the CONNECT_LINE_BASED Version of IoConnectInterruptEx".
    @Test func connectLineBased() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        // The PnP manager's start request hands the driver its PDO.
        let PhysicalDeviceObject = IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).DeviceObject
        #expect(PhysicalDeviceObject === pdo)
        let deviceExtension = DEVICE_EXTENSION()
        let deviceInterruptService = Self.deviceInterruptService
        let ServiceContext: PVOID = deviceExtension
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        var status: NTSTATUS

        // --- seed 000, line for line ---
        RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
        params.Version = CONNECT_LINE_BASED
        params.LineBased.PhysicalDeviceObject = PhysicalDeviceObject
        params.LineBased.InterruptObject = deviceExtension.pointer(to: \.IntObj)
        params.LineBased.ServiceRoutine = deviceInterruptService
        params.LineBased.ServiceContext = ServiceContext
        params.LineBased.SpinLock = nil
        params.LineBased.SynchronizeIrql = 0
        params.LineBased.FloatingSave = FALSE

        status = IoConnectInterruptEx(&params)

        if !NT_SUCCESS(status) {
            // Operation failed. Handle error.
            Issue.record("IoConnectInterruptEx failed: \(status)")
            return
        }
        // --- end of seed ---

        #expect(params.Version == CONNECT_LINE_BASED)
        let interrupt = try #require(deviceExtension.IntObj)
        #expect(interrupt.kind == .intx)
        #expect(interrupt.vector == 11)
        #expect(interrupt.synchronizeIrql.rawValue == 5, "SynchronizeIrql 0 is raised to the line's DIRQL")

        #expect(backend.raise())
        #expect(eventually { deviceExtension.calls >= 1 })
        #expect(deviceExtension.irql == 5, "the ISR runs at the SynchronizeIrql")

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptObject = deviceExtension.IntObj
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil, "the last disconnect disables the device's interrupts")
    }

    /// Seed 003: "Using the CONNECT_FULLY_SPECIFIED Version of IoConnectInterruptEx", on
    /// the IntResource found in IRP_MN_START_DEVICE's translated list; once for a device
    /// assigned MSI (the CM_RESOURCE_INTERRUPT_MESSAGE branch) and once for its line.
    @Test(arguments: [true, false])
    func connectFullySpecified(messageSignaled: Bool) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let policy = InterruptPolicy(msiSupported: messageSignaled)
        let (PhysicalDeviceObject, backend) = makePDO(Devices.edu, policy: policy, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        let deviceExtension = devExt
        let deviceInterruptService = Self.deviceInterruptService
        let ServiceContext: PVOID = deviceExtension
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        var status: NTSTATUS

        // The start-device request, as the driver's DispatchPnp receives it.
        let Irp = IoBuildStartDeviceIrp(PhysicalDeviceObject)
        let stack = IoGetCurrentIrpStackLocation(Irp)
        #expect(stack.MajorFunction == IRP_MJ_PNP && stack.MinorFunction == IRP_MN_START_DEVICE)
        let translated = try #require(stack.Parameters.StartDevice.AllocatedResourcesTranslated)
        let raw = try #require(stack.Parameters.StartDevice.AllocatedResources)
        #expect(raw.List[0].PartialResourceList.Count == translated.List[0].PartialResourceList.Count)
        let partialList = translated.List[0].PartialResourceList
        var found: CM_PARTIAL_RESOURCE_DESCRIPTOR?
        for i in 0..<Int(partialList.Count) where partialList.PartialDescriptors[i].Type == CmResourceTypeInterrupt {
            found = partialList.PartialDescriptors[i]
        }
        let IntResource = try #require(found)

        // --- seed 003, line for line ---
        RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
        params.Version = CONNECT_FULLY_SPECIFIED  // in the WDK page; lost from the seed's text
        params.FullySpecified.PhysicalDeviceObject = PhysicalDeviceObject
        params.FullySpecified.InterruptObject = devExt.pointer(to: \.IntObj)
        params.FullySpecified.ServiceRoutine = deviceInterruptService
        params.FullySpecified.ServiceContext = ServiceContext
        params.FullySpecified.FloatingSave = FALSE
        params.FullySpecified.SpinLock = nil

        if IntResource.Flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0 {
            // The resource is for a message-signaled interrupt. Use the u.MessageInterrupt.Translated member of IntResource.

            params.FullySpecified.Vector = IntResource.u.MessageInterrupt.Translated.Vector
            params.FullySpecified.Irql = KIRQL(IntResource.u.MessageInterrupt.Translated.Level)
            params.FullySpecified.SynchronizeIrql = KIRQL(IntResource.u.MessageInterrupt.Translated.Level)
            params.FullySpecified.ProcessorEnableMask = IntResource.u.MessageInterrupt.Translated.Affinity
        } else {
            // The resource is for a line-based interrupt. Use the u.Interrupt member of IntResource.

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
        // --- end of seed ---

        let interrupt = try #require(devExt.IntObj)
        #expect(interrupt.kind == (messageSignaled ? .msi : .intx))
        #expect(interrupt.mode == (messageSignaled ? .latched : .levelSensitive))
        #expect(interrupt.shareVector == !messageSignaled)
        #expect(interrupt.synchronizeIrql.rawValue == (messageSignaled ? 8 : 5))

        #expect(backend.raise(message: 0))
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.irql == interrupt.synchronizeIrql.rawValue)

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_FULLY_SPECIFIED
        disconnect.ConnectionContext.InterruptObject = devExt.IntObj
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }
}
