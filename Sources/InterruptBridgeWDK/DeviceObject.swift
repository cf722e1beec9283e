// DEVICE_OBJECT over the runtime's InterruptDevice, and the IRP_MN_START_DEVICE
// request that hands a driver its PDO with the raw and translated resources.
public import InterruptBridge
import InterruptBridgeSystem
import Synchronization

/// DEVICE_OBJECT: the physical device object (PDO) of a device whose interrupts
/// can be connected: a simulated device, or a real one behind VFIO or UIO.
///
/// Its `dispatcher` runs the ISRs connected to it and its DPC; the device is
/// registered with the dispatcher so the legacy IoConnectInterrupt, which names
/// only a vector, can find it.
public final class DEVICE_OBJECT: Sendable, CustomStringConvertible {
    /// The runtime device: discovered identity, policy, resources and backend.
    public let device: InterruptDevice
    /// The dispatcher that serves this device's interrupts and DPC.
    public let dispatcher: InterruptDispatcher
    // Both are read on the interrupt path (`DeviceObject->DeviceExtension` in an ISR is the
    // C idiom; IoRequestDpc reads the DpcForIsr) without blocking. The extension is held
    // only while set (nil at teardown lets it go); each DpcForIsr stays until the device
    // object goes (a driver initializes it once or twice; it holds the device object weakly).
    private let deviceExtension = SpinLockedSlot<PVOID>(nil)
    private let dpc = PublishedReference<DeferredCall<PVOID>>()

    public init(_ device: InterruptDevice, dispatcher: InterruptDispatcher) {
        self.device = device
        self.dispatcher = dispatcher
        dispatcher.register(device)
        IoSpace.add(self)
        DeviceObjects.add(self)
    }

    deinit {
        DmaAdapters.deviceObjectGone(ObjectIdentifier(self))
        IoSpace.remove(ObjectIdentifier(self))
        dispatcher.unregister(device)
    }

    /// `DeviceObject->DeviceExtension`: the driver's per-device state, usually its
    /// device-extension object (cast back with `as!`).
    /// Reading it neither allocates nor sleeps, so ISRs may (a spin lock is held just to copy
    /// the reference). Set it to nil at teardown, where a driver calls IoDeleteDevice, to let
    /// the extension go: one that points back at this object would otherwise keep both alive.
    public var DeviceExtension: PVOID {
        get { deviceExtension.read() }
        set { deviceExtension.replace(with: newValue) }
    }

    /// `DeviceObject->Dpc`: the DpcForIsr that IoInitializeDpcRequest initializes
    /// (uninitialized before). It is a runtime DPC like any KDPC: KeRemoveQueueDpc
    /// takes a request back.
    ///
    /// The slot is the facade's, not `InterruptDevice`'s DPC for ISR: that one carries
    /// `OpaqueContext` arguments (an Irp object and any `PVOID` Context would need boxing,
    /// an allocation in the ISR) and does not hand its DPC to the routine or to callers,
    /// which `Dpc` and the DpcForIsr's `Dpc` parameter need.
    public var Dpc: KDPC { dpc.object.map(KDPC.init) ?? KDPC() }

    func installDpc(_ newDpc: DeferredCall<PVOID>) { dpc.publish(newDpc) }

    public var description: String { "PDO \(device)" }
}
/// The DEVICE_OBJECTs alive, weakly, in creation order: where the legacy IoConnectInterrupt,
/// which names only a vector, finds the dispatcher of the device that has it.
enum DeviceObjects {
    private struct Entry: Sendable {
        weak var object: DEVICE_OBJECT?
    }
    private static let alive = LockedValue<[Entry]>([])

    static func add(_ deviceObject: DEVICE_OBJECT) {
        alive.withLock { list in
            list.removeAll { $0.object == nil }
            list.append(Entry(object: deviceObject))
        }
    }

    /// The dispatcher of the first device object alive whose device has `vector` and no
    /// connection of its own yet (the card a legacy connect serves, as
    /// `InterruptDispatcher.connectLegacy` picks it), else of the first that has it; nil
    /// when none has it. Only running dispatchers: a device object kept after its
    /// dispatcher was shut down would otherwise turn the connect into
    /// STATUS_INSUFFICIENT_RESOURCES while a running one could serve the vector.
    static func dispatcher(assigning vector: ULONG) -> InterruptDispatcher? {
        let candidates = alive.withLock { list in
            list.compactMap(\.object).filter { $0.device.assignedVector(vector) != nil }
        }.filter(\.dispatcher.isRunning)
        let unconnected = candidates.first { candidate in
            !candidate.dispatcher.connectedInterrupts.contains { $0.device === candidate.device }
        }
        return (unconnected ?? candidates.first)?.dispatcher
    }
}

/// PDEVICE_OBJECT: NULL is a missing device (STATUS_INVALID_PARAMETER when connecting).
public typealias PDEVICE_OBJECT = DEVICE_OBJECT?

// Major and minor function codes of the start request.
public let IRP_MJ_PNP: UCHAR = 0x1b
public let IRP_MN_START_DEVICE: UCHAR = 0x00
// The other PnP minor codes a driver's dispatch routine switches on (the bridge issues
// only the start request; these let the rest of the switch compile as written).
public let IRP_MN_QUERY_REMOVE_DEVICE: UCHAR = 0x01
public let IRP_MN_REMOVE_DEVICE: UCHAR = 0x02
public let IRP_MN_CANCEL_REMOVE_DEVICE: UCHAR = 0x03
public let IRP_MN_STOP_DEVICE: UCHAR = 0x04
public let IRP_MN_QUERY_STOP_DEVICE: UCHAR = 0x05
public let IRP_MN_CANCEL_STOP_DEVICE: UCHAR = 0x06
public let IRP_MN_SURPRISE_REMOVAL: UCHAR = 0x17

/// IO_STATUS_BLOCK.
public struct IO_STATUS_BLOCK: Sendable {
    public var Status: NTSTATUS
    public var Information: ULONG_PTR
    public init(Status: NTSTATUS = STATUS_SUCCESS, Information: ULONG_PTR = 0) {
        self.Status = Status
        self.Information = Information
    }
}

/// IO_STACK_LOCATION, with the one parameter set the bridge issues: StartDevice.
public struct IO_STACK_LOCATION: Sendable {
    public var MajorFunction: UCHAR
    public var MinorFunction: UCHAR
    public var DeviceObject: PDEVICE_OBJECT
    public var Parameters: IO_STACK_LOCATION_PARAMETERS
}
public typealias PIO_STACK_LOCATION = IO_STACK_LOCATION

/// `IO_STACK_LOCATION.Parameters`.
public struct IO_STACK_LOCATION_PARAMETERS: Sendable {
    public var StartDevice: StartDeviceParameters

    /// `Parameters.StartDevice`: the device's resources in both forms.
    public struct StartDeviceParameters: Sendable {
        /// Raw (bus-relative) resources; NULL when the device has none.
        public var AllocatedResources: PCM_RESOURCE_LIST
        /// Translated resources: connect interrupts with these.
        public var AllocatedResourcesTranslated: PCM_RESOURCE_LIST
    }
}

/// IRP: an I/O request as the bridge issues it to a driver's dispatch routine.
public final class IRP: Sendable {
    private let stackLocation: IO_STACK_LOCATION
    // Guarded by its lock: written by the driver when it completes the request.
    private let status = LockedValue(IO_STATUS_BLOCK())

    init(stackLocation: IO_STACK_LOCATION) { self.stackLocation = stackLocation }

    /// `Irp->IoStatus`.
    public var IoStatus: IO_STATUS_BLOCK {
        get { status.withLock { $0 } }
        set { status.withLock { $0 = newValue } }
    }

    var currentStackLocation: IO_STACK_LOCATION { stackLocation }
}
public typealias PIRP = IRP?

/// `IoGetCurrentIrpStackLocation(Irp)`.
public func IoGetCurrentIrpStackLocation(_ Irp: IRP) -> PIO_STACK_LOCATION {
    Irp.currentStackLocation
}

/// Builds the IRP_MJ_PNP / IRP_MN_START_DEVICE request the PnP manager sends a
/// driver for `PhysicalDeviceObject`: `Parameters.StartDevice.AllocatedResources`
/// and `AllocatedResourcesTranslated` are the device's resource lists (Core's
/// ResourceTranslator output under the device's policy).
public func IoBuildStartDeviceIrp(_ PhysicalDeviceObject: DEVICE_OBJECT) -> IRP {
    let device = PhysicalDeviceObject.device
    let start = IO_STACK_LOCATION_PARAMETERS.StartDeviceParameters(
        AllocatedResources: CM_RESOURCE_LIST.allocatedResources(device.resources, address: device.info.address),
        AllocatedResourcesTranslated: CM_RESOURCE_LIST.allocatedResourcesTranslated(device.resources, address: device.info.address))
    return IRP(stackLocation: IO_STACK_LOCATION(
        MajorFunction: IRP_MJ_PNP, MinorFunction: IRP_MN_START_DEVICE, DeviceObject: PhysicalDeviceObject,
        Parameters: IO_STACK_LOCATION_PARAMETERS(StartDevice: start)))
}

/// `IoCompleteRequest`: the driver is done with the request. The bridge keeps no IRP
/// queue, so there is nothing to advance: the status the driver stored in
/// `Irp.IoStatus` is the result, and `PriorityBoost` has no meaning here.
public func IoCompleteRequest(_ Irp: IRP, _ PriorityBoost: CCHAR) {}
public typealias CCHAR = Int8
public let IO_NO_INCREMENT: CCHAR = 0
