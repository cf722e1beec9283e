// The edu driver's interrupt handling, as a WDM driver writes it: map BAR0 with MmMapIoSpace
// from the start request's translated CmResourceTypeMemory descriptor, connect with
// IoConnectInterruptEx(CONNECT_MESSAGE_BASED) and a line-based fall-back routine; the ISR
// reads the interrupt status register (0x24) and acknowledges what it read (0x64) with
// READ_REGISTER_ULONG and WRITE_REGISTER_ULONG.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
public import InterruptBridgeWDK
import Logging
import Synchronization

/// QEMU edu's registers (BAR0).
public enum EDU_REGISTER {
    public static let INTERRUPT_STATUS = 0x24
    public static let INTERRUPT_RAISE = 0x60
    public static let INTERRUPT_ACK = 0x64
}

/// The device extension: what the ISR may touch (the register mapping and atomics), and
/// what IoConnectInterruptEx writes back on the driver's thread.
public final class EDU_DEVICE_EXTENSION: Addressable, @unchecked Sendable {
    // @unchecked: Registers, ConnectionContext and Version are written on the start/stop
    // thread (Registers before the connect, cleared after the disconnect); the ISR reads
    // `Registers` and the atomics.
    public var ConnectionContext: PVOID = nil
    public var Version: ULONG = 0
    /// BAR0, as MmMapIoSpace mapped it.
    var Registers: PUCHAR? = nil
    var RegistersLength: SIZE_T = 0
    let interrupts = Atomic<Int>(0)
    let statusBits = Atomic<UInt32>(0)

    /// Interrupts the ISR claimed so far.
    public var InterruptCount: Int { interrupts.load(ordering: .acquiring) }
    /// Every status bit the ISR acknowledged, ORed.
    public var AcknowledgedStatus: UInt32 { statusBits.load(ordering: .acquiring) }
}

/// The ISR: not ours when the status is 0 (a shared line); otherwise acknowledge and count.
/// No allocation, no lock, no logging: it runs on the dispatch loop for every interrupt.
@Sendable func EduInterruptService(_ Interrupt: KINTERRUPT, _ ServiceContext: PVOID) -> BOOLEAN {
    let devExt = ServiceContext as! EDU_DEVICE_EXTENSION
    let status = READ_REGISTER_ULONG(devExt.Registers! + EDU_REGISTER.INTERRUPT_STATUS)
    guard status != 0 else { return FALSE }
    WRITE_REGISTER_ULONG(devExt.Registers! + EDU_REGISTER.INTERRUPT_ACK, status)
    devExt.statusBits.bitwiseOr(status, ordering: .relaxed)
    devExt.interrupts.add(1, ordering: .releasing)
    return TRUE
}

/// The message-signaled ISR: edu has one MSI message, so the same work.
@Sendable func EduMessageService(_ Interrupt: KINTERRUPT, _ ServiceContext: PVOID, _ MessageID: ULONG) -> BOOLEAN {
    EduInterruptService(Interrupt, ServiceContext)
}

/// One started edu: the device opened through VFIO, its interrupt connected.
public final class EduDevice: @unchecked Sendable {
    // @unchecked: start/stop run on one thread; the ISR sees only the extension.
    public let Extension: EDU_DEVICE_EXTENSION
    /// The PDO: MmMapIoSpace finds BAR0's physical address among the device objects alive.
    let PhysicalDeviceObject: DEVICE_OBJECT
    let backend: VFIOBackend
    let dispatcher: InterruptDispatcher
    var connected = false

    /// What IRP_MN_START_DEVICE does: map BAR0 from the translated resources, connect.
    /// `msiAllowed: false` is the registry's MSISupported = 0: the fall-back routine is used.
    public init(address: PCIAddress, msiAllowed: Bool = true, logger: Logger = Logger(label: "edu")) throws {
        guard let info = try PCIDiscovery(logger: logger).device(at: address) else { throw EduDriverError("no PCI device at \(address)") }
        backend = try VFIOBackend(device: info, logger: logger)
        do {
            dispatcher = try InterruptDispatcher(logger: logger)
        } catch {
            backend.close()
            throw error
        }
        Extension = EDU_DEVICE_EXTENSION()
        let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: msiAllowed)), dispatcher: dispatcher)
        PhysicalDeviceObject = pdo
        let start = IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice
        var status = EduMapRegisters(Extension, start.AllocatedResourcesTranslated)
        if NT_SUCCESS(status) { status = EduConnectInterrupt(Extension, pdo) }
        guard NT_SUCCESS(status) else {
            EduUnmapRegisters(Extension)
            dispatcher.shutdown()
            backend.close()
            throw EduDriverError("starting \(address): \(status)")
        }
        connected = true
    }

    /// What the connect returned: CONNECT_MESSAGE_BASED (MSI) or CONNECT_LINE_BASED (INTx).
    public var Version: ULONG { Extension.Version }

    /// Makes the device interrupt (a write of `bits` to 0x60), as a DMA or factorial completion would.
    public func raise(_ bits: UInt32 = 1) {
        guard let registers = Extension.Registers else { return }  // stopped: BAR0 is unmapped
        WRITE_REGISTER_ULONG(registers + EDU_REGISTER.INTERRUPT_RAISE, bits)
    }

    /// Disconnects and releases the device (EvtDeviceReleaseHardware).
    public func stop() {
        if connected { EduDisconnectInterrupt(Extension) }
        connected = false
        Extension.ConnectionContext = nil
        EduUnmapRegisters(Extension)
        dispatcher.shutdown()
        backend.close()
    }
}

/// The driver's register mapping, as written for Windows: BAR0 is edu's one memory resource.
func EduMapRegisters(_ devExt: EDU_DEVICE_EXTENSION, _ Resources: PCM_RESOURCE_LIST) -> NTSTATUS {
    guard let list = Resources else { return STATUS_INSUFFICIENT_RESOURCES }
    for descriptor in list.List[0].PartialResourceList.PartialDescriptors where descriptor.Type == CmResourceTypeMemory {
        devExt.Registers = MmMapIoSpace(descriptor.u.Memory.Start, SIZE_T(descriptor.u.Memory.Length), MmNonCached)
        guard devExt.Registers != nil else { return STATUS_INSUFFICIENT_RESOURCES }
        devExt.RegistersLength = SIZE_T(descriptor.u.Memory.Length)
        return STATUS_SUCCESS
    }
    return STATUS_INSUFFICIENT_RESOURCES
}

func EduUnmapRegisters(_ devExt: EDU_DEVICE_EXTENSION) {
    guard let registers = devExt.Registers else { return }
    devExt.Registers = nil
    MmUnmapIoSpace(registers, devExt.RegistersLength)
}

/// The driver's connect, as written for Windows.
func EduConnectInterrupt(_ devExt: EDU_DEVICE_EXTENSION, _ PhysicalDeviceObject: DEVICE_OBJECT) -> NTSTATUS {
    var params = IO_CONNECT_INTERRUPT_PARAMETERS()
    RtlZeroMemory(&params, MemoryLayout<IO_CONNECT_INTERRUPT_PARAMETERS>.size)
    params.Version = CONNECT_MESSAGE_BASED
    params.MessageBased.PhysicalDeviceObject = PhysicalDeviceObject
    params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
    params.MessageBased.MessageServiceRoutine = EduMessageService
    params.MessageBased.ServiceContext = devExt
    params.MessageBased.SpinLock = nil
    params.MessageBased.SynchronizeIrql = 0
    params.MessageBased.FloatingSave = FALSE
    params.MessageBased.FallBackServiceRoutine = EduInterruptService
    let status = IoConnectInterruptEx(&params)
    if NT_SUCCESS(status) { devExt.Version = params.Version }
    return status
}

func EduDisconnectInterrupt(_ devExt: EDU_DEVICE_EXTENSION) {
    var params = IO_DISCONNECT_INTERRUPT_PARAMETERS()
    params.Version = devExt.Version
    if devExt.Version == CONNECT_MESSAGE_BASED {
        params.ConnectionContext.InterruptMessageTable = devExt.ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO
    } else {
        params.ConnectionContext.InterruptObject = devExt.ConnectionContext as? KINTERRUPT
    }
    IoDisconnectInterruptEx(&params)
}

public struct EduDriverError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
