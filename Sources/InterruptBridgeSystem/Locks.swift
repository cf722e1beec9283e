#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with separate lock and unlock (Synchronization.Mutex only
/// offers a scoped `withLock`): backs passive-level interrupt locks, which a
/// caller may hold across calls and while blocking.
public final class BlockingMutex: @unchecked Sendable {
    // Safe: the pthread_mutex_t lives at a stable heap address for the object's
    // whole life and is only touched through pthread_mutex_* calls.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init: \(result)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() {
        let result = pthread_mutex_lock(mutex)
        precondition(result == 0, "pthread_mutex_lock: \(result)")
    }

    public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    public func unlock() {
        let result = pthread_mutex_unlock(mutex)
        precondition(result == 0, "pthread_mutex_unlock: \(result)")
    }
}

/// A value only reachable while holding a pthread mutex: the package's one lock
/// for state shared between threads (besides the interrupt spin lock, which an
/// ISR holds, and atomics).
///
/// Why not `Synchronization.Mutex`: Thread Sanitizer intercepts pthread_mutex_*
/// and so sees the happens-before edges this lock creates; Mutex's futex-based
/// implementation on Linux is invisible to it, and every access it guards would
/// be reported as a race. The test suite runs under Thread Sanitizer in CI, so
/// every module uses this one.
public final class LockedValue<Value>: @unchecked Sendable {
    // Safe: `value` is read and written only inside `withLock`, under `mutex`.
    private let mutex = BlockingMutex()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value and returns its result.
    @inline(__always)
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}
