// A profiling driver for the dispatch path: one throughput run (`vectors`
// vectors kept busy until `interrupts` were delivered) or, with --walk, one
// ping-pong walk (`interrupts` rounds, one at a time, each on the next of
// `vectors` vectors spread over devices of 64, as `bench --scenario scale` does)
// of one receiver, so a run
// of `valgrind --tool=callgrind --separate-threads=yes` shows one receiving
// thread whose instruction total covers exactly that run. `irqbridge bench`
// cannot run under valgrind (its malloc interposer); this target does not link it.
// scripts/bench/callgrind.sh runs it for two interrupt counts and subtracts.
//
// usage: irqbridge-profile [--walk] bridge|bridge-timed|baseline [interrupts] [vectors] [poll-window-us]
//   (bridge-timed: the dispatcher records ISR timings, DispatchOptions.recordsTimings;
//    poll-window-us: DispatchOptions.pollWindowLimit in microseconds, 0 = always sleep;
//    default: the runtime's)
//   e.g. valgrind --tool=callgrind --separate-threads=yes .build/release/irqbridge-profile bridge 20000 64
import InterruptBridgeBench
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One line on standard error (Glibc's `stderr` is a global var Swift 6 will not touch).
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

var arguments = Array(CommandLine.arguments.dropFirst())
let walks = arguments.first == "--walk"
if walks { arguments.removeFirst() }
let interrupts = arguments.count > 1 ? Int(arguments[1]) : 20_000
let vectors = arguments.count > 2 ? Int(arguments[2]) : 64
let pollWindow = arguments.count > 3 ? Int(arguments[3]) : nil
guard let side = arguments.first, ["bridge", "bridge-timed", "baseline"].contains(side), arguments.count <= 4,
      let interrupts, interrupts > 1, let vectors, vectors > 0, arguments.count <= 3 || (pollWindow ?? -1) >= 0 else {
    printError("usage: irqbridge-profile [--walk] bridge|bridge-timed|baseline [interrupts (>1)] [vectors (>0)] [poll-window-us (>=0)]")
    exit(2)
}
let pollWindowLimit: Duration? = pollWindow.map { .microseconds($0) } ?? BridgeReceiverFactory.defaultPollWindowLimit
let receiver: any ReceiverFactory = side == "baseline" ? EpollBaselineFactory()
    : BridgeReceiverFactory(logger: Logger(label: "irqbridge.profile"), recordsTimings: side == "bridge-timed",
                            pollWindowLimit: pollWindowLimit)
var options = BenchOptions()
// Valgrind runs one thread at a time, some hundred times slower: give a stalled
// receiver a minute before calling it lost.
options.timeoutNanoseconds = 60_000_000_000
do {
    if walks {
        let p50 = try ProfileRun(factory: receiver, options: options).walk(vectors: vectors, total: interrupts)
        print("\(side) \(interrupts) interrupts one at a time over \(vectors) vector(s): p50 \(Int(p50)) ns")
        exit(0)
    }
    let run = try ProfileRun(factory: receiver, options: options).saturate(vectors: vectors, total: interrupts)
    print("\(side) \(interrupts) interrupts on \(vectors) vector(s): \(Int(run.interruptsPerSecond)) interrupts/s, receiving side \(Int(run.receiverCPUPerInterrupt)) ns/interrupt")
} catch {
    printError("irqbridge-profile: \(error)")
    exit(1)
}
