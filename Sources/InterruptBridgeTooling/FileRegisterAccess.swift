// Register accesses that are system calls (pread/pwrite at a file offset): VFIO's region
// of a BAR that cannot be mapped, a sysfs resourceN of I/O ports. Shared by the register
// files that make them, with the record of the first one that failed.
public import InterruptBridgeSystem

/// A register file whose accesses are system calls that can fail (a removed device, a
/// kernel in lockdown): a failed access reads 0 and is kept, so the ISR never traps, and
/// `checked(_:)` throws it where a caller can report it (a stimulus's set-up and raise).
public protocol FailableRegisterFile: RegisterFile, Sendable {
    /// Runs `body` and throws the first access that failed during it.
    func checked<Result>(_ body: () -> Result) throws(SystemError) -> Result
}

/// One access of exactly `width` through a file: little-endian, zero-extended on read.
enum FileRegisterAccess {
    static func read(_ fd: Int32, at offset: Int64, width: RegisterWidth,
                     _ what: @autoclosure () -> String) throws(SystemError) -> UInt64 {
        try FileIO.readRegister(fd, at: offset, byteCount: width.byteCount, what())
    }

    static func write(_ fd: Int32, at offset: Int64, width: RegisterWidth, value: UInt64,
                      _ what: @autoclosure () -> String) throws(SystemError) {
        try FileIO.writeRegister(fd, at: offset, byteCount: width.byteCount, value: value, what())
    }
}

/// The first access that failed since the last `checked(_:)`: a register file whose
/// accesses can fail reads 0 for a failed one and records it here, so an ISR never traps.
final class FirstAccessFailure: Sendable {
    private let failure = LockedValue<SystemError?>(nil)

    func record(_ error: SystemError) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    /// Runs `body` and throws the first access that failed during it.
    func checked<Result>(_ body: () -> Result) throws(SystemError) -> Result {
        failure.withLock { $0 = nil }
        let result = body()
        if let error = failure.withLock({ $0 }) { throw error }
        return result
    }
}
