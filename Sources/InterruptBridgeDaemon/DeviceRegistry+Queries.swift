// What the registry reports: device states, per-vector statistics, health.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling

extension DeviceRegistry {
    /// Every known device (configured, unbound, bound, connected, failed, released, removed, absent).
    public func list() -> [DeviceStatus] {
        let catalog = busCatalog()
        return order.compactMap { devices[$0] }.map { status(of: $0, catalog: catalog) }
    }

    public func status(_ id: String) throws(ControlError) -> DeviceStatus {
        status(of: try device(id))
    }

    /// `catalog`: a whole-bus pass the caller already made (a list); nil reads only this device.
    func status(of device: ManagedDevice, catalog: DeviceCatalog? = nil) -> DeviceStatus {
        let objects = device.objects
        var pci: DeviceJSON?
        var driver: String?
        if let address = device.address,
           let found = catalog.map({ $0.device(at: address) }) ?? (try? discovery.discovered(at: address)) {
            pci = DeviceJSON(found)
            driver = found.info.driver
        }
        // Unclaimed before the calls: a pass counts its call first, so unclaimed is never the larger.
        let unclaimed = objects.reduce(0) { $0 &+ $1.unclaimedCount }
        return DeviceStatus(id: device.id, simulated: device.simulated != nil, state: device.state.rawValue, reason: device.reason,
                            configured: isConfigured(device), driver: device.simulated == nil ? driver : "simulated",
                            previousDriver: device.boundByDaemon ? device.previousDriver : nil, onExit: device.entry?.onExit.rawValue,
                            profile: device.session?.profile?.name ?? device.entry?.profile,
                            interruptKind: objects.first?.kind.description, vectors: objects.count,
                            interrupts: device.totalInterrupts, unclaimed: unclaimed,
                            storms: objects.reduce(0) { $0 &+ $1.stormCount }, pci: pci)
    }

    func isConfigured(_ device: ManagedDevice) -> Bool {
        if let simulated = device.simulated { return table.simulated.contains { $0.name == simulated.name } }
        guard let address = device.address else { return false }
        return table.devices.contains { $0.selector == .address(address) }
            || (device.entry.map { entry in table.devices.contains { $0.selector == entry.selector } } ?? false)
    }

    /// Per-vector figures since the last reset.
    public func statistics(_ id: String) throws(ControlError) -> DeviceStatistics {
        let device = try device(id)
        let lines = device.address == nil ? nil : try? ProcInterrupts.readTable()
        let vectors = device.objects.enumerated().map { index, object in
            let base = index < device.baselines.count ? device.baselines[index] : VectorBaseline()
            // Interrupts are the calls that ended, claimed or not: the three figures agree
            // exactly, where a separate call count can be read a pass ahead of the others.
            let claimed = object.claimedCount &- base.claimed
            let unclaimed = object.unclaimedCount &- base.unclaimed
            let interrupts = claimed &+ unclaimed
            // Without a reading at the reset (a line shared then) there is no start to count from:
            // the count now would be the vector's total since boot. Nil until the next reset.
            let kernel = base.kernel.flatMap { start in kernelCount(device, object, lines).map { $0 &- start } }
            let timings = object.timings
            // A baseline from before recording (or an earlier connection) has no buckets to subtract.
            let timingBase = base.timings.isRecorded ? base.timings : InterruptTimings()
            return VectorStatistics(message: Int(object.messageID), kind: object.kind.description, dirql: Int(object.irql.rawValue),
                                    interrupts: interrupts, claimed: claimed, unclaimed: unclaimed,
                                    signals: object.deliveredSignalCount &- base.signals, storms: object.stormCount &- base.storms,
                                    contained: object.isContained, kernel: kernel,
                                    isrDuration: timings.isRecorded ? LatencyFigures(timings.isrDuration.subtracting(timingBase.isrDuration)) : nil,
                                    stimulusToISR: timings.isRecorded ? LatencyFigures(timings.stimulusToISR.subtracting(timingBase.stimulusToISR)) : nil)
        }
        let elapsed = ContinuousClock.now - device.baselineTime
        let generated = (device.session?.backend as? SimulatedBackend).map { $0.raisedCount &- device.generatedBaseline }
        return DeviceStatistics(id: device.id, state: device.state.rawValue,
                                seconds: Double(elapsed.nanoseconds) / 1e9,
                                generated: generated, vectors: vectors)
    }

    public func health() -> HealthStatus {
        let all = devices.values
        return HealthStatus(ready: isReady, stopping: stopping, heartbeats: dispatcher.heartbeatsAnswered, devices: all.count,
                            connected: all.filter { $0.state == .connected }.count, failed: all.filter { $0.state == .failed }.count,
                            reloads: reloads, eventWatchers: events.watcherCount)
    }

    /// What the dispatch loop's poll window did (`InterruptDispatcher.polling`), for the metrics export.
    func dispatchPolling() -> (caughtBatches: UInt64, windowClosings: UInt64) { dispatcher.polling }

    /// What the metrics export reads at scrape time: every connected vector, on top of what
    /// the device's ended connections counted (a device not connected now has those only).
    func metricSamples() -> [MetricSample] {
        let lines = try? ProcInterrupts.readTable()
        return order.compactMap { devices[$0] }.flatMap { device -> [MetricSample] in
            let perMessage = device.entry?.perMessageMetrics ?? device.simulated?.perMessageMetrics ?? false
            // The connection's counters on top of what the ended ones counted: each series
            // only grows across reconnects, and holds what it reached while disconnected.
            var retired = device.retired
            var samples = device.objects.map { object in
                let ended = retired.removeValue(forKey: RetiredVector(object)) ?? RetiredCounters()
                return MetricSample(device: device.id, kind: object.kind.description, message: perMessage ? Int(object.messageID) : nil,
                                    interrupts: ended.interrupts &+ object.serviceCallCount, unclaimed: ended.unclaimed &+ object.unclaimedCount,
                                    signals: ended.signals &+ object.deliveredSignalCount, storms: ended.storms &+ object.stormCount,
                                    kernel: kernelCount(device, object, lines),
                                    connection: object.kind.isMessageSignaled ? device.connections : nil,
                                    timings: ended.timings.adding(object.timings))
            }
            for (vector, ended) in retired.sorted(by: { ($0.key.kind, $0.key.message) < ($1.key.kind, $1.key.message) }) {
                samples.append(MetricSample(device: device.id, kind: vector.kind, message: perMessage ? Int(vector.message) : nil,
                                            interrupts: ended.interrupts, unclaimed: ended.unclaimed, signals: ended.signals,
                                            storms: ended.storms, kernel: nil, connection: nil, timings: ended.timings))
            }
            return samples
        }
    }

    /// The kernel's count for the object's vector, as statistics and metrics show it for the
    /// device: nil on an INTx line another card's handler shares, whose count is the line's.
    /// The table says which IRQ; the count is that IRQ's, read now from sysfs: callers
    /// read it beside the ISR's counters, and the table, read earlier, takes milliseconds
    /// (far longer under emulation), in which a busy device's interrupts would count on the
    /// kernel's side of a reset and not on ours (7 to 11 of them per reset at 250 a second in
    /// the rig, read as lost).
    func kernelCount(_ device: ManagedDevice, _ object: InterruptObject, _ lines: ProcInterruptsTable?) -> UInt64? {
        guard let lines, let address = device.address,
              let fromTable = KernelInterruptCounts.ownCount(of: object, address: address, uioIRQ: device.uioIRQ, in: lines) else { return nil }
        return KernelInterruptCounts.irq(of: object, address: address, uioIRQ: device.uioIRQ, in: lines)
            .flatMap { KernelInterruptCounts.currentCount(ofIRQ: $0) } ?? fromTable
    }

    /// The kernel's count for the object's vector, a shared line's total included: whether
    /// the line moved at all is what the unquieted-line rule asks, and a total answers it.
    func lineKernelCount(_ device: ManagedDevice, _ object: InterruptObject, _ lines: ProcInterruptsTable?) -> UInt64? {
        guard let lines, let address = device.address else { return nil }
        return KernelInterruptCounts.count(of: object, address: address, uioIRQ: device.uioIRQ, in: lines)
    }

    /// Devices by state, for the `irqbridge_devices` gauge.
    /// The ids of every device the daemon knows now (configured, bound, removed...).
    func knownDeviceIDs() -> Set<String> { Set(devices.keys) }

    func stateCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for device in devices.values { counts[device.state.rawValue, default: 0] += 1 }
        return counts
    }
}

/// One vector's counters as the metrics export reads them.
struct MetricSample: Sendable {
    var device: String
    var kind: String
    var message: Int?
    var interrupts: UInt64
    var unclaimed: UInt64
    var signals: UInt64
    var storms: UInt64
    var kernel: UInt64?
    /// Which of the device's connections a message vector's `kernel` was read from
    /// (`ManagedDevice.connections`): its IRQ, and the kernel's count, go with the
    /// connection. Nil for a line, whose IRQ and count outlive it (uio_pci_generic holds
    /// it from the bind; a GSI's count goes on): a fall there is taken for a reset.
    var connection: UInt64?
    var timings: InterruptTimings
}
