// The scalar types and IRQL constants of wdm.h / ntdef.h, and the two helpers
// that let C's `RtlZeroMemory(&x, sizeof(x))` and `x = &storage` lines port.

/// `BOOLEAN`: a `UCHAR` in C. Here `Bool`, so `if (!NT_SUCCESS(status))` and an
/// ISR's `return TRUE` read as in C. `(BOOLEAN)(a == b)` ports as `BOOLEAN(a == b)`.
public typealias BOOLEAN = Bool
public let TRUE: BOOLEAN = true
public let FALSE: BOOLEAN = false

public typealias UCHAR = UInt8
public typealias USHORT = UInt16
public typealias ULONG = UInt32
public typealias LONG = Int32
public typealias ULONGLONG = UInt64
public typealias LONGLONG = Int64
public typealias ULONG_PTR = UInt
/// `KIRQL`: an interrupt request level (0 = PASSIVE_LEVEL ... 15 = HIGH_LEVEL on x64).
public typealias KIRQL = UCHAR
public typealias PKIRQL = UnsafeMutablePointer<KIRQL>
/// `KAFFINITY`: a set of processors of one group, bit N = processor N.
public typealias KAFFINITY = ULONG_PTR

/// `PVOID` as a context: whatever the driver passes as ServiceContext, DeferredContext,
/// SystemArgument1/2. C passes a raw pointer to resident memory; Swift passes the value
/// itself (usually the device extension object). It crosses to the dispatch thread, so
/// it must be `Sendable`; cast it back in the routine: `ServiceContext as! DEVICE_EXTENSION`.
public typealias PVOID = (any Sendable)?

/// `LARGE_INTEGER` / `PHYSICAL_ADDRESS`: a 64-bit value with 32-bit halves.
public struct LARGE_INTEGER: Sendable, Hashable, ZeroInitializable {
    public var QuadPart: LONGLONG
    public init() { QuadPart = 0 }
    public init(QuadPart: LONGLONG) { self.QuadPart = QuadPart }
    public var LowPart: ULONG {
        get { ULONG(truncatingIfNeeded: QuadPart) }
        set { QuadPart = LONGLONG(bitPattern: (UInt64(bitPattern: QuadPart) & 0xFFFF_FFFF_0000_0000) | UInt64(newValue)) }
    }
    public var HighPart: LONG {
        get { LONG(truncatingIfNeeded: QuadPart >> 32) }
        set { QuadPart = LONGLONG(newValue) << 32 | LONGLONG(LowPart) }
    }
    /// `u`: wdm.h's union names the two halves twice, anonymously (`LowPart`) and as the
    /// struct `u` (`Start.u.LowPart`, for compilers without anonymous structs, which older
    /// drivers, ReactOS's among them, spell out). Both views change the same QuadPart.
    public var u: Halves {
        get { Halves(LowPart: LowPart, HighPart: HighPart) }
        set { QuadPart = LONGLONG(newValue.HighPart) << 32 | LONGLONG(newValue.LowPart) }
    }

    /// `LARGE_INTEGER.u`: the low and high halves.
    public struct Halves: Sendable, Hashable {
        public var LowPart: ULONG
        public var HighPart: LONG
    }
}
public typealias PHYSICAL_ADDRESS = LARGE_INTEGER

// IRQLs (x64 values, wdm.h).
public let PASSIVE_LEVEL: KIRQL = 0
public let LOW_LEVEL: KIRQL = 0
public let APC_LEVEL: KIRQL = 1
public let DISPATCH_LEVEL: KIRQL = 2
public let CMCI_LEVEL: KIRQL = 5
public let CLOCK_LEVEL: KIRQL = 13
public let IPI_LEVEL: KIRQL = 14
public let DRS_LEVEL: KIRQL = 14
public let POWER_LEVEL: KIRQL = 14
public let PROFILE_LEVEL: KIRQL = 15
public let HIGH_LEVEL: KIRQL = 15

// MARK: - RtlZeroMemory

/// A WDK structure whose `init()` is its all-zero value: every number 0, every
/// pointer, routine and object `NULL` (nil).
public protocol ZeroInitializable {
    init()
}

/// `RtlZeroMemory(&params, sizeof(IO_CONNECT_INTERRUPT_PARAMETERS))`.
///
/// Swift cannot safely zero the bytes of a structure holding references and
/// closures, so this resets the whole value to its zero value (`T()`), which is
/// what the C line means. `Length` must be the structure's size
/// (`MemoryLayout<T>.size`); zeroing part of a structure is not supported and traps,
/// as overrunning the structure would corrupt memory in C.
@inlinable
public func RtlZeroMemory<T: ZeroInitializable>(_ Destination: inout T, _ Length: Int) {
    precondition(Length == MemoryLayout<T>.size,
                 "RtlZeroMemory: Length \(Length) is not MemoryLayout<\(T.self)>.size (\(MemoryLayout<T>.size))")
    Destination = T()
}

// MARK: - Out-parameters (`&variable`)

/// Where a routine writes a result: the Swift form of C's `&deviceExtension->IntObj`
/// in `params.LineBased.InterruptObject = &deviceExtension->IntObj;`.
///
/// Swift has no `&` outside an argument list, so the driver names the location
/// instead: a property of its device-extension object
/// (`deviceExtension.pointer(to: \.IntObj)`, see ``Addressable``) or an
/// `UnsafeMutablePointer` to storage it owns (`OutParameter(pointer)`).
/// The routine writes through it on the calling thread, before it returns: a KINTERRUPT
/// (IoConnectInterrupt, CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED) before the interrupt
/// can arrive, so an ISR that runs at once finds it; a message table on success. A failed
/// Ex call leaves it holding what it held; the legacy call sets it to NULL, as NT does.
public struct OutParameter<Pointee> {
    private let get: () -> Pointee
    private let set: (Pointee) -> Void

    /// The location `object[keyPath: field]`; the object is retained.
    public init<Root: AnyObject>(_ object: Root, _ field: ReferenceWritableKeyPath<Root, Pointee>) {
        get = { object[keyPath: field] }
        set = { object[keyPath: field] = $0 }
    }

    /// The location `pointer`, which must stay valid while the parameters are used.
    public init(_ pointer: UnsafeMutablePointer<Pointee>) {
        get = { pointer.pointee }
        set = { pointer.pointee = $0 }
    }

    /// `*location`, as with `UnsafeMutablePointer.pointee`.
    public var pointee: Pointee {
        get { get() }
        nonmutating set { set(newValue) }
    }
}

/// A driver object whose properties can be named as out-parameters, the Swift
/// form of `&object->field`. Conform your device extension class:
///
/// ```swift
/// final class DEVICE_EXTENSION: Addressable, @unchecked Sendable { var IntObj: PKINTERRUPT = nil }
/// params.LineBased.InterruptObject = deviceExtension.pointer(to: \.IntObj)
/// ```
public protocol Addressable: AnyObject {}

extension Addressable {
    /// `&self->field`.
    public func pointer<Pointee>(to field: ReferenceWritableKeyPath<Self, Pointee>) -> OutParameter<Pointee> {
        OutParameter(self, field)
    }

    /// `&self->field` for a member of a union of pointers, such as
    /// `params.MessageBased.ConnectionContext.InterruptObject = devExt.pointer(to: \.ConnectionContext)`:
    /// the field is a `PVOID`, seen as a `Pointee` variable.
    public func pointer<Pointee>(to field: ReferenceWritableKeyPath<Self, PVOID>) -> UnionOutParameter<Pointee> {
        UnionOutParameter(OutParameter(self, field))
    }
}

/// `UNREFERENCED_PARAMETER(P)`: marks a routine's parameter as deliberately unused, so
/// ported routines keep the line. Does nothing.
@inlinable
public func UNREFERENCED_PARAMETER<T>(_ P: T) {}
