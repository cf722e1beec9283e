import InterruptBridgeTooling
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Prints what running a compiled acknowledge program costs against the same
/// acknowledge written by hand in Swift, both over plain memory standing in for BAR 0
/// (volatile accesses either way). Figures only: the assertions are that both did
/// the same work. Meaningful in a release build (`swift test -c release`).
@Suite("Acknowledge program cost report")
struct AcknowledgeCostReport {
    /// IRQBRIDGE_ACK_COST_ROUNDS overrides the count (the figures in a release build
    /// were taken with 2000000).
    static let rounds = getenv("IRQBRIDGE_ACK_COST_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 200_000

    static func nanoseconds(_ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        body()
        let elapsed = ContinuousClock.now - start
        return (Double(elapsed.components.seconds) * 1e18 + Double(elapsed.components.attoseconds)) / 1e9 / Double(rounds)
    }

    @Test func eduAcknowledgeCompiledVersusHandWritten() throws {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 0x100, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 0x100)
        let bars = MappedBARs([MappedBARs.Mapping(bar: 0, base: memory, length: 0x100)])
        let program = try BoundRegisterProgram(try #require(ProfileLibrary().profile(named: "edu")?.acknowledge), on: bars)
        bars.write(bar: 0, offset: 0x24, width: .bits32, value: 1)

        var claims = 0
        let compiled = Self.nanoseconds {
            for _ in 0..<Self.rounds where program.run() { claims += 1 }
        }
        var handClaims = 0
        let hand = Self.nanoseconds {
            for _ in 0..<Self.rounds {
                let status = bars.read(bar: 0, offset: 0x24, width: .bits32)
                if status != 0 {
                    bars.write(bar: 0, offset: 0x64, width: .bits32, value: status)
                    handClaims += 1
                }
            }
        }
        #expect(claims == Self.rounds && handClaims == Self.rounds)
        print("edu acknowledge over memory: compiled program \(Int(compiled * 10) / 10) ns, hand-written Swift \(Int(hand * 10) / 10) ns per run "
              + "(\(program.program.instructions.count) instructions)")
    }

    @Test func e1000eAcknowledgeCompiled() throws {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 0x100, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 0x100)
        let bars = MappedBARs([MappedBARs.Mapping(bar: 0, base: memory, length: 0x100)])
        let program = try BoundRegisterProgram(try #require(ProfileLibrary().profile(named: "e1000e")?.acknowledge), on: bars)
        // Plain memory is not write-1-to-clear: the pending causes are stored again
        // before each run (one store, included in the figure).
        var claims = 0
        let compiled = Self.nanoseconds {
            for round in 0..<Self.rounds {
                bars.write(bar: 0, offset: 0xC0, width: .bits32, value: 0x01F0_0000)
                if program.run(vector: UInt32(round % 5)) { claims += 1 }
            }
        }
        #expect(claims == Self.rounds)
        print("e1000e acknowledge over memory: compiled program \(Int(compiled * 10) / 10) ns per run (\(program.program.instructions.count) instructions)")
    }
}
