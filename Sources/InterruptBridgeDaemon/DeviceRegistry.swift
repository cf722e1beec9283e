// The devices the daemon owns and every operation on them: the control API's
// calls, the start-up replay of the device table, reloads, hot-plug and faults.
// One owner: this actor, on its own serial queue (the blocking sysfs and VFIO work
// never holds a cooperative thread).
public import InterruptBridge
import InterruptBridgeCore
public import InterruptBridgeDiscovery
import InterruptBridgeSystem
import Synchronization
import InterruptBridgeTooling
public import Logging

public actor DeviceRegistry {
    nonisolated let executor = QueueExecutor(label: "irqbridge.devices")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public nonisolated let dispatcher: InterruptDispatcher
    public nonisolated let events: EventBroadcaster
    nonisolated let logger: Logger
    nonisolated let binder: DeviceBinder
    nonisolated let discovery: PCIDiscovery
    /// The settings in force (a reload changes those it can apply).
    var settings: DaemonSettings
    /// The settings as last loaded (start-up, reload), with what needs a restart as the
    /// file has it: a file `save-config` writes keeps those.
    var loadedSettings: DaemonSettings
    /// The configuration the daemon runs (the file's, changed by bind/unbind calls).
    var table: DeviceTable
    /// The file's configuration as last loaded (start-up, reload), untouched by the
    /// calls: a device unbound through the API and bound again takes its entry back.
    var configuredTable: DeviceTable
    var devices: [String: ManagedDevice] = [:]
    /// Ids in the order they became known (listing order).
    var order: [String] = []
    var stopping = false
    /// Set at the start of a graceful shutdown: pending waits return at once.
    nonisolated let stopRequested = Atomic<Bool>(false)
    /// Whether start-up finished (every configured device connected or reported failed).
    var isReady = false
    /// The file the daemon was started from (`save-config` may overwrite it).
    let configurationPath: String?
    var reloads = 0
    /// Cards given back through the API (until bound through it again): a reload leaves
    /// them unbound while the file's entry that selects them is unchanged.
    var unboundByCalls: Set<PCIAddress> = []
    /// How long a card released onto no driver keeps the daemon's driver_override (an
    /// unbind and a probe in quick succession is a reset, not a release).
    var releaseSettle: Duration = .seconds(2)
    /// How soon after a card was found unbound outside the daemon its removal means that
    /// unbind was the removal's own (a pull unbinds the driver, then removes the device).
    var pullUnbindWindow: Duration = .seconds(5)
    /// How long an unpaced trigger may raise before it stops and answers 409.
    var unpacedTriggerLimit: Duration = .seconds(Int(DeviceRegistry.longestPacedTrigger))
    let generator: InterruptGenerator

    public init(settings: DaemonSettings, table: DeviceTable, dispatcher: InterruptDispatcher, events: EventBroadcaster,
                binder: DeviceBinder, discovery: PCIDiscovery, logger: Logger, configurationPath: String? = nil) {
        self.settings = settings
        loadedSettings = settings
        self.configurationPath = configurationPath
        self.table = table
        self.configuredTable = table
        self.dispatcher = dispatcher
        self.events = events
        self.binder = binder
        self.discovery = discovery
        self.logger = logger
        self.generator = InterruptGenerator(logger: logger)
    }

    // MARK: Looking up

    func device(_ id: String) throws(ControlError) -> ManagedDevice {
        if let device = devices[id] { return device }
        if let address = PCIAddress(id), let device = devices[address.description] { return device }
        throw .notFound("no device '\(id)' is known to the daemon (GET /v1/devices lists them)")
    }

    /// Creates the record for a PCI address (not yet configured).
    func record(for address: PCIAddress) -> ManagedDevice {
        if let device = devices[address.description] { return device }
        let device = ManagedDevice(id: address.description, address: address)
        devices[device.id] = device
        order.append(device.id)
        return device
    }

    /// The bus as the daemon sees it: every function whose config space decodes. One that
    /// does not (a card with a broken capability list) is left out, so it does not make
    /// every configured card look absent; `reporting` (start-up, a reload) logs it.
    func busCatalog(reporting: Bool = false) -> DeviceCatalog? {
        do {
            let found = try discovery.decodedCatalog()
            if reporting {
                for problem in found.malformed { logger.warning("\(problem): left out of the daemon's view of the bus") }
            }
            return found.catalog
        } catch {
            if reporting { logger.warning("reading the PCI bus failed: \(error)") }
            return nil
        }
    }

    /// The registry stops knowing the device (it leaves the list).
    func forget(_ device: ManagedDevice) {
        devices.removeValue(forKey: device.id)
        order.removeAll { $0 == device.id }
    }

    func publish(_ kind: DaemonEvent.Kind, _ device: ManagedDevice?, _ message: String, count: UInt64? = nil, vector: Int? = nil) {
        let event = events.publish(DaemonEvent(kind: kind, device: device?.id, message: message, count: count, vector: vector))
        var metadata: Logger.Metadata = ["event": "\(kind.rawValue)", "seq": "\(event.sequence)"]
        if let id = device?.id { metadata["device"] = "\(id)" }
        if let count { metadata["count"] = "\(count)" }
        if let vector { metadata["vector"] = "\(vector)" }
        switch kind {
        case .failed, .absent, .error, .removed, .storm, .isrStuck, .reloadRejected, .released: logger.warning("\(message)", metadata: metadata)
        case .milestone: logger.debug("\(message)", metadata: metadata)
        default: logger.info("\(message)", metadata: metadata)
        }
    }

    func fail(_ device: ManagedDevice, _ reason: String) {
        device.state = .failed
        device.reason = reason
        publish(.failed, device, "\(device.id): \(reason)")
    }

    // MARK: Binding

    /// Binds a PCI device to its configured driver (or `driver`), taking it only from
    /// the driver `from` names (the entry's, or the call's). Adds it to the running
    /// configuration when it was not in it.
    public func bind(_ id: String, driver: UserSpaceDriver? = nil, from: String? = nil) throws(ControlError) -> DeviceStatus {
        try ensureRunning()
        guard let address = PCIAddress(id) else {
            if devices[id]?.simulated != nil { throw .conflict("\(id) is simulated: nothing to bind") }
            throw .badRequest("not a PCI address: '\(id)' (expected \(PCIAddress.expectedForms))")
        }
        let known = devices[address.description] != nil
        unboundByCalls.remove(address)
        let device = record(for: address)
        // The configured entry when the file names the device (its connect version, storm
        // rules, profile, on-exit survive an unbind and a bind), else the defaults.
        var entry = device.entry ?? (try? discovery.device(at: address)).flatMap { configuredTable.entry(for: $0) }
            ?? DeviceEntry(selector: .address(address))
        let connectedOn = entry.driver
        if let driver { entry.driver = driver }
        if let from { entry.from = from }
        if device.state == .connected {
            guard driver == nil || driver == connectedOn else { throw .conflict("\(id) is connected on \(connectedOn): disconnect it first") }
            return status(of: device)
        }
        do {
            // One the daemon did not know is not reported failed (nor kept) when refused.
            try bind(device, entry: entry, quietly: !known)
        } catch {
            // A refused bind of a device the daemon did not know (a typo, a device in use)
            // leaves no entry behind: the list stays what the daemon manages.
            if !known { forget(device) }
            throw error
        }
        return status(of: device)
    }

    /// `toConnect`: the device is bound to be connected at once (start-up, a reload, a
    /// hot-plug), so a connect that is bound to be refused (an INTx line with no
    /// acknowledge program, no interrupts) refuses the bind too: the card stays on its
    /// own driver instead of sitting on vfio-pci, unusable, until SIGTERM.
    func bind(_ device: ManagedDevice, entry: DeviceEntry, toConnect: Bool = false, quietly: Bool = false) throws(ControlError) {
        guard let address = device.address else { throw .conflict("\(device.id) is simulated: nothing to bind") }
        if toConnect, device.state != .bound, let refusal = connectRefusal(address, entry: entry) {
            device.entry = entry
            let left = binder.kernel.driver(of: address.description).map { "it was left on \($0)" } ?? "it was left on no driver, as it was"
            fail(device, refusal + "; " + left)
            throw .conflict(refusal)
        }
        do throws(BindingError) {
            let outcome = try binder.bind(address, to: entry.driver, from: entry.from)
            device.entry = entry
            adoptIntoTable(entry)
            if let record = binder.records.load(address.description) {
                // The driver it goes back to: the record's, not the one it just left (a card the
                // daemon moves from vfio-pci to uio_pci_generic goes back to its own driver).
                device.boundByDaemon = true
                device.previousDriver = record.originalDriver
            } else if outcome.changed {
                device.boundByDaemon = true
                device.previousDriver = outcome.previousDriver
            }
            device.state = .bound
            device.reason = nil
            for warning in outcome.warnings { logger.warning("\(warning)", metadata: ["device": "\(device.id)"]) }
            publish(.bound, device, "\(device.id) bound to \(entry.driver)" + (outcome.changed ? " (was \(outcome.previousDriver ?? "unbound"))" : " (already)"))
        } catch {
            let failure = Self.controlError(error)
            // A device that is not on the bus stays absent (or removed): it is bound when it
            // appears, and `failed` would say a step went wrong with a card that is there.
            let missing = if case .noSuchDevice = error { true } else { false }
            if missing, device.state == .absent || device.state == .removed {
                throw .notFound("\(device.id) is \(device.state.rawValue), not on the bus: the daemon binds it when it appears")
            }
            if device.state != .released, !quietly { fail(device, failure.description) }
            throw failure
        }
    }

    static func controlError(_ error: BindingError) -> ControlError {
        switch error {
        case let .inUse(address, driver, target):
            // The daemon's next step, not the command line's.
            .conflict("\(address) is in use by \(driver); to take it for \(target) anyway, bind it with from: \(driver) "
                      + "(ctl bind --from, or the device entry's from:; ctl unbind gives it back)")
        case .noSuchDevice: .notFound(error.description)
        // The daemon has no --force: a bridge is taken only by hand, with irqbridge bind.
        case .bridge: .conflict(error.bridgeRefusal + "; the daemon does not bind bridges")
        case .notBoundTo, .notManaged, .notVFIOCapable: .conflict(error.description)
        default: .failed(error.description)
        }
    }

    /// Disconnects (if connected) and gives the device back to the driver it had.
    /// It leaves the running configuration.
    public func unbind(_ id: String) throws(ControlError) -> DeviceStatus {
        try ensureRunning()
        let device = try device(id)
        guard let address = device.address else { throw .conflict("\(id) is simulated: nothing to unbind") }
        // Not on the bus: nothing to give back, and its state (bound when it appears) stays.
        if device.state == .absent {
            throw .conflict("\(id) is absent (not on the bus): nothing to unbind")
        }
        disconnect(device, reason: "unbind")
        closeSession(device)
        do throws(BindingError) {
            let now = try binder.unbind(address)
            device.boundByDaemon = false
            device.state = .unbound
            device.reason = "unbound through the control API"
            unboundByCalls.insert(address)
            removeFromTable(device)
            publish(.unbound, device, "\(device.id) given back to \(now ?? "no driver")")
        } catch {
            let failure = Self.controlError(error)
            switch error {
            case .notManaged(_, let driver):
                // On a kernel driver already (given back behind the daemon's back): nothing of
                // the daemon's is left bound. A device it had bound is `released`.
                if device.state == .connected || device.state == .bound {
                    device.state = .released
                    device.reason = "on \(driver), not the daemon's driver"
                }
            case .noSuchDevice:
                device.state = .removed
                device.reason = "not on the bus"
            default:
                // Still on the daemon's driver, disconnected: `failed`, and still the daemon's
                // to give back (the shutdown drain tries again; the binding record is kept).
                fail(device, "giving it back failed: \(failure)")
            }
            throw failure
        }
        return status(of: device)
    }

    // MARK: Connecting

    /// Connects the device's interrupts with its profile's acknowledge (message-based,
    /// falling back to the line, or line-based as configured).
    public func connect(_ id: String) throws(ControlError) -> DeviceStatus {
        try ensureRunning()
        let device = try device(id)
        try connect(device)
        return status(of: device)
    }

    func connect(_ device: ManagedDevice) throws(ControlError) {
        if device.state == .connected { return }
        // Not on the bus: refused without marking it failed (it is bound and connected when it appears).
        if device.state == .absent {
            throw .conflict("\(device.id) is absent (not on the bus): nothing to connect")
        }
        if device.state == .removed, let address = device.address, (try? discovery.device(at: address)) ?? nil == nil {
            throw .conflict("\(device.id) is removed (not on the bus): nothing to connect")
        }
        // Off the daemon's driver (given back by someone else, or through the API): refused
        // as it is, not marked failed, which a reload would take for a failure to retry and
        // take the card back.
        if device.simulated == nil, device.state == .released || device.state == .unbound {
            throw .conflict("\(device.id) is \(device.state.rawValue) (\(device.reason ?? "not on the daemon's driver")): bind it first")
        }
        if let simulated = device.simulated {
            try connectSimulated(device, simulated)
            return
        }
        guard let address = device.address else { return }
        let entry = device.entry ?? DeviceEntry(selector: .address(address))
        do throws(DeviceSessionError) {
            let library = try entry.profileLibrary()
            let session = try DeviceSession.open(address, library: library, profile: entry.chosenProfile(in: library), advice: .daemon,
                                                 logger: logger)
            let connected: ConnectedInterrupts
            do {
                connected = try session.connect(dispatcher, lineBased: entry.connect == .lineBased, policy: policy(for: entry))
            } catch {
                session.close()
                throw error
            }
            do { try session.stimulus?.setup() } catch {
                logger.warning("\(address): the profile's stimulus set-up failed: \(error)")
            }
            device.entry = entry
            adopt(session, connected, into: device)
            publish(.connected, device, "\(device.id) connected: \(connected.summary)" + (session.profile.map { ", profile \($0.name)" } ?? ", count only"))
        } catch {
            let failure: ControlError = switch error {
            case .badInput(let message): .conflict(message)
            case .failed(let message): .failed(message)
            }
            fail(device, failure.description)
            throw failure
        }
    }

    private func connectSimulated(_ device: ManagedDevice, _ entry: SimulatedEntry) throws(ControlError) {
        let backend = SimulatedBackend(Self.simulatedDevice(entry, index: simulatedIndex(entry.name)))
        let session = DeviceSession.simulated(backend)
        do throws(DeviceSessionError) {
            var policy = InterruptPolicy()
            policy.msiSupported = entry.kind != .intx
            policy.preferMSIX = entry.kind == .msix
            // The running daemon-wide rules (not the dispatcher's start-up default): a reload
            // that changes them replaces them in place.
            policy.storm = settings.storm
            let connected = try session.connect(dispatcher, lineBased: entry.kind == .intx, policy: policy)
            adopt(session, connected, into: device)
            if entry.rate > 0 { generator.start(device.id, backend: backend, vectors: connected.objects.count, rate: entry.rate) }
            publish(.connected, device, "\(device.id) connected (simulated): \(connected.summary)" + (entry.rate > 0 ? ", \(entry.rate)/s per vector" : ""))
        } catch {
            fail(device, error.description)
            throw .failed(error.description)
        }
    }

    /// The device is connected: its session and interrupts, figures counted from now.
    private func adopt(_ session: DeviceSession, _ connected: ConnectedInterrupts, into device: ManagedDevice) {
        device.session = session
        device.connected = connected
        device.uioIRQ = session.backend is UIOBackend ? session.info.irqLine : nil
        device.state = .connected
        device.reason = nil
        device.triggers.reopen()
        resetBaselines(device)
        device.lastMilestone = 0
        device.quietCheck.reset()
    }

    func simulatedIndex(_ name: String) -> Int { (table.simulated.firstIndex { $0.name == name } ?? 0) + 1 }

    /// A simulated function with the entry's shape, at an address no real bus has.
    static func simulatedDevice(_ entry: SimulatedEntry, index: Int) -> SimulatedDevice {
        let address = PCIAddress(domain: 0xffff, bus: UInt8(truncatingIfNeeded: index >> 5), device: UInt8(index & 31), function: 0)
        return SimulatedDevice(address: address, vendorID: 0x1234, deviceID: 0x11e8, interruptPin: .a, irqLine: 11,
                               msiCount: entry.kind == .msi ? entry.vectors : 0, msixCount: entry.kind == .msix ? entry.vectors : 0,
                               name: entry.name)
    }

    /// Why connecting the device at `address` under `entry` would be refused, from what
    /// discovery and the profiles say before anything is bound (nil: it may connect).
    func connectRefusal(_ address: PCIAddress, entry: DeviceEntry) -> String? {
        // A missing device is bind's to report; one already on the driver is not being taken.
        guard let info = try? discovery.device(at: address), info.driver != entry.driver.rawValue else { return nil }
        return connectRefusal(info, entry: entry)
    }

    /// Why `entry` could not connect the function `info` describes, wherever it is bound
    /// now: its interrupts and profile, then its IOMMU group (nil: it may connect).
    func connectRefusal(_ info: PCIDeviceInfo, entry: DeviceEntry) -> String? {
        entry.connectRefusal(info, policy: policy(for: entry)) ?? ConfigurationPlan.groupRefusal(info, entry, binder)
    }

    func policy(for entry: DeviceEntry) -> InterruptPolicy { table.policy(for: entry, daemonWideStorm: settings.storm) }

    /// Disconnects the device's interrupts; returns once no ISR of it runs.
    public func disconnect(_ id: String) throws(ControlError) -> DeviceStatus {
        try ensureRunning()
        let device = try device(id)
        // Disconnected already (as a connect of a connected device is connected already): done.
        let disconnectedState: ManagedState = device.simulated == nil ? .bound : .configured
        if device.state == disconnectedState, device.connected == nil { return status(of: device) }
        guard device.state == .connected else { throw .conflict("\(id) is \(device.state.rawValue), not connected") }
        disconnect(device, reason: "requested")
        closeSession(device)
        device.state = disconnectedState
        return status(of: device)
    }

    /// Stops triggers in flight, disconnects, and publishes it (no-op when not connected).
    func disconnect(_ device: ManagedDevice, reason: String) {
        stopRaising(device)
        guard let connected = device.connected else { return }
        let total = device.totalInterrupts
        connected.disconnect()
        device.connected = nil
        publish(.disconnected, device, "\(device.id) disconnected (\(reason)) after \(total) interrupt(s)", count: total)
    }

    /// Stops the generator and the triggers raising the device's interrupts (before
    /// its interrupts or its backend go away).
    func stopRaising(_ device: ManagedDevice) {
        generator.stop(device.id)
        device.triggers.stopAndDrain()
    }

    /// Lets go of the device's backend. `quiescing`: first clear what the device has
    /// pending (its profile's quiesce), so a cause left behind does not assert a line
    /// nothing handles any more; not for a device that has left the bus.
    func closeSession(_ device: ManagedDevice, quiescing: Bool = true) {
        if quiescing { device.session?.quiesce() }
        device.session?.close()
        device.session = nil
    }

    // MARK: Storms and counters

    /// Watches the device's storm-contained vectors again now.
    public func rearm(_ id: String) throws(ControlError) -> DeviceStatus {
        let device = try device(id)
        guard device.state == .connected else { throw .conflict("\(id) is \(device.state.rawValue), not connected") }
        dispatcher.rearm(device.objects)
        return status(of: device)
    }

    /// Starts the device's (or every device's) statistics afresh.
    public func resetCounters(_ id: String?) throws(ControlError) -> [DeviceStatus] {
        let chosen = try id.map { id throws(ControlError) in [try device(id)] } ?? order.compactMap { devices[$0] }
        let kernel = try? ProcInterrupts.readTable()
        for device in chosen {
            resetBaselines(device, kernel: kernel)
            publish(.countersReset, device, "\(device.id) counters reset")
        }
        let catalog = busCatalog()
        return chosen.map { status(of: $0, catalog: catalog) }
    }

    func resetBaselines(_ device: ManagedDevice, kernel: ProcInterruptsTable? = nil) {
        let lines = kernel ?? (try? ProcInterrupts.readTable())
        device.baselines = device.objects.map { object in
            VectorBaseline(claimed: object.claimedCount, unclaimed: object.unclaimedCount, signals: object.deliveredSignalCount,
                           storms: object.stormCount, kernel: kernelCount(device, object, lines), timings: object.timings)
        }
        device.baselineTime = .now
        device.generatedBaseline = (device.session?.backend as? SimulatedBackend)?.raisedCount ?? 0
    }

    func ensureRunning() throws(ControlError) {
        if stopping { throw .unavailable("the daemon is stopping") }
    }
}
