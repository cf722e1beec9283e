// The plugin's command line: rig options (scripts/rig/run.sh's), `--`, then the workload.

struct RigRequest {
    enum Workload {
        /// The package's Swift Testing tests; the arguments go to the test bundle (`--filter X`).
        case test([String])
        /// An executable product and its arguments.
        case run(String, [String])

        var summary: String {
            switch self {
            case .test: "the tests"
            case .run(let product, _): product
            }
        }
    }

    var rigOptions: [String]
    var workload: Workload
    var wantsHelp = false

    static let usage = """
        usage: swift package --disable-sandbox rig [RIG OPTIONS] -- test [--filter REGEX ...]
               swift package --disable-sandbox rig [RIG OPTIONS] -- run PRODUCT [ARGS ...]

        Builds this package's tests (or the executable PRODUCT), boots InterruptBridge's QEMU rig
        (Debian's kernel, q35 with an interrupt-remapping IOMMU, emulated PCI devices), runs them
        inside the guest as root with the devices' real VFIO/UIO interrupts, streams their output,
        and fails when they fail. Tests run with Swift Testing (`--testing-library swift-testing`),
        one at a time (`--no-parallel`: every suite shares the rig's devices, and VFIO lets one user
        open a device at a time); `-- test --parallel` runs them in parallel.

        RIG OPTIONS are scripts/rig/run.sh's; the most used:
          --devices LIST         edu, edu@SLOT, edu@port, ivshmem-doorbell[:N], ivshmem-plain,
                                 e1000e, nvme, none (default: edu,ivshmem-doorbell:4)
          --qemu-device SPEC     any QEMU -device string (rtl8139, pci-testdev, ...), repeatable;
                                 named qemu0, qemu1, ... (and by its id=) in IRQBRIDGE_RIG_DEVICES
          --qemu-hotplug SPEC    the same, hot-pluggable: Rig.hotplug(.remove, NAME), NAME its id=
                                 (else plug0, plug1, ...), listed in IRQBRIDGE_RIG_HOTPLUG
          --qemu-arg=ARG         one more QEMU argument (what a device needs: --qemu-arg=-drive; the = form,
                                 as SwiftPM reads a bare -drive as its own option)
          --qemu BINARY          your own qemu-system-x86_64 build (your device model)
          --bind BDF=DRIVER      bind before the command (vfio-pci, uio_pci_generic)
          --env NAME=VALUE       environment for the guest command
          --timeout SECONDS      watchdog (default 600)
          --boot-timeout SECONDS boot watchdog (default 180 + 1 per 4 MiB of payload): a boot that hangs is killed and tried once more
          --timing, --verbose, --keep, --print-map
        Exit status: 0 when the workload passed, else 1 (SwiftPM's status for a failed plugin); the
        error line names the workload's status: 124 the rig's watchdog fired, 125 the rig failed,
        129 to 159 a signal ended it (132: a Swift trap), 69 for tests: none matched.
        In the guest: IRQBRIDGE_RIG=1, IRQBRIDGE_RIG_DEVICES; InterruptBridgeTestKit's `Rig` reads them.
        """

    init(_ arguments: [String]) throws {
        if arguments.contains("-h") || arguments.contains("--help"), !arguments.contains("--") {
            rigOptions = []
            workload = .test([])
            wantsHelp = true
            return
        }
        guard let separator = arguments.firstIndex(of: "--") else {
            throw RigPluginError("missing `-- test ...` or `-- run PRODUCT ...` (see `swift package rig --help`)")
        }
        rigOptions = Array(arguments[..<separator])
        let rest = Array(arguments[(separator + 1)...])
        switch rest.first {
        case "test":
            workload = .test(Array(rest.dropFirst()))
        case "run":
            guard rest.count >= 2 else { throw RigPluginError("`-- run` needs an executable product name") }
            workload = .run(rest[1], Array(rest.dropFirst(2)))
        default:
            throw RigPluginError("after `--` comes `test [ARGS]` or `run PRODUCT [ARGS]`, not '\(rest.first ?? "")'")
        }
    }

    /// The error line for a failed run: what the status says about the workload.
    func failure(_ status: Int32) -> String {
        let what = workload.summary
        switch status {
        case 124: return "rig: the rig's watchdog stopped \(what) (status 124: --timeout)"
        case 125: return "rig: the rig failed (status 125): \(what) did not run to the end; the lines above say why"
        case 69 where isTest:
            return "rig: the tests exited with status 69: Swift Testing found no test to run (does --filter match one? XCTest cases do not run in the guest)"
        case 129...159:
            return "rig: \(what) ended with status \(status): killed by signal \(status - 128)\(Self.signalName(status - 128).map { " (\($0))" } ?? "")"
        default: return "rig: \(what) exited with status \(status) (the workload's own status)"
        }
    }

    private var isTest: Bool {
        if case .test = workload { true } else { false }
    }

    /// The usual names, with what a Swift program's death by them usually means.
    private static func signalName(_ number: Int32) -> String? {
        switch number {
        case 4: "SIGILL: a Swift runtime trap, e.g. a force-unwrapped nil or a failed precondition"
        case 5: "SIGTRAP: a Swift runtime trap"
        case 6: "SIGABRT"
        case 7: "SIGBUS"
        case 9: "SIGKILL"
        case 11: "SIGSEGV"
        case 15: "SIGTERM"
        default: nil
        }
    }
}
