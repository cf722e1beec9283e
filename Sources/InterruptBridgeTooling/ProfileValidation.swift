// Checking a loaded profile against the real device, and binding its programs to
// the device's mapped registers.
public import InterruptBridgeCore

extension DeviceProfile {
    /// Checks every register access against `device`: the BAR is implemented, offset +
    /// width fits its size, and an access to an I/O-port BAR is 8, 16 or 32 bits wide. With `requireMatch`,
    /// the profile must also match the device, and a stimulus that names its interrupt
    /// kinds must find one of them on it. Without `checkingBARSizes` (a device read from an
    /// `lspci -x` dump, which holds no BAR sizes) an access needs its BAR to be there, its
    /// offset is not checked. A device whose capabilities could not be
    /// read is not judged on its vectors. Throws the first problem, naming the profile's
    /// file, line and field; ``problems(against:requireMatch:checkingBARSizes:)`` lists them all.
    public func validate(against device: PCIDeviceInfo, requireMatch: Bool = true, checkingBARSizes: Bool = true) throws(ProfileError) {
        if let first = problems(against: device, requireMatch: requireMatch, checkingBARSizes: checkingBARSizes).first { throw first }
    }

    /// Every problem ``validate(against:requireMatch:checkingBARSizes:)`` would find, in the
    /// order it checks them (the match, the stimulus's kinds and vectors, then each access in
    /// the file's order): empty when the profile fits the device.
    public func problems(against device: PCIDeviceInfo, requireMatch: Bool = true, checkingBARSizes: Bool = true) -> [ProfileError] {
        var found: [ProfileError] = []
        if requireMatch, !match.matches(device) {
            var location = self.location
            location.field = "match"
            found.append(ProfileError(.deviceMismatch, at: location,
                                      "profile '\(name)' is for \(match.summary), not \(Self.describe(device))"))
        }
        func offered(_ kind: InterruptKind) -> Int { Self.vectors(of: kind, on: device) }
        let has = Self.kinds(on: device)
        if let kinds = stimulus?.interrupts, !device.capabilitiesUnreadable, kinds.isDisjoint(with: has) {
            var location = stimulus?.interruptsLocation ?? self.location
            location.field = "stimulus.interrupts"
            let named = [InterruptKind.intx, .msi, .msix].filter(kinds.contains).map(\.description).joined(separator: ", ")
            found.append(ProfileError(.deviceMismatch, at: location, "the stimulus raises \(named), which \(Self.describe(device)) does not have "
                                      + "(it has \(has.isEmpty ? "no interrupts" : has.map(\.description).joined(separator: ", ")))"))
        }
        if let stimulus, let vectors = stimulus.vectors, let location = stimulus.vectorsLocation, !device.capabilitiesUnreadable {
            // The most vectors any kind the stimulus raises has on this device.
            let kinds = stimulus.kinds
            let available = kinds.map(offered).max() ?? 0
            if vectors > available {
                found.append(ProfileError(.badValue, at: location, "\(vectors) vector\(vectors == 1 ? "" : "s"), but \(Self.describe(device)) has \(available) "
                                          + "for \(kinds.map(\.description).joined(separator: ", "))"))
            }
        }
        // A BAR of size 0 is not implemented; without sizes (a dump), every BAR listed is.
        let implemented = device.bars.filter { $0.size > 0 || !checkingBARSizes }
        var accessProblems: [ProfileError] = []
        for site in accesses {
            guard let bar = implemented.first(where: { $0.index == site.bar }) else {
                let names = implemented.map { "BAR \($0.index)" }
                accessProblems.append(ProfileError(.unknownBAR, at: site.barLocation, "\(Self.describe(device)) has no BAR \(site.bar)"
                                          + (names.isEmpty ? "" : " (it implements \(names.joined(separator: ", ")))")))
                continue
            }
            // The kernel moves 1, 2 or 4 bytes per in/out (VFIO's region and sysfs resourceN alike).
            if bar.space == .io, site.width == .bits64 {
                accessProblems.append(ProfileError(.barNotMemoryMapped, at: site.barLocation,
                                          "BAR \(site.bar) of \(Self.describe(device)) is I/O space, reached 8, 16 or 32 bits at a time: "
                                          + "a 64-bit access needs a memory BAR"))
            } else if checkingBARSizes, site.offset + UInt64(site.width.byteCount) > bar.size {
                accessProblems.append(ProfileError(.offsetPastBAR, at: site.offsetLocation,
                                          "offset 0x\(String(site.offset, radix: 16)) (\(site.width)) is past the end of BAR \(site.bar), "
                                          + "which is 0x\(String(bar.size, radix: 16)) bytes"))
            }
        }
        // The programs list their accesses acknowledge first; a file may order its sections otherwise.
        accessProblems.sort { $0.location.isBefore($1.location) }
        for problem in accessProblems where !found.contains(problem) { found.append(problem) }
        return found
    }

    /// How many vectors of `kind` the device offers (0: it has none of that kind).
    static func vectors(of kind: InterruptKind, on device: PCIDeviceInfo) -> Int {
        switch kind {
        case .intx: device.interruptPin == nil ? 0 : 1
        case .msi: device.msi?.messagesCapable ?? 0
        case .msix: device.msix?.tableSize ?? 0
        }
    }

    /// The kinds of interrupt the device offers, INTx first.
    static func kinds(on device: PCIDeviceInfo) -> [InterruptKind] {
        [.intx, .msi, .msix].filter { vectors(of: $0, on: device) > 0 }
    }

    /// "0000:00:03.0 (1234:11e8)": a function as errors and reports name it.
    public static func describe(_ device: PCIDeviceInfo) -> String {
        func hex(_ value: UInt16) -> String { InterruptBridgeCore.hex(UInt64(value), width: 4) }
        return "\(device.address) (\(hex(device.vendorID)):\(hex(device.deviceID)))"
    }
}

/// A compiled program paired with the registers it runs on, checked so that no
/// access can fall outside them: what an ISR (or a stimulus) calls.
///
/// Generic over the register file so the run is specialised (no existential call per
/// access). Copying it copies two references.
public struct BoundRegisterProgram<Registers: RegisterFile> {
    public let program: RegisterProgram
    public let registers: Registers

    /// Fails with the profile location of the first access outside the reachable
    /// registers (a mapping shorter than the BAR, or a BAR not mapped).
    public init(_ program: RegisterProgram, on registers: Registers) throws(ProfileError) {
        for site in program.accesses where site.offset + UInt64(site.width.byteCount) > UInt64(registers.length(ofBAR: site.bar)) {
            let reachable = registers.length(ofBAR: site.bar)
            throw ProfileError(reachable == 0 ? .unknownBAR : .offsetPastBAR, at: reachable == 0 ? site.barLocation : site.offsetLocation,
                               reachable == 0 ? "BAR \(site.bar) is not mapped"
                                   : "offset 0x\(String(site.offset, radix: 16)) (\(site.width)) is past the mapped part of BAR \(site.bar) (0x\(String(reachable, radix: 16)) bytes)")
        }
        self.program = program
        self.registers = registers
    }

    /// Runs the program for `vector` (the message number; 0 for INTx). Returns the
    /// claim. Interrupt-safe: no allocation, lock or logging.
    @inlinable
    public func run(vector: UInt32 = 0) -> Bool { program.run(on: registers, vector: vector) }
}

extension BoundRegisterProgram: Sendable where Registers: Sendable {}
