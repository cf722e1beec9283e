// The documented rules of IoConnectInterruptEx, applied before anything is
// connected: which status a parameter set fails with, or which interrupts it
// connects, with which routine, at which SynchronizeIrql. Pure: no runtime calls,
// so "on failure nothing is connected and nothing written" holds by construction.
import InterruptBridgeCore

/// One interrupt of the device, as a connection will request it.
struct PlannedInterrupt: Sendable {
    /// The translated vector.
    var vector: ULONG
    /// Its DIRQL (the descriptor's Level, or the caller's Irql for CONNECT_FULLY_SPECIFIED).
    var irql: KIRQL
    var mode: KINTERRUPT_MODE
    var shareVector: BOOLEAN
    var affinity: KAFFINITY
    /// The message number (0 for a line): the index into the backend's sources.
    var message: Int
    var kind: InterruptKind
}

/// What a valid IO_CONNECT_INTERRUPT_PARAMETERS asks for.
struct ConnectPlan {
    enum Routine {
        case service(KSERVICE_ROUTINE)
        case message(KMESSAGE_SERVICE_ROUTINE)
    }

    var device: DEVICE_OBJECT
    var interrupts: [PlannedInterrupt]
    var routine: Routine
    var context: PVOID
    var spinLock: KSPIN_LOCK?
    /// max(the interrupts' levels, the caller's SynchronizeIrql).
    var synchronizeIrql: KIRQL
    /// Irql = SynchronizeIrql = PASSIVE_LEVEL and no spin lock: the ISR may block.
    var passive: Bool
    /// The Version written back on success.
    var resultVersion: ULONG

    var isMessageTable: Bool {
        if case .message = routine { return true }
        return false
    }
}

/// The device's interrupts from its translated resources, one entry per vector
/// (an MSI block descriptor expands to its messages).
func assignedInterrupts(of device: DEVICE_OBJECT) -> [PlannedInterrupt] {
    var result: [PlannedInterrupt] = []
    let kind = device.resources.interruptKind ?? .intx
    for descriptor in device.resources.translatedInterrupts {
        switch descriptor.payload {
        case let .interrupt(line):
            result.append(PlannedInterrupt(
                vector: line.vector, irql: KIRQL(truncatingIfNeeded: line.level),
                mode: descriptor.flags & CM_RESOURCE_INTERRUPT_LATCHED != 0 ? Latched : LevelSensitive,
                shareVector: descriptor.shareDisposition == .shared,
                affinity: KAFFINITY(truncatingIfNeeded: line.affinity.rawValue), message: 0, kind: .intx))
        case let .messageInterrupt(message):
            for index in 0..<max(Int(message.raw.messageCount), 1) {
                result.append(PlannedInterrupt(
                    vector: message.translated.vector &+ ULONG(index), irql: KIRQL(truncatingIfNeeded: message.translated.level),
                    mode: Latched, shareVector: descriptor.shareDisposition == .shared,
                    affinity: KAFFINITY(truncatingIfNeeded: message.translated.affinity.rawValue),
                    message: Int(message.raw.vector) + index, kind: kind))
            }
        case .port, .memory:
            continue
        }
    }
    return result
}

/// Applies the rules of IoConnectInterruptEx (seeds 001, 003, 004) to `params`.
func planConnection(_ params: IO_CONNECT_INTERRUPT_PARAMETERS) -> Result<ConnectPlan, ConnectRefusal> {
    switch params.Version {
    case CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP:
        let p = params.FullySpecified
        guard let device = p.PhysicalDeviceObject, let routine = p.ServiceRoutine, p.InterruptObject != nil else {
            return .failure(.init(STATUS_INVALID_PARAMETER, "FullySpecified needs PhysicalDeviceObject, ServiceRoutine and InterruptObject"))
        }
        guard p.ProcessorEnableMask != 0 else {
            return .failure(.init(STATUS_INVALID_PARAMETER_10, "FullySpecified.ProcessorEnableMask has no bits set"))
        }
        // Group is honoured only with CONNECT_FULLY_SPECIFIED_GROUP; otherwise it is group 0.
        let group = params.Version == CONNECT_FULLY_SPECIFIED_GROUP ? p.Group : 0
        guard group == 0, var interrupt = assignedInterrupts(of: device).first(where: { $0.vector == p.Vector }) else {
            return .failure(.init(STATUS_NOT_FOUND, "vector \(p.Vector) in group \(group) is not assigned to \(device)"))
        }
        let passive = p.Irql == PASSIVE_LEVEL && p.SynchronizeIrql == PASSIVE_LEVEL
        if passive && p.SpinLock != nil {
            return .failure(.init(STATUS_INVALID_PARAMETER, "a passive-level ISR (Irql = PASSIVE_LEVEL) takes no SpinLock"))
        }
        interrupt.irql = p.Irql
        interrupt.mode = p.InterruptMode
        interrupt.shareVector = p.ShareVector
        interrupt.affinity = p.ProcessorEnableMask
        return .success(ConnectPlan(
            device: device, interrupts: [interrupt], routine: .service(routine), context: p.ServiceContext,
            spinLock: p.SpinLock, synchronizeIrql: max(p.Irql, p.SynchronizeIrql), passive: passive,
            resultVersion: params.Version))

    case CONNECT_LINE_BASED:
        let p = params.LineBased
        guard let device = p.PhysicalDeviceObject, let routine = p.ServiceRoutine, p.InterruptObject != nil else {
            return .failure(.init(STATUS_INVALID_PARAMETER, "LineBased needs PhysicalDeviceObject, ServiceRoutine and InterruptObject"))
        }
        let interrupts = assignedInterrupts(of: device)
        if interrupts.contains(where: { $0.kind.isMessageSignaled }) {
            return .failure(.init(STATUS_INVALID_DEVICE_REQUEST, "\(device) was assigned message-signaled interrupts, not a line"))
        }
        guard !interrupts.isEmpty else { return .failure(.init(STATUS_NOT_FOUND, "\(device) has no interrupts")) }
        return .success(ConnectPlan(
            device: device, interrupts: interrupts, routine: .service(routine), context: p.ServiceContext,
            spinLock: p.SpinLock, synchronizeIrql: max(interrupts.map(\.irql).max() ?? 0, p.SynchronizeIrql),
            passive: false, resultVersion: CONNECT_LINE_BASED))

    case CONNECT_MESSAGE_BASED:
        let p = params.MessageBased
        guard let device = p.PhysicalDeviceObject, let routine = p.MessageServiceRoutine,
              p.ConnectionContext.location != nil else {
            return .failure(.init(STATUS_INVALID_PARAMETER, "MessageBased needs PhysicalDeviceObject, MessageServiceRoutine and ConnectionContext"))
        }
        let interrupts = assignedInterrupts(of: device)
        guard !interrupts.isEmpty else { return .failure(.init(STATUS_NOT_FOUND, "\(device) has no interrupts")) }
        let synchronizeIrql = max(interrupts.map(\.irql).max() ?? 0, p.SynchronizeIrql)
        if interrupts.contains(where: { $0.kind.isMessageSignaled }) {
            guard p.ConnectionContext.canReceive(messageTable: true) else {
                return .failure(.init(STATUS_INVALID_PARAMETER, "ConnectionContext.InterruptObject cannot receive the message table of \(device); use Generic or InterruptMessageTable"))
            }
            return .success(ConnectPlan(
                device: device, interrupts: interrupts, routine: .message(routine), context: p.ServiceContext,
                spinLock: p.SpinLock, synchronizeIrql: synchronizeIrql, passive: false, resultVersion: CONNECT_MESSAGE_BASED))
        }
        guard let fallBack = p.FallBackServiceRoutine else {
            return .failure(.init(STATUS_NOT_FOUND, "\(device) has no message-signaled interrupts and no FallBackServiceRoutine was given"))
        }
        guard p.ConnectionContext.canReceive(messageTable: false) else {
            return .failure(.init(STATUS_INVALID_PARAMETER, "ConnectionContext.InterruptMessageTable cannot receive the KINTERRUPT of the line fall-back of \(device); use Generic or InterruptObject"))
        }
        return .success(ConnectPlan(
            device: device, interrupts: interrupts, routine: .service(fallBack), context: p.ServiceContext,
            spinLock: p.SpinLock, synchronizeIrql: synchronizeIrql, passive: false, resultVersion: CONNECT_LINE_BASED))

    default:
        return .failure(.init(STATUS_INVALID_PARAMETER_1, "Version \(params.Version) is not CONNECT_FULLY_SPECIFIED(_GROUP), CONNECT_LINE_BASED or CONNECT_MESSAGE_BASED"))
    }
}

/// Why a connect request was refused: the status and a sentence for the log.
struct ConnectRefusal: Error {
    var status: NTSTATUS
    var reason: String
    init(_ status: NTSTATUS, _ reason: String) {
        self.status = status
        self.reason = reason
    }
}
