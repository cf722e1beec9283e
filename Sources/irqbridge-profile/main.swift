// A profiling driver for the dispatch path: the throughput scenario (1 and N
// vectors kept busy) with the same receiver on both sides of the suite, so a
// run of `valgrind --tool=callgrind --separate-threads=yes` shows one
// receiving thread's instructions per interrupt. `irqbridge bench` cannot run
// under valgrind (its malloc interposer); this target does not link it.
//
// usage: irqbridge-profile bridge|baseline [interrupts] [vectors]
//   e.g. valgrind --tool=callgrind --separate-threads=yes .build/release/irqbridge-profile bridge 20000 64
import InterruptBridgeBench
import Logging
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()
guard let side = arguments.first, side == "bridge" || side == "baseline" else {
    print("usage: irqbridge-profile bridge|baseline [interrupts] [vectors]")
    exit(2)
}
var options = BenchOptions()
options.scenarios = [.throughput]
options.repetitions = 1
options.warmup = 0
options.throughputInterrupts = arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000
options.throughputVectors = arguments.dropFirst(2).first.flatMap { Int($0) } ?? 64
let receiver: any ReceiverFactory = side == "bridge" ? BridgeReceiverFactory(logger: Logger(label: "irqbridge.profile")) : EpollBaselineFactory()
do {
    let results = try BenchSuite(options: options, bridge: receiver, baseline: receiver).run()
    for result in results {
        print(result.name, result.bridge.map { "\($0)" } ?? "-", result.unit)
    }
} catch {
    print("irqbridge-profile: \(error)")
    exit(1)
}
