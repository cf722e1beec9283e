import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

/// The loop thread's handling of commands: attaching and detaching interrupt
/// objects, watching auxiliary descriptors, pinning, teardown. Runs between
/// batches, never while an ISR runs, so a detached object is never called again.
extension LoopState {
    enum CommandOutcome { case proceed, stop }

    func applyCommands() -> CommandOutcome {
        // The loop cleared the wake counter when it saw the wake, before this: a
        // command posted meanwhile wakes us again.
        var outcome = CommandOutcome.proceed
        for command in loop.takeCommands() {
            switch command {
            case let .attach(attachments, completion):
                do {
                    try attach(attachments)
                    completion?.finish()
                } catch {
                    abandon(attachments.map(\.object), because: error)
                    completion?.finish(error)
                }
            case let .detach(objects, completion):
                detach(objects)
                completion?.finish()
            case .stop:
                outcome = .stop
            }
        }
        if outcome == .proceed { repinIfNeeded() }
        return outcome
    }

    /// Adds the objects to their vectors' chains, watching each new descriptor.
    /// All or nothing: on failure nothing was added.
    private func attach(_ attachments: [Attachment]) throws(ConnectionError) {
        var newSources: [SourceKey: InterruptSource] = [:]
        for attachment in attachments where slotBySource[SourceKey(attachment.object)] == nil {
            newSources[SourceKey(attachment.object)] = attachment.source
        }
        guard slots.freeCount >= newSources.count else {
            throw .insufficientResources("dispatch loop \(loop.name) is full (\(slots.capacity) descriptors)")
        }
        // Phase 1: the only step that can fail, epoll registration of new descriptors.
        var added: [(key: SourceKey, token: EpollToken, descriptor: Int32)] = []
        for (key, source) in newSources {
            guard let token = slots.reserve() else { preconditionFailure("free slots were counted") }
            do {
                try Epoll.add(loop.epollDescriptor, descriptor: source.descriptor, events: .readable, data: token.data)
                added.append((key, token, source.descriptor))
            } catch {
                slots.unreserve(token)
                for registration in added {
                    try? Epoll.remove(loop.epollDescriptor, descriptor: registration.descriptor)
                    slots.unreserve(registration.token)
                }
                throw .insufficientResources("epoll cannot watch descriptor \(source.descriptor): \(error)")
            }
        }
        // Phase 2: commit.
        for attachment in attachments {
            let object = attachment.object
            let line = lines[object.vector] ?? {
                let line = VectorLine(vector: object.vector, mode: object.mode)
                lines[object.vector] = line
                return line
            }()
            line.chain.append(object)
            line.irql = max(line.irql, object.irql)
            let key = SourceKey(object)
            if let token = added.first(where: { $0.key == key })?.token, slotBySource[key] == nil {
                let slot = InterruptSlot(source: attachment.source, line: line, key: key)
                slots.store(.interrupt(slot), for: token)
                interruptSlots[Int(token.slot)] = Unmanaged.passUnretained(slot)
                slotBySource[key] = Int(token.slot)
            }
            let deviceKey = ObjectIdentifier(object.device)
            if var use = devices[deviceKey] {
                use.objects += 1
                devices[deviceKey] = use
            } else {
                devices[deviceKey] = DeviceUse(objects: 1, auxiliarySlots: watchAuxiliarySources(of: object.device))
            }
            _ = object.lifecycle.compareExchange(
                expected: InterruptObject.Lifecycle.connecting.rawValue,
                desired: InterruptObject.Lifecycle.connected.rawValue, ordering: .acquiringAndReleasing)
        }
    }

    /// Takes objects out of their chains. A descriptor no remaining object uses is
    /// removed from epoll and its slot's generation bumped before the device may
    /// close it (`releaseSources`).
    func detach(_ objects: [InterruptObject]) {
        for object in objects {
            guard let line = lines[object.vector], let position = line.chain.firstIndex(where: { $0 === object }) else { continue }
            line.chain.remove(at: position)
            line.irql = line.chain.map(\.irql).max() ?? .passive
            let key = SourceKey(object)
            if !line.chain.contains(where: { SourceKey($0) == key }), let index = slotBySource.removeValue(forKey: key) {
                if case let .interrupt(slot)? = slots[index] {
                    try? Epoll.remove(loop.epollDescriptor, descriptor: slot.descriptor)
                }
                interruptSlots[index] = nil
                slots.release(index)
            }
            if line.chain.isEmpty { lines[object.vector] = nil }
            object.lifecycle.store(InterruptObject.Lifecycle.disconnected.rawValue, ordering: .releasing)
            let deviceKey = ObjectIdentifier(object.device)
            if var use = devices[deviceKey] {
                use.objects -= 1
                if use.objects == 0 {
                    unwatch(use.auxiliarySlots)
                    devices[deviceKey] = nil
                } else {
                    devices[deviceKey] = use
                }
            }
            if let error = object.device.releaseSources() {
                logger.warning("disabling interrupts of \(object.device): \(error)")
            }
            object.dispatcher.forget(object)
        }
    }

    /// Objects whose attach failed: they never served; undo what connect did.
    private func abandon(_ objects: [InterruptObject], because error: ConnectionError) {
        for object in objects {
            object.lifecycle.store(InterruptObject.Lifecycle.disconnected.rawValue, ordering: .releasing)
            if let error = object.device.releaseSources() {
                logger.warning("disabling interrupts of \(object.device): \(error)")
            }
            object.dispatcher.forget(object)
        }
        logger.error("connect failed: \(error)")
    }

    private func watchAuxiliarySources(of device: InterruptDevice) -> [Int] {
        var watched: [Int] = []
        for source in device.backend.auxiliarySources {
            guard let token = slots.reserve() else {
                logger.warning("no slot left to watch \(source.name) of \(device)")
                break
            }
            do {
                try Epoll.add(loop.epollDescriptor, descriptor: source.descriptor, events: .readable, data: token.data)
                slots.store(.auxiliary(AuxiliarySlot(source: source)), for: token)
                watched.append(Int(token.slot))
                logger.debug("watching \(source.name) of \(device) (fd \(source.descriptor))")
            } catch {
                slots.unreserve(token)
                logger.warning("cannot watch \(source.name) of \(device): \(error)")
            }
        }
        return watched
    }

    private func unwatch(_ indices: [Int]) {
        for index in indices {
            if case let .auxiliary(slot)? = slots[index] {
                try? Epoll.remove(loop.epollDescriptor, descriptor: slot.source.descriptor)
            }
            slots.release(index)
        }
    }

    /// `.interruptAffinity` pinning: the union of the connected objects' affinities.
    private func repinIfNeeded() {
        guard case .interruptAffinity = loop.options.pinning else { return }
        let online = ProcessorAffinity.first(PThread.onlineProcessorCount).rawValue
        var mask: UInt64 = 0
        for line in lines.values {
            for object in line.chain where object.group == 0 { mask |= object.affinity.rawValue }
        }
        mask &= online
        if mask == 0 { mask = online }
        guard mask != pinnedAffinity else { return }
        do {
            try PThread.setAffinity(PThread.current, mask: mask)
            pinnedAffinity = mask
            logger.debug("dispatch loop \(loop.name) pinned to processors 0x\(String(mask, radix: 16))")
        } catch {
            logger.warning("cannot pin dispatch loop \(loop.name) to 0x\(String(mask, radix: 16)): \(error)")
        }
    }

    /// Stop: detach everything still connected, run the DPCs still queued, and
    /// answer commands that arrived too late.
    func tearDown() {
        let remaining = lines.values.flatMap(\.chain)
        detach(Array(remaining))
        loop.deferredCalls?.drain()
        for command in loop.takeCommands() {
            switch command {
            case let .attach(attachments, completion):
                abandon(attachments.map(\.object), because: .dispatcherStopped)
                completion?.finish(.dispatcherStopped)
            case let .detach(objects, completion):
                detach(objects)
                completion?.finish()
            case .stop:
                continue
            }
        }
    }
}
