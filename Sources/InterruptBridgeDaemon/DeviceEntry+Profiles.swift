// Which device profile a configured entry connects with, and what it is bound to be
// refused: shared by the registry (before it takes a card) and the configuration
// plan (`irqbridge daemon --check`), so the two cannot disagree.
public import InterruptBridgeCore
public import InterruptBridgeTooling

extension DeviceEntry {
    /// The profiles the entry chooses from: the built-ins, plus its profile file.
    public func profileLibrary() throws(DeviceSessionError) -> ProfileLibrary {
        guard let profile, ProfileLibrary().profile(named: profile) == nil else { return ProfileLibrary() }
        do { return try ProfileLibrary(files: [profile]) } catch { throw .badInput("\(error)") }
    }

    /// The profile the entry names (nil: none named, so the library's match applies).
    public func chosenProfile(in library: ProfileLibrary) -> DeviceProfile? {
        guard let profile else { return nil }
        return library.profile(named: profile) ?? library.profiles.first { $0.file == profile }
    }

    /// The profile a device connects with under the entry: the one it names, else the
    /// library's best match (nil: none).
    public func profile(for info: PCIDeviceInfo, in library: ProfileLibrary) -> DeviceProfile? {
        chosenProfile(in: library) ?? library.profile(for: info)
    }

    /// Whether the entry's devices are served on their INTx line: `connect: line-based`,
    /// uio_pci_generic (INTx only), or messages turned off (`MSISupported: false`).
    public func servesLine(policy: InterruptPolicy) -> Bool {
        connect == .lineBased || driver == .uioPCIGeneric || !policy.msiSupported
    }

    /// Why connecting `info` under the entry (and `policy`, the table's settings for it) is
    /// bound to be refused, from discovery and the profiles alone (nil: it may connect): a
    /// profile file that does not load, a profile that is not for this device (the session
    /// opening it refuses it), an interrupt the device lacks or a line nothing acknowledges.
    public func connectRefusal(_ info: PCIDeviceInfo, policy: InterruptPolicy) -> String? {
        let library: ProfileLibrary
        do { library = try profileLibrary() } catch { return error.description }
        let profile = profile(for: info, in: library)
        do { try profile?.validate(against: info) } catch {
            // BAR sizes read as 0 are unknown (an lspci dump): only the session can judge those.
            let barSizesUnknown = info.bars.allSatisfy { $0.size == 0 }
            if !(barSizesUnknown && [.unknownBAR, .offsetPastBAR].contains(error.kind)) { return error.description }
        }
        return DeviceSession.connectRefusal(info, profile: profile, lineBased: servesLine(policy: policy),
                                            underUIO: driver == .uioPCIGeneric, advice: .daemon)
    }
}
