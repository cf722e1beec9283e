// IoConnectInterruptEx / IoDisconnectInterruptEx and their Wdmlib twins: read the
// parameters the Version names, call the runtime's connect, and on success write
// the interrupt object or message table, and Version, back. A KINTERRUPT is written
// before its interrupts can arrive (an ISR that runs at once may queue a DPC that
// synchronizes with it, as IoConnectInterrupt allows). On failure the out-parameter holds
// what it held before and the runtime has connected nothing.
import InterruptBridge
import InterruptBridgeCore

/// `IoConnectInterruptEx(&params)`: registers an ISR for a device's interrupts.
///
/// - CONNECT_FULLY_SPECIFIED(_GROUP): one vector, described by the driver from its
///   translated CM_PARTIAL_RESOURCE_DESCRIPTOR; `Group` is used only with
///   CONNECT_FULLY_SPECIFIED_GROUP. `Irql = SynchronizeIrql = PASSIVE_LEVEL` and no
///   spin lock connect a passive-level ISR, which may block.
/// - CONNECT_LINE_BASED: the device's line-based interrupt; SynchronizeIrql is raised
///   to the line's level if lower.
/// - CONNECT_MESSAGE_BASED: every message of the device, returning the
///   IO_INTERRUPT_MESSAGE_INFO; on a device with only a line, registers
///   `FallBackServiceRoutine` and returns Version = CONNECT_LINE_BASED and the KINTERRUPT.
/// - CONNECT_MESSAGE_BASED_PASSIVE (Windows 8): as CONNECT_MESSAGE_BASED through the
///   `MessageBased` member, with every routine called at PASSIVE_LEVEL (it may block);
///   `SpinLock` must be NULL and `SynchronizeIrql` PASSIVE_LEVEL. Version stays
///   CONNECT_MESSAGE_BASED_PASSIVE, or becomes CONNECT_LINE_BASED after a fall-back
///   (whose routine is passive-level too).
///
/// The ISR may run before this returns. Returns STATUS_SUCCESS or one of the errors
/// seed 004 lists (see ``ConnectStatuses``): STATUS_INVALID_PARAMETER_1 (Version),
/// STATUS_INVALID_PARAMETER (called above PASSIVE_LEVEL or from an ISR or DPC, no device
/// object, routine or result location, an invalid IRQL pair or one above HIGH_LEVEL, a
/// group other than 0, a vector that cannot be shared, no fall-back routine for a
/// line-only device), STATUS_INVALID_PARAMETER_10 (no bits in ProcessorEnableMask, or only processors that are not online),
/// STATUS_INVALID_DEVICE_REQUEST (CONNECT_LINE_BASED on a device assigned messages),
/// STATUS_NOT_FOUND (no interrupts, vector not assigned); and STATUS_INSUFFICIENT_RESOURCES
/// when the system could not (the backend or kernel refused, the dispatcher was shut down).
public func IoConnectInterruptEx(_ Parameters: inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let connect: (inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS
    switch Parameters.Version {
    case CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP: connect = connectFullySpecified
    case CONNECT_LINE_BASED: connect = connectLineBased
    case CONNECT_MESSAGE_BASED: connect = connectMessageBased
    case CONNECT_MESSAGE_BASED_PASSIVE: connect = connectMessageBasedPassive
    default: return STATUS_INVALID_PARAMETER_1
    }
    guard ConnectStatuses.callerMayConnect else { return STATUS_INVALID_PARAMETER }
    return connect(&Parameters)
}

/// `WdmlibIoConnectInterruptEx` (iointex.h): IoConnectInterruptEx for the three
/// versions seed 004 names. "Parameters->Version must be one of CONNECT_LINE_BASED,
/// CONNECT_MESSAGE_BASED, or CONNECT_FULLY_SPECIFIED": the later CONNECT_FULLY_SPECIFIED_GROUP
/// (Windows 7) and CONNECT_MESSAGE_BASED_PASSIVE (Windows 8), which the compatibility
/// library predates, are STATUS_INVALID_PARAMETER_1 here; IoConnectInterruptEx takes them.
public func WdmlibIoConnectInterruptEx(_ Parameters: inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    switch Parameters.Version {
    case CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED, CONNECT_FULLY_SPECIFIED: return IoConnectInterruptEx(&Parameters)
    default: return STATUS_INVALID_PARAMETER_1
    }
}

/// `IoDisconnectInterruptEx(&params)`: with `Version` as IoConnectInterruptEx returned
/// it and the object it returned, disconnects the ISR(s). On return no ISR of the
/// connection is running or will run again; called from the ISR itself it does not
/// deadlock (the disconnect completes after the ISR returns). Above PASSIVE_LEVEL (the
/// page's IRQL; inside KeSynchronizeExecution, or a spin lock held), and inside
/// KeSynchronizeExecution on a passive-level interrupt (CONNECT_MESSAGE_BASED_PASSIVE,
/// where the caller stays at PASSIVE_LEVEL holding the interrupt lock), it does not wait
/// either, as from a DPC: no ISR call starts once it returns (one the loop already
/// began, waiting for the interrupt lock the caller holds, finishes), and the rest
/// completes after the dispatch loop's batch.
///
/// Where Windows would bug-check, this is lenient, so that nothing stays connected:
/// the context is disconnected by what it holds (a KINTERRUPT or a message table)
/// whatever `Version` says: one naming the other kind, and one no connect returns
/// (a structure zeroed and never given its Version). A message-based Version with one
/// message's KINTERRUPT (`MessageInfo[i].InterruptObject`, not the table) disconnects
/// every message that connect made. An empty context does nothing.
public func IoDisconnectInterruptEx(_ Parameters: inout IO_DISCONNECT_INTERRUPT_PARAMETERS) {
    if let table = Parameters.ConnectionContext.InterruptMessageTable {
        table.disconnect()
    } else if let object = Parameters.ConnectionContext.InterruptObject {
        object.dispatcher.disconnect(ConnectionContextObjects.named(by: object, version: Parameters.Version))
    }
}

/// The objects a context holding one KINTERRUPT names under `version`.
enum ConnectionContextObjects {
    static func named(by object: KINTERRUPT, version: ULONG) -> [KINTERRUPT] {
        guard version == CONNECT_MESSAGE_BASED || version == CONNECT_MESSAGE_BASED_PASSIVE, object.kind.isMessageSignaled else {
            return [object]
        }
        return object.dispatcher.objectsConnected(with: object)
    }
}

/// `WdmlibIoDisconnectInterruptEx` (iointex.h): the same as IoDisconnectInterruptEx, but
/// declared `NTSTATUS WdmlibIoDisconnectInterruptEx(IN OUT PIO_DISCONNECT_INTERRUPT_PARAMETERS)`
/// (the reference page's syntax line and iointex.h), so `status = WdmlibIoDisconnectInterruptEx(&p)`
/// ports as written: STATUS_SUCCESS (the disconnect itself cannot fail; a context that names
/// nothing connected is left alone, as IoDisconnectInterruptEx leaves it).
@discardableResult
public func WdmlibIoDisconnectInterruptEx(_ Parameters: inout IO_DISCONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    IoDisconnectInterruptEx(&Parameters)
    return STATUS_SUCCESS
}

// MARK: - The three versions

private func connectFullySpecified(_ Parameters: inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let p = Parameters.FullySpecified
    guard let pdo = p.PhysicalDeviceObject, let routine = p.ServiceRoutine, let location = p.InterruptObject else {
        return STATUS_INVALID_PARAMETER
    }
    let context = p.ServiceContext
    let previous = location.pointee
    do throws(ConnectionError) {
        // Written once, by `announce`, before an ISR can read it: a write after the connect
        // would race with an ISR or DPC already reading the variable.
        _ = try pdo.dispatcher.connectFullySpecified(
            device: pdo.device, vector: p.Vector, irql: InterruptLevel(p.Irql), synchronizeIrql: InterruptLevel(p.SynchronizeIrql),
            mode: p.InterruptMode.interruptMode, shareVector: p.ShareVector,
            affinity: ProcessorAffinity(rawValue: UInt64(p.ProcessorEnableMask)), group: p.Group,
            useGroup: Parameters.Version == CONNECT_FULLY_SPECIFIED_GROUP, spinLock: p.SpinLock, floatingSave: p.FloatingSave,
            announce: { location.pointee = $0 }, routine: { Interrupt in routine(Interrupt, context) })
        return STATUS_SUCCESS
    } catch {
        location.pointee = previous
        return ConnectStatuses.IoConnectInterruptEx(error)
    }
}

private func connectLineBased(_ Parameters: inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let p = Parameters.LineBased
    guard let pdo = p.PhysicalDeviceObject, let routine = p.ServiceRoutine, let location = p.InterruptObject else {
        return STATUS_INVALID_PARAMETER
    }
    let context = p.ServiceContext
    let previous = location.pointee
    do throws(ConnectionError) {
        // Written once, by `announce` (see connectFullySpecified).
        _ = try pdo.dispatcher.connectLineBased(
            device: pdo.device, routine: { Interrupt in routine(Interrupt, context) }, spinLock: p.SpinLock,
            synchronizeIrql: InterruptLevel(p.SynchronizeIrql), floatingSave: p.FloatingSave, announce: { location.pointee = $0 })
        return STATUS_SUCCESS
    } catch {
        location.pointee = previous
        return ConnectStatuses.IoConnectInterruptEx(error)
    }
}

private func connectMessageBased(_ Parameters: inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let p = Parameters.MessageBased
    guard let pdo = p.PhysicalDeviceObject, let routine = p.MessageServiceRoutine, let location = p.ConnectionContext.location else {
        return STATUS_INVALID_PARAMETER
    }
    let device = pdo.device
    let context = p.ServiceContext
    var fallBack: InterruptServiceRoutine?
    if let fallBackRoutine = p.FallBackServiceRoutine {
        fallBack = { Interrupt in fallBackRoutine(Interrupt, context) }
    }
    let previous = location.pointee
    do throws(ConnectionError) {
        // A fall-back's KINTERRUPT is written before the line can fire (it may be asserted
        // already), as CONNECT_LINE_BASED writes it, and only then: a later write would race
        // with an ISR or DPC reading it. The message table is written on return.
        let connection = try pdo.dispatcher.connectMessageBased(
            device: device, messageRoutine: { Interrupt, MessageID in routine(Interrupt, context, MessageID) },
            fallbackRoutine: fallBack, spinLock: p.SpinLock, synchronizeIrql: InterruptLevel(p.SynchronizeIrql),
            floatingSave: p.FloatingSave, announceFallback: { location.pointee = $0 })
        switch connection {
        case let .messages(table):
            location.pointee = IO_INTERRUPT_MESSAGE_INFO(table)
            Parameters.Version = CONNECT_MESSAGE_BASED
        case .line:
            Parameters.Version = CONNECT_LINE_BASED
        }
        return STATUS_SUCCESS
    } catch {
        location.pointee = previous
        return ConnectStatuses.IoConnectInterruptEx(error)
    }
}
