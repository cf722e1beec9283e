// NTSTATUS and the status codes the interrupt-connection routines return,
// with the numeric values of ntstatus.h.
import InterruptBridgeCore

/// A Windows status code (ntstatus.h): severity in the top two bits, so every
/// error and warning is negative as an `Int32` and `NT_SUCCESS` is `>= 0`.
///
/// A struct rather than a bare `Int32` so that a failed `#expect(status == STATUS_SUCCESS)`
/// prints `STATUS_NOT_FOUND (0xC0000225)` instead of `-1073741275`.
public struct NTSTATUS: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// The status with the bit pattern `code` (as ntstatus.h writes them: `0xC0000225`).
    public init(_ code: UInt32) { self.rawValue = Int32(bitPattern: code) }

    /// The ntstatus.h name where known, with the value in hexadecimal.
    public var description: String {
        let hexValue = "0x" + hex(UInt64(UInt32(bitPattern: rawValue)), width: 8).uppercased()
        if let name = Self.names[self] { return "\(name) (\(hexValue))" }
        return "NTSTATUS \(hexValue)"
    }

    private static let names: [NTSTATUS: String] = [
        STATUS_SUCCESS: "STATUS_SUCCESS", STATUS_TIMEOUT: "STATUS_TIMEOUT", STATUS_PENDING: "STATUS_PENDING", STATUS_DEVICE_BUSY: "STATUS_DEVICE_BUSY",
        STATUS_UNSUCCESSFUL: "STATUS_UNSUCCESSFUL", STATUS_NOT_IMPLEMENTED: "STATUS_NOT_IMPLEMENTED",
        STATUS_INVALID_PARAMETER: "STATUS_INVALID_PARAMETER", STATUS_NO_SUCH_DEVICE: "STATUS_NO_SUCH_DEVICE",
        STATUS_INVALID_DEVICE_REQUEST: "STATUS_INVALID_DEVICE_REQUEST",
        STATUS_INVALID_PARAMETER_MIX: "STATUS_INVALID_PARAMETER_MIX",
        STATUS_INSUFFICIENT_RESOURCES: "STATUS_INSUFFICIENT_RESOURCES", STATUS_NOT_SUPPORTED: "STATUS_NOT_SUPPORTED",
        STATUS_DEVICE_NOT_READY: "STATUS_DEVICE_NOT_READY",
        STATUS_INVALID_PARAMETER_1: "STATUS_INVALID_PARAMETER_1", STATUS_INVALID_PARAMETER_2: "STATUS_INVALID_PARAMETER_2",
        STATUS_INVALID_PARAMETER_3: "STATUS_INVALID_PARAMETER_3", STATUS_INVALID_PARAMETER_4: "STATUS_INVALID_PARAMETER_4",
        STATUS_INVALID_PARAMETER_5: "STATUS_INVALID_PARAMETER_5", STATUS_INVALID_PARAMETER_6: "STATUS_INVALID_PARAMETER_6",
        STATUS_INVALID_PARAMETER_7: "STATUS_INVALID_PARAMETER_7", STATUS_INVALID_PARAMETER_8: "STATUS_INVALID_PARAMETER_8",
        STATUS_INVALID_PARAMETER_9: "STATUS_INVALID_PARAMETER_9", STATUS_INVALID_PARAMETER_10: "STATUS_INVALID_PARAMETER_10",
        STATUS_INVALID_PARAMETER_11: "STATUS_INVALID_PARAMETER_11", STATUS_INVALID_PARAMETER_12: "STATUS_INVALID_PARAMETER_12",
        STATUS_INVALID_DEVICE_STATE: "STATUS_INVALID_DEVICE_STATE", STATUS_NOT_FOUND: "STATUS_NOT_FOUND",
        STATUS_DEVICE_REMOVED: "STATUS_DEVICE_REMOVED", STATUS_NONE_MAPPED: "STATUS_NONE_MAPPED",
        STATUS_BUFFER_OVERFLOW: "STATUS_BUFFER_OVERFLOW", STATUS_MORE_PROCESSING_REQUIRED: "STATUS_MORE_PROCESSING_REQUIRED",
        STATUS_BUFFER_TOO_SMALL: "STATUS_BUFFER_TOO_SMALL", STATUS_REVISION_MISMATCH: "STATUS_REVISION_MISMATCH",
        STATUS_ARRAY_BOUNDS_EXCEEDED: "STATUS_ARRAY_BOUNDS_EXCEEDED",
    ]
}

/// `NT_SUCCESS(Status)`: true for success and informational codes (`Status >= 0`).
@inlinable
public func NT_SUCCESS(_ Status: NTSTATUS) -> BOOLEAN { Status.rawValue >= 0 }
/// `NT_INFORMATION(Status)`: severity 1.
@inlinable
public func NT_INFORMATION(_ Status: NTSTATUS) -> BOOLEAN { UInt32(bitPattern: Status.rawValue) >> 30 == 1 }
/// `NT_WARNING(Status)`: severity 2.
@inlinable
public func NT_WARNING(_ Status: NTSTATUS) -> BOOLEAN { UInt32(bitPattern: Status.rawValue) >> 30 == 2 }
/// `NT_ERROR(Status)`: severity 3.
@inlinable
public func NT_ERROR(_ Status: NTSTATUS) -> BOOLEAN { UInt32(bitPattern: Status.rawValue) >> 30 == 3 }

public let STATUS_SUCCESS = NTSTATUS(0x0000_0000)
/// A wait's time-out passed before its object was signalled (a success code: NT_SUCCESS is true).
public let STATUS_TIMEOUT = NTSTATUS(0x0000_0102)
public let STATUS_PENDING = NTSTATUS(0x0000_0103)
public let STATUS_DEVICE_BUSY = NTSTATUS(0x8000_0011)
public let STATUS_UNSUCCESSFUL = NTSTATUS(0xC000_0001)
public let STATUS_NOT_IMPLEMENTED = NTSTATUS(0xC000_0002)
/// An invalid parameter: for the connect routines, no device object (IoConnectInterruptEx)
/// or no processors in ProcessorEnableMask (legacy IoConnectInterrupt).
public let STATUS_INVALID_PARAMETER = NTSTATUS(0xC000_000D)
public let STATUS_NO_SUCH_DEVICE = NTSTATUS(0xC000_000E)
/// The operation does not fit the device: CONNECT_LINE_BASED on a device assigned messages.
public let STATUS_INVALID_DEVICE_REQUEST = NTSTATUS(0xC000_0010)
public let STATUS_INVALID_PARAMETER_MIX = NTSTATUS(0xC000_0030)
/// The system (here: the kernel, the backend or the dispatcher) could not provide what the connection needs.
public let STATUS_INSUFFICIENT_RESOURCES = NTSTATUS(0xC000_009A)
/// ntstatus.h's value; no routine of the facade returns it.
public let STATUS_NOT_SUPPORTED = NTSTATUS(0xC000_00BB)
/// ntstatus.h's value; no routine of the facade returns it.
public let STATUS_DEVICE_NOT_READY = NTSTATUS(0xC000_00A3)
/// An invalid `Version` in IO_CONNECT_INTERRUPT_PARAMETERS.
public let STATUS_INVALID_PARAMETER_1 = NTSTATUS(0xC000_00EF)
public let STATUS_INVALID_PARAMETER_2 = NTSTATUS(0xC000_00F0)
public let STATUS_INVALID_PARAMETER_3 = NTSTATUS(0xC000_00F1)
public let STATUS_INVALID_PARAMETER_4 = NTSTATUS(0xC000_00F2)
public let STATUS_INVALID_PARAMETER_5 = NTSTATUS(0xC000_00F3)
public let STATUS_INVALID_PARAMETER_6 = NTSTATUS(0xC000_00F4)
public let STATUS_INVALID_PARAMETER_7 = NTSTATUS(0xC000_00F5)
public let STATUS_INVALID_PARAMETER_8 = NTSTATUS(0xC000_00F6)
public let STATUS_INVALID_PARAMETER_9 = NTSTATUS(0xC000_00F7)
/// The tenth member of the parameters is invalid: `FullySpecified.ProcessorEnableMask` has no bits set.
public let STATUS_INVALID_PARAMETER_10 = NTSTATUS(0xC000_00F8)
public let STATUS_INVALID_PARAMETER_11 = NTSTATUS(0xC000_00F9)
public let STATUS_INVALID_PARAMETER_12 = NTSTATUS(0xC000_00FA)
public let STATUS_INVALID_DEVICE_STATE = NTSTATUS(0xC000_0184)
/// The device has no interrupts, or the vector is not assigned to it.
public let STATUS_NOT_FOUND = NTSTATUS(0xC000_0225)
/// ntstatus.h's value; no routine of the facade returns it.
public let STATUS_DEVICE_REMOVED = NTSTATUS(0xC000_02B6)
/// ntstatus.h's value (drivers return it when a resource could not be mapped, as the serial
/// sample's SerialGetMappedAddress does); no routine of the facade returns it.
public let STATUS_NONE_MAPPED = NTSTATUS(0xC000_0073)

// Codes a driver's own start and I/O paths return around the interrupt code (no routine of
// the facade returns them), found porting ReactOS's serial.sys: SerialPnpStartDevice refuses
// a resource list whose Version/Revision is not 1.1 with STATUS_REVISION_MISMATCH, its
// circular buffers report full and empty with STATUS_BUFFER_TOO_SMALL and
// STATUS_ARRAY_BOUNDS_EXCEEDED, and its IRP forwarding's completion routine returns
// STATUS_MORE_PROCESSING_REQUIRED.
public let STATUS_BUFFER_OVERFLOW = NTSTATUS(0x8000_0005)
public let STATUS_MORE_PROCESSING_REQUIRED = NTSTATUS(0xC000_0016)
public let STATUS_BUFFER_TOO_SMALL = NTSTATUS(0xC000_0023)
public let STATUS_REVISION_MISMATCH = NTSTATUS(0xC000_0059)
public let STATUS_ARRAY_BOUNDS_EXCEEDED = NTSTATUS(0xC000_008C)
