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
        error line names the workload's status: 124 the rig's watchdog fired, 125 the rig failed.
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

    static func meaning(of status: Int32) -> String {
        switch status {
        case 124: "the rig's watchdog fired"
        case 125: "the rig itself failed"
        default: "the workload's own status"
        }
    }
}
