import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

/// The loop thread's handling of commands and device events: each is a
/// transition of the connection table whose effects the loop performs here.
/// Runs between batches, never while an ISR runs, so a detached object is
/// never called again.
extension LoopState {
    enum CommandOutcome { case proceed, stop }

    func applyCommands() -> CommandOutcome {
        // The wake counter was cleared when the wake was seen: a command posted
        // since then wakes the loop again.
        var outcome = CommandOutcome.proceed
        for command in loop.takeCommands() {
            // A command may watch a vector of another DIRQL (or change a shared one's).
            levelsKnown = false
            switch command {
            case let .attach(objects, listening, completion):
                let failure = attach(objects, listeningTo: listening)
                completion?.finish(failure)
            case let .detach(objects, completion):
                detach(objects)
                completion?.finish()
            case let .watchEvents(device, completion):
                performLogged(table.watchEvents(of: device), "watching the events of \(device)")
                completion?.finish()
            case let .unwatchEvents(device, completion):
                performLogged(table.unwatchEvents(of: device), "unwatching the events of \(device)")
                completion?.finish()
            case let .rearm(objects, completion):
                for object in objects {
                    for source in table.sources(of: object) { rearm(source) }
                }
                completion?.finish()
            case let .contain(objects, rule, completion):
                for object in objects {
                    // Once per source: a shared line's objects, or a vector already contained.
                    for source in table.sources(of: object) where source.containedSince == nil && source.storm.isEnabled {
                        contain(source, rule: rule)
                    }
                }
                completion?.finish()
            case let .setStorm(objects, policy, completion):
                for object in objects {
                    // The object's own card's vectors: a line it only listens to is another card's, with its own rules.
                    for source in table.sources(of: object) where source.key.device == ObjectIdentifier(object.device) {
                        source.apply(policy ?? loop.options.storm)
                    }
                }
                completion?.finish()
            case let .setActive(active, objects, completion):
                setActive(active, objects)
                completion?.finish()
            case let .detachDevice(device, reason, completion):
                let objects = table.objects(of: device)
                if !objects.isEmpty {
                    logger.log(level: faultLevel(.warning), "disconnecting \(objects.count) interrupt(s) of \(device): \(reason)")
                    detach(objects)
                }
                stopListening(to: device)
                completion?.finish()
            case let .flushDeferredCalls(completion):
                drainDeferredCalls()
                completion.finish()
            case .heartbeat:
                loop.heartbeats.add(1, ordering: .releasing)
            case .stop:
                outcome = .stop
            }
        }
        if outcome == .proceed { repinIfNeeded() }
        return outcome
    }

    /// Connects the objects: the table's transition, then its effects. All or
    /// nothing: on any failure the same objects are detached (undoing what was
    /// done) and the error returned.
    private func attach(_ objects: [InterruptObject], listeningTo others: [InterruptDevice]) -> ConnectionError? {
        do throws(ConnectionError) {
            let effects = try table.attach(objects)
            do throws(ConnectionError) {
                try perform(effects)
            } catch {
                detach(objects, marking: false)
                throw error
            }
        } catch {
            for object in objects { object.markDisconnected() }
            // The connect's caller gets the error and reports it: logged here only for tracing.
            logger.debug("connect failed: \(error)")
            return error
        }
        if objects.count == 1 { listen(objects[0], to: others) }
        loop.publish(attached: objects)
        for object in objects { object.markConnected() }
        // A new (active) object on a source whose objects were all inactive.
        for object in objects { for source in table.sources(of: object) where source.inactive { updateActivity(of: source) } }
        return nil
    }

    /// Has a connected legacy line object hear the other devices on its line. Each is
    /// its own transition: one that cannot be heard (its backend refuses, a removed card
    /// whose DEVICE_OBJECT lingers, a full selector) is left out with a warning, and the
    /// object's own connection stands.
    private func listen(_ object: InterruptObject, to others: [InterruptDevice]) {
        for other in others {
            guard let effects = table.listen(object, to: other) else { continue }
            do throws(ConnectionError) {
                try perform(effects)
            } catch {
                logger.warning("vector 0x\(String(object.vector, radix: 16)) is not heard on \(other), which shares its line: \(error)")
                performLogged(table.stopListening(object, to: other), "giving up the line of \(other)")
            }
        }
    }

    /// Stops every legacy object hearing `device`'s line (the device is going or failed);
    /// a listener whose only contained line was that one is no longer contained.
    private func stopListening(to device: InterruptDevice) {
        let key = ObjectIdentifier(device)
        let listeners = table.connectedObjects.filter { table.listens($0, to: key) }
        guard !listeners.isEmpty else { return }
        performLogged(table.stopListening(to: device), "no longer hearing the line of \(device)")
        clearContainedMark(of: listeners)
    }

    /// Disconnects the objects (those not on this loop are ignored): the table's
    /// transition, then its effects, which never fail (errors are logged).
    func detach(_ objects: [InterruptObject], marking: Bool = true) {
        // Sources that stay watched for other objects: once these leave, the rest may all be inactive.
        let remaining = objects.flatMap { table.sources(of: $0) }
        let effects = table.detach(objects)
        do throws(ConnectionError) {
            try perform(effects)
        } catch {
            logger.error("disconnect: \(error)")
        }
        for source in remaining where source.slot >= 0 { updateActivity(of: source) }
        guard marking else { return }
        // Marked before they leave the published table: a thread that sees them gone
        // from `connectedInterrupts` sees them disconnected.
        for object in objects { object.markDisconnected() }
        loop.publish(detached: objects)
    }

    /// Performs effects that cannot fail in a way the caller could undo (watching
    /// and unwatching event descriptors, disconnect's effects): errors are logged.
    private func performLogged(_ effects: [ConnectionTable.Effect], _ what: String) {
        do throws(ConnectionError) {
            try perform(effects)
        } catch {
            logger.error("\(what): \(error)")
        }
    }

    /// Performs a transition's effects in order; throws at the first that fails
    /// (the effects before it stay done: the caller undoes them with `detach`).
    private func perform(_ effects: [ConnectionTable.Effect]) throws(ConnectionError) {
        for effect in effects {
            switch effect {
            case let .enableInterrupts(device, kind, count):
                let sources: [InterruptSource]
                do throws(BackendError) {
                    sources = try device.backend.enableInterrupts(kind, count: count)
                } catch {
                    throw .backend(error)
                }
                guard sources.count == count else {
                    try? device.backend.disableInterrupts(kind)
                    throw .backend(.unsupported(kind: kind, requested: count, available: sources.count))
                }
                table.recordEnabled(device, sources: sources)
            case let .watchEvents(device):
                table.recordEvents(device, watchEvents(of: device))
            case let .watchVector(key, line):
                guard let source = table.makeVectorSource(key, line: line, defaultStorm: loop.options.storm,
                                                           maximumLatchedPasses: loop.options.maximumLatchedPasses) else {
                    throw .insufficientResources("no descriptor for \(key) of vector 0x\(String(line.vector, radix: 16))")
                }
                do throws(Selector.WatchError) {
                    try selector.watch(source)
                } catch {
                    throw Self.connectionError(error, descriptor: source.descriptor, loop: loop.name)
                }
                table.recordWatched(source)
            case let .unwatchVector(source):
                forgetContained(source)
                if source.isSilenced { resumeAtBackend(source) }
                selector.unwatch(source)
            case let .unwatchEvents(sources):
                for source in sources { selector.unwatch(source) }
            case let .disableInterrupts(device, kind):
                // Only after the selector forgot the descriptors: the backend closes them.
                do throws(BackendError) {
                    try device.backend.disableInterrupts(kind)
                } catch {
                    logger.warning("disabling interrupts of \(device): \(error)")
                }
            }
        }
    }

    private static func connectionError(_ error: Selector.WatchError, descriptor: Int32, loop: String) -> ConnectionError {
        switch error {
        case let .full(capacity): .insufficientResources("dispatch loop \(loop) is full (\(capacity) descriptors)")
        case let .system(error): .insufficientResources("epoll cannot watch descriptor \(descriptor): \(error)")
        }
    }

    /// Watches what the backend offers besides its vectors (VFIO REQ/ERR). A
    /// descriptor that cannot be watched is logged, not fatal.
    private func watchEvents(of device: InterruptDevice) -> [DeviceEventSource] {
        var watched: [DeviceEventSource] = []
        for auxiliary in device.backend.auxiliarySources {
            let source = DeviceEventSource(source: auxiliary, device: device)
            do throws(Selector.WatchError) {
                try selector.watch(source)
                watched.append(source)
                logger.debug("watching \(auxiliary.name) of \(device) (fd \(auxiliary.descriptor))")
            } catch {
                logger.warning("cannot watch \(auxiliary.name) of \(device): \(error)")
            }
        }
        return watched
    }

    /// A device event read by the loop: the loop acts on it itself, then tells observers.
    func handle(_ event: BackendEvent, of device: InterruptDevice) {
        switch event {
        case let .removalRequested(reason):
            device.countRemovalRequest()
            let objects = table.objects(of: device)
            // Info, not a warning: a removal is an event the owner is told of (observers,
            // `wereDisconnected`) and reports in its own words; debug when it logs the event
            // itself (the daemon), so a removal is one line in its journal, not two.
            logger.log(level: faultLevel(.info), "\(device): removal requested (\(reason)); disconnecting \(objects.count) interrupt(s)")
            // Before its messages are disabled: a raise of the device's own in flight lands while
            // they still deliver, none comes after, and the owner's quiesce clears what is pending.
            // A raise that reached a card such as edu after the disable would assert its INTx line,
            // with no handler, until the card is gone (`RemovalGate`).
            device.backend.removalGate?.close()
            detach(objects)
            stopListening(to: device)
            // The device is going: its events are no longer watched, even by request,
            // and once nothing watches its descriptors the backend gives it back to the
            // kernel (whose unbind waits for that), connected or not.
            performLogged(table.unwatchEvents(of: device), "unwatching the events of \(device)")
            device.backend.releaseAfterRemoval()
            loop.events.publish(.deviceRemoved(device, reason: reason, disconnected: objects.count))
        case let .errorReported(reason):
            device.countErrorReport()
            logger.log(level: faultLevel(.error), "\(device) reported an error: \(reason)")
            loop.events.publish(.deviceError(device, reason: reason))
        }
    }

    /// `.interruptAffinity` pinning: the union of the connected objects' affinities.
    private func repinIfNeeded() {
        guard case .interruptAffinity = loop.options.pinning, !loop.isManuallyStepped else { return }
        let online = ProcessorAffinity.first(PThread.onlineProcessorCount).rawValue
        // The table keeps the union as objects come and go: walking every connected
        // object here, after every command batch, made connecting n vectors of d devices O(d n log n).
        var mask = table.connectedAffinityUnion & online
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
        detach(table.connectedObjects)
        for watch in table.eventWatches.values {
            performLogged(table.unwatchEvents(of: watch.device), "unwatching the events of \(watch.device)")
        }
        loop.deferredCalls?.drain()
        // A loop ending on its own (epoll failed) refuses later commands here, as stop() does:
        // a command queued after this last take would never be answered.
        loop.refuseCommands()
        for command in loop.takeCommands() {
            switch command {
            case let .attach(objects, _, completion):
                for object in objects { object.markDisconnected() }
                completion?.finish(.dispatcherStopped)
            case let .detach(_, completion), let .detachDevice(_, _, completion), let .rearm(_, completion),
                 let .contain(_, _, completion), let .setStorm(_, _, completion), let .watchEvents(_, completion), let .unwatchEvents(_, completion),
                 let .setActive(_, _, completion):
                completion?.finish()
            case let .flushDeferredCalls(completion):
                completion.finish()
            case .stop, .heartbeat:
                continue
            }
        }
    }
}
