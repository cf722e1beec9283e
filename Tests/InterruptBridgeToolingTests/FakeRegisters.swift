import InterruptBridgeCore
import InterruptBridgeTooling

/// A fake register file: BARs of given sizes holding values, a log of every access,
/// and an optional device model reacting to writes (edu's 0x60/0x64, e1000e's ICS/ICR).
final class FakeRegisters: RegisterFile {
    struct Access: Equatable, CustomStringConvertible {
        enum Kind: String { case read, write }
        var kind: Kind
        var bar: Int
        var offset: Int
        var width: RegisterWidth
        var value: UInt64

        static func read(_ bar: Int, _ offset: Int, _ value: UInt64, _ width: RegisterWidth = .bits32) -> Access {
            Access(kind: .read, bar: bar, offset: offset, width: width, value: value)
        }
        static func write(_ bar: Int, _ offset: Int, _ value: UInt64, _ width: RegisterWidth = .bits32) -> Access {
            Access(kind: .write, bar: bar, offset: offset, width: width, value: value)
        }
        var description: String { "\(kind) BAR\(bar)+0x\(String(offset, radix: 16)) \(width.rawValue) = 0x\(String(value, radix: 16))" }
    }

    var sizes: [Int: Int]
    var values: [Int: [Int: UInt64]] = [:]
    var log: [Access] = []
    /// Called after each write is stored: the device's reaction.
    var onWrite: ((FakeRegisters, _ bar: Int, _ offset: Int, _ value: UInt64) -> Void)?
    /// Called after each read: a register that changes when read (a UART's IIR).
    var onRead: ((FakeRegisters, _ bar: Int, _ offset: Int) -> Void)?

    init(sizes: [Int: Int]) {
        self.sizes = sizes
    }

    subscript(bar: Int, offset: Int) -> UInt64 {
        get { values[bar, default: [:]][offset, default: 0] }
        set { values[bar, default: [:]][offset] = newValue }
    }

    func length(ofBAR bar: Int) -> Int { sizes[bar] ?? 0 }

    func read(bar: Int, offset: Int, width: RegisterWidth) -> UInt64 {
        let value = self[bar, offset] & width.mask
        log.append(.read(bar, offset, value, width))
        onRead?(self, bar, offset)
        return value
    }

    func write(bar: Int, offset: Int, width: RegisterWidth, value: UInt64) {
        log.append(.write(bar, offset, value, width))
        self[bar, offset] = value
        onWrite?(self, bar, offset, value)
    }

    /// QEMU's edu: 0x60 ORs into the status at 0x24 and raises; 0x64 clears bits of it.
    static func edu(raised: @escaping () -> Void = {}) -> FakeRegisters {
        let registers = FakeRegisters(sizes: [0: 1 << 20])
        registers.onWrite = { registers, bar, offset, value in
            switch (bar, offset) {
            case (0, 0x60): registers[0, 0x24] |= value; raised()
            case (0, 0x64): registers[0, 0x24] &= ~value
            default: break
            }
        }
        return registers
    }

    /// QEMU's pci-serial (hw/char/serial.c), its THR-empty interrupt only: IER (1) turning
    /// THRI on with the transmitter empty makes it pending, IIR (2) then reads 0x02 and
    /// reading it clears it (0x01: nothing pending); IER turning THRI off clears it too.
    static func pciSerial(raised: @escaping () -> Void = {}) -> FakeRegisters {
        let registers = FakeRegisters(sizes: [0: 8])
        registers[0, 2] = 0x01
        var ier: UInt64 = 0
        registers.onWrite = { registers, bar, offset, value in
            guard bar == 0, offset == 1 else { return }
            let rising = value & 0x02 != 0 && ier & 0x02 == 0
            ier = value
            if rising { registers[0, 2] = 0x02; raised() } else if value & 0x02 == 0 { registers[0, 2] = 0x01 }
        }
        registers.onRead = { registers, bar, offset in
            if bar == 0, offset == 2, registers[0, 2] == 0x02 { registers[0, 2] = 0x01 }
        }
        return registers
    }

    /// QEMU 7.2's e1000e under MSI-X, as hw/net/e1000e_core.c has it: ICS sets ICR bits;
    /// a cause newly pending in ICR & IMS is signalled on the vector IVAR maps it to;
    /// ICR is write-1-to-clear; IMS sets and IMC clears mask bits.
    static func e1000e(signalled: @escaping (_ vector: Int) -> Void) -> FakeRegisters {
        let registers = FakeRegisters(sizes: [0: 0x20000, 1: 0x20000, 3: 0x4000])
        var sent: UInt64 = 0 // msi_causes_pending
        registers.onWrite = { registers, bar, offset, value in
            guard bar == 0 else { return }
            switch offset {
            case 0xC8: registers[0, 0xC0] |= value
            case 0xC0: registers[0, 0xC0] = registers[0, 0xC0] & ~value
            case 0xD0: registers[0, 0xD0] = (registers[0, 0xD0] | value) & 0x01F0_0000 // (other causes omitted)
            case 0xD8: registers[0, 0xD0] = 0
            case 0xE4: break
            default: return
            }
            // Writes to ICS/ICR/IMS/IMC all end in e1000e_update_interrupt_state -> e1000e_send_msi.
            let pending = registers[0, 0xC0] & registers[0, 0xD0]
            sent &= pending
            let fresh = pending & ~sent
            sent |= fresh
            let ivar = registers[0, 0xE4]
            for (cause, shift) in [(20, 0), (21, 4), (22, 8), (23, 12), (24, 16)] where fresh & (1 << UInt64(cause)) != 0 {
                let entry = ivar >> UInt64(shift)
                if entry & 0x8 != 0 { signalled(Int(entry & 0x7)) }
            }
        }
        return registers
    }
}

extension PCIDeviceInfo {
    static func fake(_ vendor: UInt16, _ device: UInt16, classCode: UInt32 = 0, bars: [PCIBar],
                     address: PCIAddress = PCIAddress(bus: 0, device: 3, function: 0)) -> PCIDeviceInfo {
        PCIDeviceInfo(address: address, vendorID: vendor, deviceID: device, classCode: classCode, bars: bars)
    }

    static let edu: PCIDeviceInfo = {
        var edu = fake(0x1234, 0x11e8, classCode: 0x00ff00, bars: [PCIBar(index: 0, address: 0xfea0_0000, size: 1 << 20, space: .memory)])
        edu.interruptPin = .a
        edu.msi = MSICapability(offset: 0x40, messagesCapable: 1)
        return edu
    }()
    static let e1000e: PCIDeviceInfo = {
        var e1000e = fake(0x8086, 0x10d3, classCode: 0x020000, bars: [
            PCIBar(index: 0, address: 0xfeb0_0000, size: 0x20000, space: .memory),
            PCIBar(index: 1, address: 0xfeb2_0000, size: 0x20000, space: .memory),
            PCIBar(index: 2, address: 0xc000, size: 0x20, space: .io),
            PCIBar(index: 3, address: 0xfeb4_0000, size: 0x4000, space: .memory),
        ])
        e1000e.interruptPin = .a
        e1000e.msi = MSICapability(offset: 0xd0, messagesCapable: 1)
        e1000e.msix = MSIXCapability(offset: 0xa0, tableSize: 5, tableBAR: 3, tableOffset: 0, pbaBAR: 3, pbaOffset: 0x2000)
        return e1000e
    }()
    /// QEMU's pci-serial: 8 I/O ports at BAR 0, INTx only.
    static let pciSerial: PCIDeviceInfo = {
        var serial = fake(0x1b36, 0x0002, classCode: 0x070002, bars: [PCIBar(index: 0, address: 0xc060, size: 8, space: .io)])
        serial.interruptPin = .a
        return serial
    }()
    /// ivshmem-doorbell as the rig runs it (vectors=4): its MSI-X table and PBA in BAR 1.
    static let ivshmem: PCIDeviceInfo = {
        var ivshmem = fake(0x1af4, 0x1110, classCode: 0x050000, bars: [
            PCIBar(index: 0, address: 0xfeb5_0000, size: 0x100, space: .memory),
            PCIBar(index: 1, address: 0xfeb5_1000, size: 0x1000, space: .memory),
            PCIBar(index: 2, address: 0xfc00_0000, size: 0x40_0000, space: .memory, is64Bit: true, prefetchable: true),
        ])
        ivshmem.msix = MSIXCapability(offset: 0x40, tableSize: 4, tableBAR: 1, tableOffset: 0, pbaBAR: 1, pbaOffset: 0x800)
        return ivshmem
    }()
    static let nvme = fake(0x1b36, 0x0010, classCode: 0x010802, bars: [
        PCIBar(index: 0, address: 0xfeb8_0000, size: 0x4000, space: .memory, is64Bit: true),
    ])
}
