// Building the selftest cases for a device: which kinds to test, how to make
// the device interrupt, and where the kernel counts it.
public import InterruptBridge
public import InterruptBridgeCore
public import InterruptBridgeSystem
public import Logging

/// A backend opened for the selftest and the cases to run on it.
public struct SelftestPlan: Sendable {
    public var backend: any InterruptBackend
    public var cases: [SelftestCase]
    /// Closes what the plan opened (the backend's descriptors).
    public var close: @Sendable () -> Void
}

extension SelftestPlan {
    /// The policy that makes the translator assign `kind` (INTx: MSISupported = 0;
    /// MSI: MSI before MSI-X).
    static func policy(for kind: InterruptKind) -> InterruptPolicy {
        switch kind {
        case .intx: InterruptPolicy(msiSupported: false)
        case .msi: InterruptPolicy(preferMSIX: false)
        case .msix: InterruptPolicy()
        }
    }

    static let eduIDs: (UInt16, UInt16) = (0x1234, 0x11e8)
    static let ivshmemIDs: (UInt16, UInt16) = (0x1af4, 0x1110)

    /// Every interrupt kind a vfio-pci device supports (or only `kinds`).
    public static func vfio(_ info: PCIDeviceInfo, kinds: [InterruptKind]? = nil, logger: Logger) throws -> SelftestPlan {
        let backend = try VFIOBackend(device: info, logger: logger)
        do {
            guard let vfio = backend.vfioDevice else { throw BackendError.closed }
            let stimulus: SelftestStimulus
            if (info.vendorID, info.deviceID) == eduIDs {
                stimulus = .edu(try vfio.mapBAR(0))
            } else if (info.vendorID, info.deviceID) == ivshmemIDs, info.msix != nil {
                stimulus = try .ivshmemDoorbell(vfio)
            } else {
                stimulus = .vfioLoopback(backend)
            }
            let wanted = (kinds ?? [.intx, .msi, .msix]).filter { backend.supportedInterrupts[$0] != nil }
            // ivshmem's doorbell interrupts through MSI-X only when MSI-X is enabled;
            // for other kinds use the loopback trigger.
            let cases = wanted.map { kind in
                let chosen = stimulus.name == "ivshmem doorbell" && kind != .msix ? SelftestStimulus.vfioLoopback(backend) : stimulus
                return SelftestCase(label: "VFIO \(kind)", backend: backend, policy: policy(for: kind), kind: kind,
                                    stimulus: chosen, kernelCount: SelftestCase.vfioKernelCount(kind, info.address),
                                    unmaskCount: { backend.unmaskCount })
            }
            return SelftestPlan(backend: backend, cases: cases, close: { backend.close() })
        } catch {
            backend.close()
            throw error
        }
    }

    /// INTx of a uio_pci_generic device (edu only: UIO has no loopback trigger).
    public static func uio(_ info: PCIDeviceInfo, sysfs: SysfsPCI = SysfsPCI(), logger: Logger) throws -> SelftestPlan {
        guard (info.vendorID, info.deviceID) == eduIDs else {
            throw BackendError.kernelLimit("UIO has no loopback trigger: the selftest can make only QEMU's edu (1234:11e8) interrupt under uio_pci_generic")
        }
        let backend = try UIOBackend(device: info, sysfs: sysfs, logger: logger)
        let bar = try sysfs.mapResource(info.address.description, bar: 0)
        let kernelCount = (info.irqLine ?? sysfs.irq(of: info.address.description)).map { SelftestCase.irqKernelCount($0) }
        let testCase = SelftestCase(label: "UIO INTx", backend: backend, policy: policy(for: .intx), kind: .intx,
                                    stimulus: .edu(bar), kernelCount: kernelCount, unmaskCount: { backend.unmaskCount })
        return SelftestPlan(backend: backend, cases: [testCase], close: { backend.close() })
    }

    /// The simulated backend: an edu-like device with INTx, one MSI and four MSI-X
    /// vectors, whose interrupts are eventfd writes. Runs anywhere.
    public static func simulated(kinds: [InterruptKind]? = nil) -> SelftestPlan {
        let device = SimulatedDevice(interruptPin: .a, irqLine: 11, msiCount: 1, msixCount: 4, holdsLineUntilAcknowledged: true)
        let backend = SimulatedBackend(device)
        let cases = (kinds ?? [.intx, .msi, .msix]).map { kind in
            SelftestCase(label: "simulated \(kind)", backend: backend, policy: policy(for: kind), kind: kind,
                         stimulus: .simulated(backend), kernelCount: nil)
        }
        return SelftestPlan(backend: backend, cases: cases, close: {})
    }
}
