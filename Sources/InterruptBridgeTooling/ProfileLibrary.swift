// Choosing the profile for a device among the user's and the built-in ones.
public import InterruptBridgeCore

/// An ordered set of profiles: the user's (from `--profile` files) before the built-ins.
public struct ProfileLibrary: Sendable {
    public var profiles: [DeviceProfile]

    /// How many of `profiles`, from the front, are the user's (the rest are built-ins).
    public private(set) var userCount: Int

    /// `profiles` first, then (by default) the built-in ones.
    public init(_ profiles: [DeviceProfile] = [], includingBuiltIns: Bool = true) {
        self.profiles = profiles + (includingBuiltIns ? BuiltInProfiles.all : [])
        userCount = profiles.count
    }

    /// Loads each file (the first problem throws) and puts them before the built-ins.
    public init(files: [String], includingBuiltIns: Bool = true) throws(ProfileError) {
        var loaded: [DeviceProfile] = []
        for file in files { loaded.append(try ProfileLoader.load(contentsOf: file)) }
        self.init(loaded, includingBuiltIns: includingBuiltIns)
    }

    /// The profile for `device`: among the user's that match, the most specific (an address
    /// beats subsystem ids, which beat vendor:device, which beats a class; on a tie, the
    /// earlier); only when none of the user's matches, the most specific built-in. A
    /// profile the user wrote for a card is preferred to a built-in, however broad its
    /// match. Nil when none matches.
    public func profile(for device: PCIDeviceInfo) -> DeviceProfile? {
        Self.mostSpecific(userProfiles, device) ?? Self.mostSpecific(profiles[userCount...], device)
    }

    /// The user's profiles (from `--profile` files), without the built-ins.
    public var userProfiles: ArraySlice<DeviceProfile> { profiles[..<userCount] }

    private static func mostSpecific(_ candidates: ArraySlice<DeviceProfile>, _ device: PCIDeviceInfo) -> DeviceProfile? {
        var best: DeviceProfile?
        for profile in candidates where profile.match.matches(device) {
            if best == nil || profile.match.specificity > best!.match.specificity { best = profile }
        }
        return best
    }

    /// The first profile called `name`.
    public func profile(named name: String) -> DeviceProfile? { profiles.first { $0.name == name } }
}
