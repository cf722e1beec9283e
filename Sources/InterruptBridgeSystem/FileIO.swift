// Plain file operations the backends need: device nodes, sysfs attributes,
// positional config-space access, directory listings and memory mappings.
#if canImport(Glibc)
import Glibc
#endif
import CInterruptBridge

/// POSIX file calls, named as in C, each throwing the failing operation and errno.
public enum FileIO {
    public struct OpenMode: Sendable, Hashable {
        let flags: Int32
        public static let readOnly = OpenMode(flags: O_RDONLY)
        public static let writeOnly = OpenMode(flags: O_WRONLY)
        public static let readWrite = OpenMode(flags: O_RDWR)
        /// O_NONBLOCK added (device nodes waited on by epoll).
        public var nonBlocking: OpenMode { OpenMode(flags: flags | O_NONBLOCK) }
    }

    /// open(2) with O_CLOEXEC.
    public static func open(_ path: String, _ mode: OpenMode) throws(SystemError) -> OwnedDescriptor {
        let fd = try syscall("open \(path)") { Glibc.open(path, mode.flags | O_CLOEXEC) }
        return OwnedDescriptor(adopting: fd, name: path)
    }

    /// pread(2) of exactly `buffer.count` bytes; a short read is EIO.
    public static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64,
                             _ what: @autoclosure () -> String) throws(SystemError) {
        let count = try syscall("read \(what())") { Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
        if count != buffer.count { throw SystemError("read \(what()): \(count) of \(buffer.count) bytes", code: EIO) }
    }

    /// pwrite(2) of exactly `buffer.count` bytes; a short write is EIO.
    public static func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64,
                              _ what: @autoclosure () -> String) throws(SystemError) {
        let count = try syscall("write \(what())") { Glibc.pwrite(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
        if count != buffer.count { throw SystemError("write \(what()): \(count) of \(buffer.count) bytes", code: EIO) }
    }

    /// Reads a small text file (a sysfs attribute), without the trailing newline.
    public static func readText(_ path: String) throws(SystemError) -> String {
        let file = try open(path, .readOnly)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try syscall("read \(path)") {
                chunk.withUnsafeMutableBytes { Glibc.read(file.rawValue, $0.baseAddress, $0.count) }
            }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        while bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to a file in one write(2), as sysfs attributes require.
    /// With `create`, the file is created or truncated first (mode 0644).
    public static func writeText(_ path: String, _ text: String, create: Bool = false) throws(SystemError) {
        let file: OwnedDescriptor
        if create {
            let fd = try syscall("create \(path)") { Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
            file = OwnedDescriptor(adopting: fd, name: path)
        } else {
            file = try open(path, .writeOnly)
        }
        let bytes = Array(text.utf8)
        let count = try syscall("write \"\(text)\" to \(path)") {
            bytes.withUnsafeBytes { Glibc.write(file.rawValue, $0.baseAddress, $0.count) }
        }
        if count != bytes.count { throw SystemError("write \"\(text)\" to \(path): short write", code: EIO) }
    }

    /// Replaces the file at `path` with `text` atomically: written to a temporary
    /// file beside it, flushed, then renamed over it, so a reader (or a process
    /// started after a crash) sees the old content or the new, never a part.
    /// `preservingMode`: a file already at `path` keeps its permission bits and owner (the
    /// process's umask aside), as an editor's save does. `followingLinks`: a symbolic link at
    /// `path` stays one and its target is replaced (in the target's directory); a link whose
    /// target does not exist is an error (ENOENT), not replaced by a file. Only for a path the
    /// caller trusts as given (root writing through a link writes wherever it points).
    public static func replaceAtomically(_ path: String, _ text: String, mode: UInt32 = 0o600, preservingMode: Bool = false,
                                         followingLinks: Bool = false) throws(SystemError) {
        let path = followingLinks ? try resolvingLinks(path) : path
        // A name no one can guess and a file this call creates (not a link someone left there).
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<8 where fd < 0 {
            temporary = path + ".tmp-\(getpid())-" + String(UInt32.random(in: .min ... .max), radix: 16)
            fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
            if fd < 0, errno != EEXIST { throw .errno("create \(temporary)") }
        }
        if fd < 0 { throw .errno("create \(temporary)") }
        let file = OwnedDescriptor(adopting: fd, name: temporary)
        do throws(SystemError) {
            // The mode and owner of a regular file only (not of what a link there points to).
            var existing = stat()
            if preservingMode, lstat(path, &existing) == 0, existing.st_mode & S_IFMT == S_IFREG {
                _ = try syscall("chown \(temporary)") { fchown(file.rawValue, existing.st_uid, existing.st_gid) }
                _ = try syscall("chmod \(temporary)") { fchmod(file.rawValue, existing.st_mode & 0o7777) }
            }
            let bytes = Array(text.utf8)
            var written = 0
            while written < bytes.count {
                let count = try syscall("write \(temporary)") {
                    bytes.withUnsafeBytes { Glibc.write(file.rawValue, $0.baseAddress! + written, $0.count - written) }
                }
                written += count
            }
            _ = try syscall("fsync \(temporary)") { fsync(file.rawValue) }
            file.close()
            _ = try syscall("rename \(temporary) to \(path)") { rename(temporary, path) }
        } catch {
            file.close()
            unlink(temporary)
            throw error
        }
    }

    /// The file `path` names after every symbolic link: `path` itself when nothing is there
    /// yet; ENOENT for a link whose target does not exist.
    static func resolvingLinks(_ path: String) throws(SystemError) -> String {
        guard let resolved = Glibc.realpath(path, nil) else {
            let failure = errno
            var link = stat()
            guard lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK else { return path }
            if failure == ENOENT { throw SystemError("\(path) is a symbolic link to a file that does not exist", code: ENOENT) }
            throw SystemError("resolving the symbolic link \(path): \(String(cString: strerror(failure)))", code: failure)
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` made absolute against the current directory (unchanged when it is already).
    public static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (directory == "/" ? "" : directory) + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    /// The target of a symbolic link.
    public static func readlink(_ path: String) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = try syscall("readlink \(path)") { Glibc.readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The last path component of a symbolic link's target (a sysfs `driver` or `iommu_group` link).
    public static func readlinkBasename(_ path: String) throws(SystemError) -> String {
        let target = try readlink(path)
        return String(target.split(separator: "/").last ?? Substring(target))
    }

    /// Whether something exists at `path` (following links).
    public static func exists(_ path: String) -> Bool { Glibc.access(path, F_OK) == 0 }

    /// What is at `path` (following links), or nil when nothing is (or it cannot be looked at).
    public static func kind(of path: String) -> FileKind? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileKind(mode: status.st_mode)
    }

    /// What the directory entry at `path` is, a symbolic link itself rather than its target
    /// (lstat), or nil when there is none.
    public static func kind(ofEntry path: String) -> FileKind? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return FileKind(mode: status.st_mode)
    }

    /// The names in a directory, without "." and "..", sorted.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let directory = Glibc.opendir(path) else { throw .errno("opendir \(path)") }
        defer { Glibc.closedir(directory) }
        var names: [String] = []
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = Glibc.readdir(directory) {
            // Read the name in place, up to its NUL: glibc allocates each entry only as
            // long as its name (d_reclen), so copying the 256-byte d_name field out of
            // `pointee` read past the allocation (AddressSanitizer: heap-buffer-overflow).
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

/// A shared memory mapping of a device region (a BAR), unmapped when the owner goes away.
/// Registers are accessed with volatile loads and stores only.
///
/// `@unchecked Sendable`: the mapping's address and length never change; the
/// device memory behind it is the device's to synchronise, as in a kernel driver.
public final class MappedRegion: @unchecked Sendable {
    public let length: Int
    private let base: UnsafeMutableRawPointer

    /// mmap(2) `length` bytes of `fd` at `offset`, read/write, shared.
    public init(fd: Int32, offset: Int64, length: Int, _ what: String) throws(SystemError) {
        guard let base = Glibc.mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(offset)),
              base != MAP_FAILED
        else { throw .errno("mmap \(what)") }
        self.base = base
        self.length = length
    }

    /// Private zeroed memory of `length` bytes: reserved lazily, so a large region costs
    /// only the pages touched.
    public convenience init(anonymousLength length: Int, _ what: String) throws(SystemError) {
        try self.init(anonymous: length, flags: MAP_PRIVATE | MAP_NORESERVE, what)
    }

    /// Zeroed memory of `length` bytes standing in for a device's registers (a simulated
    /// device's BAR), reserved lazily, and shared, so `secondView` can map its pages again
    /// at another address (the driver's mapping, which a removal detaches alone).
    public convenience init(sharedAnonymousLength length: Int, _ what: String) throws(SystemError) {
        try self.init(anonymous: length, flags: MAP_SHARED | MAP_NORESERVE, what)
    }

    /// Another mapping of this region's pages (mremap with old size 0): writes through
    /// either show in both, and `detachFromDevice` on the view leaves this one as it is.
    /// Only for a shared region (`init(sharedAnonymousLength:)`, a device file's mapping).
    public func secondView(_ what: String) throws(SystemError) -> MappedRegion {
        guard let view = cib_mremap_second_view(base, UInt(length)) else { throw .errno("mremap \(what)") }
        return MappedRegion(adopting: view, length: length)
    }

    private init(adopting base: UnsafeMutableRawPointer, length: Int) {
        self.base = base
        self.length = length
    }

    /// Zeroed page-aligned memory of `length` bytes for a device to reach by DMA (a common
    /// buffer). Shared, not private: a private page a fork made copy-on-write would move
    /// under the process at its next write, away from the page the IOMMU maps. Populated
    /// now, so the pages exist before the kernel pins them.
    public convenience init(dmaLength length: Int, _ what: String) throws(SystemError) {
        try self.init(anonymous: length, flags: MAP_SHARED | MAP_POPULATE, what)
    }

    private init(anonymous length: Int, flags: Int32, _ what: String) throws(SystemError) {
        guard length > 0, let base = Glibc.mmap(nil, length, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED
        else { throw length > 0 ? .errno("mmap \(what)") : SystemError("\(what): an empty region", code: EINVAL) }
        self.base = base
        self.length = length
    }

    deinit { Glibc.munmap(base, length) }

    /// Puts private zeroed memory where the device's region was mapped (mmap MAP_FIXED
    /// over it): the device file's mapping is released, which a kernel waiting for the
    /// device (vfio-pci's unbind) needs, while the address stays valid, so a register
    /// access that still comes reads 0 and writes nowhere instead of faulting.
    public func detachFromDevice() throws(SystemError) {
        let replaced = Glibc.mmap(base, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
        guard let replaced, replaced != MAP_FAILED else { throw .errno("mmap over a device mapping") }
    }

    /// Where the mapping starts, for a register file that wraps it (the tooling's
    /// `MappedBARs`, which keeps this region alive while it uses the address).
    package var baseAddress: UnsafeMutableRawPointer { base }

    // One access of each width, as the device's registers need (an 8-bit command register
    // written 32 bits wide writes its neighbours too, or is ignored).

    public func read8(at offset: Int) -> UInt8 {
        check(offset, 1)
        return cib_mmio_read8(base, UInt64(offset))
    }

    public func read16(at offset: Int) -> UInt16 {
        check(offset, 2)
        return cib_mmio_read16(base, UInt64(offset))
    }

    public func read32(at offset: Int) -> UInt32 {
        check(offset, 4)
        return cib_mmio_read32(base, UInt64(offset))
    }

    public func read64(at offset: Int) -> UInt64 {
        check(offset, 8)
        return cib_mmio_read64(base, UInt64(offset))
    }

    public func write8(_ value: UInt8, at offset: Int) {
        check(offset, 1)
        cib_mmio_write8(base, UInt64(offset), value)
    }

    public func write16(_ value: UInt16, at offset: Int) {
        check(offset, 2)
        cib_mmio_write16(base, UInt64(offset), value)
    }

    public func write32(_ value: UInt32, at offset: Int) {
        check(offset, 4)
        cib_mmio_write32(base, UInt64(offset), value)
    }

    public func write64(_ value: UInt64, at offset: Int) {
        check(offset, 8)
        cib_mmio_write64(base, UInt64(offset), value)
    }

    @inline(__always) private func check(_ offset: Int, _ width: Int) {
        precondition(offset >= 0 && offset + width <= length, "register 0x\(String(offset, radix: 16)) (\(width * 8)-bit) outside the mapping")
    }
}

extension FileIO {
    /// One register access through a file (a VFIO region that cannot be mapped, a sysfs
    /// resourceN of I/O ports): `byteCount` (1, 2, 4 or 8) bytes at `offset` in one pread,
    /// little-endian, zero-extended, as the kernel forwards it to the device.
    public static func readRegister(_ fd: Int32, at offset: Int64, byteCount: Int,
                                    _ what: @autoclosure () -> String) throws(SystemError) -> UInt64 {
        precondition(byteCount > 0 && byteCount <= 8 && byteCount & (byteCount - 1) == 0, "a register is 1, 2, 4 or 8 bytes wide")
        var value: UInt64 = 0
        try withUnsafeMutableBytes(of: &value) { (bytes) throws(SystemError) in
            try pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<byteCount]), at: offset, what())
        }
        let mask: UInt64 = byteCount == 8 ? .max : (1 << UInt64(byteCount * 8)) - 1
        return UInt64(littleEndian: value) & mask
    }

    /// One register write of `byteCount` bytes through a file, the low bytes of `value`
    /// little-endian, in one pwrite.
    public static func writeRegister(_ fd: Int32, at offset: Int64, byteCount: Int, value: UInt64,
                                     _ what: @autoclosure () -> String) throws(SystemError) {
        precondition(byteCount > 0 && byteCount <= 8 && byteCount & (byteCount - 1) == 0, "a register is 1, 2, 4 or 8 bytes wide")
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { (bytes) throws(SystemError) in
            try pwrite(fd, from: UnsafeRawBufferPointer(rebasing: bytes[0..<byteCount]), at: offset, what())
        }
    }

    /// mkdir -p (mode 0755).
    public static func makeDirectories(_ path: String) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if Glibc.mkdir(prefix, 0o755) == -1 && Glibc.errno != EEXIST { throw .errno("mkdir \(prefix)") }
        }
    }

    /// Opens `path` (created 0600 when missing), takes an exclusive flock(2) on it without
    /// waiting and writes `note` into it (a pid, for whoever finds it taken). Nil when
    /// another open file description holds the lock: another process, or this one. The
    /// lock lasts until the descriptor is closed, or its process ends however it ends.
    public static func lockExclusively(_ path: String, note: String) throws(SystemError) -> OwnedDescriptor? {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd < 0 { throw .errno("open \(path)") }
        let file = OwnedDescriptor(adopting: fd, name: path)
        if cib_flock_exclusive_nonblocking(fd) == -1 {
            if Glibc.errno == EWOULDBLOCK { return nil }
            throw .errno("flock \(path)")
        }
        if Glibc.ftruncate(fd, 0) == -1 { throw .errno("truncate \(path)") }
        let bytes = Array((note + "\n").utf8)
        if bytes.withUnsafeBytes({ Glibc.pwrite(fd, $0.baseAddress, $0.count, 0) }) != bytes.count { throw .errno("write \(path)") }
        return file
    }

    /// unlink(2); a missing file is not an error.
    public static func remove(_ path: String) throws(SystemError) {
        if Glibc.unlink(path) == -1 && Glibc.errno != ENOENT { throw .errno("unlink \(path)") }
    }
}

extension FileIO {
    /// poll(2) one descriptor for readability. Returns false on timeout.
    /// For tools and tests; the dispatch loop waits in epoll.
    public static func waitReadable(_ fd: Int32, timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return try syscall("poll") { Glibc.poll(&entry, 1, timeoutMilliseconds) } > 0
    }

    /// The number of descriptors this process has open (entries of /proc/self/fd,
    /// less the one used to list them).
    public static func openDescriptorCount() throws(SystemError) -> Int {
        try listDirectory("/proc/self/fd").count - 1
    }

    /// Raises the soft RLIMIT_NOFILE to `wanted`, or to the hard limit when that is lower;
    /// never lowers it. Returns the limit now in force (Int.max when unlimited): a process
    /// serving thousands of vectors holds one eventfd each. Bounded, unlike
    /// `raiseDescriptorLimitToHardLimit`, because children inherit it: a hard limit of 2^20
    /// or more (containers) makes programs that close every descriptor up to the limit slow.
    @discardableResult
    public static func raiseDescriptorLimit(toAtMost wanted: Int) throws(SystemError) -> Int {
        var limit = rlimit()
        _ = try syscall("getrlimit") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        let target = min(rlim_t(max(wanted, 0)), limit.rlim_max)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = try syscall("setrlimit") { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit (what the bench's scale scenario
    /// needs for 16,384 eventfds); never lowers it. Returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimitToHardLimit() throws(SystemError) -> Int {
        try raiseDescriptorLimit(toAtMost: .max)
    }
}

extension FileIO {
    /// fstat(2) size of an open file.
    public static func size(of fd: Int32, _ what: @autoclosure () -> String) throws(SystemError) -> Int {
        var info = stat()
        _ = try syscall("stat \(what())") { Glibc.fstat(fd, &info) }
        return Int(info.st_size)
    }
}

/// The type of a file, named as messages name it ("a directory", "a FIFO").
public enum FileKind: Sendable, Hashable, CustomStringConvertible {
    case regular, directory, characterDevice, blockDevice, fifo, socket, symbolicLink, other

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .other
        }
    }

    public var description: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .fifo: "a FIFO"
        case .socket: "a socket"
        case .symbolicLink: "a symbolic link"
        case .other: "of an unknown type"
        }
    }
}
