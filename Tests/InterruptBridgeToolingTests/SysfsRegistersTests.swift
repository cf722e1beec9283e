import Foundation
import InterruptBridgeCore
import InterruptBridgeSystem
@testable import InterruptBridgeTooling
import Testing

/// uio_pci_generic's register access through sysfs, on a fake sysfs whose resourceN are
/// regular files: a memory BAR is mapped, an I/O BAR read and written at the access's offset.
@Suite struct SysfsRegistersTests {
    final class FakeFunction {
        let sysfs: SysfsPCI
        let address = "0000:00:0c.0"
        private let root: String
        init(ioBytes: Int, memoryBytes: Int) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("sysfs-registers-\(UUID().uuidString.prefix(8))").path
            sysfs = SysfsPCI(root: root)
            try FileManager.default.createDirectory(atPath: sysfs.devicePath(address), withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: sysfs.resourcePath(address, bar: 0), contents: Data(count: ioBytes)))
            #expect(FileManager.default.createFile(atPath: sysfs.resourcePath(address, bar: 1), contents: Data(count: memoryBytes)))
        }
        deinit { try? FileManager.default.removeItem(atPath: root) }
        func bytes(bar: Int) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: sysfs.resourcePath(address, bar: bar)) ?? Data()) }
    }

    @Test func anIOBarGoesThroughItsFileAndAMemoryBarThroughItsMapping() throws {
        let function = try FakeFunction(ioBytes: 8, memoryBytes: 4096)
        let registers = try SysfsRegisters(function.address, bars: [0, 1], ioBars: [0], sysfs: function.sysfs)
        #expect(registers.length(ofBAR: 0) == 8)
        #expect(registers.length(ofBAR: 1) == 4096)
        #expect(registers.length(ofBAR: 2) == 0)

        try registers.checked { registers.write(bar: 0, offset: 1, width: .bits8, value: 0x02) }
        try registers.checked { registers.write(bar: 0, offset: 4, width: .bits32, value: 0xdead_beef) }
        #expect(function.bytes(bar: 0) == [0, 0x02, 0, 0, 0xef, 0xbe, 0xad, 0xde], "little-endian, at the access's own offset")
        #expect(try registers.checked { registers.read(bar: 0, offset: 4, width: .bits16) } == 0xbeef)

        registers.write(bar: 1, offset: 0x10, width: .bits32, value: 0x1234_5678)
        #expect(registers.read(bar: 1, offset: 0x10, width: .bits32) == 0x1234_5678)
        #expect(function.bytes(bar: 0)[0..<4] == [0, 0x02, 0, 0], "the memory BAR's write stayed out of the I/O BAR")
    }

    @Test func aFailedPortAccessReadsZeroAndIsReportedByChecked() throws {
        let function = try FakeFunction(ioBytes: 8, memoryBytes: 4096)
        let registers = try SysfsRegisters(function.address, bars: [0], ioBars: [0], sysfs: function.sysfs)
        // Past the file's end: a short read, as the kernel gives past a port range.
        #expect(throws: SystemError.self) { try registers.checked { registers.read(bar: 0, offset: 8, width: .bits32) } }
        #expect(registers.read(bar: 0, offset: 8, width: .bits32) == 0)
        #expect(try registers.checked { registers.read(bar: 0, offset: 0, width: .bits8) } == 0, "a later good access is not blamed")
    }

    @Test func aMissingResourceFileIsASystemErrorAndLeavesNothingOpen() throws {
        let function = try FakeFunction(ioBytes: 8, memoryBytes: 4096)
        // BAR 0 opens, BAR 3 has no file: BAR 0's descriptor must be closed again. (Looked for
        // by its path: other tests running beside this one open descriptors of their own.)
        #expect(throws: SystemError.self) { try SysfsRegisters(function.address, bars: [0, 3], ioBars: [0, 3], sysfs: function.sysfs) }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") } ?? []
        #expect(!open.contains(function.sysfs.resourcePath(function.address, bar: 0)))
        // The same, held open while the register file lives: the check above can see it.
        let held = try SysfsRegisters(function.address, bars: [0], ioBars: [0], sysfs: function.sysfs)
        let whileHeld = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") } ?? []
        #expect(whileHeld.contains(function.sysfs.resourcePath(function.address, bar: 0)))
        withExtendedLifetime(held) {}
    }

    /// A port access that fails in a stimulus's set-up or raise is thrown there (the ISR's
    /// reads 0 and is kept), so `trigger` can say why nothing arrived.
    @Test func aFailedPortAccessInRaiseOrSetupIsThrown() throws {
        let function = try FakeFunction(ioBytes: 8, memoryBytes: 4096)
        let registers = try SysfsRegisters(function.address, bars: [0], ioBars: [0], sysfs: function.sysfs)
        let profile = try ProfileLoader.load("""
            name: card
            match: {vendor: 0x1b36, device: 0x0002}
            stimulus:
              setup:
                - read: {bar: 0, offset: 4, width: 8}
                  into: lcr
              raise:
                - read: {bar: 0, offset: 2, width: 8}
                  into: iir
                - write: {bar: 0, offset: 1, width: 8}
                  value: iir | 2
            """, file: "card.yaml")
        let stimulus = try SelftestStimulus.registers(profile, on: registers)
        try stimulus.setup()
        try stimulus.raise(0)
        // The ports go away under it (a removed card reads short, as past a file's end).
        let path = function.sysfs.resourcePath(function.address, bar: 0)
        #expect(truncate(path, 0) == 0)
        #expect(throws: SystemError.self) { try stimulus.raise(0) }
        #expect(throws: SystemError.self) { try stimulus.setup() }
    }
}

