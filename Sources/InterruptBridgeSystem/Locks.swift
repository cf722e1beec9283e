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

/// A value under a pthread mutex that threads can wait on until it is what they need
/// (a pthread condition on CLOCK_MONOTONIC, so a wall-clock step never shortens or
/// stretches a wait). Backs the WDK facade's KEVENT. Seen by Thread Sanitizer, as
/// `LockedValue` is.
public final class WaitableValue<Value>: @unchecked Sendable {
    // Safe: `value` is read and written only with `mutex` held; the pthread objects live at
    // stable heap addresses for the object's whole life.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init")
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        precondition(pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0, "pthread_condattr_setclock")
        precondition(pthread_cond_init(condition, &attributes) == 0, "pthread_cond_init")
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Changes the value under the lock, then wakes every waiter (`wakingAll`) or one, so
    /// each looks again at what it waits for.
    public func update<Result>(wakingAll: Bool, _ body: (inout Value) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        let result = body(&value)
        if wakingAll { pthread_cond_broadcast(condition) } else { pthread_cond_signal(condition) }
        pthread_mutex_unlock(mutex)
        return result
    }

    /// Changes the value under the lock, then wakes every waiter only when `body` says the
    /// change matters to them (a later deadline than the one a waiter sleeps for does not).
    public func update<Result>(_ body: (inout Value) -> (result: Result, wakesWaiters: Bool)) -> Result {
        pthread_mutex_lock(mutex)
        let (result, wakes) = body(&value)
        if wakes { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(mutex)
        return result
    }

    /// Reads or changes the value under the lock without waking anyone.
    public func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }

    /// Waits until `satisfied` returns a result (it runs under the lock each time the value
    /// may have changed, and may change it: a waiter that consumes what it waited for), or
    /// until `deadline` (MonotonicClock nanoseconds; nil: no limit) passes: then `timedOut`
    /// runs under the lock (a waiter that registered itself takes itself off) and the
    /// result is nil.
    public func wait<Result>(until deadline: UInt64?, _ satisfied: (inout Value) -> Result?,
                             timedOut: ((inout Value) -> Void)? = nil) -> Result? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let result = satisfied(&value) { return result }
            guard let deadline else {
                pthread_cond_wait(condition, mutex)
                continue
            }
            guard MonotonicClock.nanoseconds() < deadline else {
                timedOut?(&value)
                return nil
            }
            var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            _ = pthread_cond_timedwait(condition, mutex, &until)
        }
    }
}
