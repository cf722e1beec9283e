public import InterruptBridgeCore
public import InterruptBridgeSystem

/// The three connect flavours of IoConnectInterruptEx, plus the legacy
/// IoConnectInterrupt, with the documented rules.
extension InterruptDispatcher {
    /// CONNECT_LINE_BASED: connects `routine` to the device's line-based interrupt.
    ///
    /// - The effective SynchronizeIrql is the maximum of the line's IRQL and `synchronizeIrql`.
    /// - `spinLock` nil: a spin lock is allocated for the interrupt.
    /// - Seed 001: "If SynchronizeIrql = PASSIVE_LEVEL, and the maximum IRQL of this set
    ///   of interrupts is PASSIVE_LEVEL, the InterruptService routine is called at
    ///   PASSIVE_LEVEL": such a connect (lines whose translated Level is 0) gets a
    ///   passive-level object, without a spin lock, and must not be given one.
    /// - Throws `.noDevice`, `.deviceUsesMessages` (the device was assigned
    ///   messages), `.noInterrupts`, `.invalidLevels` (a spin lock for a passive-level
    ///   connect, a `synchronizeIrql` above HIGH_LEVEL), `.sharingConflict`, `.backend`, `.insufficientResources`.
    /// - `announce` is called with the object before any of its interrupts can arrive (see
    ///   ``connectLegacy(vector:irql:synchronizeIrql:mode:shareVector:processorEnableMask:floatingSave:spinLock:context:announce:routine:)``).
    public func connectLineBased(
        device: InterruptDevice?, routine: @escaping InterruptServiceRoutine, context: OpaqueContext = .none,
        spinLock: InterruptSpinLock? = nil, synchronizeIrql: InterruptLevel = .passive, floatingSave: Bool = false,
        announce: (InterruptObject) -> Void = { _ in }
    ) throws(ConnectionError) -> InterruptObject {
        guard let device else { throw .noDevice }
        guard synchronizeIrql <= .high else { throw .invalidLevels(irql: synchronizeIrql, synchronizeIrql: synchronizeIrql) }
        guard !device.usesMessages else { throw .deviceUsesMessages }
        let lines = device.vectors.filter { $0.kind == .intx }
        guard let line = lines.first else { throw .noInterrupts }
        let effective = max(synchronizeIrql, lines.map(\.irql).max() ?? line.irql)
        let passive = effective == .passive
        guard !(passive && spinLock != nil) else { throw .invalidLevels(irql: line.irql, synchronizeIrql: effective) }
        let object = InterruptObject(
            device: device, dispatcher: self, vector: line.vector, messageID: 0, kind: .intx, irql: line.irql,
            synchronizeIrql: effective, mode: line.mode, shareVector: line.shareDisposition == .shared,
            affinity: line.affinity, group: line.group, floatingSave: floatingSave, serviceContext: context,
            spinLock: passive ? nil : (spinLock ?? InterruptSpinLock()), routine: RoutineBox(.service(routine)))
        announce(object)
        try connect([object])
        return object
    }

    /// CONNECT_MESSAGE_BASED: connects `messageRoutine` to every message the
    /// device was assigned, one interrupt object per message, all sharing one spin
    /// lock, and returns the message table. A device with only a line-based
    /// interrupt gets `fallbackRoutine` on that line instead (`.line`).
    ///
    /// - The effective SynchronizeIrql is the maximum of the messages' IRQLs and `synchronizeIrql`.
    /// - MessageAddress/MessageData come from the backend where it can read them, else 0.
    /// - Throws `.noDevice`, `.invalidLevels` (a `synchronizeIrql` above HIGH_LEVEL), `.noInterrupts`,
    ///   `.noFallbackRoutine`, `.sharingConflict`, `.backend`, ...
    /// - `announceFallback` is called with the fall-back line's object before its interrupt
    ///   can arrive (a line may be asserted already), as the line-based connect's `announce`.
    public func connectMessageBased(
        device: InterruptDevice?, messageRoutine: @escaping MessageServiceRoutine,
        fallbackRoutine: InterruptServiceRoutine? = nil, context: OpaqueContext = .none,
        spinLock: InterruptSpinLock? = nil, synchronizeIrql: InterruptLevel = .passive, floatingSave: Bool = false,
        announceFallback: (InterruptObject) -> Void = { _ in }
    ) throws(ConnectionError) -> MessageConnection {
        guard let device else { throw .noDevice }
        guard synchronizeIrql <= .high else { throw .invalidLevels(irql: synchronizeIrql, synchronizeIrql: synchronizeIrql) }
        let messages = device.vectors.filter { $0.kind.isMessageSignaled }
        guard let kind = messages.first?.kind else {
            guard device.vectors.contains(where: { $0.kind == .intx }) else { throw .noInterrupts }
            guard let fallbackRoutine else { throw .noFallbackRoutine }
            let object = try connectLineBased(device: device, routine: fallbackRoutine, context: context, spinLock: spinLock,
                                              synchronizeIrql: synchronizeIrql, floatingSave: floatingSave, announce: announceFallback)
            return .line(object)
        }
        let effective = max(synchronizeIrql, messages.map(\.irql).max() ?? .passive)
        let lock = spinLock ?? InterruptSpinLock()
        let routine = RoutineBox(.message(messageRoutine))
        let set = ConnectSet()
        let objects = messages.map { message in
            InterruptObject(
                device: device, dispatcher: self, vector: message.vector, messageID: message.messageID, kind: kind,
                irql: message.irql, synchronizeIrql: effective, mode: message.mode,
                shareVector: message.shareDisposition == .shared, affinity: message.affinity, group: message.group,
                floatingSave: floatingSave, serviceContext: context, spinLock: lock, connectSet: set, routine: routine)
        }
        try connect(objects)
        let programmed = device.backend.programmedMessages(kind)
        let entries = zip(messages, objects).map { message, object in
            let route = programmed.flatMap { Int(message.messageID) < $0.count ? $0[Int(message.messageID)] : nil }
            return MessageTable.Entry(
                messageAddress: route?.address ?? 0, targetProcessorSet: message.affinity, interruptObject: object,
                messageData: route?.data ?? 0, vector: message.vector, irql: message.irql, mode: message.mode,
                polarity: .unknown)
        }
        return .messages(MessageTable(unifiedServiceContext: context, synchronizeIrql: effective, spinLock: lock, messages: entries))
    }

    /// CONNECT_FULLY_SPECIFIED (and _GROUP): connects `routine` to one vector the
    /// device was assigned, with the caller's Irql, SynchronizeIrql, mode,
    /// sharing and affinity (from the translated descriptor, as the seeds show).
    ///
    /// - `group` is honoured only when `useGroup` (CONNECT_FULLY_SPECIFIED_GROUP);
    ///   otherwise the interrupt is in group 0 whatever `group` says.
    /// - Irql = SynchronizeIrql = PASSIVE_LEVEL with no spin lock connects a
    ///   passive-level ISR: it runs on the passive dispatch thread, holding a
    ///   per-object mutex instead of a spin lock, and may block. `passiveLock` makes
    ///   several passive-level objects share one such lock (the messages of one
    ///   CONNECT_MESSAGE_BASED_PASSIVE, as a message-based connect's objects share one
    ///   spin lock); it is refused for a device-level object.
    /// - Throws `.noDevice`, `.emptyProcessorMask`, `.invalidLevels`,
    ///   `.processorGroupUnavailable`, `.noInterrupts`, `.vectorNotAssigned`, `.sharingConflict`, ...
    /// - `announce` is called with the object before any of its interrupts can arrive (see
    ///   ``connectLegacy(vector:irql:synchronizeIrql:mode:shareVector:processorEnableMask:floatingSave:spinLock:context:announce:routine:)``).
    public func connectFullySpecified(
        device: InterruptDevice?, vector: UInt32, irql: InterruptLevel, synchronizeIrql: InterruptLevel,
        mode: InterruptMode, shareVector: Bool, affinity: ProcessorAffinity, group: UInt16 = 0, useGroup: Bool = false,
        spinLock: InterruptSpinLock? = nil, passiveLock: BlockingMutex? = nil, floatingSave: Bool = false, context: OpaqueContext = .none,
        announce: (InterruptObject) -> Void = { _ in }, routine: @escaping InterruptServiceRoutine
    ) throws(ConnectionError) -> InterruptObject {
        guard let device else { throw .noDevice }
        return try connectVector(device: device, vector: vector, irql: irql, synchronizeIrql: synchronizeIrql, mode: mode,
                                 shareVector: shareVector, affinity: affinity, group: useGroup ? group : 0, spinLock: spinLock,
                                 passiveLock: passiveLock, floatingSave: floatingSave, context: context, announce: announce,
                                 routine: routine)
    }

    /// The legacy IoConnectInterrupt: names a vector but no device; the vector is
    /// looked up among the devices given to `register(_:)`.
    ///
    /// - Throws `.emptyProcessorMask` (the facade reports STATUS_INVALID_PARAMETER),
    ///   `.vectorNotAssigned` when no registered device has the vector, and the
    ///   fully specified connect's errors.
    /// - `announce` is called with the object once it is made and before any of its
    ///   interrupts can arrive: NT's IoConnectInterrupt stores the caller's InterruptObject
    ///   there, "in case an interrupt is pending for the device when it is initially
    ///   connected and the driver must synchronize its execution with the ISR" (a DPC the
    ///   first ISR call queued calls KeSynchronizeExecution on it). A connect that then fails
    ///   throws as usual; the object is never connected.
    public func connectLegacy(
        vector: UInt32, irql: InterruptLevel, synchronizeIrql: InterruptLevel, mode: InterruptMode, shareVector: Bool,
        processorEnableMask: ProcessorAffinity, floatingSave: Bool = false, spinLock: InterruptSpinLock? = nil,
        context: OpaqueContext = .none, announce: (InterruptObject) -> Void = { _ in }, routine: @escaping InterruptServiceRoutine
    ) throws(ConnectionError) -> InterruptObject {
        try requireOnlineProcessor(in: processorEnableMask)  // before the vector lookup: the mask is the first thing wrong
        guard let device = registeredDevice(with: vector) else { throw .vectorNotAssigned(vector) }
        return try connectVector(device: device, vector: vector, irql: irql, synchronizeIrql: synchronizeIrql, mode: mode,
                                 shareVector: shareVector, affinity: processorEnableMask, group: 0, spinLock: spinLock,
                                 floatingSave: floatingSave, context: context, listeningTo: registeredLineSharers(of: device, on: vector),
                                 announce: announce, routine: routine)
    }

    private func connectVector(
        device: InterruptDevice, vector: UInt32, irql: InterruptLevel, synchronizeIrql: InterruptLevel, mode: InterruptMode,
        shareVector: Bool, affinity: ProcessorAffinity, group: UInt16, spinLock: InterruptSpinLock?, passiveLock: BlockingMutex? = nil,
        floatingSave: Bool, context: OpaqueContext, listeningTo sharers: [InterruptDevice] = [],
        announce: (InterruptObject) -> Void, routine: @escaping InterruptServiceRoutine
    ) throws(ConnectionError) -> InterruptObject {
        try requireOnlineProcessor(in: affinity)
        let passive = irql == .passive && synchronizeIrql == .passive
        guard irql <= synchronizeIrql, synchronizeIrql <= .high, passive || irql != .passive, !(passive && spinLock != nil), passive || passiveLock == nil else {
            throw .invalidLevels(irql: irql, synchronizeIrql: synchronizeIrql)
        }
        guard group == 0 else { throw .processorGroupUnavailable(group) }
        guard !device.vectors.isEmpty else { throw .noInterrupts }
        guard let assigned = device.assignedVector(vector) else { throw .vectorNotAssigned(vector) }
        // NT intersects the caller's mask with the active processors (the object's Affinity).
        let served = affinity.intersection(onlineProcessors)
        let object = InterruptObject(
            device: device, dispatcher: self, vector: vector, messageID: assigned.messageID, kind: assigned.kind, irql: irql,
            synchronizeIrql: synchronizeIrql, mode: mode, shareVector: shareVector, affinity: served, group: group,
            floatingSave: floatingSave, serviceContext: context, spinLock: passive ? nil : (spinLock ?? InterruptSpinLock()),
            passiveLock: passiveLock, routine: RoutineBox(.service(routine)))
        announce(object)
        try connect([object], listeningTo: assigned.kind == .intx ? sharers : [])
        return object
    }

    /// Hands the objects (one device, one kind) to their loop, which connects
    /// them as one transition of its connection table (sharing rules, enabling
    /// the device's interrupts, watching their descriptors) or not at all; waits
    /// for it unless called on a dispatch thread (then the sharing rules are checked against
    /// what is connected now, and a later failure, the backend refusing, is only logged).
    private func connect(_ objects: [InterruptObject], listeningTo sharers: [InterruptDevice] = []) throws(ConnectionError) {
        guard !objects.isEmpty else { return }
        guard isRunning else { throw .dispatcherStopped }
        let loop = try loop(for: objects)
        var sharers = sharers
        if let other = otherLoop(than: loop) {
            let published = other.connectedByVector
            // A device served by the other loop is heard there, not here.
            sharers.removeAll { sharer in published.values.contains { $0.contains { $0.device === sharer } } }
            for object in objects {
                if let conflict = ConnectionTable.conflict(adding: object, to: published[object.vector] ?? []) { throw conflict }
            }
            // Each loop enables what it serves: a device's interrupts are all passive or all device level.
            if let first = objects.first, let served = published.values.lazy.flatMap({ $0 }).first(where: { $0.device === first.device }) {
                throw .sharingConflict(vector: first.vector, reason: "\(first.device)'s interrupts are connected at \(served.isPassiveLevel ? "passive" : "device") level "
                    + "(vector 0x\(String(served.vector, radix: 16))); a device's interrupts are all passive-level or all device-level")
            }
        }
        let completion = Self.isOnAnyDispatchThread ? nil : Completion()
        if completion == nil {
            // From an ISR or DPC the loop applies the connect after the caller has returned, so
            // what can be known now is checked now: the sharing rules against what the loop has
            // connected, so the caller is not told a refused connect succeeded.
            let published = loop.connectedByVector
            for object in objects {
                if let conflict = ConnectionTable.conflict(adding: object, to: published[object.vector] ?? []) { throw conflict }
            }
        }
        guard loop.post(.attach(objects, listeningTo: sharers, completion)) else {
            for object in objects { object.markDisconnected() }
            throw .dispatcherStopped
        }
        try completion?.wait()
    }

    /// A caller's ProcessorEnableMask names a processor, and one that is online (Windows
    /// intersects it with its active processors; an empty intersection specifies none).
    private func requireOnlineProcessor(in mask: ProcessorAffinity) throws(ConnectionError) {
        guard !mask.isEmpty else { throw .emptyProcessorMask }
        guard !mask.intersection(onlineProcessors).isEmpty else { throw .noOnlineProcessor(mask: mask, online: onlineProcessors) }
    }
}
