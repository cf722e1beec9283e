#if canImport(Glibc)
import Glibc
#endif

/// Runs a system call that returns -1 and sets errno on failure.
///
/// Retries EINTR; EBADF and EFAULT are programmer errors (a closed or foreign
/// descriptor, a bad pointer) and trap; every other errno is thrown.
@inline(__always)
package func syscall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        switch code {
        case EINTR: continue
        case EBADF, EFAULT: preconditionFailure("\(operation()): \(SystemError(operation(), code: code))")
        default: throw SystemError(operation(), code: code)
        }
    }
}

/// Like `syscall`, but EAGAIN (nothing to read, nothing ready) is a value: nil.
@inline(__always)
package func nonBlockingSyscall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T? {
    do {
        return try syscall(operation(), body)
    } catch where error.code == EAGAIN || error.code == EWOULDBLOCK {
        return nil
    }
}
