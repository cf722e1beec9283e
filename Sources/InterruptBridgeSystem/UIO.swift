// UIO (uio_pci_generic): the /dev/uioN node that counts interrupts, and the
// sysfs config attribute used to re-enable INTx after each one.
//
// uio_pci_generic has no irqcontrol (write() on /dev/uioN fails with ENOSYS).
// Its handler masks INTx by setting Interrupt Disable (Command bit 10); user
// space re-enables the line by clearing that bit through the config file.
#if canImport(Glibc)
import Glibc
#endif

/// An open UIO PCI function: the interrupt node and the config-space file.
public final class UIODevice: Sendable {
    /// "0000:00:03.0".
    public let address: String
    /// "/dev/uio0".
    public let nodePath: String
    /// Readable when an interrupt arrived; read() gives the 4-byte running total.
    public let node: OwnedDescriptor
    /// /sys/bus/pci/devices/<bdf>/config, read/write.
    public let config: OwnedDescriptor

    static let commandOffset: Int64 = 4
    static let interruptDisable: UInt16 = 1 << 10
    /// Status register bit 3: the function asserts INTx (whatever Interrupt Disable says).
    static let interruptStatus: UInt16 = 1 << 3

    /// Opens the UIO node of a function bound to a UIO driver.
    public init(address: String, sysfs: SysfsPCI = SysfsPCI(), devRoot: String = "/dev") throws(SystemError) {
        guard let name = sysfs.uioName(of: address) else {
            throw SystemError("\(address) has no UIO node (is it bound to uio_pci_generic?)", code: ENODEV)
        }
        self.address = address
        nodePath = "\(devRoot)/\(name)"
        node = try FileIO.open(nodePath, .readWrite.nonBlocking)
        config = try FileIO.open(sysfs.configPath(address), .readWrite)
    }

    /// The kernel's interrupt total for this device, without waiting (nil: nothing new).
    public func readTotal() throws(SystemError) -> UInt32? { try Self.readTotal(node.rawValue) }

    /// Reads the total from a borrowed, non-blocking UIO descriptor (nil: nothing new).
    public static func readTotal(_ descriptor: Int32) throws(SystemError) -> UInt32? {
        var total: UInt32 = 0
        guard try nonBlockingSyscall("read uio", { Glibc.read(descriptor, &total, 4) }) != nil else { return nil }
        return total
    }

    /// Whether the node reports an error, without waiting: uio_pci_generic has let the
    /// function go (its poll then answers every event, POLLERR included).
    public static func hasFailed(_ descriptor: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&entry, 1, 0) > 0 && entry.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0
    }

    /// The Command register.
    public func readCommand() throws(SystemError) -> UInt16 { try Self.readCommand(config: config.rawValue) }

    /// Re-enables INTx: clears Interrupt Disable (Command bit 10) if it is set.
    public func unmask() throws(SystemError) { try Self.unmask(config: config.rawValue) }

    /// Starts INTx for a new listener: clears Interrupt Disable, and makes a level the
    /// function already asserts arrive as a fresh interrupt (`startWrites`).
    public func start() throws(SystemError) {
        var dword: UInt32 = 0
        _ = try syscall("read config Command/Status") { Glibc.pread(config.rawValue, &dword, 4, off_t(Self.commandOffset)) }
        let value = UInt32(littleEndian: dword)
        // Should the second of two writes fail, Interrupt Disable is left set: the caller's
        // enable fails, and the next enable's first write clears it again.
        for command in Self.startWrites(command: UInt16(truncatingIfNeeded: value), status: UInt16(truncatingIfNeeded: value >> 16)) {
            try Self.writeCommand(command, config: config.rawValue)
        }
    }

    /// The Command values `start` writes, in order, given Command and Status as read.
    ///
    /// - Interrupt Disable set (a previous user left the line masked, as the kernel's
    ///   handler does): clear it. A cause still pending asserts the line anew, which the
    ///   kernel's handler takes.
    /// - Interrupt Disable clear and Interrupt Status set (the function asserts its line
    ///   already, e.g. a cause a previous driver left before uio_pci_generic was bound: the
    ///   PCI core clears Interrupt Disable when it enables the function, before the driver
    ///   requests the IRQ): set and clear the bit. The line then falls and rises while the
    ///   handler is installed, so the interrupt controller sees the level. Hardware IO-APICs
    ///   deliver such a level anyway (the toggle then costs nothing: it is what the kernel's
    ///   handler and every unmask do); QEMU's IO-APIC drops a level that rose while its pin
    ///   was programmed edge-triggered and masked, as Linux leaves a pin whose IRQ was freed,
    ///   and never delivers it, nor any later interrupt while the level stays high.
    /// - Otherwise (nothing pending, or a function gone from the bus reading all ones):
    ///   nothing.
    public static func startWrites(command: UInt16, status: UInt16) -> [UInt16] {
        if command == 0xffff { return [] }
        if command & interruptDisable != 0 { return [command & ~interruptDisable] }
        if status != 0xffff, status & interruptStatus != 0 { return [command | interruptDisable, command] }
        return []
    }

    /// The Command register through a borrowed config descriptor.
    public static func readCommand(config: Int32) throws(SystemError) -> UInt16 {
        var command: UInt16 = 0
        _ = try syscall("read config Command") { Glibc.pread(config, &command, 2, off_t(commandOffset)) }
        return UInt16(littleEndian: command)
    }

    /// Clears Interrupt Disable through a borrowed config descriptor.
    /// Two syscalls, no allocation: safe on the interrupt path.
    public static func unmask(config: Int32) throws(SystemError) {
        let command = try readCommand(config: config)
        guard command & interruptDisable != 0 else { return }
        try writeCommand(command & ~interruptDisable, config: config)
    }

    /// Sets Interrupt Disable through a borrowed config descriptor: the function can no longer
    /// assert its line, whatever it has pending. What a function going away is left with.
    public static func mask(config: Int32) throws(SystemError) {
        let command = try readCommand(config: config)
        guard command != 0xffff, command & interruptDisable == 0 else { return }
        try writeCommand(command | interruptDisable, config: config)
    }

    /// Writes the Command register through a borrowed config descriptor (one syscall).
    static func writeCommand(_ command: UInt16, config: Int32) throws(SystemError) {
        var raw = command.littleEndian
        _ = try syscall("write config Command") { Glibc.pwrite(config, &raw, 2, off_t(commandOffset)) }
    }
}

extension UIODevice {
    /// Takes the function for this process: an exclusive advisory lock (flock) on its
    /// /dev/uioN, held while the returned descriptor stays open. UIO lets any number of
    /// processes open a node, and each then sees every interrupt and unmasks the line;
    /// irqbridge's commands, the daemon and the library's UIO backend take this lock so
    /// that one of them serves a function at a time, as VFIO enforces for its devices.
    /// Throws EBUSY when another process, or another claim of this one, holds it.
    public static func claim(address: String, sysfs: SysfsPCI = SysfsPCI(), devRoot: String = "/dev") throws(SystemError) -> OwnedDescriptor {
        guard let name = sysfs.uioName(of: address) else {
            throw SystemError("\(address) has no UIO node (is it bound to uio_pci_generic?)", code: ENODEV)
        }
        let path = "\(devRoot)/\(name)"
        let lock = try FileIO.open(path, .readOnly)
        guard flock(lock.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            if code == EWOULDBLOCK {
                throw SystemError("\(path) is held by another user of \(address) (its lock): another process, or another UIO backend of this one", code: EBUSY)
            }
            throw SystemError("flock \(path)", code: code)
        }
        return lock
    }
}

