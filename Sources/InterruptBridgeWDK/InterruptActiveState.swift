import InterruptBridge

/// IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS (wdm.h, Windows 8): what
/// IoReportInterruptActive and IoReportInterruptInactive take. `Version` is the
/// version the connect returned (CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED or
/// CONNECT_MESSAGE_BASED), `ConnectionContext` the context it returned: a
/// KINTERRUPT or a message table, through the same union as disconnect's.
public struct IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS: ZeroInitializable {
    public var Version: ULONG
    public var ConnectionContext: IO_DISCONNECT_INTERRUPT_CONNECTION_CONTEXT

    public init() {
        Version = 0
        ConnectionContext = IO_DISCONNECT_INTERRUPT_CONNECTION_CONTEXT()
    }
}
public typealias PIO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS = UnsafeMutablePointer<IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS>

/// `IoReportInterruptInactive` (wdm.h): "informs the operating system that a
/// registered interrupt service routine (ISR) is inactive and is not expecting
/// interrupt requests." Until IoReportInterruptActive the ISR is not called (every
/// message's, for a message-based context): the vector is no longer watched, and
/// disabled at VFIO (a message's eventfd is detached); a level line that the device
/// raises meanwhile stays pending and fires once reported active. Disable the
/// interrupt at the device first, as Windows asks: a message sent while the
/// vector is detached is dropped by the kernel. Returns when the ISR is no longer
/// called at PASSIVE_LEVEL; at DISPATCH_LEVEL (the page's IRQL allows it: a spin lock
/// held, which a DPC may be waiting for), inside KeSynchronizeExecution on a passive-level
/// interrupt (its lock held, which the passive dispatch thread may be waiting for) and
/// from an ISR or DPC it does not wait, and the ISR is not called from the next batch on
/// (a call the loop already began, waiting for the caller's lock, finishes). An unknown Version or an empty context
/// does nothing (Windows returns VOID here too).
public func IoReportInterruptInactive(_ Parameters: inout IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS) {
    reportActiveState(&Parameters, active: false)
}

/// `IoReportInterruptActive` (wdm.h): "informs the operating system that a
/// registered interrupt service routine (ISR) is active and ready to handle
/// interrupt requests." Undoes IoReportInterruptInactive; an ISR is active after
/// IoConnectInterruptEx. What stayed pending meanwhile (a level line, an eventfd
/// count) is served at once. A vector contained as storming stays off until re-armed.
public func IoReportInterruptActive(_ Parameters: inout IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS) {
    reportActiveState(&Parameters, active: true)
}

private func reportActiveState(_ Parameters: inout IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS, active: Bool) {
    let objects: [InterruptObject]
    switch Parameters.Version {
    case CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP, CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED,
         CONNECT_MESSAGE_BASED_PASSIVE:
        if let table = Parameters.ConnectionContext.InterruptMessageTable {
            objects = table.MessageInfo.map(\.InterruptObject)
        } else if let object = Parameters.ConnectionContext.InterruptObject {
            objects = ConnectionContextObjects.named(by: object, version: Parameters.Version)
        } else {
            return
        }
    default:
        return
    }
    guard let dispatcher = objects.first?.dispatcher else { return }
    if active { dispatcher.activate(objects) } else { dispatcher.deactivate(objects) }
}
