// IO_CONNECT_INTERRUPT_PARAMETERS and IO_DISCONNECT_INTERRUPT_PARAMETERS with
// their members in wdm.h order, and the CONNECT_* versions.

// Versions of IO_CONNECT_INTERRUPT_PARAMETERS / IO_DISCONNECT_INTERRUPT_PARAMETERS (wdm.h).
public let CONNECT_FULLY_SPECIFIED: ULONG = 0x1
public let CONNECT_LINE_BASED: ULONG = 0x2
public let CONNECT_MESSAGE_BASED: ULONG = 0x3
public let CONNECT_FULLY_SPECIFIED_GROUP: ULONG = 0x4
/// Windows 8: CONNECT_MESSAGE_BASED with the routines called at PASSIVE_LEVEL.
public let CONNECT_MESSAGE_BASED_PASSIVE: ULONG = 0x5
/// wdm.h's value: CONNECT_MESSAGE_BASED_PASSIVE.
public let CONNECT_CURRENT_VERSION: ULONG = 0x5

/// `PKINTERRUPT *`: where IoConnectInterruptEx stores the interrupt object.
public typealias PPKINTERRUPT = OutParameter<PKINTERRUPT>

/// IO_CONNECT_INTERRUPT_PARAMETERS. C overlays the three members in a union;
/// here they are separate, and only the one `Version` names is read.
public struct IO_CONNECT_INTERRUPT_PARAMETERS: ZeroInitializable {
    /// In: CONNECT_FULLY_SPECIFIED(_GROUP), CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED(_PASSIVE).
    /// Out: CONNECT_LINE_BASED when CONNECT_MESSAGE_BASED fell back to the FallBackServiceRoutine.
    public var Version: ULONG
    public var FullySpecified: IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS
    public var LineBased: IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS
    public var MessageBased: IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS

    public init() {
        Version = 0
        FullySpecified = IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS()
        LineBased = IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS()
        MessageBased = IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS()
    }
}
public typealias PIO_CONNECT_INTERRUPT_PARAMETERS = UnsafeMutablePointer<IO_CONNECT_INTERRUPT_PARAMETERS>

/// `Parameters->FullySpecified`: one specific interrupt, described by the
/// CM_PARTIAL_RESOURCE_DESCRIPTOR the driver received.
public struct IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS: ZeroInitializable {
    public var PhysicalDeviceObject: PDEVICE_OBJECT
    public var InterruptObject: PPKINTERRUPT?
    public var ServiceRoutine: PKSERVICE_ROUTINE
    public var ServiceContext: PVOID
    public var SpinLock: PKSPIN_LOCK
    public var SynchronizeIrql: KIRQL
    public var FloatingSave: BOOLEAN
    public var ShareVector: BOOLEAN
    public var Vector: ULONG
    public var Irql: KIRQL
    public var InterruptMode: KINTERRUPT_MODE
    /// The tenth parameter of the underlying connect: no bits set is STATUS_INVALID_PARAMETER_10.
    public var ProcessorEnableMask: KAFFINITY
    /// Used only with CONNECT_FULLY_SPECIFIED_GROUP; CONNECT_FULLY_SPECIFIED always means group 0.
    public var Group: USHORT

    public init() {
        PhysicalDeviceObject = nil
        InterruptObject = nil
        ServiceRoutine = nil
        ServiceContext = nil
        SpinLock = nil
        SynchronizeIrql = 0
        FloatingSave = FALSE
        ShareVector = FALSE
        Vector = 0
        Irql = 0
        InterruptMode = LevelSensitive
        ProcessorEnableMask = 0
        Group = 0
    }
}

/// `Parameters->LineBased`: every line-based interrupt of the device, one ISR.
public struct IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS: ZeroInitializable {
    public var PhysicalDeviceObject: PDEVICE_OBJECT
    public var InterruptObject: PPKINTERRUPT?
    public var ServiceRoutine: PKSERVICE_ROUTINE
    public var ServiceContext: PVOID
    public var SpinLock: PKSPIN_LOCK
    /// The minimum DIRQL to run at; the system uses the maximum of this and the interrupts' levels.
    public var SynchronizeIrql: KIRQL
    public var FloatingSave: BOOLEAN

    public init() {
        PhysicalDeviceObject = nil
        InterruptObject = nil
        ServiceRoutine = nil
        ServiceContext = nil
        SpinLock = nil
        SynchronizeIrql = 0
        FloatingSave = FALSE
    }
}

/// `Parameters->MessageBased`: every message of the device, one message ISR;
/// or, on a device with only a line, `FallBackServiceRoutine` on the line.
public struct IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS: ZeroInitializable {
    public var PhysicalDeviceObject: PDEVICE_OBJECT
    public var ConnectionContext: IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT
    public var MessageServiceRoutine: PKMESSAGE_SERVICE_ROUTINE
    public var ServiceContext: PVOID
    public var SpinLock: PKSPIN_LOCK
    /// The minimum DIRQL to run at; the system uses the maximum of this and the messages' levels.
    public var SynchronizeIrql: KIRQL
    public var FloatingSave: BOOLEAN
    public var FallBackServiceRoutine: PKSERVICE_ROUTINE

    public init() {
        PhysicalDeviceObject = nil
        ConnectionContext = IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT()
        MessageServiceRoutine = nil
        ServiceContext = nil
        SpinLock = nil
        SynchronizeIrql = 0
        FloatingSave = FALSE
        FallBackServiceRoutine = nil
    }
}

/// `Parameters->MessageBased.ConnectionContext`: C's union of three pointers to ONE
/// driver variable, which receives the connection context (seed 001: "To minimize
/// casting, ConnectionContext is defined as a union. Use ConnectionContext.Generic to
/// treat the location as a PVOID. Use ConnectionContext.InterruptObject and
/// ConnectionContext.InterruptMessageTable to treat the location as a PKINTERRUPT or
/// PIO_INTERRUPT_MESSAGE_INFO variable respectively").
///
/// Here too the three members are views of one stored location, so whichever member
/// the driver sets, it gets the connection whatever the outcome: the location then
/// holds the IO_INTERRUPT_MESSAGE_INFO (Version = CONNECT_MESSAGE_BASED) or, after a
/// fall-back to the line, the KINTERRUPT (Version = CONNECT_LINE_BASED). Setting one
/// member replaces the location of all three, as assigning to a union member does.
///
/// Because the location may receive either type, the driver's variable is a `PVOID`
/// (`var ConnectionContext: PVOID = nil`), as the C variable is type-punned. The typed
/// members answer what the location really holds: `InterruptObject?.pointee` is the
/// KINTERRUPT after a fall-back and nil when the location holds a message table.
public struct IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT: ZeroInitializable {
    /// The one location all three members name (nil: not set, a NULL pointer in C).
    var location: OutParameter<PVOID>?

    public init() { location = nil }

    /// `PVOID *Generic`: the location as a `PVOID` variable.
    public var Generic: OutParameter<PVOID>? {
        get { location }
        set { location = newValue }
    }

    /// `PKINTERRUPT *InterruptObject`: the location as a PKINTERRUPT variable.
    public var InterruptObject: UnionOutParameter<KINTERRUPT>? {
        get { location.map(UnionOutParameter.init) }
        set { location = newValue?.location }
    }

    /// `PIO_INTERRUPT_MESSAGE_INFO *InterruptMessageTable`: the location as a
    /// PIO_INTERRUPT_MESSAGE_INFO variable.
    public var InterruptMessageTable: UnionOutParameter<IO_INTERRUPT_MESSAGE_INFO>? {
        get { location.map(UnionOutParameter.init) }
        set { location = newValue?.location }
    }
}

/// One `PVOID` location seen as a variable of `Pointee`, the Swift form of a member
/// of a C union of pointers (`PKINTERRUPT *InterruptObject` beside `PVOID *Generic`).
///
/// Reading gives what the location holds if it is a `Pointee`, and nil if it is NULL
/// or holds another union member's type; writing stores the value, which every other
/// view of the location then sees. Name the location as for an ``OutParameter``:
/// `deviceExtension.pointer(to: \.ConnectionContext)` where the field is a `PVOID`.
public struct UnionOutParameter<Pointee: Sendable> {
    /// The location itself, as a `PVOID` variable.
    public let location: OutParameter<PVOID>

    public init(_ location: OutParameter<PVOID>) { self.location = location }

    /// The location `pointer`, which must stay valid while the parameters are used.
    public init(_ pointer: UnsafeMutablePointer<PVOID>) { location = OutParameter(pointer) }

    /// `*location` as a `Pointee`: nil when the location is NULL or holds another type.
    public var pointee: Pointee? {
        get { location.pointee as? Pointee }
        nonmutating set { location.pointee = newValue }
    }
}

/// IO_DISCONNECT_INTERRUPT_PARAMETERS: `Version` as IoConnectInterruptEx returned it,
/// and the object it returned.
public struct IO_DISCONNECT_INTERRUPT_PARAMETERS: ZeroInitializable {
    public var Version: ULONG
    public var ConnectionContext: IO_DISCONNECT_INTERRUPT_CONNECTION_CONTEXT

    public init() {
        Version = 0
        ConnectionContext = IO_DISCONNECT_INTERRUPT_CONNECTION_CONTEXT()
    }
}
public typealias PIO_DISCONNECT_INTERRUPT_PARAMETERS = UnsafeMutablePointer<IO_DISCONNECT_INTERRUPT_PARAMETERS>

/// The union of IO_DISCONNECT_INTERRUPT_PARAMETERS: one value seen as a `PVOID`,
/// a `PKINTERRUPT` or a `PIO_INTERRUPT_MESSAGE_INFO`, as in C.
public struct IO_DISCONNECT_INTERRUPT_CONNECTION_CONTEXT: ZeroInitializable {
    public var Generic: PVOID

    public init() { Generic = nil }

    public var InterruptObject: PKINTERRUPT {
        get { Generic as? KINTERRUPT }
        set { Generic = newValue }
    }

    public var InterruptMessageTable: PIO_INTERRUPT_MESSAGE_INFO {
        get { Generic as? IO_INTERRUPT_MESSAGE_INFO }
        set { Generic = newValue }
    }
}
