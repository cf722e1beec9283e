import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// A small WDM-style driver for QEMU's edu device, written the way a ported driver
/// is: DispatchPnp handles IRP_MN_START_DEVICE, connects with CONNECT_MESSAGE_BASED
/// and a fall-back ISR, the ISR acknowledges the device and queues its DpcForIsr,
/// the DPC does the work, and stop disconnects with the Version connect returned.
final class EduDriver: Addressable, @unchecked Sendable {
    // @unchecked: ConnectionContext and ConnectVersion are written by StartDevice before
    // the device is told to interrupt and read by StopDevice on the same thread; the
    // ISR and DPC touch only the atomics and the immutable `backend`.
    var ConnectionContext: PVOID = nil
    var ConnectVersion: ULONG = 0
    let backend: SimulatedBackend
    let isrCalls = Atomic<Int>(0)
    let dpcCalls = Atomic<Int>(0)

    init(backend: SimulatedBackend) { self.backend = backend }

    /// The line-based ISR: the device holds its line until acknowledged (edu's 0x64).
    static let InterruptService: KSERVICE_ROUTINE = { Interrupt, ServiceContext in
        let DeviceObject = ServiceContext as! DEVICE_OBJECT
        let devExt = DeviceObject.DeviceExtension as! EduDriver
        devExt.backend.acknowledge()
        devExt.isrCalls.add(1, ordering: .relaxed)
        IoRequestDpc(DeviceObject, nil, nil)
        return TRUE
    }

    /// The message ISR.
    static let InterruptMessageService: KMESSAGE_SERVICE_ROUTINE = { Interrupt, ServiceContext, MessageID in
        let DeviceObject = ServiceContext as! DEVICE_OBJECT
        (DeviceObject.DeviceExtension as! EduDriver).isrCalls.add(1, ordering: .relaxed)
        IoRequestDpc(DeviceObject, nil, nil)
        return TRUE
    }

    static let DpcForIsr: IO_DPC_ROUTINE = { Dpc, DeviceObject, Irp, Context in
        (DeviceObject.DeviceExtension as! EduDriver).dpcCalls.add(1, ordering: .releasing)
    }

    static func DispatchPnp(_ DeviceObject: DEVICE_OBJECT, _ Irp: IRP) -> NTSTATUS {
        let stack = IoGetCurrentIrpStackLocation(Irp)
        var status = STATUS_NOT_SUPPORTED
        if stack.MinorFunction == IRP_MN_START_DEVICE {
            status = StartDevice(DeviceObject, stack.Parameters.StartDevice.AllocatedResourcesTranslated)
        }
        Irp.IoStatus.Status = status
        IoCompleteRequest(Irp, IO_NO_INCREMENT)
        return status
    }

    static func StartDevice(_ DeviceObject: DEVICE_OBJECT, _ Resources: PCM_RESOURCE_LIST) -> NTSTATUS {
        guard Resources != nil else { return STATUS_INSUFFICIENT_RESOURCES }
        let devExt = DeviceObject.DeviceExtension as! EduDriver
        IoInitializeDpcRequest(DeviceObject, DpcForIsr)

        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
        params.Version = CONNECT_MESSAGE_BASED
        params.MessageBased.PhysicalDeviceObject = DeviceObject
        params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
        params.MessageBased.MessageServiceRoutine = InterruptMessageService
        params.MessageBased.ServiceContext = DeviceObject
        params.MessageBased.SpinLock = nil
        params.MessageBased.SynchronizeIrql = 0
        params.MessageBased.FloatingSave = FALSE
        params.MessageBased.FallBackServiceRoutine = InterruptService

        let status = IoConnectInterruptEx(&params)
        if NT_SUCCESS(status) {
            // We record the type of ISR registered.
            devExt.ConnectVersion = params.Version
        }
        return status
    }

    static func StopDevice(_ DeviceObject: DEVICE_OBJECT) {
        let devExt = DeviceObject.DeviceExtension as! EduDriver
        var params = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        params.Version = devExt.ConnectVersion
        params.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&params)
    }
}

@Suite("A ported driver")
struct PortedDriverTests {
    @Test(arguments: [true, false])
    func eduDriverServesItsInterruptsThroughItsDpc(msiAllowed: Bool) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        var edu = SimulatedDevice.edu()
        edu.holdsLineUntilAcknowledged = true
        let (DeviceObject, backend) = makePDO(edu, policy: InterruptPolicy(msiSupported: msiAllowed), on: dispatcher)
        let driver = EduDriver(backend: backend)
        DeviceObject.DeviceExtension = driver

        #expect(EduDriver.DispatchPnp(DeviceObject, IoBuildStartDeviceIrp(DeviceObject)) == STATUS_SUCCESS)
        #expect(driver.ConnectVersion == (msiAllowed ? CONNECT_MESSAGE_BASED : CONNECT_LINE_BASED))

        for round in 1...50 {
            #expect(backend.raise())
            #expect(eventually { driver.dpcCalls.load(ordering: .acquiring) >= round }, "round \(round) reached the DPC")
        }
        #expect(driver.isrCalls.load(ordering: .relaxed) >= 50)
        if !msiAllowed { #expect(!backend.isLineMasked, "every claimed INTx was unmasked") }

        EduDriver.StopDevice(DeviceObject)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }
}
