import Foundation
import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// Each kind of mistake in a profile is one error naming file, line, column and field.
@Suite("Profile loader errors")
struct ProfileLoaderErrorTests {
    /// A correct profile; each test changes one line of it.
    static let good = """
        name: card
        match: {vendor: 0x1234, device: 0x11e8}
        acknowledge:
          - read: {bar: 0, offset: 0x24, width: 32}
            into: status
          - if_zero: status
            return: unclaimed
          - write: {bar: 0, offset: 0x64}
            value: status
        """

    static func replacing(_ line: Int, with text: String) -> String {
        var lines = good.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[line - 1] = text
        return lines.joined(separator: "\n")
    }

    static func error(_ text: String, device: PCIDeviceInfo? = nil) -> ProfileError? {
        do {
            let profile = try ProfileLoader.load(text, file: "card.yaml")
            if let device { try profile.validate(against: device, requireMatch: false) }
            return nil
        } catch {
            return error
        }
    }

    /// Mistakes in separate parts of the file (an unknown key, the match, the acknowledge)
    /// are all found, in file order: the first is the error, the rest its `alsoFound`. Within
    /// one part the first mistake stops it.
    @Test func mistakesInSeparatePartsAreAllFound() throws {
        let text = """
            name: card
            vendor: 0x1234
            match: {vendor: 0x12345, device: 0x11e8}
            acknowledge:
              - read: {bar: 0, offset: 0x24, width: 24}
                into: status
              - read: {bar: 9, offset: 0x24, width: 32}
                into: other
            quiesce:
              - write: {bar: 0, offset: 0x64}
                value: nosuch
            """
        let error = try #require(Self.error(text))
        #expect(error.everyProblem.map(\.location.line) == [2, 3, 5, 11], "\(error.everyProblem)")
        #expect(error.everyProblem.map(\.kind) == [.unknownKey, .badValue, .badWidth, .badValue], "\(error.everyProblem)")
        #expect(error.alsoFound.count == 3 && error.description.hasPrefix("card.yaml:2:1: vendor: unknown key 'vendor'"), "\(error)")
        // One mistake: nothing else to tell.
        #expect(try #require(Self.error(Self.replacing(2, with: "match: {vendor: 0x12345, device: 0x11e8}"))).alsoFound.isEmpty)
    }

    @Test func theBaseProfileLoadsAndFitsEdu() throws {
        let profile = try ProfileLoader.load(Self.good, file: "card.yaml")
        try profile.validate(against: .edu)
        #expect(profile.acknowledge?.accesses.count == 2)
    }

    /// A binary file or one holding a terminal's escape sequences: the error is still one
    /// printable line of bounded length (the parser quotes the file's rest).
    @Test func unprintableFilesGiveOnePrintableBoundedLine() {
        let binary = String(decoding: (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }, as: UTF8.self)
        for text in ["name: x\n\u{1B}[2J\u{1B}[31mkey: [\n", "a: 1\n\u{0}\u{0}b: 2\n", binary] {
            do {
                _ = try ProfileLoader.load(text, file: "bad.yaml")
                Issue.record("accepted \(text.prefix(20))")
            } catch {
                let line = error.description
                #expect(line.hasPrefix("bad.yaml:"), "\(line)")
                #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(line)")
                #expect(line.count < 2 * ProfileError.quoteLimit + 100, "\(line.count) characters")
            }
        }
    }

    @Test func unknownKeyAtTheTop() {
        let error = Self.error(Self.good + "\ncolour: red")
        #expect(error?.kind == .unknownKey)
        #expect(error?.description == "card.yaml:10:1: colour: unknown key 'colour' "
                + "(expected 'name', 'description', 'match', 'stimulus', 'acknowledge', 'quiesce')")
    }

    @Test func unknownKeyInAStep() {
        let error = Self.error(Self.replacing(5, with: "    intoo: status"))
        #expect(error?.kind == .unknownKey)
        #expect(error?.description.hasPrefix("card.yaml:5:5: acknowledge[0].intoo: unknown key 'intoo'") == true)
    }

    @Test func unknownKeyInARegister() {
        let error = Self.error(Self.replacing(4, with: "  - read: {bar: 0, ofset: 0x24, width: 32}"))
        #expect(error?.description == "card.yaml:4:20: acknowledge[0].read.ofset: unknown key 'ofset' (expected 'bar', 'offset', 'width')")
    }

    @Test func badWidth() {
        let error = Self.error(Self.replacing(4, with: "  - read: {bar: 0, offset: 0x24, width: 24}"))
        #expect(error?.kind == .badWidth)
        #expect(error?.description == "card.yaml:4:41: acknowledge[0].read.width: width 24 is not 8, 16, 32 or 64")
    }

    @Test func misalignedOffset() {
        let error = Self.error(Self.replacing(4, with: "  - read: {bar: 0, offset: 0x26, width: 32}"))
        #expect(error?.kind == .misalignedOffset)
        #expect(error?.description == "card.yaml:4:28: acknowledge[0].read.offset: offset 0x26 is not aligned for a 32-bit access (a multiple of 4)")
    }

    @Test func barOutsideZeroToFive() {
        let error = Self.error(Self.replacing(4, with: "  - read: {bar: 7, offset: 0x24, width: 32}"))
        #expect(error?.kind == .unknownBAR)
        #expect(error?.description == "card.yaml:4:17: acknowledge[0].read.bar: BAR 7 does not exist (BARs are 0 to 5)")
    }

    @Test func barTheDeviceDoesNotImplement() {
        let error = Self.error(Self.replacing(8, with: "  - write: {bar: 2, offset: 0x64}"), device: .edu)
        #expect(error?.kind == .unknownBAR)
        #expect(error?.description == "card.yaml:8:18: acknowledge[2].write.bar: 0000:00:03.0 (1234:11e8) has no BAR 2 (it implements BAR 0)")
    }

    @Test func offsetPastTheBAR() {
        // The last register of edu's 1 MiB BAR fits; one past it does not.
        #expect(Self.error(Self.replacing(8, with: "  - write: {bar: 0, offset: 0xffffc}"), device: .edu) == nil)
        let error = Self.error(Self.replacing(8, with: "  - write: {bar: 0, offset: 0x100000}"), device: .edu)
        #expect(error?.kind == .offsetPastBAR)
        #expect(error?.description == "card.yaml:8:29: acknowledge[2].write.offset: offset 0x100000 (32-bit) is past the end of BAR 0, which is 0x100000 bytes")
        // A 64-bit access whose first byte is inside but whose last is not.
        let wide = Self.error(Self.replacing(8, with: "  - write: {bar: 0, offset: 0xffff8, width: 64}"), device: .edu)
        #expect(wide == nil)
        let straddling = Self.error(Self.replacing(4, with: "  - read: {bar: 0, offset: 0xffffe, width: 32}"), device: .edu)
        #expect(straddling?.kind == .misalignedOffset)
    }

    @Test func ioPortBARsTakeAccessesUpTo32Bits() {
        // e1000e's BAR 2 is 32 bytes of I/O ports (IOADDR/IODATA): 8, 16 and 32 bits reach them.
        for width in [8, 16, 32] {
            #expect(Self.error(Self.replacing(4, with: "  - read: {bar: 2, offset: 0x1c, width: \(width)}"), device: .e1000e) == nil)
        }
        let wide = Self.error(Self.replacing(4, with: "  - read: {bar: 2, offset: 0x0, width: 64}"), device: .e1000e)
        #expect(wide?.kind == .barNotMemoryMapped)
        #expect(wide?.description == "card.yaml:4:17: acknowledge[0].read.bar: BAR 2 of 0000:00:03.0 (8086:10d3) is I/O space, "
                + "reached 8, 16 or 32 bits at a time: a 64-bit access needs a memory BAR")
        let past = Self.error(Self.replacing(4, with: "  - read: {bar: 2, offset: 0x20, width: 32}"), device: .e1000e)
        #expect(past?.kind == .offsetPastBAR)
    }

    @Test func badYAML() {
        let error = Self.error(Self.replacing(2, with: "match: {vendor: 0x1234, device: 0x11e8"))
        #expect(error?.kind == .syntax)
        #expect(error?.description == "card.yaml:3:12: (syntax): not valid YAML or JSON: did not find expected ',' or '}' "
                + "(while parsing a flow mapping at line 2)")
    }

    @Test func badJSON() {
        let error = Self.error("{\"name\": \"card\",\n \"match\": {\"vendor\": 4660 \"device\": 4584}}")
        #expect(error?.description == "card.yaml:2:35: (syntax): not valid YAML or JSON: did not find expected ',' or '}' (while parsing a flow mapping at line 2)")
    }

    @Test func missingField() {
        let error = Self.error(Self.replacing(2, with: "description: no match"))
        #expect(error?.kind == .missingField)
        #expect(error?.description == "card.yaml:1:1: match: missing 'match'")
    }

    @Test func undefinedName() {
        let error = Self.error(Self.replacing(9, with: "    value: stats"))
        #expect(error?.kind == .badValue)
        #expect(error?.description == "card.yaml:9:12: acknowledge[2].value: 'stats' is not defined here (names come from an earlier 'into' or 'let', or are 'vector')")
    }

    @Test func badExpression() {
        let error = Self.error(Self.replacing(9, with: "    value: status <<"))
        #expect(error?.description == "card.yaml:9:12: acknowledge[2].value: 'status <<': the expression ends too early")
    }

    @Test func constantTooWideForTheRegister() {
        let text = Self.replacing(8, with: "  - write: {bar: 0, offset: 0x64, width: 8}").replacingLast("value: status", with: "value: 0x1ff")
        let error = Self.error(text)
        #expect(error?.description == "card.yaml:9:12: acknowledge[2].value: 0x1ff does not fit an 8-bit register")
    }

    @Test func returnsBelongInAcknowledgePrograms() {
        let text = Self.good + "\nstimulus:\n  raise:\n    - return: claimed"
        let error = Self.error(text)
        #expect(error?.description == "card.yaml:12:15: stimulus.raise[0].return: tests and returns belong in 'acknowledge' programs only")
    }

    @Test func aStepDoesOneThing() {
        let error = Self.error(Self.replacing(5, with: "    write: {bar: 0, offset: 0x64}"))
        #expect(error?.description == "card.yaml:4:5: acknowledge[0]: a step does one thing; found read and write")
    }

    @Test func keyGivenTwice() {
        #expect(Self.error(Self.good + "\nname: other")?.description == "card.yaml:10:1: name: 'name' is given twice (first at line 1)")
        #expect(Self.error(Self.replacing(5, with: "    read: {bar: 0, offset: 0x28}"))?.description
                == "card.yaml:5:5: read: 'read' is given twice (first at line 4)")
    }

    @Test func emptyOrNotAMapping() {
        #expect(Self.error("")?.description == "card.yaml:1:1: (profile): the file is empty")
        #expect(Self.error("- a\n- b")?.description == "card.yaml:1:1: (profile): expected a mapping, found a list")
    }

    @Test func unreadableFile() {
        #expect(throws: ProfileError.self) { try ProfileLoader.load(contentsOf: "/nonexistent/card.yaml") }
    }

    @Test func jsonIsAcceptedWithLines() throws {
        let json = """
            {
              "name": "card",
              "match": {"vendor": "0x1234", "device": 4584},
              "acknowledge": [
                {"read": {"bar": 0, "offset": 36}, "into": "status"},
                {"if_zero": "status", "return": "unclaimed"},
                {"write": {"bar": 0, "offset": 100}, "value": "status"}
              ]
            }
            """
        let profile = try ProfileLoader.load(json, file: "card.json")
        #expect(profile.match.vendorID == 0x1234 && profile.match.deviceID == 0x11e8)
        #expect(profile.acknowledge?.accesses.map(\.offset) == [0x24, 0x64])
        let wrong = json.replacingLast("\"offset\": 100", with: "\"offset\": 102")
        #expect(Self.error(wrong)?.description == "card.yaml:7:36: acknowledge[2].write.offset: offset 0x66 is not aligned for a 32-bit access (a multiple of 4)")
    }
}

extension String {
    func replacingLast(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target, options: .backwards) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
