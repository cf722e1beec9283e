import InterruptBridgeTooling
import Testing

@Suite("Register programs")
struct RegisterProgramTests {
    /// Compiles `steps` as an acknowledge program of a profile matching anything at 00:03.0.
    static func program(_ steps: String) throws -> RegisterProgram {
        let text = "name: t\nmatch: {address: \"00:03.0\"}\nacknowledge:\n" + steps
        return try #require(try ProfileLoader.load(text, file: "t.yaml").acknowledge)
    }

    /// Runs `expression` and returns the value it wrote.
    static func evaluate(_ expression: String, vector: UInt32 = 0) throws -> UInt64 {
        let registers = FakeRegisters(sizes: [0: 0x100])
        registers[0, 0x10] = 0xF0
        let program = try program("""
              - read: {bar: 0, offset: 0x10}
                into: x
              - write: {bar: 0, offset: 0x20, width: 64}
                value: \(expression)
            """)
        _ = try BoundRegisterProgram(program, on: registers).run(vector: vector)
        return registers[0, 0x20]
    }

    @Test func expressionsFollowCPrecedence() throws {
        #expect(try Self.evaluate("1 << 2 + 3") == 32)
        #expect(try Self.evaluate("(1 << 2) + 3") == 7)
        #expect(try Self.evaluate("x | 1 & 3") == 0xF1)
        #expect(try Self.evaluate("x ^ 0xff") == 0x0F)
        #expect(try Self.evaluate("x >> 4") == 0x0F)
        #expect(try Self.evaluate("~x & 0xffff") == 0xFF0F)
        #expect(try Self.evaluate("x - 0x10") == 0xE0)
        #expect(try Self.evaluate("0 - 1") == UInt64.max)
        #expect(try Self.evaluate("x << 16 | vector", vector: 7) == 0xF0_0007)
        #expect(try Self.evaluate("1 << (20 + vector)", vector: 4) == 1 << 24)
        #expect(try Self.evaluate("0b1010_1010") == 0xAA)
    }

    /// Hexadecimal digits may begin with 0b or 0o: 0x0b11 is 0xb11, not binary 11 (3).
    @Test func aHexNumberWhoseDigitsStartWith0bOr0oStaysHex() throws {
        #expect(try Self.evaluate("0x0b11") == 0xb11)
        #expect(try Self.evaluate("0X0B") == 0xb)
        #expect(try Self.evaluate("0x0b") == 0xb)
        #expect(throws: (any Error).self) { try Self.evaluate("0x0o7") }
        #expect(try Self.evaluate("0o17") == 0o17)
        let profile = try ProfileLoader.load("name: card\nmatch: {vendor: 0x1234, device: 0x0b11}\n"
                                             + "acknowledge:\n  - read: {bar: 0, offset: 0x0b, width: 8}\n    into: s\n", file: "card.yaml")
        #expect(profile.match.deviceID == 0x0b11)
        #expect(profile.accesses.map(\.offset) == [0x0b])
    }

    @Test func constantsAreFoldedAtCompileTime() throws {
        let program = try Self.program("""
              - write: {bar: 0, offset: 0x20}
                value: (1 << 4) | 0x3
            """)
        #expect(program.instructions == [
            RegisterInstruction(.constant, a: 15, immediate: 0x13),
            RegisterInstruction(.write, b: 15, offset: 0x20),
        ])
    }

    @Test func readModifyWriteClearsThenSets() throws {
        let registers = FakeRegisters(sizes: [0: 0x100])
        registers[0, 0x04] = 0x0407
        let program = try Self.program("""
              - modify: {bar: 0, offset: 0x04, width: 16}
                clear: 0x400
                set: 0x4
              - modify: {bar: 0, offset: 0x08, width: 8}
                set: 0x80
            """)
        #expect(try BoundRegisterProgram(program, on: registers).run() == true)
        #expect(registers.log == [.read(0, 0x04, 0x407, .bits16), .write(0, 0x04, 0x007, .bits16),
                                  .read(0, 0x08, 0, .bits8), .write(0, 0x08, 0x80, .bits8)])
    }

    @Test func writesAreTruncatedToTheirWidth() throws {
        let registers = FakeRegisters(sizes: [0: 0x100])
        registers[0, 0x10] = 0x1_2345
        let program = try Self.program("""
              - read: {bar: 0, offset: 0x10}
                into: x
              - write: {bar: 0, offset: 0x20, width: 16}
                value: x
            """)
        _ = try BoundRegisterProgram(program, on: registers).run()
        #expect(registers.log.last == .write(0, 0x20, 0x2345, .bits16))
    }

    @Test func testsReturnClaimedOrUnclaimed() throws {
        let program = try Self.program("""
              - read: {bar: 0, offset: 0x0}
                into: x
              - if_nonzero: x & 0x80
                return: claimed
              - if_zero: x
                return: unclaimed
              - write: {bar: 0, offset: 0x4}
                value: x
              - return: unclaimed
            """)
        let registers = FakeRegisters(sizes: [0: 0x10])
        let bound = try BoundRegisterProgram(program, on: registers)
        registers[0, 0] = 0x81
        #expect(bound.run() == true)
        registers[0, 0] = 0
        #expect(bound.run() == false)
        registers[0, 0] = 1
        #expect(bound.run() == false)
        #expect(registers[0, 4] == 1, "the write before the final return ran")
    }

    @Test func bindingRefusesAccessesOutsideTheMappedRegisters() throws {
        let program = try Self.program("""
              - read: {bar: 2, offset: 0xff8, width: 64}
                into: x
            """)
        #expect(throws: Never.self) { try BoundRegisterProgram(program, on: FakeRegisters(sizes: [2: 0x1000])) }
        #expect { try BoundRegisterProgram(program, on: FakeRegisters(sizes: [2: 0xffc])) } throws: { error in
            (error as? ProfileError)?.description == "t.yaml:4:28: acknowledge[0].read.offset: offset 0xff8 (64-bit) is past the mapped part of BAR 2 (0xffc bytes)"
        }
        #expect { try BoundRegisterProgram(program, on: FakeRegisters(sizes: [0: 0x1000])) } throws: { error in
            (error as? ProfileError)?.description == "t.yaml:4:17: acknowledge[0].read.bar: BAR 2 is not mapped"
        }
    }

    @Test func instructionsAreFlatAndSmall() {
        #expect(_isPOD(RegisterInstruction.self))
        #expect(MemoryLayout<RegisterInstruction>.stride <= 24)
    }

    @Test func mappedBARsAccessExactlyTheDeclaredBytes() throws {
        let length = 64
        let memory = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0xEE, count: length)
        let bars = MappedBARs([MappedBARs.Mapping(bar: 1, base: memory, length: length)])
        #expect(bars.length(ofBAR: 1) == length && bars.length(ofBAR: 0) == 0)

        bars.write(bar: 1, offset: 1, width: .bits8, value: 0x11)
        bars.write(bar: 1, offset: 2, width: .bits16, value: 0x2233)
        bars.write(bar: 1, offset: 4, width: .bits32, value: 0x4455_6677)
        bars.write(bar: 1, offset: 8, width: .bits64, value: 0x8899_AABB_CCDD_EEFF)
        let bytes = Array(UnsafeRawBufferPointer(start: memory, count: 17))
        #expect(bytes == [0xEE, 0x11, 0x33, 0x22, 0x77, 0x66, 0x55, 0x44, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88, 0xEE])
        #expect(bars.read(bar: 1, offset: 1, width: .bits8) == 0x11)
        #expect(bars.read(bar: 1, offset: 2, width: .bits16) == 0x2233)
        #expect(bars.read(bar: 1, offset: 4, width: .bits32) == 0x4455_6677)
        #expect(bars.read(bar: 1, offset: 8, width: .bits64) == 0x8899_AABB_CCDD_EEFF)
    }

    @Test func theEduAcknowledgeRunsOverMappedMemory() throws {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 0x100, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 0x100)
        let bars = MappedBARs([MappedBARs.Mapping(bar: 0, base: memory, length: 0x100)])
        let edu = try #require(ProfileLibrary().profile(named: "edu"))
        let acknowledge = try BoundRegisterProgram(try #require(edu.acknowledge), on: bars)
        #expect(acknowledge.run() == false)
        memory.storeBytes(of: UInt32(5), toByteOffset: 0x24, as: UInt32.self)
        #expect(acknowledge.run() == true)
        #expect(memory.load(fromByteOffset: 0x64, as: UInt32.self) == 5)
    }
}
