// Swift Testing traits that run a test only inside the QEMU rig, and skip it with the
// reason everywhere else (a developer's `swift test`, CI's host-side stage).
public import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test or suite only inside the rig: `@Test(.rig) func ...`.
    public static var rig: Self { .enabled(if: Rig.isInside, Comment(rawValue: Rig.skipReason)) }

    /// Runs it only inside the rig and when the run has every named device role:
    /// `@Suite(.rig(devices: "edu", "qemu0"))`. The skip comment names the missing roles.
    public static func rig(devices roles: String...) -> Self {
        // The rig's environment is fixed for the process: judged once, so the comment can name
        // what is missing (it said "needs ... hda, lsi" when only hda was).
        let reason = Rig.skipReason(needing: roles)
        return .enabled(if: reason == nil, Comment(rawValue: reason ?? ""))
    }
}
