// The test kit's view of the QEMU rig, on the host: the environment's device map is parsed
// strictly, and outside the rig nothing is named and rig-only tests are skipped.
import InterruptBridgeCore
import InterruptBridgeTestKit
import Testing

@Suite struct RigKitTests {
    @Test func theRigsDeviceMapIsReadByRole() {
        let devices = Rig.parseAssignments("edu=0000:00:03.0 ivshmem-doorbell=0000:00:05.0 qemu0=0000:00:0c.0")
        #expect(devices == ["edu": PCIAddress("0000:00:03.0")!, "ivshmem-doorbell": PCIAddress("0000:00:05.0")!,
                            "qemu0": PCIAddress("0000:00:0c.0")!])
    }

    @Test(arguments: ["edu", "edu=", "=0000:00:03.0", "edu=00:03", "edu=0000:00:03.0=x"])
    func aMalformedEntryIsLeftOut(entry: String) {
        #expect(Rig.parseAssignments("\(entry) qemu0=0000:00:0c.0") == ["qemu0": PCIAddress("0000:00:0c.0")!])
    }

    @Test func nothingIsSetOutsideTheRig() {
        #expect(Rig.parseAssignments(nil).isEmpty)
        #expect(Rig.parseAssignments("").isEmpty)
    }

    // `swift test` on the host is never inside the rig (IRQBRIDGE_RIG is set only by rig runs).
    @Test(.enabled(if: !Rig.isInside)) func outsideTheRigAMissingRoleNamesWhatToDo() {
        #expect(Rig.device("edu") == nil)
        #expect {
            try Rig.requireDevice("edu")
        } throws: { error in
            "\(error)".contains("no rig device 'edu'") && "\(error)".contains("--qemu-device")
        }
    }

    @Test func aSkippedRoleTestNamesOnlyTheMissingRolesAndHowToAddThem() {
        let reason = Rig.skipReason(needing: ["hda", "lsi"], inside: true, have: ["lsi", "qemu0"])
        #expect(reason == "this rig run has no hda (have: lsi, qemu0); add it with --devices or --qemu-device")
        #expect(Rig.skipReason(needing: ["lsi"], inside: true, have: ["lsi", "qemu0"]) == nil)
        #expect(Rig.skipReason(needing: ["lsi"], inside: false, have: ["lsi"]) == Rig.skipReason)
    }

    /// The trait must skip here; a test that ran would record an issue.
    @Test(.rig) func aRigOnlyTestDoesNotRunOnTheHost() {
        Issue.record("ran outside the rig although its trait is .rig")
    }

    @Test(.rig(devices: "edu")) func aTestNeedingARoleDoesNotRunWithoutIt() {
        Issue.record("ran without the rig's edu although its trait names it")
    }
}
