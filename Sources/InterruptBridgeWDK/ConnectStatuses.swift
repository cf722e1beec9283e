// The one place runtime connect errors become NTSTATUS: each connect routine returns
// only the statuses its reference page documents.
import InterruptBridge

/// The statuses each connect routine documents, and the mapping of the runtime's
/// `ConnectionError` into them.
///
/// - IoConnectInterrupt (seed 002): "can return one of the following NTSTATUS values:
///   STATUS_SUCCESS, STATUS_INVALID_PARAMETER, STATUS_INSUFFICIENT_RESOURCES". Every
///   failure folds into those: a bad argument (including a vector no device carries,
///   since this call names no device) is an invalid parameter; what the system could
///   not do is insufficient resources.
/// - IoConnectInterruptEx / WdmlibIoConnectInterruptEx (seed 004): "Possible error
///   values include" STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
///   STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_10, STATUS_NOT_FOUND. The
///   one addition is STATUS_INSUFFICIENT_RESOURCES for what the system could not do
///   (the list is open, "include", and this is the status wdm.h's connect routines
///   use for it); the runtime's finer reasons (an unsupported interrupt kind, a device
///   VFIO asked back, a dispatcher shut down) are not separate statuses.
public enum ConnectStatuses {
    /// Seed 002's list.
    public static let documentedForIoConnectInterrupt: Set<NTSTATUS> = [
        STATUS_SUCCESS, STATUS_INVALID_PARAMETER, STATUS_INSUFFICIENT_RESOURCES,
    ]
    /// Seed 004's list, with STATUS_SUCCESS and STATUS_INSUFFICIENT_RESOURCES.
    public static let documentedForIoConnectInterruptEx: Set<NTSTATUS> = [
        STATUS_SUCCESS, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_1,
        STATUS_INVALID_PARAMETER_10, STATUS_NOT_FOUND, STATUS_INSUFFICIENT_RESOURCES,
    ]

    /// Whether the caller may connect: the reference pages give IRQL PASSIVE_LEVEL for
    /// every connect routine. Above it (KeRaiseIrql, a spin lock held, an ISR, a DPC), or
    /// on a dispatch thread at all (a passive-level ISR, a threaded DPC), a connect could
    /// not wait for the dispatch loop, which applies it only after the caller returns: a
    /// kernel that then refused to enable the interrupts would leave STATUS_SUCCESS
    /// naming an object that was never connected. Such a call connects nothing and
    /// returns STATUS_INVALID_PARAMETER, a status both pages list (Windows does not
    /// check; Driver Verifier bug-checks).
    static var callerMayConnect: Bool {
        KeGetCurrentIrql() == PASSIVE_LEVEL && !InterruptDispatcher.isOnAnyDispatchThread
    }

    /// IoConnectInterruptEx's status for `error`.
    static func IoConnectInterruptEx(_ error: ConnectionError) -> NTSTATUS {
        switch error {
        case .noDevice, .invalidLevels, .processorGroupUnavailable, .noFallbackRoutine, .sharingConflict:
            STATUS_INVALID_PARAMETER
        case .emptyProcessorMask, .noOnlineProcessor: STATUS_INVALID_PARAMETER_10
        case .deviceUsesMessages: STATUS_INVALID_DEVICE_REQUEST
        case .noInterrupts, .vectorNotAssigned: STATUS_NOT_FOUND
        case .insufficientResources, .backend, .dispatcherStopped: STATUS_INSUFFICIENT_RESOURCES
        }
    }

    /// The legacy IoConnectInterrupt's status for `error`.
    static func IoConnectInterrupt(_ error: ConnectionError) -> NTSTATUS {
        switch error {
        case .noDevice, .emptyProcessorMask, .noOnlineProcessor, .invalidLevels, .processorGroupUnavailable, .deviceUsesMessages,
             .noFallbackRoutine, .noInterrupts, .vectorNotAssigned, .sharingConflict:
            STATUS_INVALID_PARAMETER
        case .insufficientResources, .backend, .dispatcherStopped: STATUS_INSUFFICIENT_RESOURCES
        }
    }
}
