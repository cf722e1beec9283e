import InterruptBridgeCore

/// Every connection one dispatch loop serves, in one value owned by the loop's
/// thread: the ISR chain of each vector, the descriptor each (device, message)
/// delivers on, each device's enabled interrupt kind, and the devices whose
/// event descriptors (removal requests, errors) are watched.
///
/// Connecting and disconnecting are transitions of this value: `attach` and
/// `detach` change it and return the effects the loop must then perform
/// (enable or disable a backend's interrupts, watch or unwatch a descriptor).
/// They make no system call, so they are tested without threads, descriptors
/// or devices. A failed effect is undone by `detach` of the same objects, the
/// one undo path (connect's failure, a removed device, disconnect, shutdown).
struct ConnectionTable {
    /// One descriptor of a device: the message number (0 for INTx).
    struct SourceKey: Hashable, CustomStringConvertible {
        var device: ObjectIdentifier
        var message: Int
        var description: String { "message \(message)" }
    }

    /// A device with interrupts on this loop.
    struct DeviceRecord {
        let device: InterruptDevice
        let kind: InterruptKind
        /// How many vectors of `kind` are (to be) enabled.
        let count: Int
        /// The backend's sources once enabled (empty before).
        var sources: [InterruptSource] = []
        /// Connected objects of the device on this loop.
        var objects = 0
        /// Legacy connects that listen to the device's line without being its own
        /// objects (see `listen(_:to:)`). The record lasts while either count is not 0.
        var listeners = 0
    }

    /// A device whose event descriptors this loop watches: while any of its
    /// interrupts is connected here, or from `watchEvents(of:)` to
    /// `unwatchEvents(of:)` (`explicit`), whichever lasts longer.
    struct EventWatch {
        let device: InterruptDevice
        /// Watched by request (`watchEvents(of:)`), not only for its connections.
        var explicit: Bool
        /// Its event descriptors, once watched.
        var events: [DeviceEventSource] = []
    }

    /// What the loop does for a transition, in order.
    enum Effect: CustomStringConvertible {
        /// Enable `count` vectors of `kind` on the backend, then `recordEnabled`.
        case enableInterrupts(InterruptDevice, InterruptKind, count: Int)
        /// Watch the device's event descriptors (removal requests, errors), then `recordEvents`.
        case watchEvents(InterruptDevice)
        /// Watch the descriptor of this source, which runs `line` (`makeVectorSource`, then `recordWatched`).
        case watchVector(SourceKey, InterruptLine)
        /// Stop watching a descriptor no connected object uses any more.
        case unwatchVector(VectorSource)
        /// Stop watching a device's event descriptors.
        case unwatchEvents([DeviceEventSource])
        /// Disable the device's interrupts (the backend closes their descriptors).
        case disableInterrupts(InterruptDevice, InterruptKind)

        var description: String {
            switch self {
            case let .enableInterrupts(device, kind, count): "enable \(count) \(kind) of \(device.info.address)"
            case let .watchEvents(device): "watch events of \(device.info.address)"
            case let .watchVector(key, line): "watch \(key) for vector 0x\(String(line.vector, radix: 16))"
            case let .unwatchVector(source): "unwatch \(source.key)"
            case let .unwatchEvents(sources): "unwatch \(sources.count) event descriptor(s)"
            case let .disableInterrupts(device, kind): "disable \(kind) of \(device.info.address)"
            }
        }
    }

    private(set) var lines: [UInt32: InterruptLine] = [:]
    private(set) var devices: [ObjectIdentifier: DeviceRecord] = [:]
    /// Devices whose event descriptors are (to be) watched.
    private(set) var eventWatches: [ObjectIdentifier: EventWatch] = [:]
    /// Watched vector descriptors.
    private(set) var vectors: [SourceKey: VectorSource] = [:]

    /// Every watched source's DIRQL, counted by the lines as sources come and go and
    /// levels change (one census per table, shared by its lines).
    private let levelCensus = LevelCensus()

    /// Whether every vector source has the same DIRQL (true for none or one): the
    /// loop then serves a batch in arrival order. From the census, not a walk (the loop
    /// asks once per batch after commands changed the table).
    var hasUniformLevels: Bool { levelCensus.isUniform }
    /// How many connected objects each source serves (its own, and listeners).
    private var users: [SourceKey: Int] = [:]
    /// The other devices each legacy object listens to (see `listen(_:to:)`).
    private var listened: [ObjectIdentifier: [ObjectIdentifier]] = [:]
    /// The device in `devices` over each backend (the one-device-per-backend rule
    /// of `attach`), so a connect checks it without walking every device.
    private var deviceByBackend: [ObjectIdentifier: ObjectIdentifier] = [:]
    /// How many connected objects of processor group 0 have each affinity: what
    /// `.interruptAffinity` pinning unites after every command batch, without
    /// walking (and sorting) every connected object each time.
    private var affinityUses: [UInt64: Int] = [:]

    /// The union of the affinities of every connected object of group 0.
    var connectedAffinityUnion: UInt64 { affinityUses.keys.reduce(0, |) }

    /// Every connected object, by vector, in connect order.
    var connectedObjects: [InterruptObject] { lines.keys.sorted().flatMap { lines[$0]!.objects } }

    /// The device's connected objects on this loop, by vector, in connect order.
    /// Every object of a device is on one of the device's own vectors (each connect
    /// checks it), so only those lines are read: a removal or `disconnectAll(of:)`
    /// costs the device's vectors, not every connected object sorted.
    func objects(of device: InterruptDevice) -> [InterruptObject] {
        Set(device.vectors.map(\.vector)).sorted().flatMap { vector in
            (lines[vector]?.objects ?? []).filter { $0.device === device }
        }
    }

    /// Which message of its device an object's descriptor is (0 for INTx).
    static func message(of object: InterruptObject) -> Int { object.kind == .intx ? 0 : Int(object.messageID) }

    /// The sharing rules of a vector: an object may join the objects already on
    /// its vector only if all of them (and it) share, the modes agree and none
    /// mixes passive and device level. nil: no conflict.
    static func conflict(adding object: InterruptObject, to existing: [InterruptObject]) -> ConnectionError? {
        guard let first = existing.first else { return nil }
        if !object.shareVector || existing.contains(where: { !$0.shareVector }) {
            return .sharingConflict(vector: object.vector, reason: "it is connected, and not every connection asked to share it")
        }
        if first.mode != object.mode {
            return .sharingConflict(vector: object.vector, reason: "connected \(first.mode), asked \(object.mode)")
        }
        if first.isPassiveLevel != object.isPassiveLevel {
            return .sharingConflict(vector: object.vector, reason: "passive-level and device-level ISRs cannot share a vector")
        }
        return nil
    }

    /// Adds the objects (all of one device and kind) to their vectors' chains.
    /// All or nothing: throws, changing nothing, when a sharing rule or the
    /// device's enabled kind forbids it. Returns the effects to perform.
    mutating func attach(_ objects: [InterruptObject]) throws(ConnectionError) -> [Effect] {
        guard let device = objects.first?.device else { return [] }
        let kind = objects[0].kind
        let deviceKey = ObjectIdentifier(device)
        let count = kind == .intx ? 1 : device.vectors.filter { $0.kind == kind }.count
        if let record = devices[deviceKey], record.kind != kind {
            throw .backend(.kernelLimit("\(record.kind) is enabled; \(kind) cannot be enabled at the same time"))
        }
        let backendKey = ObjectIdentifier(device.backend)
        if devices[deviceKey] == nil, deviceByBackend[backendKey] != nil {
            throw .backend(.kernelLimit("another InterruptDevice over the same backend (\(device.info.address)) has interrupts connected: "
                + "use one InterruptDevice per backend, or disconnect the other first"))
        }
        var pending: [UInt32: [InterruptObject]] = [:]
        for object in objects {
            precondition(object.device === device && object.kind == kind, "one attach serves one device and kind")
            let message = Self.message(of: object)
            guard message < count else { throw .backend(.unsupported(kind: kind, requested: message + 1, available: count)) }
            let existing = (lines[object.vector]?.objects ?? []) + (pending[object.vector] ?? [])
            if let conflict = Self.conflict(adding: object, to: existing) { throw conflict }
            pending[object.vector, default: []].append(object)
        }
        var effects: [Effect] = []
        if devices[deviceKey] == nil {
            devices[deviceKey] = DeviceRecord(device: device, kind: kind, count: count)
            deviceByBackend[backendKey] = deviceKey
            effects.append(.enableInterrupts(device, kind, count: count))
            // Already watched by request: its descriptors are not watched twice.
            if eventWatches[deviceKey] == nil {
                eventWatches[deviceKey] = EventWatch(device: device, explicit: false)
                effects.append(.watchEvents(device))
            }
        }
        for object in objects {
            let line = lines[object.vector] ?? InterruptLine(vector: object.vector, mode: object.mode, isPassive: object.isPassiveLevel,
                                                                 census: levelCensus)
            lines[object.vector] = line
            line.append(object)
            let key = SourceKey(device: deviceKey, message: Self.message(of: object))
            if users[key] == nil { effects.append(.watchVector(key, line)) }
            users[key, default: 0] += 1
            devices[deviceKey]!.objects += 1
            if object.group == 0 { affinityUses[object.affinity.rawValue, default: 0] += 1 }
        }
        return effects
    }

    /// Has a connected legacy line object also hear `other`'s line, a device on the same
    /// vector: its line is enabled and watched too and runs the vector's one chain, as an
    /// ISR on a shared IRQ hears every card on it. Returns the effects; nil when `other`
    /// cannot be heard (not a line-only device on this vector, its interrupts of another
    /// kind enabled, another device over its backend, heard already, or the object is not
    /// connected here). The caller performs the effects and on failure undoes them with
    /// `stopListening(_:to:)`, leaving the object's own connection as it was.
    mutating func listen(_ object: InterruptObject, to other: InterruptDevice) -> [Effect]? {
        let key = ObjectIdentifier(other)
        guard object.kind == .intx, other !== object.device, !listens(object, to: key),
              let line = lines[object.vector], line.contains(object),
              other.assignedVector(object.vector)?.kind == .intx, !other.usesMessages else { return nil }
        var effects: [Effect] = []
        if let record = devices[key] {
            guard record.kind == .intx else { return nil }
        } else {
            guard deviceByBackend[ObjectIdentifier(other.backend)] == nil else { return nil }
            devices[key] = DeviceRecord(device: other, kind: .intx, count: 1)
            deviceByBackend[ObjectIdentifier(other.backend)] = key
            effects.append(.enableInterrupts(other, .intx, count: 1))
            if eventWatches[key] == nil {
                eventWatches[key] = EventWatch(device: other, explicit: false)
                effects.append(.watchEvents(other))
            }
        }
        devices[key]!.listeners += 1
        let source = SourceKey(device: key, message: 0)
        if users[source] == nil { effects.append(.watchVector(source, line)) }
        users[source, default: 0] += 1
        listened[ObjectIdentifier(object), default: []].append(key)
        return effects
    }

    /// Undoes `listen(_:to:)` for one object and device (its effects failed). Returns the effects.
    mutating func stopListening(_ object: InterruptObject, to other: InterruptDevice) -> [Effect] {
        let key = ObjectIdentifier(other), objectKey = ObjectIdentifier(object)
        guard let heard = listened[objectKey], heard.contains(key) else { return [] }
        let rest = heard.filter { $0 != key }
        listened[objectKey] = rest.isEmpty ? nil : rest
        return releaseListener(of: key)
    }

    /// Stops every legacy object listening to `device`'s line (the device is going or
    /// failed). Returns the effects.
    mutating func stopListening(to device: InterruptDevice) -> [Effect] {
        let key = ObjectIdentifier(device)
        var effects: [Effect] = []
        for (object, heard) in listened where heard.contains(key) {
            let rest = heard.filter { $0 != key }
            listened[object] = rest.isEmpty ? nil : rest
            effects += releaseListener(of: key)
        }
        return effects
    }

    /// Whether a legacy object listens to the device's line.
    func listens(_ object: InterruptObject, to device: ObjectIdentifier) -> Bool {
        listened[ObjectIdentifier(object)]?.contains(device) == true
    }

    /// The objects a source's interrupts are for: its device's own on its line, and the
    /// legacy objects listening to the device's line.
    func objects(servedBy source: VectorSource) -> [InterruptObject] {
        source.line.objects.filter { ObjectIdentifier($0.device) == source.key.device || listens($0, to: source.key.device) }
    }

    private mutating func releaseListener(of deviceKey: ObjectIdentifier) -> [Effect] {
        devices[deviceKey]?.listeners -= 1
        return releaseSource(SourceKey(device: deviceKey, message: 0)) + releaseDeviceIfUnused(deviceKey)
    }

    /// One fewer object uses the source: unwatch it once none does.
    private mutating func releaseSource(_ key: SourceKey) -> [Effect] {
        users[key, default: 1] -= 1
        guard users[key] == 0 else { return [] }
        users[key] = nil
        guard let source = vectors.removeValue(forKey: key) else { return [] }
        source.line.drop(source)
        return [.unwatchVector(source)]
    }

    /// A device left with neither objects nor listeners: unwatch its events (unless
    /// watched by request) and disable its interrupts (only if really enabled).
    private mutating func releaseDeviceIfUnused(_ deviceKey: ObjectIdentifier) -> [Effect] {
        guard let record = devices[deviceKey], record.objects <= 0, record.listeners <= 0 else { return [] }
        devices[deviceKey] = nil
        deviceByBackend[ObjectIdentifier(record.device.backend)] = nil
        var effects = dropEventWatchIfUnused(deviceKey)
        if !record.sources.isEmpty { effects.append(.disableInterrupts(record.device, record.kind)) }
        return effects
    }

    /// Takes the objects out of their chains (those not on this loop are
    /// ignored). Returns the effects: unwatch descriptors no object uses any
    /// more, and for a device left with no object, unwatch its events (unless
    /// they are watched by request) and disable its interrupts (only what was
    /// really watched or enabled).
    mutating func detach(_ objects: [InterruptObject]) -> [Effect] {
        var effects: [Effect] = []
        for object in objects {
            guard let line = lines[object.vector], line.remove(object) else { continue }
            if line.count == 0 { lines[object.vector] = nil }
            if object.group == 0 {
                affinityUses[object.affinity.rawValue, default: 1] -= 1
                if affinityUses[object.affinity.rawValue] == 0 { affinityUses[object.affinity.rawValue] = nil }
            }
            let deviceKey = ObjectIdentifier(object.device)
            effects += releaseSource(SourceKey(device: deviceKey, message: Self.message(of: object)))
            devices[deviceKey]?.objects -= 1
            effects += releaseDeviceIfUnused(deviceKey)
            for heard in listened.removeValue(forKey: ObjectIdentifier(object)) ?? [] {
                effects += releaseListener(of: heard)
            }
        }
        return effects
    }

    /// The backend enabled the device's interrupts: these are its sources, in message order.
    mutating func recordEnabled(_ device: InterruptDevice, sources: [InterruptSource]) {
        devices[ObjectIdentifier(device)]?.sources = sources
    }

    /// Watches the device's event descriptors until `unwatchEvents(of:)`,
    /// whether or not any of its interrupts is connected. Nothing to do when
    /// they are watched already (for a connection, or by an earlier request).
    mutating func watchEvents(of device: InterruptDevice) -> [Effect] {
        let key = ObjectIdentifier(device)
        if eventWatches[key] != nil {
            eventWatches[key]!.explicit = true
            return []
        }
        eventWatches[key] = EventWatch(device: device, explicit: true)
        return [.watchEvents(device)]
    }

    /// Undoes `watchEvents(of:)`: the descriptors stay watched while any
    /// interrupt of the device is connected here.
    mutating func unwatchEvents(of device: InterruptDevice) -> [Effect] {
        let key = ObjectIdentifier(device)
        guard eventWatches[key] != nil else { return [] }
        eventWatches[key]!.explicit = false
        return dropEventWatchIfUnused(key)
    }

    /// Stops watching a device's event descriptors once neither a connection
    /// nor a request needs them.
    private mutating func dropEventWatchIfUnused(_ key: ObjectIdentifier) -> [Effect] {
        guard let watch = eventWatches[key], !watch.explicit, devices[key] == nil else { return [] }
        eventWatches[key] = nil
        return watch.events.isEmpty ? [] : [.unwatchEvents(watch.events)]
    }

    /// Whether the device's event descriptors are watched by request.
    func watchesEventsExplicitly(_ device: InterruptDevice) -> Bool {
        eventWatches[ObjectIdentifier(device)]?.explicit == true
    }

    /// The device's event descriptors are watched.
    mutating func recordEvents(_ device: InterruptDevice, _ events: [DeviceEventSource]) {
        eventWatches[ObjectIdentifier(device)]?.events = events
    }

    /// The loop's watch entry for a source: its descriptor and its line. nil when the
    /// device's sources are not recorded (enable did not happen) or lack the message.
    /// Its storm rules: the device's policy's, else `defaultStorm`.
    func makeVectorSource(_ key: SourceKey, line: InterruptLine, defaultStorm: StormPolicy,
                          maximumLatchedPasses: Int) -> VectorSource? {
        guard let record = devices[key.device], key.message < record.sources.count else { return nil }
        return VectorSource(source: record.sources[key.message], line: line, key: key,
                            storm: record.device.policy.storm ?? defaultStorm, maximumLatchedPasses: maximumLatchedPasses)
    }

    /// The watched source of a connected object, if any.
    func source(of object: InterruptObject) -> VectorSource? {
        vectors[SourceKey(device: ObjectIdentifier(object.device), message: Self.message(of: object))]
    }

    /// Every watched source that runs the object: its own, and those of the lines it listens to.
    func sources(of object: InterruptObject) -> [VectorSource] {
        let own = source(of: object).map { [$0] } ?? []
        return own + (listened[ObjectIdentifier(object)] ?? []).compactMap { vectors[SourceKey(device: $0, message: 0)] }
    }

    /// The source's descriptor is watched.
    mutating func recordWatched(_ source: VectorSource) {
        vectors[source.key] = source
        source.line.add(source)
    }
}
