// What happens to devices outside the control API: the dispatcher's fault events
// (removal requests, device errors, storms, stuck ISRs), the kernel's hot-plug
// events, and interrupt-count milestones. None of them stops the daemon.
public import InterruptBridge
public import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling

extension DeviceRegistry {
    func managed(_ interruptDevice: InterruptDevice?) -> ManagedDevice? {
        guard let interruptDevice else { return nil }
        return devices.values.first { $0.session?.backend === interruptDevice.backend }
    }

    /// One of the dispatcher's events, after the dispatcher acted on it.
    public func handle(_ event: DispatcherEvent) {
        let device = managed(event.device)
        switch event {
        case let .deviceRemoved(_, reason, count):
            // Already removed: the kernel's remove event was handled first (both come through
            // queues of their own) and said so.
            guard let device, device.state != .removed else { return }
            // The kernel waits for the device's descriptors before it can finish
            // the unbind or the unplug: let go of them now. A trigger's raise that landed
            // after the loop disabled the device's messages would assert the card's INTx line
            // (shared, perhaps, with a card under test) with no handler: the loop closed the
            // device's removal gate before that, which ran the profile's quiesce and refuses
            // later raises (`RemovalGate`); by now the device is closed and out of reach, so
            // the session is let go without quiescing it again.
            stopRaising(device)
            device.connected = nil
            closeSession(device, quiescing: false)
            device.state = .removed
            device.reason = reason
            publish(.removed, device, "\(device.id) removed (\(reason)): \(count) vector(s) disconnected")
        case let .deviceError(_, reason):
            publish(.error, device, "\(device?.id ?? "a device") reported an error: \(reason)")
        case let .stormContained(report):
            publish(.storm, device, "\(device?.id ?? report.device.description) message \(report.message) contained as storming (\(report.rule))"
                    + (report.backoff.map { ", re-armed after \($0)" } ?? ", until re-armed (POST /v1/devices/ID/rearm)"),
                    vector: report.message)
        case let .stormRearmed(_, _, message):
            publish(.stormRearmed, device, "\(device?.id ?? "a device") message \(message) watched again", vector: message)
        case let .isrStuck(_, vector, loop, duration):
            publish(.isrStuck, device, "an ISR of \(device?.id ?? "vector 0x\(String(vector, radix: 16))") has been running for \(duration) on \(loop)")
        }
    }

    /// Whether a card that just appeared was left failed on no driver: the add event comes
    /// from the kernel's device_add, before PCI attaches the device, and a bind then can fail
    /// (seen once in the rig: "did not bind to vfio-pci (now: no driver)", the card then left
    /// failed). Worth handling the event again a moment later; not when its entry refuses
    /// the card outright (an INTx line with no acknowledge program, no interrupts): a retry
    /// would only repeat the same `failed` event.
    public func arrivedUnbound(_ event: PCIHotplugEvent) -> Bool {
        guard event.action == .add, !stopping, let device = devices[event.address.description], device.state == .failed,
              let entry = device.entry else { return false }
        return binder.kernel.driver(of: event.address.description) == nil && connectRefusal(event.address, entry: entry) == nil
    }

    /// A kernel hot-plug event for a PCI function.
    public func handle(_ event: PCIHotplugEvent) {
        let id = event.address.description
        switch event.action {
        case .add:
            // Pulled while given back (`unbound`) or released: still the operator's, not taken
            // until a bind call, as before the pull (whatever entry would select it).
            if !stopping, let device = devices[id], device.state == .removed, let held = device.heldBackWhenRemoved {
                publish(.hotplugAdded, device, "\(id) appeared")
                (device.state, device.reason, device.heldBackWhenRemoved) = (held.state, held.reason, nil)
                return
            }
            let info = try? discovery.device(at: event.address)
            guard !stopping, let info, let entry = table.entry(for: info) else { return }
            let device = record(for: event.address)
            guard [.configured, .absent, .removed, .failed].contains(device.state), device.entry == nil || device.state != .configured
                    || device.entry == entry else { return }
            publish(.hotplugAdded, device, "\(id) appeared")
            device.entry = entry
            try? bind(device, entry: entry, toConnect: true)
            if device.state == .bound { try? connect(device) }
        case .remove:
            guard let device = devices[id] else { return }
            // A pull unbinds the card's driver first, and that unbind can reach the registry as
            // one by someone else (`released`) a moment before this event: not the operator's.
            let releasedByThePull = device.state == .released && device.releasedAt.map { .now - $0 < pullUnbindWindow } != false
            if device.state == .unbound || (device.state == .released && !releasedByThePull) {
                device.heldBackWhenRemoved = (device.state, device.reason)
            }
            if device.state != .removed {
                // Before the dispatcher's own removal event reached the registry (the kernel
                // sends both; their order here is the scheduler's): the same `removed` event,
                // so a watcher sees one sequence whichever comes first.
                let vectors = device.objects.count
                disconnect(device, reason: "hot-unplugged")
                closeSession(device, quiescing: false)
                device.state = .removed
                device.reason = "hot-unplugged"
                publish(.removed, device, "\(id) removed (hot-unplugged): \(vectors) vector(s) disconnected")
            }
            publish(.hotplugRemoved, device, "\(id) left the bus")
        case .unbind:
            guard let device = devices[id], let entry = device.entry else { return }
            // The daemon's own unbinds happen with the device already out of these states.
            guard [.bound, .connected, .removed].contains(device.state) else { return }
            let present = (try? discovery.device(at: event.address)) ?? nil
            guard let present, present.driver != entry.driver.rawValue else { return }
            disconnect(device, reason: "unbound by someone else")
            closeSession(device, quiescing: false)
            // Left on no driver, it is to be free for the driver its user binds next (its own
            // driver's probe included), not held for the daemon's by its override: once it has
            // settled there, so that an unbind followed at once by a probe (a reset through the
            // override, as libvirt does) still finds the override in place.
            if present.driver == nil {
                let settle = releaseSettle
                Task { [weak self] in
                    try? await Task.sleep(for: settle)
                    await self?.releaseOverrideIfSettled(id)
                }
            }
            device.state = .released
            device.releasedAt = .now
            device.reason = "unbound from \(entry.driver) outside the daemon; not taken back until POST /v1/devices/\(id)/bind"
            publish(.released, device, "\(id) was unbound from \(entry.driver) outside the daemon: released")
        default:
            return
        }
    }

    /// A card released onto no driver, still there and still released after the settle
    /// time: its override goes back to what it was before the daemon bound it.
    func releaseOverrideIfSettled(_ id: String) {
        guard !stopping, let device = devices[id], device.state == .released, let address = device.address,
              binder.kernel.driver(of: address.description) == nil else { return }
        if binder.releaseOverride(address) {
            logger.info("\(device.id) stayed on no driver: its driver_override is put back, so any driver may take it",
                        metadata: ["device": "\(device.id)"])
        }
    }

    /// Contains a VFIO INTx line whose ISR claims every pass without quieting the device
    /// (`StormRule.unquietedLine`, judged by `UnquietedLineCheck`: a window of at least a
    /// thousand claimed ISR calls in which the kernel took no interrupt on the line). VFIO signals
    /// such a line again at each unmask, so the dispatch loop would spin at the unmask
    /// round trip's rate with every call claimed, where no rule on the interrupt path can
    /// tell. Under UIO the kernel counts every re-assertion, so the rate rule applies
    /// there. The vector's storm policy sets the back-off (and a disabled one, nothing).
    func checkUnquietedLines() {
        let candidates = order.compactMap { devices[$0] }.filter { device in
            device.state == .connected && device.address != nil && device.uioIRQ == nil && device.objects.contains { $0.kind == .intx }
        }
        guard !candidates.isEmpty, let lines = try? ProcInterrupts.readTable() else { return }
        for device in candidates {
            let objects = device.objects.filter { $0.kind == .intx }
            guard let kernel = objects.first.flatMap({ lineKernelCount(device, $0, lines) }) else { continue }
            // Claimed calls only: another device's raises on a shared line run this ISR too,
            // unclaimed (the unclaimed rule's to judge).
            let sample = UnquietedLineCheck.Sample(calls: objects.reduce(0) { $0 &+ $1.claimedCount }, kernel: kernel,
                                                   triggersStarted: device.triggers.entries, triggerRunning: device.triggers.isBusy)
            guard let calls = device.quietCheck.judge(sample), !objects.contains(where: \.isContained) else { continue }
            // The loop logs and publishes the containment (a storm event naming the rule).
            logger.debug("\(device.id): \(calls) ISR call(s) on its line since the last check, none the kernel took: containing it",
                         metadata: ["device": "\(device.id)"])
            dispatcher.contain(objects, rule: .unquietedLine)
        }
    }

    /// Publishes a milestone for every device whose count passed a multiple of the setting.
    func checkMilestones() {
        let every = settings.milestone
        guard every > 0 else { return }
        for device in order.compactMap({ devices[$0] }) where device.state == .connected {
            let total = device.totalInterrupts
            if total / every > device.lastMilestone / every {
                publish(.milestone, device, "\(device.id) reached \(total / every * every) interrupts", count: total / every * every)
            }
            device.lastMilestone = total
        }
    }
}
