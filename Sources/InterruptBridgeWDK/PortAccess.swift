// READ_PORT_* and WRITE_PORT_*: I/O ports by number, the `Start` of a translated
// CmResourceTypePort descriptor plus a register's offset, carried in the pointer as the C
// driver carries it (`devExt.PortBase = PUCHAR(bitPattern: ULONG_PTR(Start.QuadPart))`).
// User space cannot execute in/out on a device it does not own, so each access goes to the
// device object whose I/O BAR holds the port and its backend makes it: one pread or pwrite
// (vfio-pci and sysfs make the in/out), memory for a simulated device. That is a system
// call per access: an ISR of a port-only card pays it, as a VM's exit does.
//
// A port that no device object alive decodes reads all ones and takes no write, as an
// x86 read of an unclaimed port does; so does an access that fails (a removed card).
import InterruptBridgeCore

private func readPort<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, byteCount: Int) -> UInt64 {
    let allOnes: UInt64 = byteCount == 8 ? .max : (1 << UInt64(byteCount * 8)) - 1
    let port = UInt64(UInt(bitPattern: Port))
    guard let window = IoSpace.window(.io, holding: port, UInt64(byteCount)),
          let value = try? window.backend.readRegister(bar: window.bar, offset: Int(port - window.start), byteCount: byteCount)
    else { return allOnes }
    return value
}

private func writePort<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, byteCount: Int, _ value: UInt64) {
    let port = UInt64(UInt(bitPattern: Port))
    guard let window = IoSpace.window(.io, holding: port, UInt64(byteCount)) else { return }
    _ = try? window.backend.writeRegister(bar: window.bar, offset: Int(port - window.start), byteCount: byteCount, value: value)
}

public func READ_PORT_UCHAR<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?) -> UCHAR { UCHAR(truncatingIfNeeded: readPort(Port, byteCount: 1)) }
public func READ_PORT_USHORT<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?) -> USHORT { USHORT(truncatingIfNeeded: readPort(Port, byteCount: 2)) }
public func READ_PORT_ULONG<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?) -> ULONG { ULONG(truncatingIfNeeded: readPort(Port, byteCount: 4)) }

public func WRITE_PORT_UCHAR<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Value: UCHAR) { writePort(Port, byteCount: 1, UInt64(Value)) }
public func WRITE_PORT_USHORT<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Value: USHORT) { writePort(Port, byteCount: 2, UInt64(Value)) }
public func WRITE_PORT_ULONG<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Value: ULONG) { writePort(Port, byteCount: 4, UInt64(Value)) }

// The buffer forms move `Count` values between one port and the buffer (x64's rep ins/outs:
// the port stays, the buffer advances), as a FIFO is read.

public func READ_PORT_BUFFER_UCHAR<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Buffer: PUCHAR, _ Count: ULONG) {
    for index in 0..<Int(Count) { Buffer[index] = READ_PORT_UCHAR(Port) }
}
public func READ_PORT_BUFFER_USHORT<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Buffer: PUSHORT, _ Count: ULONG) {
    for index in 0..<Int(Count) { Buffer[index] = READ_PORT_USHORT(Port) }
}
public func READ_PORT_BUFFER_ULONG<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Buffer: PULONG, _ Count: ULONG) {
    for index in 0..<Int(Count) { Buffer[index] = READ_PORT_ULONG(Port) }
}
public func WRITE_PORT_BUFFER_UCHAR<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Buffer: PUCHAR, _ Count: ULONG) {
    for index in 0..<Int(Count) { WRITE_PORT_UCHAR(Port, Buffer[index]) }
}
public func WRITE_PORT_BUFFER_USHORT<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Buffer: PUSHORT, _ Count: ULONG) {
    for index in 0..<Int(Count) { WRITE_PORT_USHORT(Port, Buffer[index]) }
}
public func WRITE_PORT_BUFFER_ULONG<Pointee>(_ Port: UnsafeMutablePointer<Pointee>?, _ Buffer: PULONG, _ Count: ULONG) {
    for index in 0..<Int(Count) { WRITE_PORT_ULONG(Port, Buffer[index]) }
}

/// `ULongToPtr(ul)` (basetsd.h): a port base kept in a ULONG as the pointer READ_PORT_* takes,
/// as ReactOS's serial.sys writes `ComPortBase = ULongToPtr(DeviceExtension->BaseAddress)`
/// with `ComPortBase` a PUCHAR. A `PUCHAR?` (C's `void *`, which converts to it), or the
/// pointer type the context names.
public func ULongToPtr(_ ul: ULONG) -> PUCHAR? { PUCHAR(bitPattern: UInt(ul)) }
public func ULongToPtr<Pointee>(_ ul: ULONG) -> UnsafeMutablePointer<Pointee>? { UnsafeMutablePointer(bitPattern: UInt(ul)) }

/// `PtrToUlong(p)` (basetsd.h): the low 32 bits of a pointer, such as a port address.
public func PtrToUlong<Pointee>(_ p: UnsafeMutablePointer<Pointee>?) -> ULONG { ULONG(truncatingIfNeeded: UInt(bitPattern: p)) }
