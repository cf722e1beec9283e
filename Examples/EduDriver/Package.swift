// swift-tools-version: 6.1
//
// EduDriver: a small WDM-style interrupt routine for QEMU's edu device, ported to user
// space with InterruptBridge, and tested against the real device in InterruptBridge's QEMU
// rig through the `rig` command plugin:
//
//   swift package --disable-sandbox rig --devices edu --qemu-device rtl8139 \
//       --bind 0000:00:03.0=vfio-pci --bind 0000:00:0c.0=vfio-pci -- test
import PackageDescription

let package = Package(
    name: "EduDriver",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "edu-probe", targets: ["edu-probe"]),
    ],
    dependencies: [
        // A checkout of InterruptBridge; elsewhere: .package(url: "<InterruptBridge's git URL>", branch: "main").
        .package(name: "InterruptBridge", path: "../.."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "EduDriver",
            dependencies: [
                .product(name: "InterruptBridgeWDK", package: "InterruptBridge"),
                .product(name: "InterruptBridge", package: "InterruptBridge"),
                .product(name: "InterruptBridgeDiscovery", package: "InterruptBridge"),
                .product(name: "InterruptBridgeCore", package: "InterruptBridge"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `swift package --disable-sandbox rig --devices edu --bind 0000:00:03.0=vfio-pci -- run edu-probe 1000`
        .executableTarget(
            name: "edu-probe",
            dependencies: [
                "EduDriver",
                .product(name: "InterruptBridgeTestKit", package: "InterruptBridge"),
                .product(name: "InterruptBridgeWDK", package: "InterruptBridge"),
                .product(name: "InterruptBridgeCore", package: "InterruptBridge"),
            ]
        ),
        .testTarget(
            name: "EduDriverTests",
            dependencies: [
                "EduDriver",
                .product(name: "InterruptBridgeTestKit", package: "InterruptBridge"),
                .product(name: "InterruptBridgeWDK", package: "InterruptBridge"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
