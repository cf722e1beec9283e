// CONNECT_MESSAGE_BASED_PASSIVE (Windows 8): the message-based connect with every
// routine at PASSIVE_LEVEL, built from the runtime's passive-level fully specified
// connect, one interrupt object per message.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem

/// Seed 001 for a passive-level ISR: "setting Irql and SynchronizeIrql to PASSIVE_LEVEL,
/// and setting SpinLock to NULL". Each message (or the fall-back line) is connected
/// with those values through `connectFullySpecified`, so its routine runs on the passive
/// dispatch thread holding the set's one interrupt lock (a mutex), and may block. If a message
/// cannot be connected, the ones already connected are disconnected: all or nothing.
func connectMessageBasedPassive(_ Parameters: inout IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let p = Parameters.MessageBased
    guard let pdo = p.PhysicalDeviceObject, let routine = p.MessageServiceRoutine, let location = p.ConnectionContext.location,
          p.SpinLock == nil, p.SynchronizeIrql == PASSIVE_LEVEL else {
        return STATUS_INVALID_PARAMETER
    }
    let device = pdo.device
    let context = p.ServiceContext
    let messages = device.vectors.filter { $0.kind.isMessageSignaled }
    guard let kind = messages.first?.kind else {
        guard let line = device.vectors.first(where: { $0.kind == .intx }) else {
            return ConnectStatuses.IoConnectInterruptEx(.noInterrupts)
        }
        guard let fallBack = p.FallBackServiceRoutine else { return ConnectStatuses.IoConnectInterruptEx(.noFallbackRoutine) }
        let previous = location.pointee
        do throws(ConnectionError) {
            // Written before the line can fire, and only then (see connectMessageBased).
            _ = try pdo.dispatcher.connectFullySpecified(
                device: device, vector: line.vector, irql: .passive, synchronizeIrql: .passive, mode: line.mode,
                shareVector: line.shareDisposition == .shared, affinity: line.affinity, floatingSave: p.FloatingSave,
                announce: { location.pointee = $0 }, routine: { Interrupt in fallBack(Interrupt, context) })
            Parameters.Version = CONNECT_LINE_BASED
            return STATUS_SUCCESS
        } catch {
            location.pointee = previous
            return ConnectStatuses.IoConnectInterruptEx(error)
        }
    }
    var objects: [InterruptObject] = []
    // One interrupt lock for the set, as a message-based connect's messages share one spin
    // lock: KeSynchronizeExecution on any message's object keeps every message's ISR out.
    let lock = BlockingMutex()
    do throws(ConnectionError) {
        for message in messages {
            objects.append(try pdo.dispatcher.connectFullySpecified(
                device: device, vector: message.vector, irql: .passive, synchronizeIrql: .passive, mode: message.mode,
                shareVector: message.shareDisposition == .shared, affinity: message.affinity, passiveLock: lock, floatingSave: p.FloatingSave,
                routine: { Interrupt in routine(Interrupt, context, Interrupt.messageID) }))
        }
    } catch {
        for object in objects { object.disconnect() }
        return ConnectStatuses.IoConnectInterruptEx(error)
    }
    location.pointee = IO_INTERRUPT_MESSAGE_INFO(passive: objects, programmed: device.backend.programmedMessages(kind))
    return STATUS_SUCCESS
}
