// The device table as calls: start-up replays it (re-adopting what a previous run
// left bound), a reload applies only its difference, shutdown gives devices back,
// and `save-config` writes the running table.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling

extension DeviceRegistry {
    /// Start-up: re-adopts devices a previous run bound (they stay bound; the
    /// table decides whether they are connected again or given back), then applies
    /// the table as bind + connect calls.
    public func start() -> (connected: Int, failed: Int) {
        readopt()
        apply(table, replacing: DeviceTable(), previousStorm: settings.storm, initial: true)
        isReady = true
        let all = devices.values
        let counts = (all.filter { $0.state == .connected }.count, all.filter { $0.state == .failed || $0.state == .absent }.count)
        publish(.ready, nil, "ready: \(counts.0) device(s) connected, \(counts.1) failed or absent")
        return counts
    }

    /// Devices a previous run left on vfio-pci / uio_pci_generic (its binding records).
    private func readopt() {
        let catalog = busCatalog(reporting: true)
        for name in binder.records.addresses() {
            guard let address = PCIAddress(name), let saved = binder.records.load(name) else { continue }
            guard let found = catalog?.device(at: address)?.info, found.driver == saved.boundTo else { continue }
            let configured = table.entry(for: found)
            // Not configured and bound by `irqbridge bind` (a bring-up session, say): not this
            // daemon's to give back. (A record that names no owner is an older daemon's.)
            guard configured != nil || saved.owner != "cli" else {
                logger.info("\(name) is on \(saved.boundTo), bound by irqbridge bind, not configured: left as it is")
                continue
            }
            let device = record(for: address)
            device.boundByDaemon = true
            device.previousDriver = saved.originalDriver
            if let entry = configured {
                device.entry = entry
                device.state = .bound
                publish(.bound, device, "\(name) re-adopted on \(saved.boundTo) (bound by an earlier run; was \(saved.originalDriver ?? "unbound"))")
            } else {
                do throws(BindingError) {
                    let now = try binder.unbind(address)
                    device.boundByDaemon = false
                    device.state = .unbound
                    publish(.unbound, device, "\(name) is no longer configured: given back to \(now ?? "no driver")")
                } catch {
                    fail(device, "giving back \(name), which an earlier run bound, failed: \(error)")
                }
            }
        }
    }

    /// A reload that could not be applied: reported, nothing changed.
    public func rejectReload(_ message: String) {
        publish(.reloadRejected, nil, message)
    }

    /// Applies a new table: what it drops is disconnected and given back, what it
    /// changes is reconnected (rebound when the driver changed), what it adds is
    /// bound and connected. A changed daemon-wide storm policy is applied in place to every
    /// connected device whose rules it changes. Settings that need a restart are reported,
    /// not applied.
    /// Returns the one-line summary and the devices the reload acted on that it left
    /// failed (their reasons are in GET /v1/devices/ID).
    public func reload(_ new: DeviceTable, settings newSettings: DaemonSettings) -> (message: String, failed: [String]) {
        let old = table
        reloads += 1
        let restartNeeded = settings.changesNeedingRestart(to: newSettings)
        loadedSettings = newSettings
        settings.milestone = newSettings.milestone
        settings.logLevel = newSettings.logLevel
        let previousStorm = settings.storm
        settings.storm = newSettings.storm
        let running = Self.running(reloading: new, over: configuredTable, changedByCalls: old)
        table = running
        configuredTable = new
        let (summary, failed) = apply(running, replacing: old, previousStorm: previousStorm, initial: false)
        let message = "reloaded: " + summary + (restartNeeded.isEmpty ? "" : "; needs a restart to change: " + restartNeeded.joined(separator: ", "))
        publish(.reload, nil, message)
        return (message, failed)
    }

    /// The table a reload runs: the new file, with what bind and unbind calls changed since
    /// the last load kept where the file did not change it. A card bound through the API and
    /// not named by the new file stays bound; one unbound through the API stays unbound
    /// unless the file's entry for it changed. (A restart starts from the file alone: save
    /// the running configuration to keep the calls' changes.)
    static func running(reloading new: DeviceTable, over previous: DeviceTable, changedByCalls running: DeviceTable) -> DeviceTable {
        var result = new
        // Unchanged in the file: what the calls made of it stands (unbound: gone from the
        // running table; bound again with another driver: the running entry).
        result.devices = result.devices.compactMap { entry in
            guard case .address = entry.selector, previous.devices.contains(entry) else { return entry }
            return running.devices.first { $0.selector == entry.selector }
        }
        // Bound through the API: in the running table, not in the previous file; the new file's entry wins.
        for entry in running.devices where !previous.devices.contains(where: { $0.selector == entry.selector }) {
            if !result.devices.contains(where: { $0.selector == entry.selector }) { result.devices.append(entry) }
        }
        return result
    }

    /// The difference between `old` and `new`, applied; `previousStorm`: the daemon-wide storm
    /// policy `old`'s devices run under (`settings.storm` is `new`'s). A connected device whose
    /// rules that changes, and nothing else, is a change. Returns a one-line summary and
    /// the ids of the devices it acted on that ended failed, in the table's order.
    @discardableResult
    func apply(_ new: DeviceTable, replacing old: DeviceTable, previousStorm: StormPolicy,
               initial: Bool) -> (summary: String, failed: [String]) {
        var added = 0, removed = 0, changed = 0, retried = 0
        var absent: [String] = []  // added entries whose card is not on the bus
        // Every device this pass acted on: the summary says how many of them ended failed.
        var touched: [ManagedDevice] = []
        let catalog = busCatalog(reporting: true)?.devices.map(\.info) ?? []
        // Simulated devices, by name.
        for entry in old.simulated where !new.simulated.contains(where: { $0.name == entry.name }) {
            if let device = devices[entry.name] { retire(device, reason: "removed from the configuration"); removed += 1; touched.append(device) }
        }
        for entry in new.simulated {
            let previous = old.simulated.first { $0.name == entry.name }
            // Unchanged: connected stays, and one disconnected through the API (configured)
            // stays so until `ctl connect`, as an unchanged PCI entry's bound device does.
            let unchanged = previous == entry && !initial
            if unchanged, let device = devices[entry.name], device.state == .connected || device.state == .configured {
                // A simulated device's rules are the daemon-wide policy's.
                if replaceStormRules(of: device, running: previousStorm, with: settings.storm) { changed += 1 }
                continue
            }
            if var same = previous, !initial, let device = devices[entry.name], device.state == .connected,
               let backend = device.session?.backend as? SimulatedBackend {
                same.rate = entry.rate
                same.perMessageMetrics = entry.perMessageMetrics
                if same == entry {
                    // Only the generator's rate or the metrics' labels changed: the connection stays.
                    if entry.rate > 0 { generator.start(entry.name, backend: backend, vectors: device.objects.count, rate: entry.rate) } else {
                        generator.stop(entry.name)
                    }
                    device.simulated = entry
                    replaceStormRules(of: device, running: previousStorm, with: settings.storm)
                    changed += 1
                    continue
                }
            }
            let device = devices[entry.name] ?? {
                let device = ManagedDevice(id: entry.name, address: nil)
                devices[entry.name] = device
                order.append(entry.name)
                return device
            }()
            if device.state == .connected {
                disconnect(device, reason: "configuration changed"); closeSession(device); changed += 1
            } else if unchanged {
                retried += 1  // failed before, tried again under the same entry
            } else if previous != nil, !initial {
                changed += 1  // disconnected or failed, and its entry changed
            } else {
                added += 1
            }
            device.simulated = entry
            device.state = .configured
            try? connect(device)
            touched.append(device)
        }
        // PCI devices: every present function an entry selects, and every configured address.
        var reconfigured: Set<PCIAddress> = []
        for device in order.compactMap({ devices[$0] }) where device.simulated == nil {
            guard let address = device.address, let oldEntry = device.entry else { continue }
            let info = catalog.first { $0.address == address }
            let newEntry = info.flatMap { new.entry(for: $0) } ?? new.devices.first { $0.selector == .address(address) }
            if newEntry == nil, old.devices.contains(where: { $0.selector == oldEntry.selector }) {
                retire(device, reason: "removed from the configuration")
                removed += 1
                touched.append(device)
            } else if let newEntry, newEntry != oldEntry, device.state == .connected || device.state == .bound,
                      Self.takesEffectWithoutReconnecting(from: oldEntry, to: newEntry) {
                // on-exit, per-message-metrics or from: read at exit, at scrape or at the next bind;
                // storm rules: applied to the connected vectors in place. The connection (and its
                // counts, and any wait on it) stays.
                replaceStormRules(of: device, running: oldEntry.stormPolicy(over: previousStorm),
                                  with: newEntry.stormPolicy(over: settings.storm))
                device.entry = newEntry
                reconfigured.insert(address)
                changed += 1
            } else if let newEntry, newEntry != oldEntry {
                reconfigure(device, from: oldEntry, to: newEntry)
                reconfigured.insert(address)
                changed += 1
                touched.append(device)
            } else if replaceStormRules(of: device, running: oldEntry.stormPolicy(over: previousStorm),
                                        with: (newEntry ?? oldEntry).stormPolicy(over: settings.storm)) {
                // Its entry unchanged, the daemon-wide keys it leaves out changed.
                changed += 1
            }
        }
        for entry in new.devices {
            let matching: [PCIAddress] = switch entry.selector {
            case .address(let address): [address]
            case .ids: catalog.filter { entry.selector.matches($0) && new.entry(for: $0) == entry }.map(\.address)
            }
            // A device `reconfigure` just handled is not bound and connected a second time.
            for address in matching where !reconfigured.contains(address) {
                // Unbound through the API while a vendor:device entry selects it: it stays
                // unbound while that entry is unchanged (the address entries' rule).
                if !initial, unboundByCalls.contains(address), case .ids = entry.selector, old.devices.contains(entry) { continue }
                let device = record(for: address)
                if [.released, .connected, .removed].contains(device.state) { continue }
                let unchanged = !initial && device.entry == entry
                if unchanged, device.state == .bound { continue }
                device.entry = entry
                guard catalog.contains(where: { $0.address == address }) else {
                    // Said once: a reload of the same file does not report it again.
                    if unchanged, device.state == .absent || device.state == .failed { continue }
                    // There, but its config space does not decode (or the bus could not be read):
                    // failed, with the reason, not "not on the bus".
                    do throws(DiscoveryError) { _ = try discovery.device(at: address) } catch {
                        fail(device, "\(error)")
                        touched.append(device)
                        continue
                    }
                    device.state = .absent
                    device.reason = "not on the bus"
                    added += 1
                    absent.append(device.id)
                    publish(.absent, device, "\(address) is configured but not on the bus (it is bound when it appears)")
                    continue
                }
                // A reload retries what failed under the same entry: a retry, not an addition.
                let retry = unchanged && device.state == .failed
                // A device re-adopted from an earlier run is on its driver already: connect only.
                let readopted = initial && device.state == .bound && device.boundByDaemon
                    && catalog.first(where: { $0.address == address })?.driver == entry.driver.rawValue
                if !readopted { try? bind(device, entry: entry, toConnect: true) }
                if device.state == .bound { try? connect(device) }
                if retry { retried += 1 } else { added += 1 }
                touched.append(device)
            }
        }
        // A device kept failed (a give-back that failed keeps it) is still the daemon's; one
        // forgotten is not counted.
        let failedIDs = Set(touched.filter { $0.state == .failed && devices[$0.id] === $0 }.map(\.id))
        let failed = order.filter { failedIDs.contains($0) }
        let summary = "\(added) added, \(changed) changed, \(removed) removed" + (retried > 0 ? ", \(retried) retried" : "")
            + (failed.isEmpty ? "" : ", \(failed.count) failed (\(failed.joined(separator: ", ")))")
            + (absent.isEmpty ? "" : ", \(absent.count) absent (\(absent.joined(separator: ", ")))")
        return (summary, failed)
    }

    /// Whether an entry's change is only to what is read later (on-exit at exit,
    /// per-message-metrics at scrape, from at the next bind) or applied in place (the storm
    /// rules), not to the connection.
    static func takesEffectWithoutReconnecting(from old: DeviceEntry, to new: DeviceEntry) -> Bool {
        var adjusted = old
        adjusted.onExit = new.onExit
        adjusted.perMessageMetrics = new.perMessageMetrics
        adjusted.from = new.from
        adjusted.storm = new.storm
        return adjusted == new
    }

    /// The entry of a bound or connected device changed: reconnect under the new one
    /// (rebinding first when the driver changed).
    private func reconfigure(_ device: ManagedDevice, from old: DeviceEntry, to new: DeviceEntry) {
        let wasConnected = device.state == .connected
        if wasConnected {
            disconnect(device, reason: "configuration changed")
            closeSession(device)
            device.state = .bound
        }
        device.entry = new
        guard device.state != .released, device.state != .removed, device.state != .absent else { return }
        // As at start-up, a card the new entry cannot connect is not taken to (or kept on) the
        // daemon's driver to fail there: the daemon gives back what it bound, and the card is
        // failed with the reason. (bind's own check is for cards not bound yet.)
        if device.state == .bound, let address = device.address, let info = try? discovery.device(at: address),
           let refusal = connectRefusal(info, entry: new) {
            var left = "it was left on \(info.driver ?? "no driver")"
            if device.boundByDaemon {
                do throws(BindingError) {
                    left = "it was given back to \(try binder.unbind(address) ?? "no driver")"
                    device.boundByDaemon = false
                } catch {
                    left = "giving it back failed: \(error)"  // the record stays: the shutdown drain tries again
                }
            }
            fail(device, refusal + "; " + left)
            return
        }
        if new.driver != old.driver || device.state == .failed { try? bind(device, entry: new, toConnect: true) }
        if device.state == .bound { try? connect(device) }
    }

    /// A device leaves the configuration: disconnected and given back.
    private func retire(_ device: ManagedDevice, reason: String) {
        disconnect(device, reason: reason)
        closeSession(device)
        if let address = device.address, device.boundByDaemon, let driver = binder.forgetIfBack(address) {
            // Its own driver took it back meanwhile: only the record was left.
            publish(.released, device, "\(device.id) \(reason): it is on \(driver) already")
        } else if let address = device.address, device.boundByDaemon {
            do throws(BindingError) {
                let now = try binder.unbind(address)
                publish(.unbound, device, "\(device.id) \(reason): given back to \(now ?? "no driver")")
            } catch .noSuchDevice {
                publish(.removed, device, "\(device.id) \(reason): it is gone, nothing to give back")
            } catch .notManaged(_, let driver) {
                publish(.released, device, "\(device.id) \(reason): it is on \(driver) already")
            } catch {
                // Kept (out of the configuration, still the daemon's): the shutdown drain tries
                // again, and its exit status says if that fails too.
                device.entry = nil
                fail(device, "\(reason), but giving it back failed: \(error)")
                return
            }
        }
        forget(device)
    }

    /// An entry bound through the API joins the running table.
    func adoptIntoTable(_ entry: DeviceEntry) {
        guard case .address = entry.selector else { return }
        if let index = table.devices.firstIndex(where: { $0.selector == entry.selector }) {
            table.devices[index] = entry
        } else if !table.devices.contains(where: { $0 == entry }) {
            if case .address(let address) = entry.selector, let existing = devices[address.description]?.entry,
               existing == entry, table.devices.contains(where: { $0.selector == existing.selector }) { return }
            table.devices.append(entry)
        }
    }

    /// A device unbound through the API leaves the running table (an address entry;
    /// a vendor:device entry keeps selecting the others).
    func removeFromTable(_ device: ManagedDevice) {
        guard let address = device.address else { return }
        table.devices.removeAll { $0.selector == .address(address) }
        device.entry = nil
    }

    /// The running configuration as a file the daemon starts from (written
    /// atomically at `path` when given, mode 0600). Without a path, every setting as it
    /// runs; the file written keeps a setting that needs a restart as the last loaded file
    /// has it (the edit a reload named as waiting for one), as the restart will run it.
    public func saveConfiguration(to path: String?) throws(ControlError) -> String {
        guard let path else { return ConfigurationWriter.yaml(table, settings: settings) }
        guard path.hasPrefix("/") else {
            throw .badRequest("path must be absolute (the daemon's working directory is not the caller's), not '\(path)'")
        }
        // Root writes it: only the configuration file itself or a file in the state directory.
        let inState = path.hasPrefix(settings.stateDirectory + "/") && !path.dropFirst(settings.stateDirectory.count + 1).contains("/")
            && !path.hasSuffix("/") && !path.contains("/..") && path != settings.lockFilePath
        guard path == configurationPath || inState else {
            throw .badRequest("path must be the configuration file (\(configurationPath ?? "none")) or a file in \(settings.stateDirectory), not '\(path)'")
        }
        // The state directory holds the daemon's own entries too: the control socket (by
        // default /run/irqbridge/control.sock), the CLI's trigger sockets, `bindings/`. A save
        // renamed over one of them would take it away (the API itself, the binding records).
        if path != configurationPath {
            let name = path.dropFirst(settings.stateDirectory.count + 1)
            if path == settings.bindingRecordsDirectory || name == "." || path == settings.socketPath {
                throw .badRequest("path '\(path)' is the daemon's own (its socket or binding records): give another name in \(settings.stateDirectory)")
            }
            // A link is replaced itself, not followed (below): only its own kind matters.
            if let kind = FileIO.kind(ofEntry: path), ![.regular, .symbolicLink].contains(kind) {
                throw .badRequest("path '\(path)' is \(kind), not a regular file: save-config replaces only a file")
            }
            // The temporary file beside it (NAME.tmp-PID-RANDOM) must fit NAME_MAX too.
            guard name.utf8.count <= 200 else {
                throw .badRequest("path's file name is \(name.utf8.count) bytes: at most 200")
            }
        }
        let text = ConfigurationWriter.yaml(table, settings: settings.withRestartOnlySettings(of: loadedSettings))
        // Through a link only for the configuration file the daemon was started from (kept,
        // say, as a link into a deployment); a link in the state directory is not followed.
        do { try FileIO.replaceAtomically(path, text, preservingMode: true, followingLinks: path == configurationPath) } catch {
            throw .failed("writing \(path) failed: \(error)")
        }
        logger.info("running configuration saved", metadata: ["path": "\(path)"])
        return text
    }

    /// Shutdown: refuses further calls, disconnects everything (returns once no ISR
    /// runs), gives devices back to their drivers (unless `on-exit: keep`).
    /// Returns the counts, and the devices it could not give back (their binding records
    /// are kept, so `irqbridge unbind` can retry).
    public func drain() -> (disconnected: Int, restored: Int, notRestored: [String]) {
        stopping = true
        // Pending waits return at once (their devices are about to be disconnected).
        stopRequested.store(true, ordering: .releasing)
        publish(.stopping, nil, "stopping: disconnecting and giving devices back")
        var disconnected = 0, restored = 0, notRestored: [String] = []
        for device in order.reversed().compactMap({ devices[$0] }) {
            if device.state == .connected { disconnected += 1 }
            disconnect(device, reason: "shutdown")
            closeSession(device)
            // Pulled (removed, or absent since a restart re-adopted its record): nothing is left
            // to give back, and its record would stay for good.
            if let address = device.address, device.boundByDaemon, binder.forgetIfGone(address) {
                device.boundByDaemon = false
                continue
            }
            guard let address = device.address, device.boundByDaemon, device.entry?.onExit != .keep,
                  device.state != .removed else { continue }
            // Back on its own driver (its module reloaded, say): only the record is left to drop.
            if let driver = binder.forgetIfBack(address) {
                device.boundByDaemon = false
                if device.state != .released { publish(.released, device, "\(device.id) is on \(driver) already: nothing to give back") }
                continue
            }
            // A released device (unbound from the daemon's driver by someone else) still carries
            // the daemon's driver_override and record: on no driver, or back on the daemon's
            // driver through that override, it is given back like the others. On another
            // driver someone chose, it is theirs.
            if device.state == .released {
                let now = binder.kernel.driver(of: address.description)
                guard now == nil || now == device.entry?.driver.rawValue else { continue }
            }
            do throws(BindingError) {
                let now = try binder.unbind(address)
                device.boundByDaemon = false
                device.state = .configured
                restored += 1
                publish(.unbound, device, "\(device.id) given back to \(now ?? "no driver")")
            } catch .noSuchDevice {
                // Pulled after `forgetIfGone` looked (a card gone before that is handled there):
                // nothing is left to give back.
                publish(.removed, device, "\(device.id) is gone: nothing to give back")
            } catch .notManaged(_, let driver) {
                // Already on a kernel driver (its own, or one someone bound): not left on ours.
                publish(.released, device, "\(device.id) is on \(driver) already: nothing to give back")
            } catch {
                notRestored.append(device.id)
                publish(.error, device, "giving \(device.id) back failed: \(error)")
            }
        }
        generator.shutdown()
        return (disconnected, restored, notRestored)
    }

    /// Ends the dispatch loops and joins their threads, on the registry's own queue: a join
    /// held up by a slow ISR holds no thread of the cooperative pool, which has one per
    /// processor and runs every timer, the shutdown's own time limit included.
    public func shutDownDispatcher() { dispatcher.shutdown() }
}
