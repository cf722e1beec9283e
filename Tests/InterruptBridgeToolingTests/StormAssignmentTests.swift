import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// The bring-up verbs' `--storm KEY=VALUE`: the daemon's storm keys, each checked as in a
/// file, and the rules they make checked as a whole, over every policy a verb connects with.
struct StormAssignmentTests {
    @Test func assignmentsSetTheirKeysAndALaterOneWins() throws {
        let overrides = try StormOverrides(assignments: ["rate-limit=1000", "rate-window-ms=250", "rearm-after-ms=never",
                                                         "rate-limit=500", "unclaimed-window=50", "unclaimed-limit=40"])
        #expect(overrides.givenKeys == ["rate-limit", "rate-window-ms", "unclaimed-limit", "unclaimed-window", "rearm-after-ms"])
        let policy = overrides.applied(to: .default)
        #expect(policy.rateLimit == 500 && policy.rateWindow == .milliseconds(250) && policy.initialBackoff == nil)
        #expect(policy.unclaimedLimit == 40 && policy.unclaimedWindow == 50)
        #expect(policy.maximumBackoff == StormPolicy.default.maximumBackoff, "a key left out is the default's")
        #expect(try StormOverrides(assignments: []) == StormOverrides())
    }

    @Test(arguments: [
        (["ratelimit=5"], "'ratelimit' is not a storm key (keys: enabled, rate-limit, "),
        (["=5"], "'=5' is not KEY=VALUE"),
        (["rate-limit"], "'rate-limit' is not KEY=VALUE"),
        (["rate-limit=abc"], "rate-limit=abc: expected interrupts per window (at least 1)"),
        (["rate-limit=0"], "rate-limit=0: expected interrupts per window (at least 1)"),
        (["rate-limit="], "rate-limit=: expected interrupts per window"),
        (["enabled=yes"], "enabled=yes: expected true or false"),
        (["rearm-after-ms=Never"], "rearm-after-ms=Never: expected milliseconds (1...3600000) or never"),
        (["rearm-max-ms=3600001"], "rearm-max-ms=3600001: expected milliseconds (1...3600000)"),
        (["unclaimed-window=10", "unclaimed-limit=20"], "unclaimed-limit and unclaimed-window: the unclaimed limit must be 1...10"),
        (["rearm-after-ms=70000"], "rearm-after-ms and rearm-max-ms: the initial back-off must be positive and at most the maximum"),
    ] as [([String], String)])
    func aBadAssignmentIsNamed(assignments: [String], message: String) {
        #expect(throws: StormOverrides.AssignmentError.self) { try StormOverrides(assignments: assignments) }
        do { _ = try StormOverrides(assignments: assignments) } catch {
            #expect(error.description.hasPrefix(message), "\(error.description)")
        }
    }

    /// Off, the other keys are not held to each other (as in a file: a disabled policy is not checked).
    @Test func rulesTurnedOffAreNotCheckedTogether() throws {
        let policy = try StormOverrides(assignments: ["enabled=false", "unclaimed-window=10", "unclaimed-limit=20"]).applied(to: .default)
        #expect(!policy.isEnabled)
    }

    /// Every policy of the table gets the keys, over its own storm rules where it has them.
    @Test func theKeysGoOverEveryPolicyOfTheTable() throws {
        var own = StormPolicy.default
        own.unclaimedWindow = 1000
        own.unclaimedLimit = 900
        let address = try #require(PCIAddress("0000:00:03.0"))
        let table = InterruptPolicyTable(byAddress: [address: InterruptPolicy(msiSupported: false, storm: own)],
                                         byID: ["1af4:1041": InterruptPolicy(messageNumberLimit: 2)],
                                         fallback: InterruptPolicy(preferMSIX: false))
        let stormed = table.applyingStorm(try StormOverrides(assignments: ["rate-limit=100", "rearm-after-ms=never"]))
        let device = try #require(stormed.byAddress[address])
        #expect(device.msiSupported == false && device.storm?.rateLimit == 100 && device.storm?.initialBackoff == nil)
        #expect(device.storm?.unclaimedWindow == 1000 && device.storm?.unclaimedLimit == 900, "the device's own rules stay under the keys")
        #expect(stormed.byID["1af4:1041"]?.messageNumberLimit == 2 && stormed.byID["1af4:1041"]?.storm?.rateLimit == 100)
        #expect(stormed.fallback.preferMSIX == false && stormed.fallback.storm?.rateLimit == 100)
        #expect(stormed.fallback.storm?.unclaimedWindow == StormPolicy.default.unclaimedWindow)
    }
}
