// READ_REGISTER_* and WRITE_REGISTER_*: one volatile access of the routine's width at an
// address inside a mapping MmMapIoSpace returned, as wdm.h's accessors make it. Each takes
// the C driver's typed pointer (`devExt.Registers + STATUS` on a PUCHAR base, a PULONG)
// or a raw one; the width is the routine's, whatever the pointer's type.
import InterruptBridgeSystem

@inline(__always)
func registerAddress<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ routine: StaticString) -> UnsafeMutableRawPointer {
    guard let Register else { preconditionFailure("\(routine): Register is NULL") }
    return UnsafeMutableRawPointer(Register)
}

@inline(__always)
func registerAddress(_ Register: UnsafeMutableRawPointer?, _ routine: StaticString) -> UnsafeMutableRawPointer {
    guard let Register else { preconditionFailure("\(routine): Register is NULL") }
    return Register
}

public func READ_REGISTER_UCHAR<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?) -> UCHAR {
    MMIO.read8(registerAddress(Register, "READ_REGISTER_UCHAR"), 0)
}
public func READ_REGISTER_UCHAR(_ Register: UnsafeMutableRawPointer?) -> UCHAR {
    MMIO.read8(registerAddress(Register, "READ_REGISTER_UCHAR"), 0)
}
public func READ_REGISTER_USHORT<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?) -> USHORT {
    MMIO.read16(registerAddress(Register, "READ_REGISTER_USHORT"), 0)
}
public func READ_REGISTER_USHORT(_ Register: UnsafeMutableRawPointer?) -> USHORT {
    MMIO.read16(registerAddress(Register, "READ_REGISTER_USHORT"), 0)
}
public func READ_REGISTER_ULONG<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?) -> ULONG {
    MMIO.read32(registerAddress(Register, "READ_REGISTER_ULONG"), 0)
}
public func READ_REGISTER_ULONG(_ Register: UnsafeMutableRawPointer?) -> ULONG {
    MMIO.read32(registerAddress(Register, "READ_REGISTER_ULONG"), 0)
}
public func READ_REGISTER_ULONG64<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?) -> ULONG64 {
    MMIO.read64(registerAddress(Register, "READ_REGISTER_ULONG64"), 0)
}
public func READ_REGISTER_ULONG64(_ Register: UnsafeMutableRawPointer?) -> ULONG64 {
    MMIO.read64(registerAddress(Register, "READ_REGISTER_ULONG64"), 0)
}

public func WRITE_REGISTER_UCHAR<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Value: UCHAR) {
    MMIO.write8(registerAddress(Register, "WRITE_REGISTER_UCHAR"), 0, Value)
}
public func WRITE_REGISTER_UCHAR(_ Register: UnsafeMutableRawPointer?, _ Value: UCHAR) {
    MMIO.write8(registerAddress(Register, "WRITE_REGISTER_UCHAR"), 0, Value)
}
public func WRITE_REGISTER_USHORT<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Value: USHORT) {
    MMIO.write16(registerAddress(Register, "WRITE_REGISTER_USHORT"), 0, Value)
}
public func WRITE_REGISTER_USHORT(_ Register: UnsafeMutableRawPointer?, _ Value: USHORT) {
    MMIO.write16(registerAddress(Register, "WRITE_REGISTER_USHORT"), 0, Value)
}
public func WRITE_REGISTER_ULONG<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Value: ULONG) {
    MMIO.write32(registerAddress(Register, "WRITE_REGISTER_ULONG"), 0, Value)
}
public func WRITE_REGISTER_ULONG(_ Register: UnsafeMutableRawPointer?, _ Value: ULONG) {
    MMIO.write32(registerAddress(Register, "WRITE_REGISTER_ULONG"), 0, Value)
}
public func WRITE_REGISTER_ULONG64<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Value: ULONG64) {
    MMIO.write64(registerAddress(Register, "WRITE_REGISTER_ULONG64"), 0, Value)
}
public func WRITE_REGISTER_ULONG64(_ Register: UnsafeMutableRawPointer?, _ Value: ULONG64) {
    MMIO.write64(registerAddress(Register, "WRITE_REGISTER_ULONG64"), 0, Value)
}

// The buffer forms move `Count` values between consecutive register addresses and the
// buffer (x64's rep movs), one access of the routine's width each.

public func READ_REGISTER_BUFFER_UCHAR<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Buffer: PUCHAR, _ Count: ULONG) {
    let base = registerAddress(Register, "READ_REGISTER_BUFFER_UCHAR")
    for index in 0..<Int(Count) { Buffer[index] = MMIO.read8(base, index) }
}
public func READ_REGISTER_BUFFER_USHORT<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Buffer: PUSHORT, _ Count: ULONG) {
    let base = registerAddress(Register, "READ_REGISTER_BUFFER_USHORT")
    for index in 0..<Int(Count) { Buffer[index] = MMIO.read16(base, index * 2) }
}
public func READ_REGISTER_BUFFER_ULONG<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Buffer: PULONG, _ Count: ULONG) {
    let base = registerAddress(Register, "READ_REGISTER_BUFFER_ULONG")
    for index in 0..<Int(Count) { Buffer[index] = MMIO.read32(base, index * 4) }
}
public func WRITE_REGISTER_BUFFER_UCHAR<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Buffer: PUCHAR, _ Count: ULONG) {
    let base = registerAddress(Register, "WRITE_REGISTER_BUFFER_UCHAR")
    for index in 0..<Int(Count) { MMIO.write8(base, index, Buffer[index]) }
}
public func WRITE_REGISTER_BUFFER_USHORT<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Buffer: PUSHORT, _ Count: ULONG) {
    let base = registerAddress(Register, "WRITE_REGISTER_BUFFER_USHORT")
    for index in 0..<Int(Count) { MMIO.write16(base, index * 2, Buffer[index]) }
}
public func WRITE_REGISTER_BUFFER_ULONG<Pointee>(_ Register: UnsafeMutablePointer<Pointee>?, _ Buffer: PULONG, _ Count: ULONG) {
    let base = registerAddress(Register, "WRITE_REGISTER_BUFFER_ULONG")
    for index in 0..<Int(Count) { MMIO.write32(base, index * 4, Buffer[index]) }
}
