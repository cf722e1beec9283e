// Swift Testing traits that run a test only inside the QEMU rig, and skip it with the
// reason everywhere else (a developer's `swift test`, CI's host-side stage).
public import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test or suite only inside the rig: `@Test(.rig) func ...`.
    public static var rig: Self { .enabled(if: Rig.isInside, Comment(rawValue: Rig.skipReason)) }

    /// Runs it only inside the rig and when the run has every named device role:
    /// `@Suite(.rig(devices: "edu", "qemu0"))`. The skip comment names the missing roles.
    public static func rig(devices roles: String...) -> Self {
        .enabled(Comment(rawValue: "needs the QEMU rig with devices \(roles.joined(separator: ", ")) (see Rig.devices)")) {
            Rig.isInside && roles.allSatisfy { Rig.device($0) != nil }
        }
    }
}
