import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

@Suite("Profile matching and validation")
struct ProfileMatchingTests {
    static func load(_ text: String) throws -> DeviceProfile { try ProfileLoader.load(text, file: "user.yaml") }

    @Test func builtInsMatchTheRigDevices() {
        let library = ProfileLibrary()
        #expect(library.profile(for: .edu)?.name == "edu")
        #expect(library.profile(for: .e1000e)?.name == "e1000e")
        #expect(library.profile(for: .ivshmem)?.name == "ivshmem-doorbell")
        #expect(library.profile(for: .nvme)?.name == "nvme")
        // Any vendor's NVMe controller matches by class; another storage class does not.
        #expect(library.profile(for: .fake(0x144d, 0xa808, classCode: 0x010802, bars: []))?.name == "nvme")
        #expect(library.profile(for: .fake(0x144d, 0xa808, classCode: 0x010601, bars: [])) == nil)
        #expect(library.profile(for: .fake(0x8086, 0x100e, bars: [])) == nil)
    }

    @Test func theMostSpecificMatchWins() throws {
        let byAddress = try Self.load("""
            name: edu-at-4
            match: {address: "0000:00:04.0"}
            """)
        let bySubsystem = try Self.load("""
            name: edu-subsystem
            match: {vendor: 0x1234, device: 0x11e8, subsystem_vendor: 0x1af4, subsystem: 0x1100}
            """)
        let library = ProfileLibrary([bySubsystem, byAddress])
        var atFour = PCIDeviceInfo.edu
        atFour.address = PCIAddress(bus: 0, device: 4, function: 0)
        #expect(library.profile(for: atFour)?.name == "edu-at-4")
        var withSubsystem = PCIDeviceInfo.edu
        withSubsystem.subsystemVendorID = 0x1af4
        withSubsystem.subsystemID = 0x1100
        #expect(library.profile(for: withSubsystem)?.name == "edu-subsystem")
        #expect(library.profile(for: .edu)?.name == "edu")
        // Both the address and the subsystem: the address is the narrower match.
        withSubsystem.address = atFour.address
        #expect(library.profile(for: withSubsystem)?.name == "edu-at-4")
    }

    @Test func aUserProfileBeatsABuiltInOfTheSameSpecificity() throws {
        let mine = try Self.load("""
            name: my-edu
            match: {vendor: 0x1234, device: 0x11e8}
            """)
        #expect(ProfileLibrary([mine]).profile(for: .edu)?.name == "my-edu")
        #expect(ProfileLibrary([mine], includingBuiltIns: false).profiles.count == 1)
    }

    /// `--profile FILE` is "preferred to the built-in ones": a user's profile that matches
    /// the card by class is used, though the built-in e1000e matches it by vendor:device.
    @Test func aUserProfileBeatsAMoreSpecificBuiltIn() throws {
        let anyNIC = try Self.load("""
            name: any-ethernet
            match: {class: 0x020000, class_mask: 0xffff00}
            """)
        var nic = PCIDeviceInfo.e1000e
        nic.classCode = 0x020000
        #expect(ProfileLibrary().profile(for: nic)?.name == "e1000e")
        #expect(ProfileLibrary([anyNIC]).profile(for: nic)?.name == "any-ethernet")
        #expect(ProfileLibrary([anyNIC]).profile(for: .edu)?.name == "edu", "the built-ins still serve the cards no user profile matches")
    }

    @Test func classMasks() throws {
        let anyStorage = try Self.load("""
            name: storage
            match: {class: 0x010000, class_mask: 0xff0000}
            """)
        let library = ProfileLibrary([anyStorage], includingBuiltIns: false)
        #expect(library.profile(for: .nvme)?.name == "storage")
        #expect(library.profile(for: .edu) == nil)
        #expect(anyStorage.match.summary == "class 0x010000/0xff0000")
    }

    @Test func aMatchMustNameSomething() {
        #expect(throws: ProfileError.self) { try Self.load("name: x\nmatch: {subsystem: 1}") }
        #expect(throws: ProfileError.self) { try Self.load("name: x\nmatch: {device: 0x11e8}") }
        #expect(throws: ProfileError.self) { try Self.load("name: x\nmatch: {address: 00:99.0}") }
        #expect(throws: ProfileError.self) { try Self.load("name: x\nmatch: {vendor: 0x12345}") }
    }

    @Test func validatingAgainstAnotherDeviceSaysWhichIsWhich() throws {
        let edu = try #require(ProfileLibrary().profile(named: "edu"))
        do {
            try edu.validate(against: .e1000e)
            Issue.record("edu's profile validated against e1000e")
        } catch {
            #expect(error.kind == .deviceMismatch)
            #expect(error.description == "<built-in>/edu.yaml:1:1: match: profile 'edu' is for 1234:11e8, not 0000:00:03.0 (8086:10d3)")
        }
        // Without the match check, edu's registers fit e1000e's BAR 0 (both are memory).
        try edu.validate(against: .e1000e, requireMatch: false)
    }

    @Test func moreVectorsThanTheDeviceHasIsAnError() throws {
        var e1000e = try #require(ProfileLibrary().profile(named: "e1000e"))
        var withFewer = PCIDeviceInfo.e1000e
        withFewer.msix?.tableSize = 3
        do {
            try e1000e.validate(against: withFewer)
            Issue.record("5 vectors validated against a device with 3")
        } catch {
            #expect(error.description == "<built-in>/e1000e.yaml:6:12: stimulus.vectors: 5 vectors, but 0000:00:03.0 (8086:10d3) has 3 for MSI-X")
        }
        e1000e.stimulus?.vectors = 3
        try e1000e.validate(against: withFewer)
    }

    @Test func loopbackStimulusCannotHavePrograms() {
        let text = """
            name: x
            match: {vendor: 1, device: 2}
            stimulus:
              loopback: true
              raise:
                - write: {bar: 0, offset: 0}
                  value: 1
            """
        #expect(throws: ProfileError.self) { try Self.load(text) }
    }
}
