// Building the selftest cases for a device: which kinds to test, how to make the
// device interrupt (its profile's stimulus, else VFIO's loopback trigger), and
// where the kernel counts it.
public import InterruptBridge
public import InterruptBridgeCore
public import InterruptBridgeSystem
public import Logging

/// A backend opened for the selftest and the cases to run on it.
public struct SelftestPlan: Sendable {
    public var backend: any InterruptBackend
    public var cases: [SelftestCase]
    /// The profile the stimulus came from (nil: none matched, loopback only).
    public var profile: DeviceProfile?
    /// Closes what the plan opened (the backend's descriptors).
    public var close: @Sendable () -> Void
}

/// Why a device cannot be selftested as asked (bad input for the CLI).
public struct SelftestPlanError: Error, CustomStringConvertible {
    public var description: String
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

    /// Every interrupt kind a vfio-pci device supports (or only `kinds`). Each kind
    /// the device's profile (the most specific in `profiles`) raises through its
    /// registers is raised that way; every other kind, and every kind with
    /// `loopbackOnly`, through VFIO's loopback trigger. The profile is validated
    /// against the device first (a `ProfileError` names the file and line).
    public static func vfio(_ info: PCIDeviceInfo, kinds: [InterruptKind]? = nil, profiles: ProfileLibrary = ProfileLibrary(),
                            loopbackOnly: Bool = false, logger: Logger) throws -> SelftestPlan {
        let profile = profiles.profile(for: info)
        try profile?.validate(against: info)
        let backend = try VFIOBackend(device: info, logger: logger)
        do {
            guard let vfio = backend.vfioDevice else { throw BackendError.closed }
            var deviceStimulus: SelftestStimulus?
            if !loopbackOnly, let profile, case .registers = profile.stimulus?.method {
                deviceStimulus = try .registers(profile, vfio: vfio)
            }
            let loopback = SelftestStimulus.vfioLoopback(backend)
            let wanted = (kinds ?? [.intx, .msi, .msix]).filter { backend.supportedInterrupts[$0] != nil }
            let cases = wanted.map { kind in
                let fromDevice = deviceStimulus.flatMap { stimulus in
                    profile!.stimulus!.applies(to: kind) && profile!.canServe(kind) ? stimulus : nil
                }
                return SelftestCase(label: "VFIO \(kind)", backend: backend, policy: policy(for: kind), kind: kind,
                                    stimulus: fromDevice ?? loopback, kernelCount: SelftestCase.vfioKernelCount(kind, info.address),
                                    unmaskCount: { backend.unmaskCount })
            }
            return SelftestPlan(backend: backend, cases: cases, profile: profile, close: { backend.close() })
        } catch {
            backend.close()
            throw error
        }
    }

    /// INTx of a uio_pci_generic device: UIO has no loopback trigger, so the device's
    /// profile must raise INTx through its registers and acknowledge it.
    public static func uio(_ info: PCIDeviceInfo, profiles: ProfileLibrary = ProfileLibrary(), sysfs: SysfsPCI = SysfsPCI(),
                           logger: Logger) throws -> SelftestPlan {
        if let noLine = DeviceSession.noLine(info, underUIO: true) { throw SelftestPlanError(description: noLine) }
        guard let profile = profiles.profile(for: info) else {
            throw SelftestPlanError(description: "UIO has no loopback trigger: \(info.address) needs a device profile whose stimulus raises INTx "
                                    + "(none matches; give one with --profile)")
        }
        try profile.validate(against: info)
        guard case .registers = profile.stimulus?.method, profile.stimulus!.applies(to: .intx), profile.canServe(.intx) else {
            throw SelftestPlanError(description: "UIO has no loopback trigger: profile '\(profile.name)' (\(profile.file)) must raise INTx "
                                    + "through registers and acknowledge it")
        }
        let stimulus = try SelftestStimulus.registers(profile, on: try SysfsRegisters(info, bars: profile.barsUsed, sysfs: sysfs))
        let backend = try UIOBackend(device: info, sysfs: sysfs, logger: logger)
        let kernelCount = (info.irqLine ?? sysfs.irq(of: info.address.description)).map { SelftestCase.irqKernelCount($0) }
        let testCase = SelftestCase(label: "UIO INTx", backend: backend, policy: policy(for: .intx), kind: .intx,
                                    stimulus: stimulus, kernelCount: kernelCount, unmaskCount: { backend.unmaskCount })
        return SelftestPlan(backend: backend, cases: [testCase], profile: profile, close: { backend.close() })
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
