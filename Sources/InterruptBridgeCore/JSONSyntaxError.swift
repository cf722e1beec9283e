/// Where a JSON text first breaks JSON's grammar (RFC 8259), as a line and a column.
/// Foundation's decoder says only "The given data was not valid JSON." and its
/// JSONSerialization names a byte offset; a person who hand-edited a policy file, or a
/// harness whose request body was refused, wants the place and what was expected there.
/// Meant for text a parser has already refused: it answers nil for text it finds well
/// formed (a refusal for another reason keeps the parser's own words). Its grammar is
/// Foundation's: RFC 8259 and a comma after an object's or array's last item.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based.
    public let line: Int
    /// 1-based, in characters (Unicode scalars) of the line.
    public let column: Int
    /// What was wrong there: "expected ',' or '}', found '\"'".
    public let problem: String

    public var description: String { "line \(line), column \(column): \(problem)" }

    /// The first place `text` is not one well-formed JSON value (whitespace around it
    /// allowed), or nil when it is.
    public static func first(in text: String) -> JSONSyntaxError? {
        var scanner = Scanner(bytes: Array(text.utf8))
        do throws(JSONSyntaxError) {
            scanner.skipWhitespace()
            try scanner.value(depth: 0)
            scanner.skipWhitespace()
            if scanner.index < scanner.bytes.count {
                throw scanner.failure("text after the end of the JSON value, from \(scanner.found)")
            }
            return nil
        } catch {
            return error
        }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        /// Deeper than this is refused by parsers too (Foundation's limit is 512).
        static let depthLimit = 512

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        /// The character at the index, as a message shows it.
        var found: String {
            guard let byte = current else { return "the end of the text" }
            switch byte {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"): return "a line break"
            case UInt8(ascii: "\t"): return "a tab"
            case UInt8(ascii: "'"): return "\"'\""
            case ..<0x20: return "a control character"
            default:
                var end = index + 1
                while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
                return "'" + String(decoding: bytes[index..<end], as: UTF8.self) + "'"
            }
        }

        func failure(_ problem: String, at position: Int? = nil) -> JSONSyntaxError {
            let position = min(position ?? index, bytes.count)
            var line = 1
            var column = 1
            for byte in bytes[..<position] {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return JSONSyntaxError(line: line, column: column, problem: problem)
        }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) {
            guard let byte = current else { throw failure("the text ends where a value should be") }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard depth < Self.depthLimit else { throw failure("nested more than \(Self.depthLimit) deep") }
                try container(closing: byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]"), depth: depth + 1)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                var end = index
                while end < bytes.count, bytes[end].isASCIILetter { end += 1 }
                let word = String(decoding: bytes[index..<end], as: UTF8.self)
                guard ["true", "false", "null"].contains(word) else {
                    throw failure("expected a value, found '\(word)' (the words JSON has are true, false and null; a string is in double quotes)")
                }
                index = end
            default:
                throw failure("expected a value, found \(found)")
            }
        }

        /// An object or an array, from its opening bracket.
        mutating func container(closing: UInt8, depth: Int) throws(JSONSyntaxError) {
            let isObject = closing == UInt8(ascii: "}")
            let closer = "'" + String(UnicodeScalar(closing)) + "'"
            index += 1
            skipWhitespace()
            if current == closing {
                index += 1
                return
            }
            while true {
                if isObject {
                    guard current == UInt8(ascii: "\"") else {
                        throw failure("expected a key in double quotes, found \(found)")
                    }
                    try string()
                    skipWhitespace()
                    guard current == UInt8(ascii: ":") else { throw failure("expected ':' after the key, found \(found)") }
                    index += 1
                    skipWhitespace()
                }
                try value(depth: depth)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","):
                    index += 1
                    skipWhitespace()
                    // Foundation's parser takes a comma after the last member or element.
                    if current == closing {
                        index += 1
                        return
                    }
                case closing:
                    index += 1
                    return
                default:
                    throw failure("expected ',' or \(closer), found \(found)")
                }
            }
        }

        /// A string, from its opening quote.
        mutating func string() throws(JSONSyntaxError) {
            let start = index
            index += 1
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    index += 1
                    switch current {
                    case UInt8(ascii: "u"):
                        let hex = bytes[min(index + 1, bytes.count)..<min(index + 5, bytes.count)]
                        guard hex.count == 4, hex.allSatisfy(\.isASCIIHexDigit) else {
                            throw failure("'\\u' takes four hexadecimal digits", at: index - 1)
                        }
                        index += 5
                    case let escaped? where Array(#""\/bfnrt"#.utf8).contains(escaped):
                        index += 1
                    default:
                        throw failure("a backslash followed by \(found) is not an escape JSON has (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", at: index - 1)
                    }
                case ..<0x20:
                    throw failure("\(found) inside a string: write it as an escape (\\n, \\t)")
                default:
                    index += 1
                }
            }
            throw failure("the string opened here is not closed", at: start)
        }

        mutating func number() throws(JSONSyntaxError) {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
                if let byte = current, byte.isASCIIDigit { throw failure("a number cannot have a leading 0 (JSON numbers are decimal: 8, not 010)", at: start) }
            } else {
                guard digits() else { throw failure("expected a digit after '-', found \(found)") }
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() else { throw failure("expected a digit after the decimal point, found \(found)") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() else { throw failure("expected a digit in the exponent, found \(found)") }
            }
            if let byte = current, byte.isASCIILetter || byte == UInt8(ascii: ".") {
                throw failure("malformed number (JSON numbers are decimal: 16, -1, 2.5, 1e3)", at: start)
            }
            // Foundation refuses a number no Double holds (1e400), as "not valid JSON" alone.
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if let value = Double(text), !value.isFinite {
                throw failure("the number \(text.count > 40 ? String(text.prefix(40)) + "..." : text) is out of range (at most about 1.8e308)", at: start)
            }
        }

        /// Skips a run of digits; whether there was one.
        mutating func digits() -> Bool {
            let start = index
            while let byte = current, byte.isASCIIDigit { index += 1 }
            return index > start
        }
    }
}

private extension UInt8 {
    var isASCIIDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
    var isASCIILetter: Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self | 0x20) }
    var isASCIIHexDigit: Bool { isASCIIDigit || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self | 0x20) }
}
