import Foundation
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// The dump-format check that runs before libpci's dump reader: what lspci writes
/// passes, and every line libpci would mishandle is refused with its file and line.
@Suite struct PCIDumpFileTests {
    static let header = "00:03.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)\n"

    static func problem(_ text: String) -> PCIDumpFileError? {
        do {
            try PCIDumpFile.validate(Array(text.utf8), path: "x.lspci")
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["rig-q35.lspci", "host-virtio.lspci", "malformed-capability-loop.lspci", "malformed-truncated-header.lspci",
                      "malformed-msi-past-end.lspci", "malformed-truncated-capability.lspci"])
    func dumpsLspciWroteAreAccepted(name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixture.path(name))))
        try PCIDumpFile.validate(bytes, path: name)
    }

    @Test func whatLibPCIAlsoReadsIsAccepted() throws {
        let text = "0000:00:03.0 edu\r\n00: 34 12 e8 11\r\n\tSubsystem: detail line lspci -v prints\n"
            + "ff0: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f \n\n10000:01:00.7 a device in domain 0x10000\n0fff: 00\n"
        try PCIDumpFile.validate(Array(text.utf8), path: "x.lspci")
    }

    @Test(arguments: [
        // libpci reads the offset into a signed int and checks only the upper bound:
        // 80000000 is a write before its buffer (SIGSEGV), fffffff0 an invalid free.
        (header + "80000000: 00\n", 2, PCIDumpFileError.Problem.offsetOutOfRange("80000000")),
        (header + "fffffff0: 00 11\n", 2, .offsetOutOfRange("fffffff0")),
        (header + "1000: 00\n", 2, .offsetOutOfRange("1000")),
        (header + "ff8: 00 01 02 03 04 05 06 07 08\n", 2, .bytesPastEnd(offset: 0xff8, count: 9)),
        (header + "00: 34 12 zz\n", 2, .malformedBytes),
        (header + "00: 34  12\n", 2, .malformedBytes),
        (header + "00: 341 2\n", 2, .malformedBytes),
        (header + "00: \n", 2, .malformedBytes),
        ("00: 34 12\n", 1, .configLineOutsideFunction),
        (header + "00: 34\n\n10: 00\n", 4, .configLineOutsideFunction),
        ("00:20.0 device 0x20\n", 1, .badAddress("00:20.0")),
        ("00:03.8 function 8\n", 1, .badAddress("00:03.8")),
        ("00:03.0\n", 1, .badAddress("00:03.0")),
        (header + header, 2, .duplicateFunction(PCIAddress(bus: 0, device: 3, function: 0))),
        (header + "00: 34\nSubsystem: not indented\n", 3, .unrecognized),
        (header + "00: 34", 2, .unterminated),
        (header + "00: 34 \u{0}\n", 2, .nulByte),
        (header + "00:" + String(repeating: " 00", count: 84) + "\n", 2, .lineTooLong(bytes: 255)),
    ])
    func linesLibPCIMishandlesAreRefused(text: String, line: Int, problem: PCIDumpFileError.Problem) {
        #expect(Self.problem(text) == PCIDumpFileError(path: "x.lspci", line: line, problem: problem))
    }

    @Test func aFileWithoutFunctionsIsRefused() {
        #expect(Self.problem("") == PCIDumpFileError(path: "x.lspci", line: nil, problem: .noFunction))
        #expect(Self.problem("\n\n") == PCIDumpFileError(path: "x.lspci", line: nil, problem: .noFunction))
    }

    @Test func theMessageNamesFileLineAndRange() {
        #expect(Self.problem(Self.header + "80000000: 00\n")?.description
                == "x.lspci line 2: offset 80000000 is outside config space (0x000-0xfff)")
        #expect(Self.problem("")?.description == "x.lspci: no PCI function in the file (expected `lspci -x` output)")
    }

    @Test func theLongestLineLibPCIReadsIsAccepted() throws {
        let longest = "00: 00" + String(repeating: " ", count: PCIDumpFile.maximumLineLength - 6)
        #expect(longest.utf8.count == PCIDumpFile.maximumLineLength)
        // Spaces after the bytes are malformed, so the limit is checked first: one byte more is too long.
        #expect(Self.problem(Self.header + longest + " \n")?.problem == .lineTooLong(bytes: PCIDumpFile.maximumLineLength + 1))
        #expect(Self.problem(Self.header + longest + "\n")?.problem == .malformedBytes)
    }
}
