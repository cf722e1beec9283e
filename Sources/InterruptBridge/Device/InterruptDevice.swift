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
/// disconnects (by the dispatch loop that serves them).
///
/// One `InterruptDevice` per backend at a time: while interrupts of one device
/// are connected, connecting through another `InterruptDevice` over the same
/// backend fails (`ConnectionError.backend(.kernelLimit)`), since the two would
/// enable and disable the backend behind each other's back. A new device over
/// the same backend (another policy, say) can connect once the first has none.
public final class InterruptDevice: Sendable, CustomStringConvertible {
    public let info: PCIDeviceInfo
    public let policy: InterruptPolicy
    /// Raw and translated CM resource lists (AllocatedResources / ...Translated).
    public let resources: ResourceAssignment
    public let backend: any InterruptBackend
    /// The device's interrupt vectors, from its translated interrupt descriptors.
    public let vectors: [AssignedVector]

    private let dpcForISR = AtomicLazyReference<DeferredProcedureCall>()
    private let removalRequests = Atomic<Int>(0)
    private let errorReports = Atomic<Int>(0)

    /// A device with explicit resources (as a test or the discovery layer computed them).
    public init(backend: any InterruptBackend, policy: InterruptPolicy = .default, resources: ResourceAssignment) {
        self.info = backend.device
        self.policy = policy
        self.resources = resources
        self.backend = backend
        self.vectors = AssignedVector.vectors(in: resources)
    }

    /// A device whose resources `ResourceTranslator` derives from the backend's
    /// device and `policy` (on this machine's online processors by default).
    /// A backend that delivers no messages (UIO serves INTx only) gets its line, as
    /// the PnP manager assigns one where MSI cannot be used: `policy.msiSupported` is
    /// cleared then, whatever capabilities the function's config space lists.
    public convenience init(backend: any InterruptBackend, policy: InterruptPolicy = .default, facts: ResourceTranslator.SystemFacts? = nil) {
        let facts = facts ?? ResourceTranslator.SystemFacts(onlineProcessors: .first(PThread.onlineProcessorCount))
        var policy = policy
        let supported = backend.supportedInterrupts
        if (supported[.msi] ?? 0) == 0, (supported[.msix] ?? 0) == 0 { policy.msiSupported = false }
        let resources = ResourceTranslator(facts: facts).resources(for: backend.device, policy: policy)
        self.init(backend: backend, policy: policy, resources: resources)
    }

    /// True when the device was assigned message-signaled interrupts.
    public var usesMessages: Bool { vectors.contains { $0.kind.isMessageSignaled } }

    /// The assigned vector with this number, if the device has it.
    public func assignedVector(_ vector: UInt32) -> AssignedVector? { vectors.first { $0.vector == vector } }

    public var description: String {
        info.displayName ?? "\(info.address) (\(hex(UInt64(info.vendorID), width: 4)):\(hex(UInt64(info.deviceID), width: 4)))"
    }

    // MARK: Events the dispatch loops read (any thread may read the counts)

    /// How many removal requests (VFIO's device request, an unbind or
    /// hot-unplug) a dispatcher watching the device has read.
    public var removalRequestCount: Int { removalRequests.load(ordering: .relaxed) }

    /// How many error reports (VFIO's error interrupt) a dispatcher watching
    /// the device has read.
    public var errorReportCount: Int { errorReports.load(ordering: .relaxed) }

    /// Whether a dispatcher acted on a removal request of the device: its backend was
    /// given back (a VFIO device closed), so its interrupts cannot be enabled again.
    public var wasRemoved: Bool { removalRequestCount > 0 }

    func countRemovalRequest() { removalRequests.add(1, ordering: .relaxed) }
    func countErrorReport() { errorReports.add(1, ordering: .relaxed) }

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
}
