public import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization

/// A device whose interrupts can be connected (backs the PDO a driver passes
/// as PhysicalDeviceObject): what was discovered, the policy, the raw and
/// translated resources the PnP manager would hand the driver, and the backend
/// that delivers its interrupts.
///
/// The vectors the device "has" are exactly its translated interrupt
/// descriptors (`vectors`). The backend's interrupts are enabled when the first
/// interrupt object of the device connects and disabled when the last one
/// disconnects.
public final class InterruptDevice: Sendable, CustomStringConvertible {
    public let info: PCIDeviceInfo
    public let policy: InterruptPolicy
    /// Raw and translated CM resource lists (AllocatedResources / ...Translated).
    public let resources: ResourceAssignment
    public let backend: any InterruptBackend
    /// The device's interrupt vectors, from its translated interrupt descriptors.
    public let vectors: [AssignedVector]

    private let sources = LockedValue(SourceState())
    private let dispatchers = LockedValue([WeakDispatcher]())
    private let dpcForISR = AtomicLazyReference<DeferredProcedureCall>()

    private struct SourceState {
        var kind: InterruptKind?
        var sources: [InterruptSource] = []
        var users = 0
    }

    private struct WeakDispatcher {
        weak var dispatcher: InterruptDispatcher?
    }

    /// A device with explicit resources (as a test or the discovery layer computed them).
    public init(backend: any InterruptBackend, policy: InterruptPolicy = .default, resources: ResourceAssignment) {
        self.info = backend.device
        self.policy = policy
        self.resources = resources
        self.backend = backend
        self.vectors = AssignedVector.vectors(in: resources)
        backend.setEventHandler { [weak self] event in self?.handle(event) }
    }

    /// A device whose resources `ResourceTranslator` derives from the backend's
    /// device and `policy` (on this machine's online processors by default).
    public convenience init(backend: any InterruptBackend, policy: InterruptPolicy = .default, facts: ResourceTranslator.SystemFacts? = nil) {
        let facts = facts ?? ResourceTranslator.SystemFacts(onlineProcessors: .first(PThread.onlineProcessorCount))
        let resources = ResourceTranslator(facts: facts).resources(for: backend.device, policy: policy)
        self.init(backend: backend, policy: policy, resources: resources)
    }

    /// True when the device was assigned message-signaled interrupts.
    public var usesMessages: Bool { vectors.contains { $0.kind.isMessageSignaled } }

    /// The assigned vector with this number, if the device has it.
    public func assignedVector(_ vector: UInt32) -> AssignedVector? { vectors.first { $0.vector == vector } }

    public var description: String { "\(info.address) (\(hex(UInt64(info.vendorID), width: 4)):\(hex(UInt64(info.deviceID), width: 4)))" }

    // MARK: DPC for ISR (IoInitializeDpcRequest / IoRequestDpc)

    /// DpcForIsr: the DPC routine gets the device, the Irp and the Context given to `requestDpc`.
    public typealias DPCForISRRoutine = @Sendable (_ device: InterruptDevice, _ irp: OpaqueContext, _ context: OpaqueContext) -> Void

    /// IoInitializeDpcRequest: registers the device's DpcForIsr routine, run on
    /// `dispatcher`'s dispatch thread. Only the first call takes effect; returns
    /// false for later calls.
    @discardableResult
    public func initializeDPCRequest(dispatcher: InterruptDispatcher, routine: @escaping DPCForISRRoutine) -> Bool {
        let dpc = DeferredProcedureCall(dispatcher: dispatcher) { [weak self] _, irp, context in
            guard let self else { return }
            routine(self, irp, context)
        }
        return dpcForISR.storeIfNil(dpc) === dpc
    }

    /// IoRequestDpc: queues the device's DpcForIsr. Returns false if it is
    /// already queued or was never initialized. Callable from an ISR; does not allocate.
    @discardableResult
    public func requestDPC(irp: OpaqueContext = .none, context: OpaqueContext = .none) -> Bool {
        guard let dpc = dpcForISR.load() else { return false }
        return dpc.enqueue(irp, context)
    }

    // MARK: Sources (dispatcher use)

    /// Enables the backend's interrupts on first use and returns the sources (in
    /// message order); counts `uses` users, each balanced by one `releaseSources()`.
    func retainSources(for kind: InterruptKind, uses: Int) throws(ConnectionError) -> [InterruptSource] {
        let result: Result<[InterruptSource], ConnectionError> = sources.withLock { state in
            if let enabled = state.kind {
                guard enabled == kind else {
                    return .failure(.backend(.kernelLimit("\(enabled) is enabled; \(kind) cannot be enabled at the same time")))
                }
                state.users += uses
                return .success(state.sources)
            }
            let count = kind == .intx ? 1 : vectors.filter { $0.kind == kind }.count
            do throws(BackendError) {
                let enabled = try backend.enableInterrupts(kind, count: count)
                guard enabled.count == count else {
                    try? backend.disableInterrupts(kind)
                    return .failure(.backend(.unsupported(kind: kind, requested: count, available: enabled.count)))
                }
                state = SourceState(kind: kind, sources: enabled, users: uses)
                return .success(enabled)
            } catch {
                return .failure(.backend(error))
            }
        }
        return try result.get()
    }

    /// Drops one use; disables the backend's interrupts (closing the descriptors)
    /// when it was the last. Only call after the dispatch loop forgot the descriptors.
    func releaseSources() -> BackendError? {
        sources.withLock { state -> BackendError? in
            precondition(state.users > 0, "releaseSources without retainSources")
            state.users -= 1
            guard state.users == 0, let kind = state.kind else { return nil }
            state = SourceState()
            do throws(BackendError) {
                try backend.disableInterrupts(kind)
                return nil
            } catch {
                return error
            }
        }
    }

    // MARK: Backend events

    func noteConnected(to dispatcher: InterruptDispatcher) {
        dispatchers.withLock { list in
            list.removeAll { $0.dispatcher == nil }
            if !list.contains(where: { $0.dispatcher === dispatcher }) { list.append(WeakDispatcher(dispatcher: dispatcher)) }
        }
    }

    private func handle(_ event: BackendEvent) {
        let targets = dispatchers.withLock { $0.compactMap(\.dispatcher) }
        for dispatcher in targets { dispatcher.deviceReported(event, device: self) }
    }
}
