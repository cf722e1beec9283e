// What `irqbridge watch` shows per vector, sampled off the interrupt path from the
// interrupt objects' counters and /proc/interrupts: a table, NDJSON, a summary.
import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTooling

struct WatchRows {
    struct Row: Encodable {
        var device: String
        var message: UInt32
        var kind: String
        var dirql: UInt8
        var count: UInt64
        var rate: Double
        var unclaimed: UInt64
        /// The kernel's count since the watch began (nil: not in /proc/interrupts, or the
        /// line was shared at some moment of the watch: `kernelNote` says so).
        @NullEncoded var kernel: UInt64?
        /// Why `kernel` is nil on a line that is in /proc/interrupts: another handler was on it.
        var kernelNote: String?
        /// False when trigger requests raise through VFIO's loopback, which the kernel does
        /// not count: `kernel` then falls short of `count` by those raises.
        var kernelSeesRaises: Bool
        var storms: UInt64
        var seconds: Double
        /// What the dispatch loop recorded since the watch began (hdrhistogram-swift percentiles).
        var isrDuration: Latency
        /// Only interrupts raised by trigger requests have a stimulus time.
        var stimulusToISR: Latency
    }

    /// Percentiles of one recorder, in nanoseconds (nil: nothing recorded yet).
    struct Latency: Encodable {
        var count: UInt64
        @NullEncoded var p50Nanoseconds: UInt64?
        @NullEncoded var p99Nanoseconds: UInt64?
        @NullEncoded var maxNanoseconds: UInt64?

        init(_ buckets: LatencyBuckets) {
            let summary = LatencySummary(buckets)
            count = summary.count
            p50Nanoseconds = summary.p50.map(\.nanoseconds)
            p99Nanoseconds = summary.p99.map(\.nanoseconds)
            maxNanoseconds = summary.max.map(\.nanoseconds)
        }

        /// "12.3/45.6" in microseconds ("-" when nothing was recorded).
        func microseconds(_ keyPaths: [KeyPath<Latency, UInt64?>]) -> String {
            guard count > 0 else { return "-" }
            return keyPaths.map { self[keyPath: $0].map { String(format: "%.1f", Double($0) / 1000) } ?? "-" }.joined(separator: "/")
        }
    }

    /// One watched vector and what its device says about how the kernel counts it.
    private struct Vector {
        let address: PCIAddress
        let object: InterruptObject
        /// Whether the kernel counts the raises its device's trigger requests make (a
        /// register stimulus; VFIO's loopback bypasses the kernel's handler).
        let kernelSeesRaises: Bool
        /// The IRQ of a device under uio_pci_generic (its line is named by the driver).
        let uioIRQ: UInt32?

        /// The kernel's count for it, its own (see `KernelInterruptCounts.ownCount`).
        func kernelCount(in table: ProcInterruptsTable) -> UInt64? {
            KernelInterruptCounts.ownCount(of: object, address: address, uioIRQ: uioIRQ, in: table)
        }
    }

    private let vectors: [Vector]
    private let callBaseline: [UInt64]
    private let unclaimedBaseline: [UInt64]
    private var kernelBaseline: [UInt64?]
    private var previous: [UInt64]
    /// Each vector's INTx line IRQ (nil: a message, or not in /proc/interrupts).
    private let lineIRQs: [UInt32?]
    /// Every other handler seen on those lines since the watch began.
    private var sharing: SharedLineLatch
    private var previousElapsed: Duration = .zero
    private(set) var rows: [Row] = []

    init(_ devices: [(address: PCIAddress, connected: ConnectedInterrupts, kernelSeesRaises: Bool, uioIRQ: UInt32?)]) {
        let vectors = devices.flatMap { device in
            device.connected.objects.map {
                Vector(address: device.address, object: $0, kernelSeesRaises: device.kernelSeesRaises, uioIRQ: device.uioIRQ)
            }
        }
        self.vectors = vectors
        previous = vectors.map(\.object.serviceCallCount)
        callBaseline = previous
        unclaimedBaseline = vectors.map(\.object.unclaimedCount)
        let table = (try? ProcInterrupts.readTable()) ?? ProcInterruptsTable([])
        kernelBaseline = vectors.map { $0.kernelCount(in: table) }
        lineIRQs = vectors.map { vector in
            SharedLineLatch.lineIRQ(of: vector.object, address: vector.address, uioIRQ: vector.uioIRQ, in: table)
        }
        sharing = SharedLineLatch(irqs: lineIRQs.compactMap { $0 })
    }

    /// Looks for another handler on the watched lines (at most every
    /// `SharedLineLatch.lookInterval`): call it as often as the watch loop turns.
    mutating func lookForSharedLines() { sharing.lookIfDue() }

    mutating func sample(kernel table: ProcInterruptsTable?, elapsed: Duration) {
        let interval = Self.seconds(elapsed - previousElapsed)
        sharing.look()
        rows = vectors.indices.map { index in
            let (address, object) = (vectors[index].address, vectors[index].object)
            // Unclaimed before the calls, side by side: a pass counts its call first, so
            // the unclaimed figure is never the larger (the timings copy below takes long
            // enough for a storm of unclaimed calls to pass the call count read before it).
            let unclaimed = object.unclaimedCount
            let count = object.serviceCallCount
            let shared = sharing.note(irq: lineIRQs[index], during: "watch")
            let kernel = shared == nil ? table.flatMap { vectors[index].kernelCount(in: $0) } : nil
            // A count that went backwards (a processor taken offline) compares with nothing.
            let since = kernel.flatMap { now in kernelBaseline[index].flatMap { now >= $0 ? now - $0 : nil } }
            let timings = object.timings
            return Row(device: address.description, message: object.messageID, kind: object.kind.description, dirql: object.irql.rawValue,
                       count: count, rate: interval > 0 ? Double(count &- previous[index]) / interval : 0,
                       unclaimed: min(unclaimed, count), kernel: since, kernelNote: shared, kernelSeesRaises: vectors[index].kernelSeesRaises,
                       storms: object.stormCount, seconds: Self.seconds(elapsed),
                       isrDuration: Latency(timings.isrDuration), stimulusToISR: Latency(timings.stimulusToISR))
        }
        previous = vectors.map(\.object.serviceCallCount)
        previousElapsed = elapsed
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.nanoseconds) / 1e9
    }

    /// A table for a terminal.
    var table: String {
        let header = ["DEVICE", "MSG", "KIND", "DIRQL", "COUNT", "RATE/s", "UNCLAIMED", "KERNEL", "STORMS", "ISR P50/P99 us",
                      "STIMULUS->ISR P50/P99/MAX us"]
        let body = rows.map { row in
            [row.device, "\(row.message)", row.kind, "\(row.dirql)", "\(row.count)", String(format: "%.0f", row.rate), "\(row.unclaimed)",
             row.kernel.map(String.init) ?? "-", "\(row.storms)", row.isrDuration.microseconds([\.p50Nanoseconds, \.p99Nanoseconds]),
             row.stimulusToISR.microseconds([\.p50Nanoseconds, \.p99Nanoseconds, \.maxNanoseconds])]
        }
        let all = [header] + body
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { cells in
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n(KERNEL: /proc/interrupts since the watch began; ISR and STIMULUS->ISR (interrupts raised by "
            + "`irqbridge trigger`): since the watch began; Ctrl-C disconnects and prints a summary)\n"
    }

    /// One JSON object per vector, one per line.
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return rows.compactMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n")
    }

    /// For an INTx row, whether its ISR ran far more often than the kernel took interrupts
    /// since the watch began (see `KernelInterruptCounts.unquietedLineNote`).
    private func unquietedLineNote(_ index: Int) -> String? {
        let row = rows[index]
        guard row.kind == InterruptKind.intx.description else { return nil }
        // Claimed calls only: another device's interrupts on a shared line run this ISR, unclaimed.
        let calls = row.count &- callBaseline[index]
        let claimed = calls - min(calls, row.unclaimed &- unclaimedBaseline[index])
        return KernelInterruptCounts.unquietedLineNote(calls: claimed, kernel: row.kernel,
                                                       raised: vectors[index].kernelSeesRaises ? 0 : row.stimulusToISR.count)
    }

    /// After Ctrl-C: per vector what arrived over the whole watch.
    var summary: String {
        let seconds = rows.first?.seconds ?? 0
        return "watched \(String(format: "%.1f", seconds)) s, disconnected\n" + rows.indices.map { index in
            let row = rows[index]
            return "\(row.device) message \(row.message) (\(row.kind), DIRQL \(row.dirql)): \(row.count) interrupt(s), \(row.unclaimed) unclaimed, "
                + "kernel \(row.kernel.map(String.init) ?? "not counted" + (row.kernelNote.map { " (\($0))" } ?? ""))"
                + (!row.kernelSeesRaises && row.stimulusToISR.count > 0
                    ? " (\(row.stimulusToISR.count) trigger raise(s) through VFIO's loopback, which the kernel does not count)" : "")
                + (row.storms > 0 ? ", \(row.storms) storm(s) contained" : "")
                + (row.isrDuration.count > 0 ? ", ISR p50/p99 \(row.isrDuration.microseconds([\.p50Nanoseconds, \.p99Nanoseconds])) us" : "")
                + (row.stimulusToISR.count > 0
                    ? ", stimulus to ISR p50/p99/max \(row.stimulusToISR.microseconds([\.p50Nanoseconds, \.p99Nanoseconds, \.maxNanoseconds])) us" : "")
                + (unquietedLineNote(index).map { "; warning: " + $0 } ?? "")
                + (UnclaimedCallsNote.note(calls: row.count &- callBaseline[index], unclaimed: row.unclaimed &- unclaimedBaseline[index])
                    .map { "; warning: " + $0 } ?? "")
        }.joined(separator: "\n")
    }
}
