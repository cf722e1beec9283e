public import InterruptBridgeCore

/// Why a connect call failed. Each case maps to exactly one documented NTSTATUS
/// per WDK routine in the facade (shown per case for IoConnectInterruptEx; the
/// legacy IoConnectInterrupt folds everything into STATUS_INVALID_PARAMETER or
/// STATUS_INSUFFICIENT_RESOURCES, its only documented failures).
public enum ConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No device was given (STATUS_INVALID_PARAMETER).
    case noDevice
    /// ProcessorEnableMask has no bits set (IoConnectInterruptEx: STATUS_INVALID_PARAMETER_10;
    /// legacy IoConnectInterrupt: STATUS_INVALID_PARAMETER).
    case emptyProcessorMask
    /// ProcessorEnableMask names only processors that are not online (the mask
    /// intersected with the active processors is empty, as Windows computes it):
    /// reported as `emptyProcessorMask` is.
    case noOnlineProcessor(mask: ProcessorAffinity, online: ProcessorAffinity)
    /// Irql above SynchronizeIrql, or only one of them PASSIVE_LEVEL, or a
    /// passive-level connect given a spin lock (STATUS_INVALID_PARAMETER).
    case invalidLevels(irql: InterruptLevel, synchronizeIrql: InterruptLevel)
    /// A processor group other than 0 with CONNECT_FULLY_SPECIFIED_GROUP: Linux
    /// user space has a single group of up to 64 processors here (STATUS_INVALID_PARAMETER).
    case processorGroupUnavailable(UInt16)
    /// A line-based connect on a device that was assigned message-signaled
    /// interrupts (STATUS_INVALID_DEVICE_REQUEST).
    case deviceUsesMessages
    /// A message-based connect on a device with only a line-based interrupt, and
    /// no fallback routine to register for it (STATUS_INVALID_PARAMETER).
    case noFallbackRoutine
    /// The device has no interrupt resources (STATUS_NOT_FOUND).
    case noInterrupts
    /// The vector is not one of the device's translated interrupts (STATUS_NOT_FOUND).
    case vectorNotAssigned(UInt32)
    /// The vector is already connected and it or the new connect is exclusive,
    /// or the modes (or passive-ness) differ (STATUS_INVALID_PARAMETER, as Windows
    /// reports a vector it cannot share).
    case sharingConflict(vector: UInt32, reason: String)
    /// The dispatcher ran out of slots or descriptors (STATUS_INSUFFICIENT_RESOURCES).
    case insufficientResources(String)
    /// The backend could not enable the interrupts (STATUS_INSUFFICIENT_RESOURCES).
    case backend(BackendError)
    /// The dispatcher was shut down (STATUS_INSUFFICIENT_RESOURCES).
    case dispatcherStopped

    public var description: String {
        switch self {
        case .noDevice: "no device object was given"
        case .emptyProcessorMask: "the processor enable mask has no processors"
        case let .noOnlineProcessor(mask, online): "the processor enable mask \(mask) names no online processor (online: \(online))"
        case let .invalidLevels(irql, synchronizeIrql):
            "interrupt level \(irql) and synchronize level \(synchronizeIrql) are not a valid pair"
        case let .processorGroupUnavailable(group): "processor group \(group) does not exist (only group 0)"
        case .deviceUsesMessages: "the device was assigned message-signaled interrupts; a line-based connect is not possible"
        case .noFallbackRoutine: "the device has only a line-based interrupt and no fallback service routine was given"
        case .noInterrupts: "the device has no interrupt resources"
        case let .vectorNotAssigned(vector): "vector 0x\(String(vector, radix: 16)) is not assigned to the device"
        case let .sharingConflict(vector, reason): "vector 0x\(String(vector, radix: 16)) cannot be shared: \(reason)"
        case let .insufficientResources(reason): "insufficient resources: \(reason)"
        case let .backend(error): "backend: \(error)"
        case .dispatcherStopped: "the interrupt dispatcher has been shut down"
        }
    }

    public static func == (lhs: ConnectionError, rhs: ConnectionError) -> Bool {
        lhs.description == rhs.description
    }
}
