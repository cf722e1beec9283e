/// An opaque pointer-sized value handed back to a routine unchanged: the WDK's
/// `PVOID ServiceContext`, `DeferredContext`, `SystemArgument1/2`.
///
/// The bridge never dereferences it; whoever supplied it owns what it points to
/// and its synchronisation, exactly as a Windows driver does.
public struct OpaqueContext: @unchecked Sendable, Hashable {
    // Safe to send: the pointer is carried, compared and returned, never dereferenced here.
    public var pointer: UnsafeMutableRawPointer?

    public init(_ pointer: UnsafeMutableRawPointer?) { self.pointer = pointer }

    /// No context (NULL).
    public static let none = OpaqueContext(nil)

    /// The pointer's bits, for storing in an atomic.
    var bits: UInt { UInt(bitPattern: pointer) }
    init(bits: UInt) { pointer = UnsafeMutableRawPointer(bitPattern: bits) }
}

/// An interrupt service routine (KSERVICE_ROUTINE): called with the interrupt
/// object; returns true when its device caused the interrupt (it "claimed" it).
/// The service context is `interrupt.serviceContext`.
///
/// Runs on the dispatch thread holding the interrupt's spin lock (or, at
/// passive level, its mutex on the passive dispatch thread). Rules: do not
/// allocate, log above trace or block (passive-level ISRs may block), quiet the
/// device, return quickly and leave the rest to a DPC.
public typealias InterruptServiceRoutine = @Sendable (_ interrupt: InterruptObject) -> Bool

/// A message-signaled interrupt service routine (KMESSAGE_SERVICE_ROUTINE):
/// as `InterruptServiceRoutine`, plus the message number that fired.
public typealias MessageServiceRoutine = @Sendable (_ interrupt: InterruptObject, _ messageID: UInt32) -> Bool
