// Prometheus metrics, read at scrape time: the interrupt path only bumps the
// counters it always has (per interrupt object); a scrape reads them, on top of
// what the device's ended connections counted (kept by the registry, so a
// reconnected device's series go on from everything counted before), folds them
// into monotonic series and renders swift-prometheus' registry. Labels are the configured
// devices and their interrupt kind, and a message number only for devices
// configured with per-message-metrics: cardinality follows the configuration,
// never the CPU count.
import InterruptBridge
import InterruptBridgeSystem
import Prometheus

public actor MetricsExporter {
    private let registry = PrometheusCollectorRegistry()
    private let devices: DeviceRegistry
    /// Per series: the last raw value read and the series' total; for a device's series,
    /// the device and its label key (device, kind, message), so a series the device no
    /// longer has (its kind changed, per-message-metrics turned off, the device forgotten)
    /// is dropped instead of being exported for ever.
    private var series: [String: (fold: CounterFold, device: String?, labelKey: String, counter: Counter)] = [:]
    private var eventCounts: [String: UInt64] = [:]
    private var knownStates: Set<String> = []
    /// Per histogram series: the last raw snapshot (summed over the device's vectors) and the series' total.
    private var histograms: [String: (last: LatencyBuckets, total: LatencyBuckets, name: String, labels: String, device: String, kind: String)] = [:]

    /// The `le` bounds the fine buckets are folded into, in seconds.
    static let bounds: [Double] = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 0.1, 1]

    public init(devices: DeviceRegistry) { self.devices = devices }

    /// Counts the daemon's events by kind and device (removals, errors, storms, ...).
    public func record(_ event: DaemonEvent) {
        // The same label names on every series of a name (an empty value is Prometheus' "absent").
        let labels = [("device", event.device ?? ""), ("kind", event.kind.rawValue)]
        registry.makeCounter(
            descriptor: Self.named("irqbridge_events_total",
                                   help: "Daemon events by kind (removed, error, storm, isr-stuck, hotplug-added, reload, ...)"),
            labels: labels).increment()
    }

    /// Scrapes begun, and the newest whose readings were folded in: the actor may run two
    /// scrapes (the metrics port's, the socket's) interleaved at their reads, and an older
    /// reading folded after a newer one would look like a reset and be counted again.
    private var scrapesBegun = 0
    private var newestFolded = -1

    /// The Prometheus text exposition.
    public func scrape() async -> String {
        let scrape = scrapesBegun
        scrapesBegun += 1
        let samples = await devices.metricSamples()
        let known = await devices.knownDeviceIDs()
        let states = await devices.stateCounts()
        let health = await devices.health()
        let polling = await devices.dispatchPolling()
        // A newer scrape folded its readings meanwhile: these are older; render what is there.
        guard scrape > newestFolded else { return registry.emitToString() + histogramText() }
        newestFolded = scrape
        // One series per device and kind (per message only with per-message-metrics): the
        // vectors' counters are summed first, as each series folds one raw value per scrape.
        var keys: [String] = []
        var summed: [String: (labels: [(String, String)], sample: MetricSample)] = [:]
        for sample in samples {
            let labels = [("device", sample.device), ("kind", sample.kind), ("message", sample.message.map { "\($0)" } ?? "")]
            let key = labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            guard var entry = summed[key] else {
                keys.append(key)
                summed[key] = (labels, sample)
                continue
            }
            entry.sample.interrupts &+= sample.interrupts
            entry.sample.unclaimed &+= sample.unclaimed
            entry.sample.signals &+= sample.signals
            entry.sample.storms &+= sample.storms
            if let kernel = sample.kernel { entry.sample.kernel = (entry.sample.kernel ?? 0) &+ kernel }
            summed[key] = entry
        }
        for key in keys {
            guard let (labels, sample) = summed[key] else { continue }
            count("irqbridge_interrupts_total", labels, sample.interrupts, help: "ISR calls (each may serve several coalesced device signals)")
            count("irqbridge_unclaimed_interrupts_total", labels, sample.unclaimed, help: "ISR calls whose routine returned false (not its device's interrupt)")
            count("irqbridge_device_signals_total", labels, sample.signals, help: "Device signals drained from the vectors' descriptors")
            count("irqbridge_storms_total", labels, sample.storms, help: "Times a vector was contained as storming")
            if let kernel = sample.kernel {
                count("irqbridge_kernel_interrupts_total", labels, kernel, since: sample.connection,
                      help: "The kernel's count for the same vectors (/proc/interrupts). Below irqbridge_interrupts_total by design for VFIO loopback raises (the kernel never sees them), a VFIO INTx line signalled again at unmask and a line found asserted when it was connected; absent on an INTx line another card's handler shares (its count is the line's); for messages from the device, a difference in increase over a span without reconnects is a lost interrupt (a connection's last counts after the previous scrape are not in this series, as a message's kernel count goes with its connection)")
            }
        }
        dropStaleSeries(current: Set(keys), samples: samples, known: known)
        knownStates.formUnion(states.keys)
        for state in knownStates {
            registry.makeGauge(descriptor: Self.named("irqbridge_devices", help: "Devices the daemon knows, by state"), labels: [("state", state)])
                .set(to: Double(states[state] ?? 0))
        }
        registry.makeGauge(descriptor: Self.named("irqbridge_ready",
                                                  help: "1 once start-up bound and connected every configured device (or reported it failed)"))
            .set(to: health.ready ? 1 : 0)
        registry.makeGauge(descriptor: Self.named("irqbridge_dispatch_heartbeats",
                                                  help: "Heartbeats the dispatch loops answered (stalls when a loop is wedged)"))
            .set(to: Double(health.heartbeats))
        registry.makeGauge(descriptor: Self.named("irqbridge_reloads", help: "Configuration reloads applied")).set(to: Double(health.reloads))
        registry.makeGauge(descriptor: Self.named("irqbridge_event_watchers", help: "Clients reading the event stream (GET /v1/events or /events)"))
            .set(to: Double(health.eventWatchers))
        if let process = try? ProcessStatistics.current() { exportProcess(process) }
        count("irqbridge_dispatch_polled_batches_total", [], polling.caughtBatches,
              help: "Batches the dispatch loop took by polling after the previous one instead of sleeping (setting dispatch.poll-window-us)")
        count("irqbridge_dispatch_poll_window_closings_total", [], polling.windowClosings,
              help: "Times the dispatch loop stopped polling for a while because other threads kept wanting its processor")
        var byDevice: [String: (device: String, kind: String, isr: LatencyBuckets, stimulus: LatencyBuckets)] = [:]
        for sample in samples where sample.timings.isRecorded {
            let key = sample.device + "|" + sample.kind
            let previous = byDevice[key] ?? (sample.device, sample.kind, .empty, .empty)
            byDevice[key] = (sample.device, sample.kind, previous.isr.adding(sample.timings.isrDuration),
                             previous.stimulus.adding(sample.timings.stimulusToISR))
        }
        for value in byDevice.values {
            fold("irqbridge_isr_duration_seconds", device: value.device, kind: value.kind, value.isr)
            fold("irqbridge_stimulus_to_isr_seconds", device: value.device, kind: value.kind, value.stimulus)
        }
        return registry.emitToString() + histogramText()
    }

    /// Adds a device's raw (per-connection) snapshot to its monotonic series.
    private func fold(_ name: String, device: String, kind: String, _ raw: LatencyBuckets) {
        let id = name + "|" + device + "|" + kind
        var entry = histograms[id] ?? (last: .empty, total: .empty, name: name,
                                       labels: "device=\"\(device)\",kind=\"\(kind)\"", device: device, kind: kind)
        // Fewer durations than last time: the device was reconnected, its recorders start at zero.
        entry.total = entry.total.adding(raw.count >= entry.last.count ? raw.subtracting(entry.last) : raw)
        entry.last = raw
        histograms[id] = entry
    }

    /// ISR durations and stimulus-to-ISR latencies as Prometheus histograms, the
    /// recorders' fine buckets folded into fixed `le` bounds.
    private func histogramText() -> String {
        var text = ""
        let help = ["irqbridge_isr_duration_seconds": "How long ISR calls ran (setting dispatch.timings)",
                    "irqbridge_stimulus_to_isr_seconds": "From a trigger's raise to the ISR call it caused"]
        for name in help.keys.sorted() {
            let series = histograms.values.filter { $0.name == name }.sorted { $0.labels < $1.labels }
            guard !series.isEmpty else { continue }
            text += "# HELP \(name) \(help[name]!)\n# TYPE \(name) histogram\n"
            for entry in series {
                let uppers = entry.total.bucketUpperBoundsNanoseconds
                var cumulative: UInt64 = 0
                var index = 0
                for bound in Self.bounds {
                    let limit = UInt64(bound * 1e9)
                    while index < uppers.count, uppers[index] <= limit {
                        cumulative &+= entry.total.bucketCounts[index]
                        index += 1
                    }
                    text += "\(name)_bucket{\(entry.labels),le=\"\(bound)\"} \(cumulative)\n"
                }
                text += "\(name)_bucket{\(entry.labels),le=\"+Inf\"} \(entry.total.count)\n"
                text += "\(name)_sum{\(entry.labels)} \(Double(entry.total.sumNanoseconds) / 1e9)\n"
                text += "\(name)_count{\(entry.labels)} \(entry.total.count)\n"
            }
        }
        return text
    }

    /// CPU seconds already added to process_cpu_seconds_total.
    private var exportedCPUSeconds = 0.0

    /// The process_* series Prometheus' client libraries export, under their names: what a
    /// rig's monitoring watches over weeks (memory, descriptors, threads).
    private func exportProcess(_ process: ProcessStatistics) {
        let cpu = registry.makeCounter(descriptor: Self.named("process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds"))
        if process.cpuSeconds > exportedCPUSeconds {
            cpu.increment(by: process.cpuSeconds - exportedCPUSeconds)
            exportedCPUSeconds = process.cpuSeconds
        }
        func gauge(_ name: String, _ help: String, _ value: Double) {
            registry.makeGauge(descriptor: Self.named(name, help: help)).set(to: value)
        }
        gauge("process_resident_memory_bytes", "Resident memory size in bytes", Double(process.residentBytes))
        gauge("process_virtual_memory_bytes", "Virtual memory size in bytes", Double(process.virtualBytes))
        gauge("process_open_fds", "Number of open file descriptors", Double(process.openDescriptors))
        if let maximum = process.maximumDescriptors { gauge("process_max_fds", "Maximum number of open file descriptors", Double(maximum)) }
        gauge("process_threads", "Number of OS threads in the process", Double(process.threads))
        gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds", process.startTimeSeconds)
    }

    /// A metric's descriptor from its full name (`irqbridge_..._total`): the name is
    /// spelled whole here, so it is kept as one component with no unit suffix.
    private static func named(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Adds a raw counter to its monotonic series. Only the kernel's count starts afresh with
    /// each connection (the others go on across them): `since` names the connection it was
    /// read from, so one the next connection has already counted past is not taken for more.
    private func count(_ name: String, _ labels: [(String, String)], _ raw: UInt64, since source: UInt64? = nil, help: String) {
        let labelKey = labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let key = name + labelKey
        let counter = series[key]?.counter ?? registry.makeCounter(descriptor: Self.named(name, help: help), labels: labels)
        var entry = series[key] ?? (fold: CounterFold(), device: labels.first { $0.0 == "device" }?.1, labelKey: labelKey, counter: counter)
        entry.fold.add(raw, since: source)
        series[key] = entry
        counter.reset()
        counter.increment(by: Int64(clamping: entry.fold.total))
    }

    /// Drops the series of a device the daemon no longer knows, and those a device still
    /// sampled no longer has (`current`: this scrape's label keys). A device known but not
    /// connected now (a storm, a reconnect, not on the bus) keeps its series, which go on
    /// from where they were when it comes back.
    private func dropStaleSeries(current: Set<String>, samples: [MetricSample], known: Set<String>) {
        let sampled = Set(samples.map(\.device))
        for (key, entry) in series {
            guard let device = entry.device else { continue }
            let gone = !known.contains(device)
            let relabelled = sampled.contains(device) && !current.contains(entry.labelKey)
            guard gone || relabelled else { continue }
            registry.unregisterCounter(entry.counter)
            series[key] = nil
        }
        for (key, entry) in histograms {
            let gone = !known.contains(entry.device)
            let relabelled = sampled.contains(entry.device) && !samples.contains { $0.device == entry.device && $0.kind == entry.kind }
            if gone || relabelled { histograms[key] = nil }
        }
    }
}

/// One exported counter's running total, from the raw values read at each scrape. A raw
/// value below the last is taken for a reset and counted whole; so is one from another
/// source (the kernel's count of a new connection), whatever its size: a reconnected
/// device's new count may already be past the old one's last reading (its interrupts after
/// that reading are not in the total: the kernel's count went with the old connection).
struct CounterFold: Sendable {
    private(set) var total: UInt64 = 0
    private var last: UInt64 = 0
    private var source: UInt64?

    /// `raw`: the counter now; `source`: what it counts since (nil: the one and only start).
    mutating func add(_ raw: UInt64, since source: UInt64? = nil) {
        let restarted = raw < last || source != self.source
        total &+= restarted ? raw : raw - last
        last = raw
        self.source = source
    }
}
