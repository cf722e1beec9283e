import ArgumentParser
import Foundation
import InterruptBridgeBench
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

/// `irqbridge bench`: dispatch latency, throughput, cost per vector and heap
/// allocations per interrupt, for the bridge, a raw eventfd + epoll C program
/// and the peers users would pick instead (DPDK, libdispatch) in the same run,
/// printed side by side with the bridge's ratios and the targets.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure interrupt dispatch against a raw eventfd + epoll C floor, DPDK and libdispatch, in the same run.",
        discussion: """
            Each scenario runs for the bridge (ISRs connected on a simulated device through the real \
            runtime), the C baseline and each peer (DPDK 22.11's interrupt thread and per-thread epoll, \
            loaded at run time when installed; libdispatch read sources), rotating which goes first, and \
            reports the median over repetitions. Figures are printed, never asserted: this is not a test.
            """
    )

    @OptionGroup var measurement: BenchMeasurementOptions
    @OptionGroup var placement: BenchPlacementOptions

    @Option(name: .long, help: ArgumentHelp("Also write the results as JSON to FILE ('-' for standard output).", valueName: "FILE"))
    var json: String?

    @Flag(name: .long, help: "A/A run: the C baseline on both sides, to show how far ratios move by noise alone.")
    var selfCheck = false

    @Option(name: .customLong("rig-edu"), help: ArgumentHelp(
        "Inside the QEMU rig: measure the round trip 'write edu 0x60 -> ISR -> acknowledge' on the edu device at BDF (bound to vfio-pci), MSI and INTx, bridge vs raw C VFIO.",
        valueName: "BDF"))
    var rigEdu: String?

    func validate() throws {
        // A spinning receiver keeps its processor: a writer pinned there raises once per time slice.
        if measurement.busyPoll, let pin = placement.pin, placement.apply(to: BenchOptions()).writer.cpu == pin {
            throw CommandFailure.badInput("--busy-poll spins the receiver on --pin's CPU \(pin); put --writer-cpu on another CPU")
        }
        if let rigEdu {
            guard let address = PCIAddress(rigEdu) else {
                throw CommandFailure.badInput("--rig-edu wants a PCI address like 0000:00:03.0, not '\(rigEdu)'")
            }
            guard FileManager.default.fileExists(atPath: "/sys/bus/pci/devices/\(address)") else {
                throw CommandFailure.badInput("--rig-edu: no PCI device at \(address) (irqbridge list shows them)")
            }
        }
        // Before the run, not after minutes of it.
        if let json, json != "-", let problem = Self.unwritable(json) { throw CommandFailure.badInput("--json: \(problem)") }
    }

    /// Why the report could not be written to `path` (nil: it can, as far as can be told now).
    static func unwritable(_ path: String) -> String? {
        guard !path.isEmpty else { return "an empty path" }
        if path.utf8.count >= Int(PATH_MAX) || path.split(separator: "/").contains(where: { $0.utf8.count > Int(NAME_MAX) }) {
            return "the path is longer than a file name can be"
        }
        switch FileIO.kind(of: path) {
        case .directory?: return "\(path) is a directory"
        // A FIFO would hold the report until something reads it; a socket cannot be opened.
        case .fifo?, .socket?: return "\(path) is a FIFO or socket, not a file"
        case .some: return access(path, W_OK) == 0 ? nil : "\(path) is not writable: \(String(cString: strerror(errno)))"
        case nil: break
        }
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        guard FileIO.kind(of: directory) == .directory else {
            return "no directory \(directory) to write \(path) in"
        }
        return access(directory, W_OK) == 0 ? nil : "cannot create \(path): \(String(cString: strerror(errno)))"
    }

    func run() throws {
        let options = placement.apply(to: measurement.options(defaults: rigEdu == nil ? .standard : .rig))
        let quietStdout = json == "-"
        let progress = { (step: String) in
            if !quietStdout { StandardError.write("bench: \(step)\n") }
        }
        let machine = MachineInfo.current()
        progress("\(machine.onlineCPUs) CPUs, load average \(machine.loadAverage.map { String($0) } ?? "unknown") at start")
        #if DEBUG
        // The runtime's hot path is only representative when optimised; a debug build's
        // ratios say nothing about the targets (scripts/bench/run.sh builds release).
        progress("DEBUG BUILD: figures are not representative of the bridge; use `swift build -c release` (scripts/bench/run.sh)")
        #endif
        let results: [BenchResult]
        var peers: [BenchPeer] = []
        if let rigEdu {
            let bridge: any EduRoundTripper = selfCheck ? RawVFIOEduRoundTripper() : BridgeEduRoundTripper(logger: Logger(label: "irqbridge.bench"))
            results = try RigRoundTripSuite(address: rigEdu, options: options, bridge: bridge).run(progress: progress)
        } else {
            try options.raiseDescriptorLimit()
            let bridge: any ReceiverFactory = selfCheck ? EpollBaselineFactory()
                : BridgeReceiverFactory(logger: Logger(label: "irqbridge.bench"), pollWindowLimit: measurement.pollWindowLimit)
            peers = BenchPeer.available(measurement.peerNames)
            for peer in peers { progress("peer \(peer.name): \(peer.absentReason.map { "ABSENT: \($0)" } ?? "present")") }
            results = try BenchSuite(options: options, bridge: bridge, peers: peers).run(progress: progress)
        }
        var configuration = measurement.describe(options)
        configuration.merge(placement.describe(options)) { $1 }
        configuration["allocationCounting"] = Probe.countsAllocations ? "malloc interposer, per thread" : "unavailable"
        configuration["bridge"] = selfCheck ? "C baseline (self-check)"
            : rigEdu == nil ? "InterruptBridge runtime, simulated device" : "InterruptBridge VFIO backend, IoConnectInterruptEx"
        if let rigEdu { configuration["device"] = "edu at \(rigEdu), vfio-pci" }
        let report = BenchReport(results: results, peers: peers.map(BenchReport.PeerStatus.init), machine: machine,
                                 configuration: configuration)
        if !quietStdout { print(report.table()) }
        if let json {
            let data = try report.json() + Data("\n".utf8)
            if json == "-" {
                StandardOutput.write(data)
            } else {
                do { try data.write(to: URL(fileURLWithPath: json)) } catch {
                    throw CommandFailure.failed("--json: cannot write \(json): \(error.localizedDescription)")
                }
            }
        }
    }
}
