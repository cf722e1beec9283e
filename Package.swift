// swift-tools-version: 6.1
//
// InterruptBridge: the Windows kernel's interrupt-connection model
// (IoConnectInterruptEx and friends) over real Linux interrupts (VFIO, UIO),
// with a simulated backend for machines without hardware.
//
// Module layering (each arrow is "depends on"), one job per module:
//
//   irqbridge (CLI) ─┬─► InterruptBridgeTooling (selftest; device profiles (Yams): how to make a card interrupt
//                    │                           and the acknowledge programs its ISR runs)
//                    ├─► InterruptBridgeWDK (WDK spellings, thin facade over the runtime)
//                    ├─► InterruptBridgeDiscovery (PCI discovery through libpci/libudev, sysfs binding)
//                    └─► InterruptBridge (runtime: dispatch loops, connection tables, objects, connect API, backends)
//                          ├─► InterruptBridgeCore   (pure Swift: models, descriptors, policy, rules)
//                          └─► InterruptBridgeSystem (the ONLY module that makes syscalls)
//                                └─► CInterruptBridge (thin C shim) ─► CLibPCI, CLibUDev
//
// Inside the runtime, each dispatch loop owns a selector (epoll + slot table +
// wake) and a connection table whose transitions return the effects the loop
// performs; device events are read by the loop and published on the
// dispatcher's event stream (see the HowDispatchWorks article).
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "InterruptBridge",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "InterruptBridge", targets: ["InterruptBridge"]),
        .library(name: "InterruptBridgeWDK", targets: ["InterruptBridgeWDK"]),
        .library(name: "InterruptBridgeCore", targets: ["InterruptBridgeCore"]),
        // Device registers (VFIODevice, MappedRegion, MMIO) for drivers that touch their card.
        .library(name: "InterruptBridgeSystem", targets: ["InterruptBridgeSystem"]),
        .library(name: "InterruptBridgeDiscovery", targets: ["InterruptBridgeDiscovery"]),
        .library(name: "InterruptBridgeTooling", targets: ["InterruptBridgeTooling"]),
        .library(name: "InterruptBridgeTestKit", targets: ["InterruptBridgeTestKit"]),
        // The rig daemon's services (swift-service-lifecycle), for `irqbridge daemon` and for users' own executables.
        .library(name: "InterruptBridgeDaemon", targets: ["InterruptBridgeDaemon"]),
        .executable(name: "irqbridge", targets: ["irqbridge"]),
        // `swift package --disable-sandbox rig [OPTIONS] -- test ...`: a depending package's tests in the QEMU rig.
        .plugin(name: "rig", targets: ["RigPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Device profiles (InterruptBridgeTooling only): YAML with line marks on every node.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Latency percentiles off the interrupt path (InterruptBridgeTooling only; the runtime
        // records into fixed buckets of its own and depends on nothing).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
        // The daemon only (InterruptBridgeDaemon): services, configuration, metrics, the control API's server.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: [
        // System libraries, found through pkg-config; apt names the packages that provide them.
        .systemLibrary(name: "CLibPCI", pkgConfig: "libpci", providers: [.apt(["libpci-dev"])]),
        .systemLibrary(name: "CLibUDev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),

        // Everything Swift cannot call directly: macros (ioctl numbers), variadic
        // ioctl(2), eventfd, libpci callbacks. Every symbol is prefixed `cib_`.
        .target(name: "CInterruptBridge", dependencies: ["CLibPCI", "CLibUDev"]),

        // Benchmarks only (issue 5): the C programs the bridge is measured against
        // (raw eventfd + epoll, prefixed `cbl_`), and a per-thread malloc counter
        // (`cac_`) linked into the irqbridge executable only, never into tests.
        .target(name: "CBaselines"),
        .target(name: "CAllocationCounter"),

        // Pure Swift: PCI models, capability parsing, CM resource descriptors,
        // interrupt policy, connection rules. No syscalls; testable anywhere.
        .target(name: "InterruptBridgeCore", swiftSettings: strictSwift),

        // The one module that makes syscalls: epoll, eventfd, VFIO, UIO, sysfs,
        // libpci, libudev, pthreads.
        .target(
            name: "InterruptBridgeSystem",
            dependencies: [
                "InterruptBridgeCore", "CInterruptBridge",
            ],
            swiftSettings: strictSwift
        ),

        // The runtime: dispatch loops, connection tables, interrupt objects, DPCs,
        // backends (simulated, VFIO, UIO) and the idiomatic connect/disconnect API.
        .target(
            name: "InterruptBridge",
            dependencies: [
                "InterruptBridgeCore", "InterruptBridgeSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),

        // Discovery (libpci + libudev: every PCI function, its capabilities and
        // CM resources) and binding functions to vfio-pci / uio_pci_generic.
        .target(
            name: "InterruptBridgeDiscovery",
            dependencies: [
                "InterruptBridgeCore", "InterruptBridgeSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),

        // Tooling over the runtime: the selftest and what it knows of devices
        // (how to make QEMU's edu or ivshmem interrupt, VFIO's loopback trigger);
        // device profiles (YAML/JSON through Yams, validated against the real device)
        // and the acknowledge programs an ISR runs without allocating (MMIO through
        // the system module, the only way up to the C shim).
        .target(
            name: "InterruptBridgeTooling",
            dependencies: [
                "InterruptBridge", "InterruptBridgeCore", "InterruptBridgeSystem", "InterruptBridgeDiscovery",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strictSwift
        ),

        // Test support shared by this package's test targets, and usable by users'
        // tests: polling, counters, log capture, simulated devices, stepped dispatchers,
        // and the QEMU rig (`Rig`: device roles, bind/unbind, hot-plug, the `.rig` trait).
        .target(
            name: "InterruptBridgeTestKit",
            dependencies: [
                "InterruptBridge", "InterruptBridgeCore", "InterruptBridgeSystem", "InterruptBridgeDiscovery",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),

        // The rig daemon (issue 12): services that bind and connect the configured devices, count and
        // time their interrupts, contain faults, and serve the control API (HTTP/JSON on a UNIX socket),
        // Prometheus metrics and systemd's notify protocol. Only this target depends on the server stack.
        .target(
            name: "InterruptBridgeDaemon",
            dependencies: [
                "InterruptBridge", "InterruptBridgeCore", "InterruptBridgeSystem", "InterruptBridgeDiscovery", "InterruptBridgeTooling",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strictSwift
        ),

        // WDK-compatible spellings over the runtime, so driver code ports line by line.
        .target(name: "InterruptBridgeWDK", dependencies: ["InterruptBridge", "InterruptBridgeCore", "InterruptBridgeSystem"], swiftSettings: strictSwift),

        // The benchmark suite behind `irqbridge bench`: scenarios, statistics, report.
        .target(
            name: "InterruptBridgeBench",
            dependencies: [
                "InterruptBridge", "InterruptBridgeWDK", "InterruptBridgeCore", "InterruptBridgeSystem", "InterruptBridgeDiscovery",
                "CBaselines",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),

        .executableTarget(
            name: "irqbridge",
            dependencies: [
                "InterruptBridge", "InterruptBridgeWDK", "InterruptBridgeCore", "InterruptBridgeSystem",
                "InterruptBridgeDiscovery", "InterruptBridgeTooling", "InterruptBridgeBench", "InterruptBridgeDaemon", "CAllocationCounter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),

        // The `rig` command plugin: builds a depending package's tests or executable and runs
        // them in scripts/rig/run.sh (the scripts stay in this package; see RigPlugin.swift).
        .plugin(
            name: "RigPlugin",
            capability: .command(intent: .custom(verb: "rig", description: "Run this package's tests or an executable inside InterruptBridge's QEMU rig"))
        ),

        // The DocC catalog's runnable example: the daemon's services beside an executable's own ISR.
        .executableTarget(
            name: "irqbridge-embedded-example",
            dependencies: [
                "InterruptBridgeDaemon", "InterruptBridge",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/EmbeddedDaemon",
            swiftSettings: strictSwift
        ),

        // The throughput scenario without the allocation interposer, so it runs under
        // valgrind (callgrind counts instructions per interrupt deterministically).
        .executableTarget(
            name: "irqbridge-profile",
            dependencies: ["InterruptBridgeBench", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),

        .testTarget(
            name: "InterruptBridgeCoreTests",
            dependencies: ["InterruptBridgeCore", "InterruptBridgeSystem"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "InterruptBridgeTests",
            dependencies: [
                "InterruptBridge", "InterruptBridgeSystem", "InterruptBridgeDiscovery", "InterruptBridgeTooling",
                "InterruptBridgeTestKit", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Real VFIO/UIO interrupts: run inside the QEMU rig (scripts/rig/integration.sh),
        // skipped with the reason everywhere else.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "InterruptBridge", "InterruptBridgeWDK", "InterruptBridgeSystem", "InterruptBridgeCore", "InterruptBridgeDiscovery",
                "InterruptBridgeTestKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "InterruptBridgeBenchTests", dependencies: ["InterruptBridgeBench", "CBaselines", "InterruptBridgeSystem", .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strictSwift),
        .testTarget(
            name: "InterruptBridgeToolingTests",
            dependencies: [
                "InterruptBridgeTooling", "InterruptBridge", "InterruptBridgeCore", "InterruptBridgeSystem", "InterruptBridgeTestKit",
                "InterruptBridgeDiscovery", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // The daemon on simulated devices: configuration, settings' precedence, the control API
        // end to end over its socket, the notify protocol against a stand-in for systemd.
        .testTarget(
            name: "InterruptBridgeDaemonTests",
            dependencies: [
                "InterruptBridgeDaemon", "InterruptBridge", "InterruptBridgeCore", "InterruptBridgeSystem", "InterruptBridgeDiscovery",
                "InterruptBridgeTestKit", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "InterruptBridgeWDKTests",
            dependencies: ["InterruptBridgeWDK", "InterruptBridge", "InterruptBridgeTestKit"],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)

// INTERRUPTBRIDGE_WITHOUT_DAEMON=1 builds the package without the rig daemon: no
// InterruptBridgeDaemon, its tests or embedded example, and an `irqbridge` without the `daemon`
// and `ctl` subcommands, so none of the server stack (NIO, Hummingbird, swift-configuration,
// Prometheus) is compiled. For a lighter `irqbridge` on a bring-up machine, and for the
// sanitizer stages of scripts/test.sh, whose suites do not touch the daemon. Give such a build a
// scratch path of its own (`--scratch-path`), so the two kinds of build do not rebuild each other.
if Context.environment["INTERRUPTBRIDGE_WITHOUT_DAEMON"] == "1" {
    let daemonOnly: Set<String> = ["InterruptBridgeDaemon", "InterruptBridgeDaemonTests", "irqbridge-embedded-example"]
    package.targets.removeAll { daemonOnly.contains($0.name) }
    package.products.removeAll { daemonOnly.contains($0.name) }
    for target in package.targets where target.name == "irqbridge" {
        target.dependencies.removeAll {
            if case .byNameItem(name: "InterruptBridgeDaemon", _) = $0 { return true }
            return false
        }
        target.swiftSettings = (target.swiftSettings ?? []) + [.define("INTERRUPTBRIDGE_WITHOUT_DAEMON")]
    }
}
