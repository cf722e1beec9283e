// The devices a dispatcher knows by vector: the legacy IoConnectInterrupt names a vector
// and no device, so the vector is looked up among the registered DEVICE_OBJECTs' devices.

extension InterruptDispatcher {
    /// Makes a device's vectors reachable by `connectLegacy`, which names only a
    /// vector. The dispatcher holds the device weakly.
    public func register(_ device: InterruptDevice) {
        registeredDevices.withLock { list in
            list.removeAll { $0.device == nil }
            if !list.contains(where: { $0.device === device }) { list.append(WeakDevice(device: device)) }
        }
    }

    /// Forgets a device registered with `register(_:)` (its connections are unaffected).
    public func unregister(_ device: InterruptDevice) {
        registeredDevices.withLock { $0.removeAll { $0.device == nil || $0.device === device } }
    }

    /// The registered device a legacy connect to `vector` serves. Several devices may share
    /// a line (two cards on IRQ 11): the vector's chain is one, whichever device signals it,
    /// and a legacy object hears every registered card on the line (`registeredLineSharers`).
    /// The object's own device (the one `InterruptObject.device` names, whose removal
    /// disconnects it) is the first device with the vector that has none on it yet (the
    /// next driver's card), then, every one having one, the first.
    /// A device whose registration ended (its DEVICE_OBJECT released) while its interrupts
    /// stay connected is still found through them: the vector is in use, so it is assigned.
    /// A card pulled (its removal request acted on, its backend given back) whose
    /// DEVICE_OBJECT lingers comes last: a connect on a line it shared with a card still
    /// there goes to that card, and only a vector no other card has names the pulled one
    /// (whose backend then refuses, as the hardware is gone).
    func registeredDevice(with vector: UInt32) -> InterruptDevice? {
        let registered = registeredDevices.withLock { list in list.compactMap(\.device).filter { $0.assignedVector(vector) != nil } }
        let onVector = connectedInterrupts.filter { $0.vector == vector }
        var candidates = registered
        for object in onVector where !candidates.contains(where: { $0 === object.device }) { candidates.append(object.device) }
        guard candidates.count > 1 else { return candidates.first }
        let served = Set(onVector.map { ObjectIdentifier($0.device) })
        let present = candidates.filter { !$0.wasRemoved }
        return present.first { !served.contains(ObjectIdentifier($0)) } ?? present.first ?? candidates.first
    }

    /// The other registered devices whose line is `vector`, pulled ones left out: a legacy
    /// connect to it hears them too, as an ISR on a shared IRQ hears every card on it.
    func registeredLineSharers(of device: InterruptDevice, on vector: UInt32) -> [InterruptDevice] {
        registeredDevices.withLock { list in
            list.compactMap(\.device).filter { $0 !== device && !$0.wasRemoved && $0.assignedVector(vector)?.kind == .intx }
        }
    }
}
