// The one error a profile problem becomes: file, line, field and what is wrong.

/// Where something is in a profile: the file, the line and column (from 1), and the
/// field's path ("acknowledge[1].write.offset").
public struct ProfileLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var field: String

    public init(file: String, line: Int, column: Int, field: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
    }

    /// "edu.yaml:7:13"
    public var description: String { "\(file):\(line):\(column)" }
}

extension ProfileLocation {
    /// Whether it comes earlier in the file: by line, then column (problems are told in file order).
    public func isBefore(_ other: ProfileLocation) -> Bool {
        (line, column) < (other.line, other.column)
    }
}

/// A problem with a device profile, named by file, line and field:
/// `edu.yaml:7:13: acknowledge[1].write.offset: 0x100001 is past the end of BAR 0 (1 MiB)`.
public struct ProfileError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The file cannot be read.
        case unreadable
        /// Not YAML (or JSON) at all.
        case syntax
        /// A key the schema does not have.
        case unknownKey
        /// A required field is missing.
        case missingField
        /// A field of the wrong type or an unusable value.
        case badValue
        /// A BAR number outside 0...5, or one the device does not implement.
        case unknownBAR
        /// A 64-bit access to a BAR that is I/O space (ports are reached 8, 16 or 32 bits
        /// at a time); narrower accesses to I/O BARs are fine.
        case barNotMemoryMapped
        /// offset + width past the end of the BAR.
        case offsetPastBAR
        /// A width other than 8, 16, 32, 64.
        case badWidth
        /// An offset not a multiple of the access width.
        case misalignedOffset
        /// The profile's match does not describe the device it is applied to.
        case deviceMismatch
    }

    public var kind: Kind
    public var location: ProfileLocation
    public var message: String
    /// Further problems the loader found in the same file, in file order, where it could
    /// judge each part on its own (an unknown key, a bad section beside a good one):
    /// `irqbridge profile check` names them all. Empty for the checks that stop at one.
    public var alsoFound: [ProfileError] = []

    public init(_ kind: Kind, at location: ProfileLocation, _ message: String) {
        self.kind = kind
        self.location = location
        self.message = message
    }

    /// This problem and `alsoFound`, each one line.
    public var everyProblem: [ProfileError] {
        var first = self
        first.alsoFound = []
        return [first] + alsoFound
    }

    /// "FILE:LINE:COLUMN: FIELD: MESSAGE"; a file that cannot be read has no line to name: "FILE: MESSAGE".
    /// One printable line whatever the file held: control characters (a terminal's escape
    /// sequences, NULs, line breaks a parser quoted) are escaped, and a field or message
    /// that quotes more of the file than `quoteLimit` characters is cut there.
    public var description: String {
        let field = Self.printable(location.field), message = Self.printable(self.message)
        return kind == .unreadable ? "\(location.file): \(message)" : "\(location): \(field): \(message)"
    }

    /// The most of a field or message shown (a parser quoting a binary file's rest).
    public static let quoteLimit = 300

    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if result.unicodeScalars.count >= quoteLimit { return result + "..." }
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                result += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
