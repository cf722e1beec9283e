// How a selftest makes a device interrupt, and how its ISR quiets the device:
// built from a device profile (its register programs), from VFIO's loopback
// trigger, or from the simulated backend. What a device needs is in its profile,
// not here.
public import InterruptBridge
import InterruptBridgeSystem

/// A way to make a device raise message (or line) N, and the acknowledgement its
/// ISR performs. `acknowledge` runs inside the ISR: it must not allocate or block.
public struct SelftestStimulus: Sendable {
    /// For the report ("edu register writes (BAR 0)").
    public var name: String
    /// Makes the device interrupt on `message` (0 for INTx).
    public var raise: @Sendable (_ message: Int) throws -> Void
    /// What the ISR does for `message` (0 for INTx) to quiet the device; returns
    /// whether the device had something pending (the ISR's claim).
    public var acknowledge: @Sendable (_ message: Int) -> Bool
    /// Whether the kernel's IRQ handler sees these interrupts (a VFIO loopback
    /// trigger does not go through it, so /proc/interrupts does not count it).
    public var kernelCounts: Bool
    /// Quiets the device before the ISR is connected, as a driver's start-device
    /// code does: a level interrupt a previous user left asserted is never seen by
    /// the kernel when INTx is enabled (measured on the rig), so it is cleared first.
    public var quiesce: @Sendable () -> Void
    /// Runs once after the ISR is connected, before the first raise (a profile's
    /// stimulus `setup`: e1000e's cause-to-vector map and interrupt mask).
    public var setup: @Sendable () throws -> Void
    /// How many vectors it can raise, 0 to vectors - 1 (nil: every connected one).
    public var vectors: Int?
    /// VFIO's loopback trigger on this backend (`vfioLoopback`): `prepared()` resolves it
    /// once instead of calling `raise`, which takes the backend's lock per raise.
    var loopback: VFIOBackend?

    /// Whether it raises through VFIO's loopback (the device is not asked to interrupt).
    public var isLoopback: Bool { loopback != nil }

    public init(name: String, kernelCounts: Bool, raise: @escaping @Sendable (_ message: Int) throws -> Void,
                acknowledge: @escaping @Sendable (_ message: Int) -> Bool, quiesce: @escaping @Sendable () -> Void = {},
                setup: @escaping @Sendable () throws -> Void = {}) {
        self.quiesce = quiesce
        self.setup = setup
        self.name = name
        self.kernelCounts = kernelCounts
        self.raise = raise
        self.acknowledge = acknowledge
    }

    /// The raise for a run of raises, once the interrupts are connected (enabled):
    /// VFIO's loopback trigger resolved once (device, index, one request per
    /// vector), anything else `raise`. Keep it for the run only (a loopback holds
    /// the device open). A loopback's backend throws `BackendError.kernelLimit` while
    /// nothing is enabled, `.closed` once the device is closed or going.
    public func prepared() throws -> PreparedRaise {
        if let loopback { return PreparedRaise(loopback: try loopback.loopbackTrigger()) }
        return PreparedRaise(stimulus: raise)
    }

    /// The same stimulus behind the device's removal gate (`RemovalGate`): the gate runs this
    /// quiesce when the device is given back after a removal request, before it is closed, and
    /// each raise passes the gate (refused with `BackendError.closed` from then on). A raise that
    /// reached the card after its messages were disabled asserts its line otherwise, until the
    /// card is gone. A loopback raise does not reach the device: it only gets the quiesce.
    public func gated(by gate: RemovalGate?) -> SelftestStimulus {
        guard let gate else { return self }
        gate.onRelease(quiesce: quiesce)
        guard !isLoopback else { return self }
        var gated = self
        let raise = self.raise
        gated.raise = { message in
            guard try gate.pass({ try raise(message) }) else { throw BackendError.closed }
        }
        return gated
    }

    /// A profile's register stimulus on `registers`: `setup` after connecting, `raise`
    /// per interrupt with the message number as `vector`, the acknowledge program in
    /// the ISR (none: claim), `quiesce` before connecting. Fails when a program
    /// reaches past what `registers` can reach, naming the profile's line.
    public static func registers<Registers: RegisterFile & Sendable>(
        _ profile: DeviceProfile, on registers: Registers
    ) throws(ProfileError) -> SelftestStimulus {
        guard case .registers(let setupProgram, let raiseProgram) = profile.stimulus?.method else {
            throw ProfileError(.badValue, at: profile.location, "profile '\(profile.name)' has no register stimulus")
        }
        let setup = try BoundRegisterProgram(setupProgram, on: registers)
        let raise = try BoundRegisterProgram(raiseProgram, on: registers)
        let acknowledge = try profile.acknowledge.map { (program) throws(ProfileError) in try BoundRegisterProgram(program, on: registers) }
        let quiesce = try profile.quiesce.map { (program) throws(ProfileError) in try BoundRegisterProgram(program, on: registers) }
        // Register files whose accesses are system calls report a failed one from set-up and
        // raise ("no interrupt reached the ISR" would not say why); the ISR's cannot throw.
        let failable = registers as? any FailableRegisterFile
        var stimulus = SelftestStimulus(name: "\(profile.name) \(profile.stimulus!.description)", kernelCounts: true,
                                        raise: { message in _ = try reporting(failable) { raise.run(vector: UInt32(message)) } },
                                        acknowledge: acknowledgement(acknowledge),
                                        quiesce: { _ = quiesce?.run() },
                                        setup: { _ = try reporting(failable) { setup.run() } })
        stimulus.vectors = profile.stimulus?.vectors
        return stimulus
    }

    /// Runs `body`, throwing the first access of `registers` that failed in it (none to
    /// check: just runs it).
    private static func reporting<Result>(_ registers: (any FailableRegisterFile)?, _ body: () -> Result) throws(SystemError) -> Result {
        guard let registers else { return body() }
        return try registers.checked(body)
    }

    /// A profile's acknowledge and quiesce programs, bound on a device's registers, for a
    /// device its profile does not raise through registers (VFIO's loopback raises it, or,
    /// under UIO, nothing does): its ISR still acknowledges what the device raised itself.
    public struct Routines: Sendable {
        /// The ISR's acknowledge (no program: a plain claim).
        public var acknowledge: @Sendable (_ message: Int) -> Bool
        public var quiesce: @Sendable () -> Void
    }

    /// `profile`'s acknowledge and quiesce on `registers` (failing as `registers(_:on:)` does).
    public static func routines<Registers: RegisterFile & Sendable>(_ profile: DeviceProfile, on registers: Registers) throws(ProfileError) -> Routines {
        let acknowledge = try profile.acknowledge.map { (program) throws(ProfileError) in try BoundRegisterProgram(program, on: registers) }
        let quiesce = try profile.quiesce.map { (program) throws(ProfileError) in try BoundRegisterProgram(program, on: registers) }
        return Routines(acknowledge: acknowledgement(acknowledge), quiesce: { _ = quiesce?.run() })
    }

    /// The ISR's acknowledge: the bound program for the message, or a plain claim.
    static func acknowledgement<Registers: RegisterFile & Sendable>(_ program: BoundRegisterProgram<Registers>?) -> @Sendable (Int) -> Bool {
        guard let program else { return { _ in true } }
        return { message in program.run(vector: UInt32(truncatingIfNeeded: message)) }
    }

    /// Any vfio-pci device: VFIO_IRQ_SET_ACTION_TRIGGER makes the kernel signal
    /// the vector's eventfd as the device would (bypassing the IRQ handler). The
    /// device did not interrupt, so the ISR claims without touching it, unless
    /// `routines` give a profile's acknowledge: the ISR then runs it, and a loopback
    /// raise, which left the device with nothing pending, is unclaimed if the
    /// program says so. `prepared()` gives the lean raise of a run
    /// (`VFIOBackend.loopbackTrigger()`); `raise` looks the trigger up per call.
    public static func vfioLoopback(_ backend: VFIOBackend, routines: Routines? = nil) -> SelftestStimulus {
        let claim: @Sendable (Int) -> Bool = { _ in true }
        let nothing: @Sendable () -> Void = {}
        var stimulus = SelftestStimulus(name: "VFIO loopback trigger (the interrupt does not come from the device)", kernelCounts: false,
                                        raise: { message in try backend.triggerLoopback(message: message) },
                                        acknowledge: routines?.acknowledge ?? claim, quiesce: routines?.quiesce ?? nothing)
        stimulus.loopback = backend
        return stimulus
    }

    /// The simulated backend: write its eventfds; the ISR acknowledges the line.
    public static func simulated(_ backend: SimulatedBackend) -> SelftestStimulus {
        SelftestStimulus(name: "simulated eventfd write", kernelCounts: false,
                         raise: { message in
                             guard backend.raise(message: message) else { throw BackendError.closed }
                         },
                         acknowledge: { _ in
                             backend.acknowledge()
                             return true
                         },
                         // Weak: the backend's removal gate keeps the quiesce (gated(by:)).
                         quiesce: { [weak backend] in backend?.acknowledge() })
    }
}
