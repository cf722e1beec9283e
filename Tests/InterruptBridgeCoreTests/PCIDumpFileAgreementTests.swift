import Foundation
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// Mutated dumps through the real path (`PCIAccess.scan`: the check, then libpci): whatever
/// the check lets through, libpci must read without an error, let alone a crash. A libpci
/// error here means the check is laxer than libpci somewhere; a crash ends the test run.
@Suite struct PCIDumpFileAgreementTests {
    static let seed = """
        00:03.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)
        00: 34 12 e8 11 03 01 10 00 10 00 ff 00 00 00 00 00
        10: 00 00 80 fe 00 00 00 00 00 00 00 00 00 00 00 00
        ff0: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f

        0000:00:04.0 Another
        30: 00 00 00 00 40 00 00 00 00 00 00 00 0b 01 00 00

        """

    /// The characters that matter to either parser.
    static let alphabet = Array("0789afF: .\n\r\tz")

    static func mutate(_ text: [Character], _ random: inout SeededGenerator) -> [Character] {
        var text = text
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let at = Int.random(in: 0..<max(text.count, 1), using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where !text.isEmpty: text[at] = alphabet.randomElement(using: &random)!
            case 1: text.insert(alphabet.randomElement(using: &random)!, at: min(at, text.count))
            case 2 where !text.isEmpty: text.remove(at: at)
            case 3:  // a long offset: the shape that crashed libpci
                text.insert(contentsOf: Array(String(UInt32.random(in: 0...UInt32.max, using: &random), radix: 16)), at: min(at, text.count))
            default:  // duplicate a stretch (a second header, a repeated line)
                let end = min(text.count, at + Int.random(in: 1...60, using: &random))
                text.insert(contentsOf: text[min(at, text.count)..<end], at: end)
            }
        }
        return text
    }

    @Test func whatTheCheckAcceptsLibPCIReads() throws {
        var random = SeededGenerator(state: 0x1BB1_D6E0)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-agreement-\(getpid()).lspci").path
        defer { unlink(path) }
        var accepted = 0
        var refused = 0
        for round in 0..<1000 {
            let text = String(Self.mutate(Array(Self.seed), &random))
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            do {
                _ = try PCIAccess.scan(.dump(path: path))
                accepted += 1
            } catch .malformedDump {
                refused += 1
            } catch {
                Issue.record("round \(round): the check passed a dump libpci then refused: \(error)\n\(text)")
            }
        }
        // Both sides of the check were exercised.
        #expect(accepted > 50 && refused > 50, "accepted \(accepted), refused \(refused)")
    }
}
