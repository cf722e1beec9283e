import Foundation
import Glibc
import InterruptBridgeSystem
import Testing

/// Files a user names are read only when regular and small: never a device read
/// without end, a FIFO waited on forever, or a directory read as empty.
@Suite(.timeLimit(.minutes(1)))
struct RegularFileTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-\(getpid())-\(name)").path
    }

    @Test func aRegularFileIsReadWhole() throws {
        let path = Self.temporaryPath("regular")
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let file = try RegularFile(reading: path, limit: 6)
        #expect(file.bytes == Array("hello\n".utf8))
        // The descriptor stays open and names the same file.
        #expect(try String(contentsOfFile: file.reopenPath, encoding: .utf8) == "hello\n")
    }

    @Test func oneByteOverTheLimitIsTooLarge() throws {
        let path = Self.temporaryPath("large")
        try Data(repeating: 0x41, count: 4097).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        #expect(throws: RegularFileError.tooLarge(path: path, limit: 4096)) { try RegularFile(reading: path, limit: 4096) }
        #expect(try RegularFile(reading: path, limit: 4097).bytes.count == 4097)
        #expect(RegularFileError.tooLarge(path: path, limit: 1 << 20).description == "\(path) is larger than 1 MiB, the limit for this file")
    }

    /// procfs files say st_size 0 and have content: the read, not fstat, enforces the limit.
    @Test func aProcFileIsReadAndLimitedByWhatIsRead() throws {
        #expect(try RegularFile(reading: "/proc/self/status", limit: 1 << 20).bytes.starts(with: Array("Name:".utf8)))
        #expect(throws: RegularFileError.tooLarge(path: "/proc/self/status", limit: 8)) {
            try RegularFile(reading: "/proc/self/status", limit: 8)
        }
    }

    @Test func aDeviceIsRefusedWithoutReadingIt() {
        #expect(throws: RegularFileError.notRegular(path: "/dev/zero", kind: "a character device")) {
            try RegularFile(reading: "/dev/zero", limit: 1 << 20)
        }
        #expect(RegularFileError.notRegular(path: "/dev/zero", kind: "a character device").description
                == "/dev/zero is a character device, not a regular file")
    }

    @Test func aDirectoryIsRefused() {
        #expect(throws: RegularFileError.notRegular(path: "/tmp", kind: "a directory")) { try RegularFile(reading: "/tmp", limit: 1 << 20) }
    }

    /// Without O_NONBLOCK, open(2) of a FIFO with no writer never returns.
    @Test func aFIFOWithoutAWriterIsRefusedAtOnce() throws {
        let path = Self.temporaryPath("fifo")
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        #expect(throws: RegularFileError.notRegular(path: path, kind: "a FIFO")) { try RegularFile(reading: path, limit: 1 << 20) }
    }

    @Test func aMissingFileIsASystemError() {
        #expect(throws: RegularFileError.system(SystemError("open /nonexistent/file", code: ENOENT))) {
            try RegularFile(reading: "/nonexistent/file", limit: 1 << 20)
        }
    }
}

@Suite("Configuration files must be text")
struct RegularFileTextTests {
    static func file(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("regular-text-\(UUID().uuidString.prefix(8))").path
        try #require(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    @Test func aBinaryFileIsNotTextAndSaysWhere() throws {
        let binary = try Self.file([0x6e, 0x61, 0x6d, 0x65, 0x00, 0x01, 0xff])
        defer { try? FileManager.default.removeItem(atPath: binary) }
        #expect(throws: RegularFileError.notText(path: binary, offset: 4)) { try RegularFile(reading: binary, limit: 4096).validText() }
        let latin1 = try Self.file(Array("name: caf".utf8) + [0xe9, 0x0a])
        defer { try? FileManager.default.removeItem(atPath: latin1) }
        #expect(throws: RegularFileError.notText(path: latin1, offset: 9)) { try RegularFile(reading: latin1, limit: 4096).validText() }
        #expect(RegularFileError.notText(path: "x", offset: 9).description == "x is not a text file (binary or not UTF-8 near byte 9): give a YAML or JSON file")
        let text = try Self.file(Array("name: café\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: text) }
        #expect(try RegularFile(reading: text, limit: 4096).validText() == "name: café\n")
    }
}
