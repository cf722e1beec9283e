import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Synchronization

/// One dispatch thread and its epoll instance, shared between the thread and
/// the callers that post commands to it.
///
/// Everything the interrupt path reads (slots, chains) belongs to the loop
/// thread alone (`LoopState`); other threads change it only by posting a
/// `LoopCommand` and writing the wake eventfd, so a descriptor is forgotten by
/// the loop (EPOLL_CTL_DEL, slot generation bumped) before anyone closes it.
final class DispatchLoop: Sendable {
    let name: String
    let options: DispatchOptions
    let logger: Logger
    /// Passive loops serve passive-level ISRs only; they may block.
    let isPassive: Bool
    /// Immutable after init; closed by `stop()` after the thread has exited.
    let epollDescriptor: Int32
    let wakeDescriptor: Int32
    /// Tags the loop's thread (see `LoopThreadMarker`); unique per loop.
    let identity: UInt
    /// The DPC queue this loop drains after each batch (the main loop only).
    let deferredCalls: DeferredCallQueue?

    // Guarded by its lock: commands posted by other threads, taken by the loop thread.
    private let commands = LockedValue<[LoopCommand]>([])
    // Guarded by its lock: the running thread, set by start() and cleared by stop().
    private let thread = LockedValue<PThread.Handle?>(nil)
    private let accepting = Atomic<Bool>(true)
    private let closesOnExit = Atomic<Bool>(false)

    private static let identities = Atomic<UInt>(1)

    init(name: String, options: DispatchOptions, logger: Logger, isPassive: Bool, deferredCalls: DeferredCallQueueFactory?) throws(DispatchError) {
        guard (1...DispatchOptions.maximumCapacity).contains(options.capacity) else {
            throw .invalidOptions("capacity \(options.capacity) must be 1...\(DispatchOptions.maximumCapacity)")
        }
        if let priority = options.realtimePriority, !(1...99).contains(priority) {
            throw .invalidOptions("SCHED_FIFO priority \(priority) must be 1...99")
        }
        self.name = name
        self.options = options
        self.logger = logger
        self.isPassive = isPassive
        let identity = Self.identities.add(1, ordering: .relaxed).newValue
        self.identity = identity
        do {
            epollDescriptor = try Epoll.epoll_create1()
        } catch {
            throw .system(error)
        }
        do {
            wakeDescriptor = try EventFD.eventfd(flags: [.nonBlocking])
        } catch {
            try? FileDescriptors.close(epollDescriptor)
            throw .system(error)
        }
        self.deferredCalls = deferredCalls?.make(wakeDescriptor, identity)
        do {
            try Epoll.add(epollDescriptor, descriptor: wakeDescriptor, events: .readable, data: LoopState.wakeData)
        } catch {
            try? FileDescriptors.close(wakeDescriptor)
            try? FileDescriptors.close(epollDescriptor)
            throw .system(error)
        }
    }

    /// Starts the thread and applies the realtime priority and explicit pinning.
    func start() throws(DispatchError) {
        let handle: PThread.Handle
        do {
            handle = try PThread.spawn(name: name) { [self] in self.runOnThread() }
        } catch {
            closeDescriptors()
            throw .system(error)
        }
        thread.withLock { $0 = handle }
        do throws(DispatchError) {
            if let priority = options.realtimePriority {
                do {
                    try PThread.setRealtimePriority(handle, priority: priority)
                } catch {
                    throw DispatchError.realtimeRefused(priority: priority, error)
                }
            }
            if case let .processors(affinity) = options.pinning {
                do {
                    try PThread.setAffinity(handle, mask: affinity.rawValue)
                } catch {
                    throw DispatchError.pinningRefused(affinity, error)
                }
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Stops the thread (disconnecting whatever is still connected on it), joins
    /// it and closes the loop's own descriptors. Idempotent. On the loop thread
    /// itself (the last reference dropped inside an ISR or DPC) it cannot join:
    /// the thread then detaches itself and closes the descriptors as it exits.
    func stop() {
        guard accepting.exchange(false, ordering: .acquiringAndReleasing) else { return }
        commands.withLock { $0.append(.stop) }
        wake()
        if isCurrentThread {
            closesOnExit.store(true, ordering: .releasing)
            return
        }
        if let handle = thread.withLock({ $0.take() }) {
            do {
                try PThread.join(handle)
            } catch {
                logger.error("joining dispatch thread \(name): \(error)")
            }
        }
        closeDescriptors()
    }

    /// True on this loop's thread.
    var isCurrentThread: Bool { LoopThreadMarker.word.value == identity }

    /// Queues a command for the loop thread. False once the loop is stopping.
    @discardableResult
    func post(_ command: LoopCommand) -> Bool {
        let accepted = commands.withLock { queue in
            guard accepting.load(ordering: .acquiring) else { return false }
            queue.append(command)
            return true
        }
        if accepted { wake() }
        return accepted
    }

    /// Wakes the loop (a write to its wake eventfd). Does not allocate.
    func wake() {
        do {
            try EventFD.write(wakeDescriptor)
        } catch {
            // Only EBADF-class programmer errors trap; anything else means the loop is gone.
        }
    }

    /// Takes every queued command (loop thread).
    func takeCommands() -> [LoopCommand] {
        commands.withLock { queue in
            var taken: [LoopCommand] = []
            swap(&taken, &queue)
            return taken
        }
    }

    private func runOnThread() {
        LoopThreadMarker.word.value = identity
        let state = LoopState(loop: self)
        state.run()
        LoopThreadMarker.word.value = 0
        if closesOnExit.load(ordering: .acquiring), let handle = thread.withLock({ $0.take() }) {
            PThread.detach(handle)
            closeDescriptors()
        }
    }

    private func closeDescriptors() {
        try? FileDescriptors.close(wakeDescriptor)
        try? FileDescriptors.close(epollDescriptor)
    }
}

/// Which dispatch loop the calling thread runs (0: none).
enum LoopThreadMarker {
    static let word = ThreadLocalWord()
}

/// Builds the main loop's DPC queue once the loop's wake descriptor and identity exist.
struct DeferredCallQueueFactory: Sendable {
    func make(_ wakeDescriptor: Int32, _ identity: UInt) -> DeferredCallQueue {
        DeferredCallQueue(
            wake: { _ = try? EventFD.write(wakeDescriptor) },
            isOnDispatchThread: { LoopThreadMarker.word.value == identity })
    }
}

/// What other threads ask of the loop thread.
enum LoopCommand: Sendable {
    /// Start serving these objects (adding their descriptors to epoll as needed).
    case attach([Attachment], Completion?)
    /// Stop serving these objects; forget descriptors nobody uses any more, then
    /// release the device's sources (which may close them).
    case detach([InterruptObject], Completion?)
    /// Tear everything down and end the thread.
    case stop
}

/// An interrupt object and the descriptor that delivers its vector.
struct Attachment: Sendable {
    var object: InterruptObject
    var source: InterruptSource
}

/// How a waiting caller learns that the loop applied its command.
final class Completion: Sendable {
    private let signal = OneShotSignal()
    private let failure = LockedValue<ConnectionError?>(nil)

    func finish(_ error: ConnectionError? = nil) {
        failure.withLock { $0 = error }
        signal.signal()
    }

    func wait() throws(ConnectionError) {
        signal.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
