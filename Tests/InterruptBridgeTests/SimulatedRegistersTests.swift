import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// A simulated device's BARs after a removal behave as a VFIO device's do once it is closed:
/// the driver's mappings read zeroes, its accesses and new mappings are `.closed`, and the
/// test playing the device keeps its own view of the registers.
@Suite("Simulated registers across a removal")
struct SimulatedRegistersTests {
    static func edu() -> SimulatedBackend {
        SimulatedBackend(SimulatedDevice(interruptPin: .a, msiCount: 1))  // BAR0: 1 MiB of memory
    }

    static func isClosed<T>(_ body: () throws(BackendError) -> T) -> Bool {
        do { _ = try body(); return false } catch { if case .closed = error { return true } else { return false } }
    }

    @Test func theDriverAndTheDeviceShareTheRegistersUntilARemoval() throws {
        let backend = Self.edu()
        let device = try backend.registers(bar: 0)
        let mapped = try backend.mapRegisters(bar: 0)
        device.write32(0x1234_5678, at: 0x24)
        #expect(mapped.read32(at: 0x24) == 0x1234_5678)
        #expect(try backend.readRegister(bar: 0, offset: 0x24, byteCount: 4) == 0x1234_5678)
        mapped.write32(0xabcd, at: 0x64)
        try backend.writeRegister(bar: 0, offset: 0x68, byteCount: 2, value: 0x42)
        #expect(device.read32(at: 0x64) == 0xabcd && device.read16(at: 0x68) == 0x42)

        backend.releaseAfterRemoval()
        #expect(mapped.read32(at: 0x24) == 0, "the driver's mapping reads zeroes, as a closed VFIO BAR mapping does")
        mapped.write32(0xffff, at: 0x64)
        #expect(device.read32(at: 0x64) == 0xabcd, "a write through it reaches nothing")
        #expect(device.read32(at: 0x24) == 0x1234_5678, "the device's side is the test's still")
        #expect(Self.isClosed { () throws(BackendError) in try backend.mapRegisters(bar: 0) })
        #expect(Self.isClosed { () throws(BackendError) in try backend.readRegister(bar: 0, offset: 0x24, byteCount: 4) })
        #expect(Self.isClosed { () throws(BackendError) in try backend.writeRegister(bar: 0, offset: 0x64, byteCount: 4, value: 1) })
        #expect(throws: BackendError.self) { try backend.registers(bar: 3) }
    }

    @Test func aMappingTheDriverDroppedIsNotKept() throws {
        let backend = Self.edu()
        for _ in 0..<3 { _ = try backend.mapRegisters(bar: 0) }
        let kept = try backend.mapRegisters(bar: 0)
        try backend.registers(bar: 0).write8(7, at: 0)
        backend.releaseAfterRemoval()
        #expect(kept.read8(at: 0) == 0)
        #expect(try backend.registers(bar: 0).read8(at: 0) == 7)
    }
}
