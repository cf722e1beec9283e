/// The `lspci -x`/`-xxx`/`-xxxx` dump format, checked before libpci parses it.
///
/// libpci's dump reader (lib/dump.c) trusts its input: it reads a config-space
/// offset of up to eight hex digits into a signed `int` and checks only the upper
/// bound, so `80000000: 00` writes before its buffer (SIGSEGV) and `fffffff0: 00`
/// corrupts the heap (invalid free). `validate` accepts only what lspci itself
/// writes, line by line, so libpci never sees a line it handles unsafely:
///
/// - a device header: `[DDDD:]BB:DD.F description` (device 00...1f, function 0...7),
///   each function at most once;
/// - a config-space line inside a device: `OFF: XX XX ...`, the offset 2 to 8 hex
///   digits, every byte two hex digits after a single space, all within
///   0x000...0xfff (4096 bytes, PCI Express extended config space);
/// - a line indented by a tab or space (`lspci -v` detail, which libpci skips);
/// - a blank line, which ends the device.
///
/// Lines are at most ``maximumLineLength`` bytes (libpci's buffer) and each ends
/// with a newline; the file names at least one function and holds no NUL byte.
public enum PCIDumpFile {
    /// The longest line libpci's reader takes, without its newline (a 256-byte
    /// buffer read with `fgets(buf, 255)`, the newline included).
    public static let maximumLineLength = 253
    /// Config space a dump may describe: PCI Express's 4096 bytes.
    public static let configSpaceSize = 0x1000

    /// Throws the first line that is not in the format above, naming `path` and the line.
    public static func validate(_ bytes: some Collection<UInt8>, path: String) throws(PCIDumpFileError) {
        var current: PCIAddress?
        var seen: Set<PCIAddress> = []
        var lineNumber = 0
        var start = bytes.startIndex
        func fail(_ problem: PCIDumpFileError.Problem) -> PCIDumpFileError {
            PCIDumpFileError(path: path, line: lineNumber, problem: problem)
        }
        while start != bytes.endIndex {
            lineNumber += 1
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                throw fail(.unterminated)
            }
            var line = Array(bytes[start..<newline])
            start = bytes.index(after: newline)
            if line.count > maximumLineLength { throw fail(.lineTooLong(bytes: line.count)) }
            if line.contains(0) { throw fail(.nulByte) }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }  // as libpci does

            if line.isEmpty {
                current = nil
            } else if let header = deviceHeader(line) {
                guard let address = header else { throw fail(.badAddress(text(line.prefix { $0 != UInt8(ascii: " ") }))) }
                guard seen.insert(address).inserted else { throw fail(.duplicateFunction(address)) }
                current = address
            } else if line[0] == UInt8(ascii: " ") || line[0] == UInt8(ascii: "\t") {
                continue  // lspci -v detail; libpci skips it
            } else if let offsetText = configOffset(line) {
                guard current != nil else { throw fail(.configLineOutsideFunction) }
                guard let offset = Int(text(offsetText), radix: 16), offset < configSpaceSize else {
                    throw fail(.offsetOutOfRange(text(offsetText)))
                }
                let values = line[(offsetText.count + 2)...]
                guard let count = byteCount(values) else { throw fail(.malformedBytes) }
                guard offset + count <= configSpaceSize else { throw fail(.bytesPastEnd(offset: offset, count: count)) }
            } else {
                throw fail(.unrecognized)
            }
        }
        if seen.isEmpty { throw PCIDumpFileError(path: path, line: nil, problem: .noFunction) }
    }

    /// nil: not a header. .some(nil): header-shaped (hex digits where libpci wants them)
    /// but not a PCI function, or with nothing after the address.
    private static func deviceHeader(_ line: [UInt8]) -> PCIAddress?? {
        // libpci's shapes: "##:##.# ", "####:##:##.# ", "#####:##:##.# " (# = hex digit).
        for domainDigits in [0, 4, 5] {
            let prefix = domainDigits == 0 ? 0 : domainDigits + 1
            let shape = prefix + 7
            guard line.count >= shape,
                  line[..<domainDigits].allSatisfy(isHexDigit),
                  domainDigits == 0 || line[domainDigits] == UInt8(ascii: ":"),
                  line[prefix..<prefix + 2].allSatisfy(isHexDigit), line[prefix + 2] == UInt8(ascii: ":"),
                  line[prefix + 3..<prefix + 5].allSatisfy(isHexDigit), line[prefix + 5] == UInt8(ascii: "."),
                  isHexDigit(line[prefix + 6])
            else { continue }
            guard line.count > shape, line[shape] == UInt8(ascii: " "), let address = PCIAddress(text(line[..<shape])) else {
                return .some(nil)
            }
            return address
        }
        return nil
    }

    /// The offset's digits when the line has libpci's config-line shape: 2 to 8 hex digits, ": ".
    private static func configOffset(_ line: [UInt8]) -> ArraySlice<UInt8>? {
        let digits = line.prefix(while: isHexDigit)
        guard (2...8).contains(digits.count), line.count >= digits.count + 2,
              line[digits.count] == UInt8(ascii: ":"), line[digits.count + 1] == UInt8(ascii: " ")
        else { return nil }
        return digits
    }

    /// How many bytes "XX XX XX" holds (a trailing space allowed); nil unless every
    /// byte is two hex digits after exactly one space and there is at least one.
    private static func byteCount(_ values: ArraySlice<UInt8>) -> Int? {
        var fields = values.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        if fields.count > 1, fields.last?.isEmpty == true { fields.removeLast() }
        guard !fields.isEmpty, fields.allSatisfy({ $0.count == 2 && $0.allSatisfy(isHexDigit) }) else { return nil }
        return fields.count
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    private static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

/// A dump file libpci must not be given: which file, which line, and what is wrong there.
public struct PCIDumpFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Problem: Sendable, Hashable {
        case unterminated
        case lineTooLong(bytes: Int)
        case nulByte
        case badAddress(String)
        case duplicateFunction(PCIAddress)
        case configLineOutsideFunction
        case offsetOutOfRange(String)
        case malformedBytes
        case bytesPastEnd(offset: Int, count: Int)
        case unrecognized
        case noFunction
    }

    public var path: String
    /// 1-based; nil for a problem of the whole file.
    public var line: Int?
    public var problem: Problem

    public init(path: String, line: Int?, problem: Problem) {
        self.path = path
        self.line = line
        self.problem = problem
    }

    public var description: String {
        let end = "0x" + hex(UInt64(PCIDumpFile.configSpaceSize - 1), width: 3)
        let reason = switch problem {
        case .unterminated: "the last line has no newline"
        case .lineTooLong(let count): "line of \(count) bytes; libpci reads at most \(PCIDumpFile.maximumLineLength)"
        case .nulByte: "NUL byte (not an lspci dump)"
        case .badAddress(let text): "device header \"\(text)\" is not a PCI function followed by a description (BB:DD.F, device 00-1f, function 0-7)"
        case .duplicateFunction(let address): "\(address) appears a second time"
        case .configLineOutsideFunction: "config-space line outside any device (no header line above it since the last blank line)"
        case .offsetOutOfRange(let text): "offset \(text) is outside config space (0x000-\(end))"
        case .malformedBytes: "expected hexadecimal bytes, two digits each after a single space (OFFSET: XX XX ...)"
        case let .bytesPastEnd(offset, count): "\(count) bytes at 0x\(hex(UInt64(offset), width: 3)) run past the end of config space (\(end))"
        case .unrecognized: "not a device header (BB:DD.F ...), a config-space line (OFFSET: XX ...), an indented line or a blank line"
        case .noFunction: "no PCI function in the file (expected `lspci -x` output)"
        }
        return "\(path)\(line.map { " line \($0)" } ?? ""): \(reason)"
    }
}
