// Files a user names (a PCI dump, a policy file): read whole, but only when they
// are regular files of bounded size. `/dev/zero` would otherwise be read until
// memory runs out, a FIFO without a writer would block open(2) forever, and a
// directory would read as empty.
#if canImport(Glibc)
import Glibc
#endif
import InterruptBridgeCore

/// A regular file read whole, its descriptor kept open.
///
/// The checks are made on the open descriptor (open with O_NONBLOCK, then fstat),
/// never on the path before opening it, so nothing can be swapped in between.
public struct RegularFile: Sendable {
    /// The path as given, for messages.
    public let path: String
    /// The whole content.
    public let bytes: [UInt8]
    /// The content as text (invalid UTF-8 repaired).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The content as text, for the parsers of configuration files: a file with a NUL
    /// byte or invalid UTF-8 (a binary picked by mistake) is `.notText`, where the
    /// repaired text would have the parser quote replacement characters back.
    public func validText() throws(RegularFileError) -> String {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\0" { throw .notText(path: path, offset: offset) }
                offset += UTF8.width(scalar)
            case .emptyInput:
                break decoding
            case .error:
                throw .notText(path: path, offset: offset)
            }
        }
        return text
    }
    /// The file that was read, still open, so a later reader (libpci) can open this
    /// very file through `reopenPath` even if `path` has been renamed over since.
    public let descriptor: OwnedDescriptor

    /// Opens `path`, refuses anything but a regular file, and reads at most `limit` bytes;
    /// a longer file (or one that grows past `limit` while read) is `.tooLarge`.
    public init(reading path: String, limit: Int) throws(RegularFileError) {
        // O_NONBLOCK: opening a FIFO for reading with no writer returns at once instead of waiting.
        let fd: Int32
        do {
            fd = try syscall("open \(path)") { Glibc.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        } catch {
            throw .system(error)
        }
        let file = OwnedDescriptor(adopting: fd, name: path)
        var status = stat()
        do {
            _ = try syscall("fstat \(path)") { Glibc.fstat(fd, &status) }
        } catch {
            throw .system(error)
        }
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG else { throw .notRegular(path: path, kind: FileKind(mode: type).description) }
        // st_size is only a hint (procfs files say 0): the read below enforces the limit.
        guard status.st_size <= limit else { throw .tooLarge(path: path, limit: limit) }

        // One byte more than the limit, to see a file that is longer than it said.
        var bytes = [UInt8](repeating: 0, count: min(limit, max(Int(status.st_size), 4096)) + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                guard bytes.count <= limit else { break }
                bytes += [UInt8](repeating: 0, count: min(bytes.count, limit + 1 - bytes.count))
            }
            let count: Int
            do {
                count = try syscall("read \(path)") {
                    bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
                }
            } catch {
                throw .system(error)
            }
            if count == 0 { break }
            filled += count
        }
        guard filled <= limit else { throw .tooLarge(path: path, limit: limit) }
        bytes.removeSubrange(filled...)
        self.path = path
        self.bytes = bytes
        descriptor = file
    }

    /// A path that opens the file that was read: `/proc/self/fd/N` of `descriptor`, or
    /// `path` itself where procfs is not mounted.
    public var reopenPath: String {
        let own = "/proc/self/fd/\(descriptor.rawValue)"
        return Glibc.access(own, F_OK) == 0 ? own : path
    }
}

/// Why a named file was not read.
public enum RegularFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// open, fstat or read failed.
    case system(SystemError)
    /// A directory, device, FIFO or socket.
    case notRegular(path: String, kind: String)
    /// More than `limit` bytes.
    case tooLarge(path: String, limit: Int)
    /// Not UTF-8 text (a NUL byte, or invalid UTF-8 near `offset`).
    case notText(path: String, offset: Int)

    public var description: String {
        switch self {
        case .system(let error): "\(error)"
        case let .notRegular(path, kind): "\(path) is \(kind), not a regular file"
        case let .tooLarge(path, limit): "\(path) is larger than \(ByteSize.text(UInt64(limit))), the limit for this file"
        case let .notText(path, offset): "\(path) is not a text file (binary or not UTF-8 near byte \(offset)): give a YAML or JSON file"
        }
    }

}
