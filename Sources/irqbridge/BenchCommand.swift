import ArgumentParser
import Foundation
import InterruptBridgeBench

/// `irqbridge bench`: dispatch latency, throughput, cost per vector and heap
/// allocations per interrupt, for the bridge and a raw eventfd + epoll C program
/// in the same run, printed side by side with their ratios and the targets.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure interrupt dispatch against a raw eventfd + epoll C baseline, in the same run.",
        discussion: """
            Each scenario runs for the bridge (ISRs connected on a simulated device through the real \
            runtime) and for the C baseline, alternating which goes first, and reports the median over \
            repetitions. Figures are printed, never asserted: this is not a test.
            """
    )

    @OptionGroup var measurement: BenchMeasurementOptions
    @OptionGroup var placement: BenchPlacementOptions

    @Option(name: .long, help: ArgumentHelp("Also write the results as JSON to FILE ('-' for standard output).", valueName: "FILE"))
    var json: String?

    @Flag(name: .long, help: "A/A run: the C baseline on both sides, to show how far ratios move by noise alone.")
    var selfCheck = false

    func run() throws {
        let options = placement.apply(to: measurement.options())
        try options.raiseDescriptorLimit()
        let bridge: any ReceiverFactory = selfCheck ? EpollBaselineFactory() : try BridgeReceiverFactory(options: options)
        let suite = BenchSuite(options: options, bridge: bridge)
        let quietStdout = json == "-"
        let results = try suite.run { step in
            if !quietStdout { FileHandle.standardError.write(Data("bench: \(step)\n".utf8)) }
        }
        var configuration = measurement.describe(options)
        configuration.merge(placement.describe(options)) { $1 }
        configuration["allocationCounting"] = Probe.countsAllocations ? "malloc interposer, per thread" : "unavailable"
        configuration["bridge"] = selfCheck ? "C baseline (self-check)" : "InterruptBridge runtime, simulated device"
        let report = BenchReport(results: results, machine: .current(), configuration: configuration)
        if !quietStdout { print(report.table()) }
        if let json {
            let data = try report.json() + Data("\n".utf8)
            if json == "-" {
                FileHandle.standardOutput.write(data)
            } else {
                try data.write(to: URL(fileURLWithPath: json))
            }
        }
    }
}
