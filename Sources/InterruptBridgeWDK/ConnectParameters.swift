// IO_CONNECT_INTERRUPT_PARAMETERS and IO_DISCONNECT_INTERRUPT_PARAMETERS with
// their members in wdm.h order, and the CONNECT_* versions.

// Versions of IO_CONNECT_INTERRUPT_PARAMETERS / IO_DISCONNECT_INTERRUPT_PARAMETERS (wdm.h).
public let CONNECT_FULLY_SPECIFIED: ULONG = 0x1
public let CONNECT_LINE_BASED: ULONG = 0x2
public let CONNECT_MESSAGE_BASED: ULONG = 0x3
public let CONNECT_FULLY_SPECIFIED_GROUP: ULONG = 0x4
public let CONNECT_MESSAGE_BASED_PASSIVE: ULONG = 0x5
/// wdm.h's value. CONNECT_MESSAGE_BASED_PASSIVE (and so this) is not implemented:
/// IoConnectInterruptEx returns STATUS_INVALID_PARAMETER_1 for it.
public let CONNECT_CURRENT_VERSION: ULONG = 0x5

/// `PKINTERRUPT *`: where IoConnectInterruptEx stores the interrupt object.
public typealias PPKINTERRUPT = OutParameter<PKINTERRUPT>

/// IO_CONNECT_INTERRUPT_PARAMETERS. C overlays the three members in a union;
/// here they are separate, and only the one `Version` names is read.
public struct IO_CONNECT_INTERRUPT_PARAMETERS: ZeroInitializable {
    /// In: CONNECT_FULLY_SPECIFIED(_GROUP), CONNECT_LINE_BASED or CONNECT_MESSAGE_BASED.
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

/// `Parameters->MessageBased.ConnectionContext`: a union of three pointers to the
/// driver's variable that receives the result (an IO_INTERRUPT_MESSAGE_INFO table,
/// or a KINTERRUPT after a fall-back to the line).
///
/// Swift cannot store a KINTERRUPT in a variable declared as a message table, so
/// the members keep one location and remember its type:
/// * `Generic` (a `PVOID` variable) receives either; read `params.Version` to know which.
/// * `InterruptMessageTable` receives only a table, `InterruptObject` only a KINTERRUPT:
///   a connection whose result would not fit fails with STATUS_INVALID_PARAMETER
///   and connects nothing (C would store the other pointer type there).
public struct IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT: ZeroInitializable {
    enum Location {
        case generic(OutParameter<PVOID>)
        case interruptObject(OutParameter<PKINTERRUPT>)
        case messageTable(OutParameter<PIO_INTERRUPT_MESSAGE_INFO>)
    }
    var location: Location?

    public init() { location = nil }

    /// `PVOID *Generic`.
    public var Generic: OutParameter<PVOID>? {
        get {
            guard case let .generic(out)? = location else { return nil }
            return out
        }
        set { location = newValue.map(Location.generic) }
    }

    /// `PKINTERRUPT *InterruptObject`.
    public var InterruptObject: PPKINTERRUPT? {
        get {
            guard case let .interruptObject(out)? = location else { return nil }
            return out
        }
        set { location = newValue.map(Location.interruptObject) }
    }

    /// `PIO_INTERRUPT_MESSAGE_INFO *InterruptMessageTable`.
    public var InterruptMessageTable: OutParameter<PIO_INTERRUPT_MESSAGE_INFO>? {
        get {
            guard case let .messageTable(out)? = location else { return nil }
            return out
        }
        set { location = newValue.map(Location.messageTable) }
    }

    /// Whether the location can receive a message table (true) or a KINTERRUPT (false).
    func canReceive(messageTable: Bool) -> Bool {
        switch location {
        case nil: false
        case .generic?: true
        case .interruptObject?: !messageTable
        case .messageTable?: messageTable
        }
    }

    /// Stores the result; call only after `canReceive` said yes.
    func store(interrupt: KINTERRUPT?, table: IO_INTERRUPT_MESSAGE_INFO?) {
        switch location {
        case let .generic(out)?: out.pointee = table.map { $0 as any Sendable } ?? interrupt.map { $0 as any Sendable }
        case let .interruptObject(out)?: out.pointee = interrupt
        case let .messageTable(out)?: out.pointee = table
        case nil: break
        }
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
