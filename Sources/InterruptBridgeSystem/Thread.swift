public import CInterruptBridge
#if canImport(Glibc)
import Glibc
#endif

/// POSIX threads for the dispatch loop: a dedicated thread (never Swift's
/// cooperative pool), pinned and prioritised on request.
public enum PThread {
    /// A running thread's handle.
    public struct Handle: @unchecked Sendable {
        // pthread_t is an integer on glibc; the handle is only passed back to pthread calls.
        let raw: pthread_t
    }

    /// Starts a thread running `body`. The entry point is a nonisolated C function,
    /// so no actor isolation check runs on the new thread.
    public static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> Handle {
        let box = Unmanaged.passRetained(ThreadBody(name: String(name.prefix(15)), body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, threadEntry, box)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw SystemError("pthread_create \(name)", code: result)
        }
        return Handle(raw: thread)
    }

    /// Waits for the thread to finish.
    public static func join(_ handle: Handle) throws(SystemError) {
        let result = pthread_join(handle.raw, nil)
        guard result == 0 else { throw SystemError("pthread_join", code: result) }
    }

    /// Lets the thread's resources go when it exits, without a join.
    public static func detach(_ handle: Handle) { _ = pthread_detach(handle.raw) }

    /// The calling thread.
    public static var current: Handle { Handle(raw: pthread_self()) }

    /// A number that identifies the calling thread among the running ones, never 0:
    /// the address of its thread-local IRQL byte (one %fs-relative computation,
    /// inlined; the spin locks record their holder with it on every acquire, where
    /// a call to pthread_self cost about ten instructions). Not a pthread_t.
    @inlinable @inline(__always)
    public static var currentIdentity: UInt { cib_thread_identity() }

    /// True when `handle` is the calling thread.
    @inline(__always)
    public static func isCurrent(_ handle: Handle) -> Bool { pthread_equal(handle.raw, pthread_self()) != 0 }

    /// Pins the thread to the processors in `mask` (CPU N = bit N).
    public static func setAffinity(_ handle: Handle, mask: UInt64) throws(SystemError) {
        let result = cib_thread_set_affinity(handle.raw, mask)
        guard result == 0 else { throw SystemError("pthread_setaffinity_np mask 0x\(String(mask, radix: 16))", code: result) }
    }

    /// The processors the thread may run on.
    public static func affinity(_ handle: Handle) throws(SystemError) -> UInt64 {
        var mask: UInt64 = 0
        let result = cib_thread_get_affinity(handle.raw, &mask)
        guard result == 0 else { throw SystemError("pthread_getaffinity_np", code: result) }
        return mask
    }

    /// Switches the thread to SCHED_FIFO at `priority` (1...99). EPERM when the
    /// process lacks CAP_SYS_NICE / an RLIMIT_RTPRIO allowance.
    public static func setRealtimePriority(_ handle: Handle, priority: Int32) throws(SystemError) {
        var parameters = sched_param()
        parameters.sched_priority = priority
        let result = pthread_setschedparam(handle.raw, Int32(SCHED_FIFO), &parameters)
        guard result == 0 else { throw SystemError("pthread_setschedparam SCHED_FIFO \(priority)", code: result) }
    }

    /// The scheduling policy and priority of the thread (SCHED_OTHER = 0, SCHED_FIFO = 1).
    public static func schedulingPolicy(_ handle: Handle) throws(SystemError) -> (policy: Int32, priority: Int32) {
        var policy: Int32 = 0
        var parameters = sched_param()
        let result = pthread_getschedparam(handle.raw, &policy, &parameters)
        guard result == 0 else { throw SystemError("pthread_getschedparam", code: result) }
        return (policy, parameters.sched_priority)
    }

    /// The kernel thread id of the calling thread (gettid).
    public static var currentThreadID: Int32 { cib_gettid() }

    /// The processor the calling thread is running on, or -1.
    public static var currentProcessor: Int32 { cib_current_processor() }

    /// Gives up the processor (sched_yield): a spinning waiter's back-off.
    @inline(__always)
    public static func yieldProcessor() { _ = sched_yield() }

    /// Sleeps the calling thread (nanosleep, resumed after a signal).
    public static func sleep(for duration: Duration) {
        let nanoseconds = duration.nanoseconds
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }

    /// Processors online (sysconf _SC_NPROCESSORS_ONLN).
    public static var onlineProcessorCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// The C entry point of every thread PThread starts: a free nonisolated function.
private func threadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let argument else { return nil }
    let body = Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue()
    // Named by the thread itself, before any of its work, so tools that look at
    // the name (ps, perf, allocation counters) see it from the first instruction.
    _ = cib_thread_set_name(pthread_self(), body.name)
    body.body()
    return nil
}

/// A one-shot signal one thread waits on and another fires (a POSIX semaphore):
/// how a caller of connect/disconnect waits for the dispatch loop's acknowledgement.
public final class OneShotSignal: @unchecked Sendable {
    // Safe: the sem_t lives at a stable heap address for the object's whole life
    // and is only touched through sem_* calls, which are thread-safe.
    private let semaphore: UnsafeMutablePointer<sem_t>

    public init() {
        semaphore = .allocate(capacity: 1)
        semaphore.initialize(to: sem_t())
        let result = sem_init(semaphore, 0, 0)
        precondition(result == 0, "sem_init failed")
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    public func signal() { sem_post(semaphore) }

    /// Waits until signalled (retrying EINTR).
    public func wait() {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }
}

/// One machine word per thread (pthread_getspecific), zero until set. Does not
/// allocate after creation: the word is stored in the key's slot itself.
public final class ThreadLocalWord: @unchecked Sendable {
    // Safe: a pthread key is immutable after creation; each thread reads and
    // writes only its own slot.
    private let key: pthread_key_t

    public init() {
        var key = pthread_key_t()
        let result = pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create: \(result)")
        self.key = key
    }

    deinit { pthread_key_delete(key) }

    @inline(__always)
    public var value: UInt {
        get { UInt(bitPattern: pthread_getspecific(key)) }
        set { _ = pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
    }
}
