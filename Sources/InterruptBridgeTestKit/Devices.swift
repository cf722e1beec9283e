public import InterruptBridge
public import InterruptBridgeCore

/// A dispatcher for one test (its own thread), logging nowhere. Shut it down at the end.
public func makeDispatcher(_ options: DispatchOptions = DispatchOptions()) throws -> InterruptDispatcher {
    try InterruptDispatcher(logger: .silent(), options: options)
}

/// A manually stepped dispatcher (no thread), logging nowhere: the test steps it.
public func makeSteppedDispatcher(_ options: DispatchOptions = DispatchOptions()) throws -> InterruptDispatcher {
    try InterruptDispatcher.manuallyStepped(logger: .silent(), options: options)
}

/// A simulated device and the InterruptDevice over it, with resources translated
/// for a 2-processor machine (so results do not depend on the test machine).
public func makeDevice(_ configuration: SimulatedDevice, policy: InterruptPolicy = .default) -> (InterruptDevice, SimulatedBackend) {
    let backend = SimulatedBackend(configuration)
    return (InterruptDevice(backend: backend, policy: policy, facts: .twoProcessors), backend)
}

extension ResourceTranslator.SystemFacts {
    /// Two online processors, as on the machines this project is tested on.
    public static var twoProcessors: ResourceTranslator.SystemFacts { .init(onlineProcessors: .first(2)) }
}

/// Device shapes tests use.
public enum TestDevices {
    /// INTx only (line 11).
    public static let lineOnly = SimulatedDevice(interruptPin: .a, irqLine: 11)
    /// QEMU's edu: INTx and one MSI message (MSI by default policy).
    public static let edu = SimulatedDevice.edu()
    /// INTx and four MSI-X vectors.
    public static let msix4 = SimulatedDevice(interruptPin: .a, irqLine: 10, msixCount: 4)
    /// No interrupt at all.
    public static let silent = SimulatedDevice(interruptPin: nil, irqLine: nil)
}

/// A backend whose first vector is already signalling when its interrupts are
/// enabled (an interrupt pending at connect), and whose `programmedMessages`
/// (read by the message-based connect after attaching) waits until `serviced`
/// says an ISR ran: the ISR then runs before the connect returns.
public final class PendingAtEnableBackend: InterruptBackend {
    public let inner: SimulatedBackend
    private let serviced: @Sendable () -> Bool

    public init(inner: SimulatedBackend, serviced: @escaping @Sendable () -> Bool) {
        self.inner = inner
        self.serviced = serviced
    }

    public var device: PCIDeviceInfo { inner.device }
    public var supportedInterrupts: [InterruptKind: Int] { inner.supportedInterrupts }
    public func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        let sources = try inner.enableInterrupts(kind, count: count)
        inner.raise(message: 0)
        return sources
    }
    public func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    public var auxiliarySources: [AuxiliarySource] { inner.auxiliarySources }
    public func releaseAfterRemoval() { inner.releaseAfterRemoval() }
    public var removalGate: RemovalGate? { inner.removalGate }
    public func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]? {
        _ = eventually { self.serviced() }
        return inner.programmedMessages(kind)
    }
}
